import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { BlockList, isIP, type LookupFunction } from 'node:net'

import { WebhookUrlError } from './errors.js'

// Where a webhook may not point unless private targets are allowed: this host, private
// networks and anything that is not a unicast internet address. A stolen API key must not
// turn the swarm into a probe of the internal network.
const FORBIDDEN = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved and broadcast
] as const) {
  FORBIDDEN.addSubnet(net, prefix, 'ipv4')
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  FORBIDDEN.addSubnet(net, prefix, 'ipv6')
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`), if it is one. */
function mappedIpv4(address: string): string | undefined {
  const match = /^::ffff:(?:0:)?(.+)$/i.exec(address)
  if (!match) return undefined
  if (isIP(match[1]) === 4) return match[1]

  const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(match[1])
  if (!hex) return undefined
  const high = parseInt(hex[1], 16)
  const low = parseInt(hex[2], 16)
  return [high >> 8, high & 255, low >> 8, low & 255].join('.')
}

/** True for loopback, private, link-local, unique-local and other non-public addresses. */
export function isForbiddenAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '')
  const v4 = mappedIpv4(bare)
  if (v4) return FORBIDDEN.check(v4, 'ipv4')

  const family = isIP(bare)
  if (family === 0) return true
  return FORBIDDEN.check(bare, family === 4 ? 'ipv4' : 'ipv6')
}

/**
 * Parses a webhook URL and refuses what can never be delivered to: not http(s), no host,
 * or (without `allowPrivate`) a literal address that is not public. Host names are checked
 * when they are resolved (`checkResolvedHost`, `guardedLookup`). Throws WebhookUrlError.
 */
export function parseWebhookUrl(raw: string, allowPrivate: boolean): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new WebhookUrlError('WEBHOOK_URL_INVALID', raw, `"${raw}" is not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new WebhookUrlError(
      'WEBHOOK_URL_INVALID',
      raw,
      `expected an http(s) URL, got "${url.protocol}"`,
    )
  }
  if (!url.hostname) throw new WebhookUrlError('WEBHOOK_URL_INVALID', raw, 'the URL has no host')

  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (allowPrivate) return url
  if (isIP(host) !== 0 && isForbiddenAddress(host)) throw forbidden(raw, host)
  if (/(^|\.)localhost\.?$/i.test(host)) throw forbidden(raw, host)
  return url
}

function forbidden(raw: string, address: string): WebhookUrlError {
  return new WebhookUrlError(
    'WEBHOOK_URL_FORBIDDEN',
    raw,
    `"${address}" is a loopback or private address; set "allow_private_targets": true in notification_config.json to allow it`,
  )
}

export type Resolver = (host: string) => Promise<string[]>

const systemResolver: Resolver = (host) =>
  new Promise((resolve, reject) => {
    dnsLookup(host, { all: true }, (err, addresses: LookupAddress[]) =>
      err ? reject(err) : resolve(addresses.map((a) => a.address)),
    )
  })

/**
 * Checks a URL on save: its shape, then every address its host resolves to. A host that
 * does not resolve is refused too (WEBHOOK_URL_INVALID), since nothing could be delivered.
 */
export async function checkWebhookUrl(
  raw: string,
  options: { allowPrivate: boolean; resolve?: Resolver },
): Promise<URL> {
  const url = parseWebhookUrl(raw, options.allowPrivate)
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (options.allowPrivate || isIP(host) !== 0) return url

  let addresses: string[]
  try {
    addresses = await (options.resolve ?? systemResolver)(host)
  } catch (err) {
    throw new WebhookUrlError(
      'WEBHOOK_URL_INVALID',
      raw,
      `cannot resolve "${host}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  }
  const bad = addresses.find(isForbiddenAddress)
  if (bad) throw forbidden(raw, `${host} (${bad})`)
  return url
}

/**
 * A `lookup` for http(s).request that refuses forbidden addresses at connect time, so a
 * host that resolved to a public address when saved cannot be switched to an internal one
 * later (DNS rebinding).
 */
export function guardedLookup(
  allowPrivate: boolean,
  lookup: typeof dnsLookup = dnsLookup,
): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0)
      const usable = allowPrivate
        ? addresses
        : addresses.filter((a) => !isForbiddenAddress(a.address))
      if (usable.length === 0) {
        const refused = Object.assign(
          new Error(`"${hostname}" resolves only to loopback or private addresses`),
          { code: 'EWEBHOOKFORBIDDEN' },
        )
        return callback(refused, '', 0)
      }
      if (options.all) return (callback as unknown as AllCallback)(null, usable)
      callback(null, usable[0].address, usable[0].family)
    })
  }
}

type AllCallback = (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void
