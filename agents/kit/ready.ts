import { execFile } from 'node:child_process'

import type { Logger } from '../../core/logger.js'

/**
 * Tells the process manager the agent is ready: pm2 (`wait_ready`) through the IPC
 * channel, systemd (`Type=notify`) through systemd-notify when NOTIFY_SOCKET is set.
 * Node has no unix datagram sockets, so the notification goes through systemd-notify,
 * which is why the agent unit sets NotifyAccess=all.
 */
export function announceReady(log: Logger): void {
  if (process.send) process.send('ready')
  if (!process.env.NOTIFY_SOCKET) return

  execFile('systemd-notify', ['--ready', `--pid=${process.pid}`], (err) => {
    if (err) log.warn({ err }, 'systemd notify failed')
  })
}

/** Tells systemd the agent is stopping, so `systemctl status` says so. */
export function announceStopping(): void {
  if (!process.env.NOTIFY_SOCKET) return
  execFile('systemd-notify', ['STOPPING=1', `--pid=${process.pid}`], () => undefined)
}
