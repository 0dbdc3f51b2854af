// Runs the official @keyv/test-suite against shm-hashmap/keyv (npm run test:keyv).
// The suite and vitest are installed in this folder (its own package.json),
// so `shm-hashmap` cannot name the repository's package by self-reference
// from here: the aliases point at its entry points.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const root = (p) => fileURLToPath(new URL(`../../${p}`, import.meta.url))

export default defineConfig({
  resolve: {
    alias: [
      { find: /^shm-hashmap\/keyv$/, replacement: root('keyv/index.mjs') },
      { find: /^shm-hashmap$/, replacement: root('index.mjs') },
    ],
  },
  test: {
    include: ['__test__/keyv/**/*.test.mjs'],
    exclude: ['**/node_modules/**'],
    testTimeout: 30_000,
  },
})
