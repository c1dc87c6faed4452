import { ConfigError, EXIT_CONFIG } from '../core/errors.js'
import { keepFilesPrivate } from '../core/files.js'

/** A CLI command: takes the arguments after its name, returns the exit code. */
export type Command = {
  summary: string
  run: (args: string[]) => Promise<number>
}

const COMMANDS: Record<string, () => Promise<{ default: Command }>> = {
  start: () => import('./commands/start.js'),
  stop: () => import('./commands/stop.js'),
  status: () => import('./commands/status.js'),
  keys: () => import('./commands/keys.js'),
  systemd: () => import('./commands/systemd.js'),
  db: () => import('./commands/db.js'),
}

async function usage(): Promise<string> {
  const lines = ['usage: minogan <command> [options]', '', 'commands:']
  for (const [name, load] of Object.entries(COMMANDS)) {
    const command = await load().catch(() => undefined)
    if (command) lines.push(`  ${name.padEnd(10)} ${command.default.summary}`)
  }
  return lines.join('\n')
}

async function main(argv: string[]): Promise<number> {
  keepFilesPrivate()
  const [name, ...args] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(await usage())
    return name ? 0 : 2
  }
  const load = COMMANDS[name]
  if (!load) {
    console.error(`minogan: unknown command "${name}"\n\n${await usage()}`)
    return 2
  }
  const command = (await load()).default
  return command.run(args)
}

// pm2's client keeps sockets open after disconnect; once a command is done, leave.
function exitSoon(code: number): void {
  process.exitCode = code
  setTimeout(() => process.exit(code), 200).unref()
}

main(process.argv.slice(2)).then(
  (code) => {
    exitSoon(code)
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      console.error(`minogan: bad configuration: ${err.message}`)
      exitSoon(EXIT_CONFIG)
      return
    }
    console.error(`minogan: ${(err as Error).message}`)
    exitSoon(1)
  },
)
