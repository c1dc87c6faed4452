import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { ROOT } from '../orchestrator/pm2-apps.js'
import { benchLeads } from './leads.js'
import { machine, type BenchResult } from './support.js'
import { benchSwarmFigures } from './swarm.js'

type Section = { title: string; issue: string; run: () => Promise<BenchResult[]> }

// Each part of the product adds its section; `npm run bench -- <word>` runs the sections
// whose title contains the word.
const SECTIONS: Section[] = [
  { title: 'Swarm start, memory and idle CPU', issue: '#2', run: benchSwarmFigures },
  { title: 'Leads: writes and CSV export', issue: '#3', run: benchLeads },
]

function table(results: BenchResult[]): string {
  const rows = results.map((r) => {
    const ratio = r.baseline ? (r.value / r.baseline).toFixed(2) + 'x' : '-'
    return `| ${r.name} | ${r.value} ${r.unit} | ${r.baseline ?? '-'} | ${ratio} | ${r.target} | ${r.met ? 'met' : 'NOT met'} |`
  })
  return ['| figure | value | baseline (same run) | ratio | target | |', '|---|---|---|---|---|---|', ...rows].join('\n')
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'))
  const chosen = SECTIONS.filter((s) => filters.length === 0 || filters.some((f) => s.title.toLowerCase().includes(f)))
  const parts = [
    '# Benchmarks',
    '',
    `Machine: ${machine()}. Run: ${new Date().toISOString()} by \`npm run bench\`.`,
    'The machine is shared and noisy, so every figure stands beside a baseline measured in the',
    'same run, and the ratio is what the target judges.',
    '',
  ]
  for (const section of chosen) {
    console.log(`bench: ${section.title}...`)
    const results = await section.run()
    parts.push(`## ${section.title} (${section.issue})`, '', table(results), '')
    console.log(table(results))
  }
  writeFileSync(join(ROOT, 'BENCHMARKS.md'), parts.join('\n'))
  console.log('written to BENCHMARKS.md')
}

await main()
process.exit(0)
