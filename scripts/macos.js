'use strict'
// What the macOS CI jobs run (.github/workflows/ci.yml, release.yml), where
// .ci/run cannot (it needs apt, qemu and /dev/shm):
//
//   node scripts/macos.js ava [ava args]   the whole ava suite
//   node scripts/macos.js cargo            the core crate's Rust suites: its
//                                          unit tests and every integration
//                                          suite, the crash suite included
//
// The core is ported (issue 23): on macOS the map runs on shm_open with
// hashed object names, darwin's wait and wake, and the liveness-only lock
// (no robust list: a dead holder is found by its pid and start time).
//
// Tests that need what macOS lacks are skipped by name, each with its reason,
// and listed before the run: /dev/shm (macOS has no file system view of POSIX
// shared memory), /proc, the nobody user, Linux namespaces, and truncation (a
// macOS segment cannot be resized once sized).
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')

// [file, test title (a trailing * stands for the rest of titles made from a
// template), why it is skipped on macOS]
const AVA_SKIPS = [
  ['__test__/api.spec.mts', 'segments are created with mode 0600 unless options.mode says otherwise', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/api.spec.mts', 'memory is reserved at creation: /dev/shm blocks are allocated up front', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/boundary.spec.mts', 'a symlink at the name is ELOOP for open and openOrCreate, and its target is untouched', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  [
    '__test__/boundary.spec.mts',
    'a segment truncated under a second process: its get, set and entries throw ERR_HASHMAP_CORRUPT naming truncation, and it exits normally',
    'needs /dev/shm: macOS has no file system view of POSIX shared memory',
  ],
  ['__test__/boundary.spec.mts', 'a segment truncated again and again while its user holds the lock: that process survives, and its other maps keep working after close()', 'truncates a segment, which macOS cannot resize once sized'],
  ['__test__/boundary.spec.mts', "an owner's close() after its name was unlinked and re-created leaves the new map's name", 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  [
    '__test__/boundary.spec.mts',
    "orphans: a SIGKILLed owner's map, and one whose pid was reused, are removed by the next new(); a live owner's, another pid namespace's and an openOrCreate map stay (needs root)",
    'needs /dev/shm: macOS has no file system view of POSIX shared memory',
  ],
  [
    '__test__/boundary.spec.mts',
    'orphans: a live creator in its own pid namespace and /proc is never judged dead by a process that entered that namespace but kept another /proc (needs root for unshare and nsenter)',
    'needs /dev/shm: macOS has no file system view of POSIX shared memory',
  ],
  ['__test__/boundary.spec.mts', 'a new() that fails changes nothing in /dev/shm', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/boundary.spec.mts', 'a value with an unknown type tag is ERR_HASHMAP_CORRUPT on every path: get, getStale, entries and iteration', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  [
    '__test__/boundary.spec.mts',
    'a FIFO planted at a name: open is ERR_HASHMAP_INCOMPATIBLE at once, and a new() elsewhere does not hang on it (needs root for mkfifo in /dev/shm)',
    'needs /dev/shm: macOS has no file system view of POSIX shared memory',
  ],
  [
    '__test__/boundary.spec.mts',
    'a hard link to a 0o666 map, made by nobody under the name a private service opens, is refused, and the service never attaches (needs root and nobody)',
    'needs /dev/shm: macOS has no file system view of POSIX shared memory',
  ],
  [
    '__test__/boundary.spec.mts',
    "openOrCreate refuses a map whose mode grants more than its own with ERR_HASHMAP_MODE, which 'recreate' never acts on; the same mode attaches (needs root for a nobody reader)",
    'needs the nobody user and root to run as it',
  ],
  ['__test__/boundary.spec.mts', 'a SIGBUS sent with kill is not swallowed: a process with a map open dies by it as it would without the addon', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/boundary.spec.mts', 'maps truncated under a process and then closed keep no memory charged to it, and one memory-map entry each', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  [
    '__test__/boundary.spec.mts',
    "a lock holder killed in another pid namespace: the kernel's flag recovers the shard, and where that flag was overwritten, shm-hashmap unlock does (needs root for unshare)",
    'needs /dev/shm: macOS has no file system view of POSIX shared memory',
  ],
  [
    '__test__/boundary.spec.mts',
    'two pid namespaces whose threads have the same id: a waiter whose id is the holder\u2019s waits and times out, never takes the word for its own, and the map records that namespaces share it (needs root for unshare)',
    'needs /dev/shm: macOS has no file system view of POSIX shared memory',
  ],
  ['__test__/cli.spec.mts', 'ls lists our maps with size, entries, owner liveness and age, and skips other files', 'needs the nobody user and root to run as it'],
  ['__test__/cli.spec.mts', 'check exits 0 on a sound map and 1, listing problems, on a damaged one', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/cli.spec.mts', 'rm removes with --yes, refuses without a terminal to ask on, and reports a missing map', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/cli.spec.mts', 'bad usage exits 2 with the usage text', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/cli.spec.mts', 'rm refuses, with exit 2 and nothing changed, a file that is not a map, an empty one and a symlink to a map', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/cli.spec.mts', "prune: a SIGKILLed owner's map shows as dead and is removed, asking first; a live owner's map and an openOrCreate map stay", 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/cli.spec.mts', 'stat and check read a map of another user; rm needs --uid naming its owner (needs root)', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/cli.spec.mts', 'unlock breaks a lock whose holder is alive but stuck, asks first, and leaves the shard repaired by the next operation', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/cli.spec.mts', 'get, keys, ttl, del and clear read and write a map of the caller, with --json, and rm takes several names', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/errors.spec.mts', 'ERR_HASHMAP_INCOMPATIBLE: a plain /dev/shm file, an empty one, another format version', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/errors.spec.mts', 'ERR_HASHMAP_CORRUPT: a damaged table is reported, not read past', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/errors.spec.mts', 'ERR_HASHMAP_CORRUPT: a map marked corrupt by a failed repair refuses every operation', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/errors.spec.mts', 'ENOSPC at creation when /dev/shm cannot hold the map, and no name is left behind', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/errors.spec.mts', 'another user: EACCES on a 0600 map; a 0666 map is still refused as foreign unless trustUids names its owner (needs root)', 'needs the nobody user and root to run as it'],
  ['__test__/errors.spec.mts', 'a segment chowned to another user is ERR_HASHMAP_FOREIGN_OWNER for open and openOrCreate, unless trusted (needs root)', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/hostile.spec.mts', 'a table of hostile inputs: each throws its error and changes nothing', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/hostile.spec.mts', 'a segment of another format version and a plain file are ERR_HASHMAP_INCOMPATIBLE and stay as they were', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/processes.spec.mts', "the owner's close removes the name; an attached process's close does not", 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/processes.spec.mts', "the owner's normal exit removes the name, also through process.exit()", 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/processes.spec.mts', 'openOrCreate segments outlive every process until unlink', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/recreate.spec.mts', "onIncompatible: 'recreate' replaces an unfinished segment of ours, but never another program's file, whose bytes stay as they were", 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/recreate.spec.mts', "onIncompatible: 'recreate' never replaces a segment whose creator is still making it (it holds the segment's flock), however slow", 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/shards.spec.mts', 'options.shards: bad values are refused with a clear error, and nothing is created', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['__test__/stampede.spec.mts', 'the computing process is SIGKILLed mid-fn: another finishes after the lease expires', 'needs the nobody user and root to run as it'],
  [
    '__test__/stampede.spec.mts',
    'staleTtl: while one process recomputes an expired entry, the others are served the stale value instead of waiting; one without staleTtl waits for the new value',
    'needs the nobody user and root to run as it',
  ],
  // Three tests made from one template; ava's --match takes the * as a wildcard.
  ['__test__/boundary.spec.mts', 'a JavaScript SIGBUS listener *', 'truncates a segment, which macOS cannot resize once sized'],
  ['__test__/cli.spec.mts', 'ls shows a map whose writer is stopped mid-write as busy, after a short wait for each, instead of waiting out the lock timeout', 'ls lists /dev/shm: macOS cannot list its shared-memory objects'],
  ['__test__/cli.spec.mts', 'ls shows which processes have each map mapped', 'ls lists /dev/shm, and reads /proc/PID/maps: macOS has neither'],
]

// [file, test function, why it is skipped on macOS]
const CARGO_SKIPS = [
  ['crates/core/tests/boundary.rs', 'a_truncated_segment_is_an_error_and_other_maps_keep_working', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['crates/core/tests/boundary.rs', 'a_symlink_at_the_name_is_refused', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['crates/core/tests/boundary.rs', 'a_segment_of_another_uid_needs_trust', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['crates/core/tests/boundary.rs', 'a_segment_truncated_while_this_thread_holds_its_lock_does_not_break_later_locks', 'needs /dev/shm: macOS has no file system view of POSIX shared memory'],
  ['crates/core/tests/lock.rs', 'a_forged_killed_holder_is_recovered_from_by_the_next_operation', "expects the kernel to flag a killed holder's word through its robust list (and forges that list's entries): macOS has no robust list"],
  ['crates/core/tests/lock.rs', 'a_holder_killed_in_another_pid_namespace_is_recovered', 'needs Linux namespaces (unshare)'],
]

function report(skips) {
  for (const [file, name, why] of skips) console.log(`SKIP ${path.basename(file)} › ${name}: ${why}`)
}

function main(what, rest) {
  let r
  if (what === 'ava') {
    report(AVA_SKIPS)
    // ava runs every test whose title matches none of the negated patterns.
    const match = AVA_SKIPS.flatMap(([, title]) => ['--match', `!${title}`])
    r = spawnSync('npx', ['ava', ...match, ...rest], { cwd: root, stdio: 'inherit' })
  } else if (what === 'cargo') {
    report(CARGO_SKIPS)
    const skip = CARGO_SKIPS.flatMap(([, name]) => ['--skip', name])
    // The whole core builds on macOS since the port: its unit tests and
    // every integration suite run, less CARGO_SKIPS; crash-hook builds the
    // crash suite, which kills lock holders mid-write (owner death by
    // liveness alone, as on macOS every holder's death is found).
    r = spawnSync('cargo', ['test', '-p', 'shm-hashmap-core', '--features', 'crash-hook', ...rest, '--', '--exact', ...skip], { cwd: root, stdio: 'inherit' })
  } else {
    console.error('usage: node scripts/macos.js ava|cargo [args]')
    return 2
  }
  if (r.error) throw r.error
  return r.status ?? 1
}

if (require.main === module) process.exitCode = main(process.argv[2], process.argv.slice(3))
module.exports = { AVA_SKIPS, CARGO_SKIPS }
