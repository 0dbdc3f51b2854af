'use strict'
// Prometheus metrics of every instance, scraped from any one of them, with
// no primary process: run it under PM2 cluster mode
// (`pm2 start examples/pm2/metrics.config.cjs`) or node:cluster. Every
// instance counts its requests in a prom-client counter; GET /metrics on any
// instance answers with the sum over all live instances.
const http = require('node:http')
const client = require('prom-client')
const { ClusterMetrics } = require('shm-hashmap/metrics')

const served = new client.Counter({ name: 'app_requests_total', help: 'Requests served (not counting scrapes).' })
const metrics = new ClusterMetrics({ name: process.env.MAP_NAME ?? 'pm2-demo-metrics', timeout: 1000 })

const server = http
  .createServer(async (req, res) => {
    res.setHeader('x-pid', String(process.pid))
    if (req.url === '/metrics') {
      res.setHeader('content-type', metrics.contentType)
      return res.end(await metrics.clusterMetrics())
    }
    served.inc()
    res.end('ok')
  })
  .listen(Number(process.env.PORT ?? 3001), '127.0.0.1')

process.on('message', (m) => {
  if (m !== 'exit') return
  server.close()
  metrics.close()
  process.exit(0)
})
