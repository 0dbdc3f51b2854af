// pm2 start examples/pm2/ecosystem.config.cjs
module.exports = {
  apps: [
    {
      name: 'shm-hashmap-demo',
      script: './app.js',
      cwd: __dirname,
      exec_mode: 'cluster',
      instances: 2,
      env: {
        PORT: process.env.PORT ?? 3000,
        MAP_NAME: process.env.MAP_NAME ?? 'pm2-demo-counters',
      },
    },
  ],
}
