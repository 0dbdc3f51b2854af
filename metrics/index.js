'use strict'
// shm-hashmap/metrics: prom-client metrics of every process on the machine,
// aggregated at scrape time with no primary process, so that it works under
// PM2 (which has no node:cluster primary of ours) and node:cluster alike.
//
// Every process keeps a ClusterMetrics on one map. Each publishes its
// registry's getMetricsAsJSON() as a snapshot under `snap:<pid>`, tagged
// with its pid, start time and the scrape request it answers. A scrape on
// any process bumps the request counter `req` (one incr), publishes its own
// snapshot, and waits, for at most `timeout`, until every live process's
// snapshot answers that request. The map cannot notify another process, so
// every process polls `req` on an unref'd timer (one get per tick). A
// process that has not answered in time (its event loop is blocked) is
// served from its last snapshot, and counted in our own gauge. Snapshots of
// processes that are gone (no such pid, or another start time) are dropped.
// prom-client's AggregatorRegistry.aggregate sums them, honouring each
// metric's `aggregator`.

const { assertAddon } = require('../lib/native.js')
const { readFileSync } = require('node:fs')
const hashmap = require('../index.js')
const { invalid } = require('../lib/adapter.js')
const { appMapName } = require('../lib/app-name.js')

const REQUEST = 'req'
const SNAP = 'snap:'
const DEFAULT_TIMEOUT = 1000
const DEFAULT_MEMORY = 16 << 20
/** A snapshot outlives its process's last publish by this much at most, where death cannot be seen. */
const SNAPSHOT_TTL = 3600_000
const OPTIONS = ['registry', 'name', 'map', 'timeout', 'memorySize', 'mode', 'lockTimeout', 'onIncompatible']
const STALE = 'shm_hashmap_cluster_metrics_stale_processes'
const LIVE = 'shm_hashmap_cluster_metrics_processes'

function promClient() {
  try {
    return require('prom-client')
  } catch (e) {
    throw invalid(`shm-hashmap/metrics needs prom-client, which could not be loaded (${e.message}); install it with npm install prom-client`, 'ERR_MODULE_NOT_FOUND', Error)
  }
}

/** Start time of process `pid` (clock ticks after boot), or undefined if there is none or it cannot be read. */
function startTime(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

/** Whether the process of a snapshot is provably gone: no such pid, or the pid is another process now. */
function gone(snap) {
  try {
    process.kill(snap.pid, 0)
  } catch (e) {
    if (e.code === 'ESRCH') return true
  }
  const now = startTime(snap.pid)
  return now !== undefined && snap.start !== undefined && now !== snap.start
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** prom-client metrics of every process that shares the map (see index.d.ts). */
class ClusterMetrics {
  #map
  #ownsHandle
  #registry
  #prom
  #timeout
  #timer
  #key
  #start
  #answered = 0
  #publishing = Promise.resolve()
  #closed = false

  /** @param {import('./index').ClusterMetricsOptions & Record<string, any>} [options] */
  constructor(options = {}) {
    assertAddon()
    if (options === null || typeof options !== 'object') throw invalid('The "options" argument must be of type object', 'ERR_INVALID_ARG_TYPE')
    const unknown = Object.keys(options).find((k) => !OPTIONS.includes(k))
    if (unknown !== undefined) throw invalid(`The option "${unknown}" is not an option of ClusterMetrics; its options are ${OPTIONS.join(', ')}`, 'ERR_INVALID_ARG_VALUE')
    const timeout = options.timeout ?? DEFAULT_TIMEOUT
    if (typeof timeout !== 'number' || !(timeout >= 10 && timeout <= 60_000)) throw invalid('The "options.timeout" argument must be a number of ms from 10 to 60000', 'ERR_OUT_OF_RANGE', RangeError)
    if (options.name !== undefined && typeof options.name !== 'string') throw invalid('The "options.name" argument must be of type string', 'ERR_INVALID_ARG_TYPE')
    if (options.map !== undefined && !(options.map instanceof hashmap.HashMap)) throw invalid('The "options.map" argument must be a HashMap', 'ERR_INVALID_ARG_TYPE')
    this.#prom = promClient()
    this.#registry = options.registry ?? this.#prom.register
    if (typeof this.#registry?.getMetricsAsJSON !== 'function') throw invalid('The "options.registry" argument must be a prom-client Registry', 'ERR_INVALID_ARG_TYPE')
    this.#timeout = timeout
    if (options.map) {
      this.#map = options.map
      this.#ownsHandle = false
    } else {
      /** @type {import('../index').OpenOrCreateOptions} */
      const pass = { evict: 'none', shards: 1 }
      for (const k of ['mode', 'lockTimeout', 'onIncompatible']) if (options[k] !== undefined) pass[k] = options[k]
      this.#map = hashmap.openOrCreate(options.name ?? appMapName('metrics'), options.memorySize ?? DEFAULT_MEMORY, 4096, 0, pass)
      this.#ownsHandle = true
    }
    this.#key = `${SNAP}${process.pid}`
    this.#start = startTime(process.pid)
    // Publish at once, so that scrapes wait for this process from now on.
    this.#answered = this.#request()
    this.#publish(this.#answered).catch(() => {})
    const every = Math.max(5, Math.min(1000, Math.floor(timeout / 10)))
    this.#timer = setInterval(() => this.#poll(), every)
    this.#timer.unref()
  }

  /** The Content-Type of {@link ClusterMetrics.clusterMetrics}'s text. */
  get contentType() {
    return this.#registry.contentType
  }

  /** The shared map under the metrics. */
  get map() {
    return this.#map
  }

  #request() {
    return Number(this.#map.get(REQUEST) ?? 0)
  }

  #poll() {
    if (this.#closed) return
    try {
      const r = this.#request()
      if (r > this.#answered) {
        this.#answered = r
        this.#publish(r).catch(() => {})
      }
    } catch {}
  }

  /** Publishes this process's snapshot as the answer to request `seq`, one publish at a time. */
  #publish(seq) {
    const next = this.#publishing.then(async () => {
      const metrics = await this.#registry.getMetricsAsJSON()
      if (this.#closed) return
      const snap = { pid: process.pid, start: this.#start, seq, time: Date.now(), metrics }
      this.#map.set(this.#key, JSON.stringify(snap), { ttl: SNAPSHOT_TTL })
    })
    this.#publishing = next.catch(() => {})
    return next
  }

  /** Every snapshot in the map, the gone ones removed. */
  #snapshots() {
    const out = []
    for (const key of this.#map.keys(0)) {
      if (!key.startsWith(SNAP)) continue
      let snap
      try {
        snap = JSON.parse(/** @type {string} */ (this.#map.get(key)))
      } catch {
        continue
      }
      if (typeof snap?.pid !== 'number' || !Array.isArray(snap.metrics)) continue
      if (snap.pid !== process.pid && gone(snap)) {
        this.#map.del(key)
        continue
      }
      out.push(snap)
    }
    return out
  }

  /**
   * The Prometheus text of every live process's metrics, aggregated as
   * prom-client's AggregatorRegistry does, from snapshots taken after this
   * call began (or, for a process that did not answer within `timeout`,
   * its last one).
   */
  async clusterMetrics() {
    if (this.#closed) throw invalid('ClusterMetrics was closed', 'ERR_HASHMAP_CLOSED', Error)
    const seq = Number(this.#map.incr(REQUEST, 1, 0))
    this.#answered = Math.max(this.#answered, seq)
    await this.#publish(seq)
    const deadline = Date.now() + this.#timeout
    let snaps = this.#snapshots()
    while (snaps.some((s) => s.seq < seq) && Date.now() < deadline) {
      await sleep(2)
      snaps = this.#snapshots()
    }
    const { AggregatorRegistry, Gauge } = this.#prom
    const registry = AggregatorRegistry.aggregate(snaps.map((s) => s.metrics))
    new Gauge({ name: LIVE, help: 'Processes whose metrics this scrape aggregated (shm-hashmap/metrics).', registers: [registry] }).set(snaps.length)
    new Gauge({ name: STALE, help: `Processes served from their last snapshot: they did not answer within the ${this.#timeout} ms timeout (a blocked event loop).`, registers: [registry] }).set(snaps.filter((s) => s.seq < seq).length)
    return registry.metrics()
  }

  /** Stops polling, removes this process's snapshot, and detaches from the map if this opened it. */
  close() {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    try {
      this.#map.del(this.#key)
    } catch {}
    if (this.#ownsHandle) this.#map.close()
  }
}

module.exports = ClusterMetrics
module.exports.ClusterMetrics = ClusterMetrics
module.exports.default = ClusterMetrics
