import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'

import { DeliveryAttemptError, WebhookUrlError } from './errors.js'
import type { ReceiverResponse } from './outcome.js'
import { guardedLookup, parseWebhookUrl } from './url-guard.js'

/** Bytes of a receiver's answer kept for the outcome and the attempt's error text. */
const MAX_RESPONSE_BYTES = 16 * 1024

// Keep-alive pools, so a busy receiver is not paying a TCP (and TLS) handshake per event.
const agents = {
  http: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
  https: new HttpsAgent({ keepAlive: true, maxSockets: 64 }),
}

export type SendOptions = {
  url: string
  headers: Record<string, string>
  body: string
  /** The whole attempt, connect to last byte, ms. */
  timeoutMs: number
  allowPrivate: boolean
}

export type SendResult = ReceiverResponse & { latencyMs: number }

function readLimited(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    res.on('data', (chunk: Buffer) => {
      if (size < MAX_RESPONSE_BYTES) chunks.push(chunk)
      size += chunk.length
    })
    res.on('end', () =>
      resolve(Buffer.concat(chunks).toString('utf8').slice(0, MAX_RESPONSE_BYTES)),
    )
    res.on('error', reject)
  })
}

function attemptError(
  err: NodeJS.ErrnoException,
  timedOut: boolean,
  timeoutMs: number,
): DeliveryAttemptError {
  if (timedOut) {
    return new DeliveryAttemptError('DELIVERY_TIMEOUT', `no answer within ${timeoutMs} ms`, {
      isRetryable: true,
      cause: err,
    })
  }
  if (err.code === 'EWEBHOOKFORBIDDEN') {
    return new DeliveryAttemptError('DELIVERY_URL_REFUSED', err.message, {
      isRetryable: false,
      cause: err,
    })
  }
  const code = err.code ? `${err.code}: ` : ''
  return new DeliveryAttemptError('DELIVERY_NETWORK', `${code}${err.message}`, {
    isRetryable: true,
    cause: err,
  })
}

/**
 * POSTs one attempt. Redirects are not followed (a 3xx is an answer like any other, and
 * following one could lead past the URL guard); the connection's address is checked as it
 * is resolved. Resolves with the status, headers and the start of the body; rejects with
 * DeliveryAttemptError when no answer came.
 */
export function sendWebhook(options: SendOptions): Promise<SendResult> {
  const started = performance.now()
  let url: URL
  try {
    url = parseWebhookUrl(options.url, options.allowPrivate)
  } catch (err) {
    const message = err instanceof WebhookUrlError ? err.message : String(err)
    return Promise.reject(
      new DeliveryAttemptError('DELIVERY_URL_REFUSED', message, { isRetryable: false }),
    )
  }

  const isHttps = url.protocol === 'https:'
  const body = Buffer.from(options.body, 'utf8')
  return new Promise((resolve, reject) => {
    let timedOut = false
    const req = (isHttps ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      agent: isHttps ? agents.https : agents.http,
      lookup: guardedLookup(options.allowPrivate),
      headers: { ...options.headers, 'content-length': String(body.length) },
    })
    const timer = setTimeout(() => {
      timedOut = true
      req.destroy(new Error('attempt timed out'))
    }, options.timeoutMs)

    req.on('response', (res) => {
      readLimited(res).then(
        (text) => {
          clearTimeout(timer)
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text,
            latencyMs: Math.round(performance.now() - started),
          })
        },
        (err: NodeJS.ErrnoException) => {
          clearTimeout(timer)
          reject(attemptError(err, timedOut, options.timeoutMs))
        },
      )
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(attemptError(err, timedOut, options.timeoutMs))
    })
    req.end(body)
  })
}
