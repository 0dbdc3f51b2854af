// pm2 start examples/pm2/metrics.config.cjs: metrics-app.js in cluster mode.
module.exports = {
  apps: [
    {
      name: 'shm-hashmap-metrics-demo',
      script: './metrics-app.js',
      cwd: __dirname,
      exec_mode: 'cluster',
      instances: 2,
      env: {
        PORT: process.env.PORT ?? 3001,
        MAP_NAME: process.env.MAP_NAME ?? 'pm2-demo-metrics',
      },
    },
  ],
}
