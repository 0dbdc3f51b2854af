'use strict'
// npm run test:libc: a glibc process and a musl process share one map, and
// each recovers the other's SIGKILLed lock holder.
//
// The addon cannot be loaded under musl here (the musl runtime on npm, Bun's
// musl build, needs a musl libstdc++ that Debian does not package; see
// scripts/platforms.js), so the two sides are two static builds of the core
// crate's example `lock_peer`: one for x86_64-unknown-linux-musl (rustup's
// musl std, self-contained), one for x86_64-unknown-linux-gnu with
// +crt-static. Each prints its libc, so the proof cannot silently compare a
// build with itself. The map is made by one side and written by both; then
// each side holds shard 0's lock, is SIGKILLed, and the other side's next
// write must repair the shard (its repair count goes up by one) and find the
// other's keys; `check()` must pass from both sides.
//
// It prints one line, `ok …` or `SKIP …` (no musl target can be installed)
// or `FAIL …`, and exits non-zero only on FAIL.

const { execFileSync, spawn, spawnSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')
const targetDir = path.join(root, 'target/libc-share')
const SIDES = {
  gnu: { triple: 'x86_64-unknown-linux-gnu', rustflags: '-C target-feature=+crt-static', offset: '32' },
  musl: { triple: 'x86_64-unknown-linux-musl', rustflags: '', offset: '28' },
}

class Skip extends Error {}

function build(side) {
  const { triple, rustflags } = SIDES[side]
  const r = spawnSync('cargo', ['build', '-p', 'shm-hashmap-core', '--example', 'lock_peer', '--target', triple], {
    cwd: root,
    env: { ...process.env, CARGO_TARGET_DIR: targetDir, RUSTFLAGS: rustflags },
    encoding: 'utf8',
    timeout: 15 * 60_000,
  })
  if (r.status !== 0) throw new Error(`building lock_peer for ${triple} failed:\n${r.stderr.slice(-2000)}`)
  const bin = path.join(targetDir, triple, 'debug/examples/lock_peer')
  const ldd = spawnSync('ldd', [bin], { encoding: 'utf8' })
  if (!/statically linked|not a dynamic executable/.test(`${ldd.stdout}${ldd.stderr}`)) throw new Error(`${bin} is not static: ${ldd.stdout}`)
  const [libc, offset] = execFileSync(bin, ['libc'], { encoding: 'utf8' }).trim().split(' ')
  if (libc !== side) throw new Error(`${bin} says it was built for ${libc}, not ${side}`)
  // glibc's robust-list entry is 32 bytes after the word, musl's 28.
  if (offset !== SIDES[side].offset) throw new Error(`${side}'s robust-list entry is at ${offset}, not ${SIDES[side].offset}, after the word`)
  return bin
}

function ensureMuslTarget() {
  const installed = spawnSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' })
  if (installed.error) throw new Skip('no rustup, so no musl std to build the musl side with')
  if (installed.stdout.split('\n').includes(SIDES.musl.triple)) return
  const add = spawnSync('rustup', ['target', 'add', SIDES.musl.triple], { encoding: 'utf8', timeout: 10 * 60_000 })
  if (add.status !== 0) throw new Skip(`rustup could not install the ${SIDES.musl.triple} std: ${add.stderr.trim().split('\n').pop()}`)
}

/** Runs a side's command; returns its stdout, or throws with its stderr. */
function peer(bin, ...args) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 30_000 })
  if (r.status !== 0) throw new Error(`lock_peer ${args.join(' ')} (${bin.includes('musl') ? 'musl' : 'gnu'}) exited ${r.status ?? r.signal}: ${r.stderr.trim()}`)
  return r.stdout.trim()
}

/** Starts `bin hold name`; resolves with the child once it holds the lock. */
function holder(bin, name) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['hold', name], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('held')) resolve(child)
    })
    child.once('exit', (code, signal) => reject(new Error(`the holder exited (${code ?? signal}) before it held the lock`)))
  })
}

const recoveries = (text) => Number(/recoveries (\d+)/.exec(text)?.[1] ?? NaN)

async function main() {
  ensureMuslTarget()
  const bins = { gnu: build('gnu'), musl: build('musl') }
  const name = `shm-hashmap-libc-share-${process.pid}`
  const notes = []
  try {
    peer(bins.gnu, 'create', name)
    let count = recoveries(peer(bins.gnu, 'set', name, 'from-gnu', 'g0'))
    peer(bins.musl, 'set', name, 'from-musl', 'm0')
    if (peer(bins.gnu, 'get', name, 'from-musl') !== 'm0' || peer(bins.musl, 'get', name, 'from-gnu') !== 'g0') throw new Error("a side does not read the other's value")
    notes.push('glibc made the map, both wrote and read each other')
    for (const [dies, recovers] of [
      ['musl', 'gnu'],
      ['gnu', 'musl'],
    ]) {
      const child = await holder(bins[dies], name)
      const gone = new Promise((r) => child.once('exit', r))
      child.kill('SIGKILL')
      await gone
      // The kernel walked the dead holder's robust list (the libc's head)
      // and flagged the word: owner-died, no TID.
      const word = Number(peer(bins[recovers], 'word', name))
      if ((word & 0x7fffffff) !== 0x40000000) throw new Error(`the kernel did not flag ${dies}'s dead holder: word ${word.toString(16)}`)
      const after = recoveries(peer(bins[recovers], 'set', name, `after-${dies}-died`, recovers))
      if (after !== count + 1) throw new Error(`${recovers} did not repair after ${dies}'s holder died: repair count ${count} -> ${after}`)
      count = after
      if (peer(bins[dies], 'get', name, `after-${dies}-died`) !== recovers) throw new Error(`${dies} does not read what ${recovers} wrote after the recovery`)
      notes.push(`${recovers} recovered ${dies}'s SIGKILLed holder from the kernel's flag`)
    }
    peer(bins.gnu, 'check', name)
    peer(bins.musl, 'check', name)
    notes.push('check() passes from both')
  } finally {
    spawnSync(bins.gnu, ['unlink', name])
  }
  return notes.join('; ')
}

main().then(
  (notes) => console.log(`ok   glibc+musl (static lock_peer builds): ${notes}`),
  (e) => {
    if (e instanceof Skip) return console.log(`SKIP glibc+musl: ${e.message}`)
    console.log(`FAIL glibc+musl: ${e.message}`)
    process.exitCode = 1
  },
)
