import type { Command } from '../cli.js'

const command: Command = {
  summary: '(not wired yet)',
  run: async () => {
    console.error('minogan status: not wired yet')
    return 1
  },
}
export default command
