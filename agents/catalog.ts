/**
 * The single list of agents. pm2's ecosystem file, the systemd units, the orchestrator and
 * the API all read it, so none of them can disagree on what the swarm is.
 */

export const DEPARTMENTS = [
  'command',
  'growth',
  'revenue',
  'fabric',
  'intel',
  'support',
  'ops',
] as const
export type Department = (typeof DEPARTMENTS)[number]

/**
 * Launch phases, in order: the bus first, then the API (the migrations run in between,
 * in the orchestrator), then everything else. Stop runs them in reverse.
 */
export const PHASES = ['bus', 'api', 'swarm'] as const
export type Phase = (typeof PHASES)[number]

export type AgentSpec = {
  name: string
  department: Department
  /** What the agent does, for `minogan status` and the docs. */
  purpose: string
  /** `node`: a program on the agent kit; `binary`: an outside executable (nats-server, caddy). */
  kind: 'node' | 'binary'
  /** Script path relative to the install root, for node agents. */
  entry: string
  phase: Phase
  /** Above this RSS the agent is restarted (pm2 max_memory_restart, systemd MemoryMax). */
  memoryMb: number
  /** Time between SIGTERM and SIGKILL on stop. */
  killTimeoutMs: number
  /** Default port for agents that serve HTTP; MINOGAN_PORT_<AGENT> overrides it. */
  port?: number
  /**
   * Restarted by the process manager itself rather than by the healer: the healer, since
   * nothing else would bring the policy back.
   */
  selfRestart?: boolean
  /** Node flags of the agent's process. */
  nodeArgs: string[]
}

type Entry = Pick<AgentSpec, 'name' | 'department' | 'purpose'> & Partial<AgentSpec>

const ENTRIES: Entry[] = [
  { name: 'queen', department: 'command', purpose: 'sets goals and assigns work to departments' },
  { name: 'coordinator', department: 'command', purpose: 'routes tasks between agents' },
  { name: 'cron', department: 'command', purpose: 'runs scheduled jobs' },

  { name: 'content-factory', department: 'growth', purpose: 'drafts articles and posts' },
  { name: 'keywords', department: 'growth', purpose: 'researches search keywords' },
  { name: 'seo', department: 'growth', purpose: 'audits pages for search engines' },
  { name: 'links', department: 'growth', purpose: 'tracks backlinks and outreach' },

  {
    name: 'lead-api',
    department: 'revenue',
    purpose: 'the HTTP API: leads, metrics, keys',
    entry: 'dist/api/main.js',
    phase: 'api',
    port: 3000,
    // Streaming a million-row export leaves much short-lived garbage; a capped old space
    // makes V8 collect it sooner and keeps peak RSS under 200 MB (see BENCHMARKS.md).
    nodeArgs: ['--max-old-space-size=256'],
    memoryMb: 300,
    killTimeoutMs: 10_000,
  },
  { name: 'email', department: 'revenue', purpose: 'sends nurture email' },
  { name: 'sms', department: 'revenue', purpose: 'sends SMS' },
  { name: 'whatsapp', department: 'revenue', purpose: 'sends WhatsApp messages' },
  { name: 'stripe', department: 'revenue', purpose: 'takes payments', port: 3004 },

  { name: 'frontend', department: 'fabric', purpose: 'serves landing pages', port: 3001 },
  { name: 'copywriter', department: 'fabric', purpose: 'writes page copy' },
  { name: 'qa', department: 'fabric', purpose: 'checks pages and flows' },
  { name: 'ab', department: 'fabric', purpose: 'runs A/B tests' },

  { name: 'dashboard', department: 'intel', purpose: 'serves the operator dashboard', port: 3002 },
  { name: 'daily-report', department: 'intel', purpose: 'writes the daily briefing' },
  { name: 'pixels', department: 'intel', purpose: 'records page views', port: 3003 },
  { name: 'profiler', department: 'intel', purpose: 'enriches lead profiles' },

  { name: 'chatbot', department: 'support', purpose: 'answers visitors', port: 3005 },
  {
    name: 'notifications',
    department: 'support',
    purpose: 'delivers webhooks to Slack, Discord and JSON receivers',
    killTimeoutMs: 20_000,
    nodeArgs: [],
  },
  { name: 'exit-intent', department: 'support', purpose: 'captures leaving visitors', port: 3006 },

  {
    name: 'healer',
    department: 'ops',
    purpose: 'restarts failed agents within budget',
    selfRestart: true,
  },
  { name: 'backup', department: 'ops', purpose: 'backs up the database' },
  { name: 'health', department: 'ops', purpose: 'probes what the swarm depends on' },
  {
    name: 'nats',
    department: 'ops',
    purpose: 'runs the managed nats-server',
    kind: 'binary',
    phase: 'bus',
    memoryMb: 512,
  },
  {
    name: 'caddy',
    department: 'ops',
    purpose: 'runs the caddy reverse proxy in front of the API',
    kind: 'binary',
    port: 8080,
  },
]

export const CATALOG: readonly AgentSpec[] = ENTRIES.map((e) => ({
  kind: 'node',
  entry: `dist/agents/${e.department}/${e.name}.js`,
  phase: 'swarm',
  memoryMb: 200,
  killTimeoutMs: 5000,
  // Most agents idle between small tasks: V8 trading peak speed for a smaller heap saves
  // about 4 MB of RSS each (measured in BENCHMARKS.md). The API and the webhook sender keep
  // full speed.
  nodeArgs: ['--optimize-for-size'],
  ...e,
}))

const BY_NAME = new Map(CATALOG.map((a) => [a.name, a]))

/** The agent of that name, or undefined. */
export function findAgent(name: string): AgentSpec | undefined {
  return BY_NAME.get(name)
}

/** Agents in launch order (phase by phase, catalog order within a phase). */
export function launchOrder(): AgentSpec[] {
  return PHASES.flatMap((phase) => CATALOG.filter((a) => a.phase === phase))
}

/** The port an HTTP-serving agent listens on, after MINOGAN_PORT_<AGENT> and PORT. */
export function agentPort(
  spec: AgentSpec,
  config: { PORT: number; agentPorts: Record<string, number> },
): number | undefined {
  if (spec.name === 'lead-api') return config.PORT
  return config.agentPorts[spec.name] ?? spec.port
}
