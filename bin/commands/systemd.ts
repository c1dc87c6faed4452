import type { Command } from '../cli.js'

const command: Command = {
  summary: '(not wired yet)',
  run: async () => {
    console.error('minogan systemd: not wired yet')
    return 1
  },
}
export default command
