import { NAMESPACE, type Pm2App } from '../pm2-apps.js'

/** One process as pm2 lists it, reduced to what the orchestrator reads. */
export type Pm2Process = {
  name: string
  namespace: string
  pid: number
  /** pm2's own word: online, launching, stopping, stopped, errored, waiting restart. */
  status: string
  startedAt: number
  restarts: number
}

/** A pm2 bus event about one process. `byRequest` is true for stop/restart acts. */
export type Pm2Event = {
  name: string
  event: string
  status: string
  pid: number
  exitCode?: number
  /** pm2 marks events raised by a CLI or API act (pm2 stop, pm2 restart) as manual. */
  manually: boolean
}

type Callback<T> = (err: Error | null, value: T) => void
type RawProcess = {
  name?: string
  pid?: number
  pm2_env?: {
    namespace?: string
    status?: string
    pm_uptime?: number
    restart_time?: number
    exit_code?: number
  }
}
type RawEvent = {
  event: string
  manually: boolean
  process: { name: string; namespace?: string; status: string; exit_code?: number; pid?: number }
}
type Bus = { on: (event: string, fn: (packet: RawEvent) => void) => void; close?: () => void }

type Pm2Api = {
  connect: (noDaemon: boolean, cb: (err: Error | null) => void) => void
  disconnect: () => void
  start: (app: Pm2App, cb: Callback<unknown>) => void
  stop: (name: string, cb: Callback<unknown>) => void
  restart: (name: string, cb: Callback<unknown>) => void
  delete: (name: string, cb: Callback<unknown>) => void
  list: (cb: Callback<RawProcess[]>) => void
  launchBus: (cb: Callback<Bus>) => void
  killDaemon: (cb: Callback<unknown>) => void
}

function call<T>(fn: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    fn((err, value) =>
      err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(value),
    )
  })
}

/**
 * pm2's programmatic API behind promises. pm2 reads PM2_HOME when it is first loaded, so
 * it is imported here lazily, after the caller has settled the environment.
 */
export class Pm2Backend {
  private constructor(private readonly api: Pm2Api) {}

  /** Connects to the pm2 daemon of PM2_HOME, launching it when none runs. */
  static async connect(): Promise<Pm2Backend> {
    const api = (await import('pm2')).default as unknown as Pm2Api
    await call<void>((cb) => api.connect(false, (err) => cb(err, undefined)))
    return new Pm2Backend(api)
  }

  async start(app: Pm2App): Promise<void> {
    await call((cb) => this.api.start(app, cb))
  }

  async stop(name: string): Promise<void> {
    await call((cb) => this.api.stop(name, cb))
  }

  async restart(name: string): Promise<void> {
    await call((cb) => this.api.restart(name, cb))
  }

  async delete(name: string): Promise<void> {
    await call((cb) => this.api.delete(name, cb))
  }

  /** Every process pm2 knows, or only MinoGAN's with `ownOnly`. */
  async list(options: { ownOnly?: boolean } = {}): Promise<Pm2Process[]> {
    const raw = await call<RawProcess[]>((cb) => this.api.list(cb))
    const all = raw.map((p) => ({
      name: p.name ?? '',
      namespace: p.pm2_env?.namespace ?? 'default',
      pid: p.pid ?? 0,
      status: p.pm2_env?.status ?? 'unknown',
      startedAt: p.pm2_env?.pm_uptime ?? 0,
      restarts: p.pm2_env?.restart_time ?? 0,
    }))
    return options.ownOnly ? all.filter((p) => p.namespace === NAMESPACE) : all
  }

  /** Calls `onEvent` for every process event of MinoGAN's namespace. */
  async watch(onEvent: (event: Pm2Event) => void): Promise<void> {
    const bus = await call<Bus>((cb) => this.api.launchBus(cb))
    bus.on('process:event', (packet) => {
      const p = packet.process
      if ((p.namespace ?? 'default') !== NAMESPACE) return
      onEvent({
        name: p.name,
        event: packet.event,
        status: p.status,
        pid: p.pid ?? 0,
        exitCode: p.exit_code,
        manually: packet.manually,
      })
    })
  }

  async killDaemon(): Promise<void> {
    await call((cb) => this.api.killDaemon(cb))
  }

  disconnect(): void {
    this.api.disconnect()
  }
}
