import test from 'ava'
import { spawnSync } from 'node:child_process'
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import hashmap from 'shm-hashmap'
import { cleanup, shmExists, uniqueName } from './helpers.mjs'

const bin = fileURLToPath(new URL('../bin/shm-hashmap.js', import.meta.url))
const readme = fileURLToPath(new URL('../README.md', import.meta.url))

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

test('--help prints exactly the usage documented in the README', (t) => {
  const r = cli('--help')
  t.is(r.code, 0)
  const documented = /<!-- cli-help -->\n```\n([\s\S]*?)```/.exec(readFileSync(readme, 'utf8'))?.[1]
  t.truthy(documented, 'the README has the help block')
  t.is(r.out, documented ?? '')
  t.is(cli('-h').out, r.out)
})

test('ls lists our maps with size, entries, owner liveness and age, and skips other files', (t) => {
  const owned = hashmap.new(1 << 20, 0, 0, { name: uniqueName('cli-ls') })
  const shared = hashmap.openOrCreate(uniqueName('cli-ls'), 1 << 16)
  t.teardown(() => {
    owned.close()
    shared.close()
    cleanup(shared.name)
  })
  for (let i = 0; i < 42; i++) owned.set(`k${i}`, i)
  const r = cli('ls')
  t.is(r.code, 0, r.err)
  const line = r.out.split('\n').find((l) => l.startsWith(owned.name + ' '))
  t.truthy(line, r.out)
  t.regex(line!, new RegExp(`1\\.0 MiB\\s+42\\s+${process.pid} \\(alive\\)\\s+\\d+s`))
  t.regex(r.out.split('\n').find((l) => l.startsWith(shared.name + ' ')) ?? '', /none \(openOrCreate\)/)
  const json = JSON.parse(cli('ls', '--json').out) as { name: string; entries: number; ownerAlive: boolean }[]
  t.like(json.find((x) => x.name === owned.name), { entries: 42, ownerAlive: true, ownerPid: process.pid })
})

test('stat shows usage bars, and --json the same figures as h.stat()', (t) => {
  const h = hashmap.new(1 << 20, 1000)
  t.teardown(() => h.close())
  for (let i = 0; i < 250; i++) h.set(`k${i}`, 'x'.repeat(100))
  const r = cli('stat', h.name)
  t.is(r.code, 0, r.err)
  t.regex(r.out, /entries\s+\[#{8}\.{22}\]\s+25%\s+250 of 1,000 \(maxBuckets\)/)
  t.regex(r.out, /^data\s+\[[#.]{30}\]/m)
  t.regex(r.out, /^free blocks\s+\[[#.]{30}\]/m)
  t.regex(r.out, new RegExp(`owner\\s+${process.pid} \\(alive\\)`))
  const json = JSON.parse(cli('stat', h.name, '--json').out)
  const { createdMs, ...rest } = h.stat()
  t.like(json, { name: h.name, ...rest })
  t.is(json.createdMs, createdMs)
})

test('check exits 0 on a sound map and 1, listing problems, on a damaged one', (t) => {
  const h = hashmap.new(1 << 16)
  t.teardown(() => h.close())
  h.set('a', 1)
  const ok = cli('check', h.name)
  t.is(ok.code, 0, ok.err)
  t.is(ok.out, `${h.name}: ok, 1 entries\n`)
  const m = h.stat().metadata
  const fd = openSync(`/dev/shm/${h.name}`, 'r+')
  writeSync(fd, Buffer.alloc(8, 0xff), 0, 8, m.headerSize + m.freeBlocksSize)
  closeSync(fd)
  const bad = cli('check', h.name, '--json')
  t.is(bad.code, 1)
  const report = JSON.parse(bad.out)
  t.false(report.ok)
  t.true(report.problems.length > 0)
})

test('rm removes with --yes, refuses without a terminal to ask on, and reports a missing map', (t) => {
  const name = uniqueName('cli-rm')
  const h = hashmap.openOrCreate(name, 1 << 16)
  h.close()
  t.teardown(() => cleanup(name))
  const refused = cli('rm', name)
  t.is(refused.code, 2)
  t.regex(refused.err, /without --yes/)
  t.true(shmExists(name))
  const done = cli('rm', name, '--yes')
  t.is(done.code, 0, done.err)
  t.false(shmExists(name))
  const missing = cli('rm', name, '-y')
  t.is(missing.code, 1)
  t.regex(missing.err, /no map named/)
})

test('bad usage exits 2 with the usage text', (t) => {
  for (const args of [[], ['frobnicate'], ['stat'], ['ls', 'extra'], ['stat', 'a', 'b'], ['ls', '--bogus']]) {
    const r = cli(...args)
    t.is(r.code, 2, args.join(' '))
    t.regex(r.err, /Usage: shm-hashmap <command>/, args.join(' '))
  }
  t.is(cli('stat', uniqueName('nope')).code, 1)
})
