// What the metrics tests do against an app of examples/pm2/metrics-app.js,
// run by node:cluster (metrics.spec.mts) or PM2 (pm2.spec.mts).
import type { ExecutionContext } from 'ava'

/** One request on a new connection, so that the instances share them. */
export async function hit(port: number, path: string): Promise<{ pid: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } })
  return { pid: Number(res.headers.get('x-pid')), text: await res.text() }
}

/** The value of the sample `name` (without labels) in Prometheus text. */
export function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.split(' ')[1])
}

/**
 * Rounds of requests spread over both instances, each followed by scrapes
 * on either instance: every scrape reports exactly the requests served so
 * far (`served` of them before this call), and both instances are scraped.
 */
export async function scrapesAreExact(t: ExecutionContext, port: number, served: number, pids: number[]): Promise<number> {
  const scrapedOn = new Set<number>()
  let last = 0
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 10; i++) await hit(port, '/work')
    served += 10
    for (let i = 0; i < 4; i++) {
      const { pid, text } = await hit(port, '/metrics')
      scrapedOn.add(pid)
      const total = sample(text, 'app_requests_total')
      t.is(total, served, `a scrape on ${pid} in round ${round}`)
      t.true((total ?? 0) >= last, 'counts never go backwards')
      last = total ?? 0
      t.is(sample(text, 'shm_hashmap_cluster_metrics_processes'), 2)
      t.is(sample(text, 'shm_hashmap_cluster_metrics_stale_processes'), 0)
    }
  }
  t.deepEqual([...scrapedOn].sort(), [...pids].sort(), 'both instances were scraped')
  return served
}
