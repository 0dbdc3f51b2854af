// shm-hashmap/metrics with real processes: prom-client in 2 node:cluster
// workers, requests spread over both, scrapes on either; and its options.
import test from 'ava'
import { fork } from 'node:child_process'
import client from 'prom-client'
import hashmap from 'shm-hashmap'
import { ClusterMetrics } from 'shm-hashmap/metrics'
import DefaultMetrics from 'shm-hashmap/metrics'
import { cleanup, fixture, uniqueName } from './helpers.mjs'
import { hit, sample, scrapesAreExact } from './metrics-scrape.mjs'

test('prom-client on 2 cluster workers: every scrape on either worker reports exactly the requests served so far; a dead worker’s snapshot is dropped', async (t) => {
  t.timeout(120_000)
  const name = uniqueName('metrics-cluster')
  t.teardown(() => cleanup(name))
  const primary = fork(fixture('metrics-cluster.cjs'), [], { env: { ...process.env, MAP_NAME: name, PORT: '0' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.teardown(() => primary.kill('SIGKILL'))
  const { port, pids } = await new Promise<any>((r) => primary.once('message', r))
  await scrapesAreExact(t, port, 0, pids)
  // A worker SIGKILLed: the next scrape aggregates the live one only.
  process.kill(pids[0], 'SIGKILL')
  await new Promise((r) => setTimeout(r, 200))
  const { text } = await hit(port, '/metrics')
  t.is(sample(text, 'shm_hashmap_cluster_metrics_processes'), 1)
  const h = hashmap.open(name)
  t.deepEqual(
    h.keys(0).filter((k) => k.startsWith('snap:')),
    [`snap:${pids[1]}`],
    'the dead worker’s snapshot is gone',
  )
  h.close()
  const exited = new Promise((r) => primary.once('exit', r))
  primary.send('exit')
  await exited
})

test('a process that does not answer in time is served from its last snapshot, and counted as stale', async (t) => {
  const name = uniqueName('metrics-stale')
  t.teardown(() => cleanup(name))
  const registry = new client.Registry()
  const c = new client.Counter({ name: 'mine_total', help: 'h', registers: [registry] })
  c.inc(5)
  const cm = new ClusterMetrics({ registry, name, timeout: 100 })
  t.teardown(() => cm.close())
  t.is(DefaultMetrics, ClusterMetrics)
  t.is(cm.contentType, registry.contentType)
  // Another process's snapshot that never answers: this process itself
  // (alive), under another key, as a blocked event loop would leave it.
  const h = hashmap.open(name)
  t.teardown(() => h.close())
  h.set('snap:blocked', JSON.stringify({ pid: process.pid, seq: 0, metrics: await registry.getMetricsAsJSON() }))
  const text = await cm.clusterMetrics()
  t.is(sample(text, 'mine_total'), 10)
  t.is(sample(text, 'shm_hashmap_cluster_metrics_stale_processes'), 1)
  // A snapshot of a process that is gone is dropped.
  h.set('snap:gone', JSON.stringify({ pid: 2 ** 22 + 5, seq: 0, metrics: await registry.getMetricsAsJSON() }))
  const again = await cm.clusterMetrics()
  t.is(sample(again, 'mine_total'), 10)
  t.is(h.get('snap:gone'), undefined)
})

test('bad options are refused, naming the option', (t) => {
  for (const [options, code] of [
    [{ timout: 1 }, 'ERR_INVALID_ARG_VALUE'],
    [{ timeout: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ registry: {} }, 'ERR_INVALID_ARG_TYPE'],
    [{ name: 5 }, 'ERR_INVALID_ARG_TYPE'],
  ] as const) {
    const err = t.throws(() => new ClusterMetrics(options as any))
    t.is((err as any).code, code, JSON.stringify(options))
  }
})
