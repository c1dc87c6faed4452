import { watch, type FSWatcher } from 'node:fs'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

import type { Logger } from '../logger.js'
import {
  CONFIG_FILE_NAME,
  parseNotificationConfig,
  readNotificationConfig,
  type NotificationConfig,
} from './config.js'

/** Where the last config that passed validation is kept, so a restart with a bad edit keeps it. */
const LAST_GOOD_FILE = '.notification_config.last-good.json'

export type ConfigWatcher = {
  /** The config in force: the last one that validated. */
  current: () => NotificationConfig
  /** Why the file on disk is not in force, when it is not. */
  error: () => string | undefined
  /** Reads the file now (the watcher calls it after each change settles). */
  reload: () => Promise<void>
  stop: () => void
}

export type ConfigWatcherOptions = {
  dataDir: string
  log: Logger
  /** MINOGAN_ALLOW_PRIVATE_TARGETS, which allows private targets like the file's own flag. */
  allowPrivate?: boolean
  /** Quiet time after the last change before reading, ms; editors write in several steps. */
  debounceMs?: number
  onChange?: (config: NotificationConfig) => void
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`
  await writeFile(temp, text)
  await rename(temp, path)
}

/** The config file's text, or undefined when it does not exist (or cannot be read). */
async function readConfigText(dataDir: string): Promise<string | undefined> {
  try {
    return await readFile(join(dataDir, CONFIG_FILE_NAME), 'utf8')
  } catch {
    return undefined
  }
}

/**
 * The last config file that validated, as the notifications agent keeps it (undefined when
 * it has kept none): what is in force while the file on disk is bad.
 */
export async function readLastGood(
  dataDir: string,
  allowPrivate: boolean,
): Promise<NotificationConfig | undefined> {
  try {
    const result = parseNotificationConfig(await readFile(join(dataDir, LAST_GOOD_FILE), 'utf8'), {
      allowPrivate,
    })
    return result.ok ? result.config : undefined
  } catch {
    return undefined
  }
}

/**
 * Loads `<data dir>/notification_config.json`, validates it, and watches the data dir for
 * changes (editors replace files by rename, so the directory is watched, not the file). A
 * bad edit is logged with its reason and the last good config stays in force, across
 * restarts too.
 */
export async function watchNotificationConfig(
  options: ConfigWatcherOptions,
): Promise<ConfigWatcher> {
  const { dataDir, log } = options
  const allowPrivate = Boolean(options.allowPrivate)
  await mkdir(dataDir, { recursive: true })

  let config: NotificationConfig = { allowPrivateTargets: allowPrivate, webhooks: [] }
  let error: string | undefined
  let lastCanonical: string | undefined

  const reload = async (): Promise<void> => {
    const text = await readConfigText(dataDir)
    const result =
      text === undefined
        ? await readNotificationConfig(dataDir, { allowPrivate })
        : parseNotificationConfig(text, { allowPrivate })
    if (!result.ok) {
      if (error !== result.reason) log.error({ reason: result.reason }, 'webhook config rejected')
      error = result.reason
      return
    }

    error = undefined
    const canonical = JSON.stringify(result.config)
    if (canonical === lastCanonical) return
    lastCanonical = canonical
    config = result.config
    log.info({ webhooks: config.webhooks.length }, 'webhook config loaded')
    // Told in the same turn as `current()` changes, so no one sees the new config unannounced.
    options.onChange?.(config)
    if (text !== undefined) {
      await writeAtomically(join(dataDir, LAST_GOOD_FILE), text).catch((err: unknown) => {
        log.warn({ err }, 'cannot keep the last good webhook config')
      })
    }
  }

  await reload()
  if (error) {
    const lastGood = await readLastGood(dataDir, allowPrivate)
    if (lastGood) {
      config = lastGood
      lastCanonical = JSON.stringify(lastGood)
      log.warn({ webhooks: lastGood.webhooks.length }, 'using the last good webhook config')
    }
  }

  let timer: NodeJS.Timeout | undefined
  const watcher: FSWatcher = watch(dataDir, (_event, filename) => {
    if (filename !== CONFIG_FILE_NAME) return
    clearTimeout(timer)
    timer = setTimeout(() => void reload(), options.debounceMs ?? 200)
  })
  watcher.on('error', (err) => log.warn({ err }, 'webhook config watch failed'))

  return {
    current: () => config,
    error: () => error,
    reload,
    stop: () => {
      clearTimeout(timer)
      watcher.close()
    },
  }
}
