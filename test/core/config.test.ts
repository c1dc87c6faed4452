import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'

import { loadConfig } from '../../core/config.js'
import { ConfigError } from '../../core/errors.js'
import { tempDir } from '../support/tmp.js'

function configError(env: Record<string, string>): ConfigError {
  const dir = tempDir()
  try {
    loadConfig({ MINOGAN_DATA_DIR: dir.path, ...env })
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`)
    return err
  } finally {
    dir.cleanup()
  }
  assert.fail('expected a ConfigError')
}

describe('config', () => {
  it('has working defaults with an empty environment', () => {
    const dir = tempDir()
    const config = loadConfig({ MINOGAN_DATA_DIR: dir.path })
    dir.cleanup()

    assert.equal(config.PORT, 3000)
    assert.equal(config.natsServers, 'nats://127.0.0.1:4222')
    assert.equal(config.MINOGAN_SQLITE_CLIENT, 'better-sqlite3')
    assert.equal(config.dataDir, dir.path)
  })

  it('names the key and the bad value of a port that is not a number', () => {
    const err = configError({ PORT: 'eighty' })

    assert.equal(err.key, 'PORT')
    assert.match(err.message, /^PORT: .*"eighty"/)
  })

  it('refuses a port out of range', () => {
    assert.equal(configError({ MINOGAN_NATS_PORT: '70000' }).key, 'MINOGAN_NATS_PORT')
  })

  it('refuses an unknown sqlite client by name', () => {
    const err = configError({ MINOGAN_SQLITE_CLIENT: 'mysql' })

    assert.equal(err.key, 'MINOGAN_SQLITE_CLIENT')
    assert.match(err.message, /better-sqlite3/)
  })

  it('refuses a DATABASE_URL that is not PostgreSQL', () => {
    assert.equal(configError({ DATABASE_URL: 'mysql://localhost/db' }).key, 'DATABASE_URL')
  })

  it('refuses a bad per-agent port and names that agent variable', () => {
    const err = configError({ MINOGAN_PORT_STRIPE: 'x' })

    assert.equal(err.key, 'MINOGAN_PORT_STRIPE')
  })

  it('reads per-agent ports', () => {
    const dir = tempDir()
    const config = loadConfig({ MINOGAN_DATA_DIR: dir.path, MINOGAN_PORT_EXIT_INTENT: '4100' })
    dir.cleanup()

    assert.equal(config.agentPorts['exit-intent'], 4100)
  })

  it('reads the config file, and the environment wins over it', () => {
    const dir = tempDir()
    writeFileSync(
      join(dir.path, 'minogan.json'),
      JSON.stringify({ PORT: 4000, MINOGAN_NATS_PORT: 5222 }),
    )
    const config = loadConfig({ MINOGAN_DATA_DIR: dir.path, PORT: '4001' })
    dir.cleanup()

    assert.equal(config.PORT, 4001)
    assert.equal(config.MINOGAN_NATS_PORT, 5222)
  })

  it('names the file when it is not JSON', () => {
    const dir = tempDir()
    writeFileSync(join(dir.path, 'minogan.json'), '{ not json')
    const err = configError({ MINOGAN_DATA_DIR: dir.path })
    dir.cleanup()

    assert.equal(err.key, 'MINOGAN_CONFIG_FILE')
  })

  it('stops an agent at start-up with exit code 78 and the key in its log', () => {
    const dir = tempDir()
    const result = spawnSync(process.execPath, ['dist/agents/growth/seo.js'], {
      env: {
        ...process.env,
        MINOGAN_DATA_DIR: dir.path,
        MINOGAN_HEARTBEAT_MS: 'often',
        MINOGAN_AGENT: '',
      },
      encoding: 'utf8',
      timeout: 20_000,
    })
    dir.cleanup()

    assert.equal(result.status, 78)
    assert.match(result.stdout, /MINOGAN_HEARTBEAT_MS/)
  })

  it('stops the CLI with exit code 78 and a plain message', () => {
    const dir = tempDir()
    const result = spawnSync(process.execPath, ['dist/bin/cli.js', 'status'], {
      env: { ...process.env, MINOGAN_DATA_DIR: dir.path, PORT: '-1' },
      encoding: 'utf8',
      timeout: 20_000,
    })
    dir.cleanup()

    assert.equal(result.status, 78)
    assert.match(result.stderr, /bad configuration: PORT/)
  })
})
