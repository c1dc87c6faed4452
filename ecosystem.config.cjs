// pm2 ecosystem file: `pm2 start ecosystem.config.cjs` brings up the same swarm as
// `npm start`. It declares the orchestrator, which launches the 28 agents of the catalog
// (agents/catalog.ts) in order (nats, migrations, lead-api, the rest) with pm2 app settings
// derived from that catalog, so this file and the catalog cannot disagree. `pm2 ls` then
// lists every agent by its name in the `minogan` namespace. Stopping the orchestrator
// (`pm2 stop ecosystem.config.cjs`) stops its agents in reverse order. Build first
// (`npm run build`): this file reads dist/.
const { loadConfig } = require('./dist/core/config.js')
const { orchestratorApp, swarmEnv } = require('./dist/orchestrator/pm2-apps.js')

module.exports = { apps: [orchestratorApp(loadConfig(), swarmEnv())] }
