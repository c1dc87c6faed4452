import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

import { findAgent } from './catalog.js'

// `node dist/agents/run.js <agent>`: runs the agent named on the command line. systemd's
// template unit starts every agent this way (one text for all instances); pm2 runs each
// agent's own file so `pm2 ls` shows its script.
const EXIT_USAGE = 64
const root = resolve(fileURLToPath(import.meta.url), '../../..')
const name = process.argv[2] ?? ''
const spec = findAgent(name)
if (!spec || spec.kind !== 'node') {
  console.error(`usage: run.js <agent>; "${name}" is not a node agent of the catalog`)
  process.exit(EXIT_USAGE)
}

// The agent's module starts itself once MINOGAN_AGENT names it (runIfMain).
process.env.MINOGAN_AGENT = spec.name
await import(pathToFileURL(join(root, spec.entry)).href)
