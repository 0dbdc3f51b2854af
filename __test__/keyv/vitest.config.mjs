// Runs the official @keyv/test-suite against shm-hashmap/keyv (npm run test:keyv).
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['__test__/keyv/**/*.test.mjs'],
    testTimeout: 30_000,
  },
})
