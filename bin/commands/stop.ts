import { Pm2Backend } from '../../orchestrator/backends/pm2.js'
import type { Command } from '../cli.js'
import { stopSwarm } from '../swarm.js'

const command: Command = {
  summary: 'stop the swarm: agents in reverse start order, each within its kill timeout',
  run: async () => {
    const pm2 = await Pm2Backend.connect()
    try {
      const { stopped } = await stopSwarm(pm2)
      console.log(
        stopped.length > 0 ? `swarm stopped (${stopped.length} processes)` : 'no swarm was running',
      )
      return 0
    } finally {
      pm2.disconnect()
    }
  },
}
export default command
