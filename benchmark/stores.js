'use strict'
// The stores the benchmark compares, behind one interface:
//   open(spec) -> { get(k), set(k, v), del(k), incr?(k), close(), share?: attach info }
// Synchronous stores return values; Redis returns promises (awaited per op,
// as a request handler would). `shareable` stores can be attached from
// another process with attach(info). Stores with `incr` add 1 to a counter
// (created at 0 if absent) and return the new count; `incrIs` says how.
// spec: { capacity, keySize, valueSize, shards? }; `shards` is passed to
// shm-hashmap's options only when set.
const { execFileSync, spawn } = require('node:child_process')
const { existsSync, mkdtempSync, rmSync } = require('node:fs')
const path = require('node:path')
const hashmap = require('..')

function tmpdir(tag) {
  return mkdtempSync(`/dev/shm/shm-hashmap-bench-${tag}-`)
}

const stores = {
  map: {
    label: 'Map',
    open() {
      const m = new Map()
      return { get: (k) => m.get(k), set: (k, v) => m.set(k, v), del: (k) => m.delete(k), close() {} }
    },
  },

  'lru-cache': {
    label: 'lru-cache',
    open(spec) {
      const { LRUCache } = require('lru-cache')
      const c = new LRUCache({ max: spec.capacity })
      return { get: (k) => c.get(k), set: (k, v) => c.set(k, v), del: (k) => c.delete(k), close() {} }
    },
  },

  'shm-hashmap': {
    label: 'shm-hashmap',
    shareable: true,
    incrIs: '`h.incr(key, 1, 0)`',
    open(spec) {
      // Room for every entry the run ever holds at once, plus headroom for
      // overwrites (a new record is written before the old one is freed).
      const r = hashmap.calcRequiredMemorySize(0, spec.capacity, 0, spec.keySize + spec.valueSize)
      const h = hashmap.new(Math.ceil(r.memorySize * 1.1), spec.capacity, 0, spec.shards ? { shards: spec.shards } : undefined)
      return wrapShm(h, h.name)
    },
    attach(info) {
      return wrapShm(hashmap.open(info), info)
    },
  },

  lmdb: {
    label: 'lmdb',
    shareable: true,
    incrIs: 'a `get` and a `putSync` of the count in one `transactionSync` (lmdb-js has no atomic increment)',
    open(spec) {
      const dir = tmpdir('lmdb')
      const mapSize = Math.max(64 << 20, spec.capacity * (spec.keySize + spec.valueSize + 64) * 2)
      return wrapLmdb(dir, mapSize, true)
    },
    attach(info) {
      return wrapLmdb(info.dir, info.mapSize, false)
    },
  },

  sqlite: {
    label: 'better-sqlite3',
    shareable: true,
    open() {
      const dir = tmpdir('sqlite')
      return wrapSqlite(path.join(dir, 'kv.db'), dir, true)
    },
    attach(info) {
      return wrapSqlite(info.file, info.dir, false)
    },
  },

  redis: {
    label: 'Redis (ioredis)',
    shareable: true,
    async: true,
    open() {
      return wrapRedis(true)
    },
    attach() {
      return wrapRedis(false)
    },
  },
}

function wrapShm(h, name) {
  return {
    get: (k) => h.get(k),
    set: (k, v) => h.set(k, v),
    del: (k) => h.del(k),
    incr: (k) => h.incr(k, 1, 0),
    share: name,
    close: () => h.close(),
  }
}

function wrapLmdb(dir, mapSize, owner) {
  const { open } = require('lmdb')
  const db = open({ path: dir, noSync: true, mapSize, encoding: 'string', cache: false })
  return {
    get: (k) => db.get(k),
    set: (k, v) => db.putSync(k, v),
    del: (k) => db.removeSync(k),
    incr: (k) =>
      db.transactionSync(() => {
        const n = Number(db.get(k) ?? 0) + 1
        db.putSync(k, String(n))
        return n
      }),
    share: { dir, mapSize },
    close() {
      db.close()
      if (owner) rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Builds better-sqlite3's addon from source when npm ran no install script. */
function ensureSqliteBuilt() {
  const pkg = path.dirname(require.resolve('better-sqlite3/package.json'))
  if (existsSync(path.join(pkg, 'build/Release/better_sqlite3.node'))) return
  const npmDir = path.dirname(path.dirname(require.resolve('npm', { paths: [path.dirname(process.execPath) + '/../lib/node_modules'] })))
  const gyp = path.join(npmDir, 'npm/node_modules/node-gyp/bin/node-gyp.js')
  console.error(`building better-sqlite3 from source (${pkg})...`)
  execFileSync(process.execPath, [gyp, 'rebuild', '--release'], { cwd: pkg, stdio: 'inherit' })
}

function wrapSqlite(file, dir, owner) {
  ensureSqliteBuilt()
  const Database = require('better-sqlite3')
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = OFF')
  db.exec('CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID')
  const get = db.prepare('SELECT v FROM kv WHERE k = ?').pluck()
  const put = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)')
  const del = db.prepare('DELETE FROM kv WHERE k = ?')
  return {
    get: (k) => get.get(k),
    set: (k, v) => put.run(k, v),
    del: (k) => del.run(k),
    share: { file, dir },
    close() {
      db.close()
      if (owner) rmSync(dir, { recursive: true, force: true })
    },
  }
}

let redisServer = null
const REDIS_PORT = 6391

/** Starts redis-server on 127.0.0.1 with persistence off; null if it is missing. */
async function startRedis() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
  } catch {
    console.error('Redis peer skipped: redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)')
    return false
  }
  redisServer = spawn('redis-server', ['--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: 'ignore' })
  const Redis = require('ioredis')
  for (let i = 0; i < 100; i++) {
    const c = new Redis({ port: REDIS_PORT, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: null })
    try {
      await c.connect()
      await c.ping()
      c.disconnect()
      return true
    } catch {
      c.disconnect()
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return false
}

function stopRedis() {
  redisServer?.kill('SIGTERM')
  redisServer = null
}

function wrapRedis(owner) {
  const Redis = require('ioredis')
  const c = new Redis({ port: REDIS_PORT, host: '127.0.0.1' })
  if (owner) c.flushall()
  return {
    get: (k) => c.get(k),
    set: (k, v) => c.set(k, v),
    del: (k) => c.del(k),
    pipelineSet: async (pairs) => {
      for (let i = 0; i < pairs.length; i += 10000) {
        const p = c.pipeline()
        for (const [k, v] of pairs.slice(i, i + 10000)) p.set(k, v)
        await p.exec()
      }
    },
    share: {},
    close: () => c.disconnect(),
  }
}

module.exports = { stores, startRedis, stopRedis }
