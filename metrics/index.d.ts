/**
 * shm-hashmap/metrics: prom-client metrics of every process on the machine,
 * aggregated at scrape time with no primary process, so that one scrape of
 * any PM2 instance or node:cluster worker reports the whole service. The
 * Redis-free counterpart of prom-client's `AggregatorRegistry`, which needs
 * a node:cluster primary.
 *
 * @packageDocumentation
 */
import type { HashMap } from '../index.js'

/** A prom-client `Registry`, as far as this module uses it. */
export interface MetricsRegistry {
  /** Its metrics as prom-client's JSON. */
  getMetricsAsJSON(): Promise<unknown[]> | unknown[]
  /** The Content-Type of its Prometheus text. */
  readonly contentType: string
}

/** Options of {@link ClusterMetrics}. */
export interface ClusterMetricsOptions {
  /** The registry whose metrics this process contributes. Default: prom-client's global `register`. */
  registry?: MetricsRegistry
  /**
   * The map's name, opened (or created) by every process. Default: unique
   * to the app, `shm-hashmap-metrics-<package>-<hash of the main script's
   * directory>`, the same for every instance of one app.
   */
  name?: string
  /** A map you opened instead (not closed by {@link ClusterMetrics.close}). */
  map?: HashMap
  /**
   * Longest wait, in ms (10 to 60000), of a scrape for the other processes'
   * fresh snapshots; a process that has not answered by then is served from
   * its last one. Each process polls for scrapes every `timeout / 10` ms
   * (5 to 1000). Default `1000`, well under Prometheus's default 10 s
   * scrape timeout.
   */
  timeout?: number
  /** Bytes of shared memory if this process creates the map. Default 16 MiB. */
  memorySize?: number
  /**
   * Permission bits if this process creates the map (every process passes the same).
   * @defaultValue `0o600`
   */
  mode?: number
  /**
   * Longest wait for the map's lock, in ms.
   * @defaultValue `5000`
   */
  lockTimeout?: number
  /**
   * As for `openOrCreate`.
   * @defaultValue `'error'`
   */
  onIncompatible?: 'error' | 'recreate'
}

/**
 * Make one in every process of the service; then
 * `await cm.clusterMetrics()` on any of them gives the Prometheus text of
 * all live processes, summed by prom-client's `AggregatorRegistry.aggregate`
 * (each metric's `aggregator` setting is honoured). Two gauges of its own
 * are added: `shm_hashmap_cluster_metrics_processes` (processes aggregated)
 * and `shm_hashmap_cluster_metrics_stale_processes` (those served from their
 * last snapshot because they did not answer within `timeout`).
 *
 * @example
 * ```js
 * const cm = new ClusterMetrics({ name: 'my-app-metrics' })
 * app.get('/metrics', async (req, res) => res.type(cm.contentType).send(await cm.clusterMetrics()))
 * ```
 */
export declare class ClusterMetrics {
  constructor(options?: ClusterMetricsOptions)
  /** The Content-Type of {@link ClusterMetrics.clusterMetrics}'s text. */
  readonly contentType: string
  /** The shared map under the metrics. */
  readonly map: HashMap
  /** The aggregated Prometheus text of every live process's metrics, fresh as of this call. */
  clusterMetrics(): Promise<string>
  /** Stops polling, removes this process's snapshot, and detaches from the map if this opened it. */
  close(): void
}
export default ClusterMetrics
