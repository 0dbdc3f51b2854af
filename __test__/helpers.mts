import { fork, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import hashmap from 'shm-hashmap'

let counter = 0
/** A name no other test or run uses. */
export function uniqueName(tag: string): string {
  counter += 1
  return `shm-hashmap-test-${tag}-${process.pid}-${counter}`
}

/** Path of a fixture script. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
}

/** Whether a segment name exists in /dev/shm. */
export function shmExists(name: string): boolean {
  return existsSync(`/dev/shm/${name}`)
}

/** Removes names a test made, ignoring ones already gone. */
export function cleanup(...names: string[]): void {
  for (const n of names) hashmap.unlink(n)
}

/** Forks a fixture; resolves with its exit code and every message it sent. */
export function run(script: string, args: string[] = [], onChild?: (c: ChildProcess) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; messages: any[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = fork(fixture(script), args, { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] })
    const messages: any[] = []
    let stderr = ''
    child.stderr?.on('data', (d) => (stderr += d))
    child.on('message', (m) => messages.push(m))
    child.on('error', reject)
    // 'close', not 'exit': the last IPC messages may arrive after 'exit'.
    child.on('close', (code, signal) => resolve({ code, signal, messages, stderr }))
    onChild?.(child)
  })
}
