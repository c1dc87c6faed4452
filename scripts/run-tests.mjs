// Runs every compiled test file under dist/test with node's test runner. Node 20 takes no
// glob for --test, so the files are listed here. Arguments narrow the run to files whose
// path contains one of them.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function list(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === 'support' ? [] : list(path)
    return path.endsWith('.test.js') ? [path] : []
  })
}

const filters = process.argv.slice(2)
const files = list('dist/test')
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
if (files.length === 0) {
  console.error('no test files found under dist/test')
  process.exit(1)
}

const concurrency = process.env.MINOGAN_TEST_CONCURRENCY ?? '1'
const result = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', ...files],
  { stdio: 'inherit' },
)
process.exit(result.status ?? 1)
