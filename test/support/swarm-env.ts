import { spawn } from 'node:child_process'
import { join } from 'node:path'

import { CATALOG } from '../../agents/catalog.js'
import { ROOT } from '../../orchestrator/pm2-apps.js'
import { freePort } from './ports.js'
import { tempDir } from './tmp.js'

export type SwarmEnv = {
  env: NodeJS.ProcessEnv
  dataDir: string
  natsPort: number
  apiPort: number
  cli: (args: string[]) => Promise<{ code: number; stdout: string }>
  cleanup: () => Promise<void>
}

/** Environment for a swarm in temporary folders on free ports, apart from any other. */
export async function swarmEnv(extra: NodeJS.ProcessEnv = {}): Promise<SwarmEnv> {
  const dir = tempDir('minogan-swarm-')
  const natsPort = await freePort()
  const apiPort = await freePort()
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MINOGAN_DATA_DIR: join(dir.path, 'data'),
    PM2_HOME: join(dir.path, 'pm2'),
    MINOGAN_NATS_PORT: String(natsPort),
    PORT: String(apiPort),
    MINOGAN_LOG_LEVEL: 'warn',
    ...extra,
  }
  delete env.NATS_URL
  delete env.DATABASE_URL
  for (const spec of CATALOG) {
    if (spec.port && spec.name !== 'lead-api') {
      env[`MINOGAN_PORT_${spec.name.toUpperCase().replaceAll('-', '_')}`] = String(await freePort())
    }
  }

  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, 'dist/bin/cli.js'), ...args], {
        env,
        cwd: ROOT,
      })
      let stdout = ''
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
      child.stderr.on('data', (c: Buffer) => (stdout += c.toString()))
      child.on('exit', (code) => resolve({ code: code ?? 1, stdout }))
    })

  return {
    env,
    dataDir: join(dir.path, 'data'),
    natsPort,
    apiPort,
    cli,
    cleanup: async () => {
      await cli(['stop'])
      dir.cleanup()
    },
  }
}
