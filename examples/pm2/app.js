'use strict'
// A tiny HTTP app for PM2 cluster mode: every instance attaches to the same
// map with openOrCreate (exactly one creates it) and counts requests in it.
// GET / answers with the counts of all instances. The map survives
// `pm2 reload`; remove it with `node -e "require('shm-hashmap').unlink('pm2-demo-counters')"`.
const http = require('node:http')
const hashmap = require('shm-hashmap')

const h = hashmap.openOrCreate(process.env.MAP_NAME ?? 'pm2-demo-counters', 1 << 20)
const me = `instance-${process.env.NODE_APP_INSTANCE ?? process.pid}`

http
  .createServer((req, res) => {
    h.set(me, (h.get(me) ?? 0) + 1)
    const seen = {}
    for (let i = 0; i < 16; i++) {
      const v = h.get(`instance-${i}`)
      if (v !== undefined) seen[`instance-${i}`] = v
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ servedBy: me, pid: process.pid, counts: seen }))
  })
  .listen(Number(process.env.PORT ?? 3000), '127.0.0.1')
