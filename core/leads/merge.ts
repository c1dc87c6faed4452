import type { NormalisedLead } from './normalise.js'

/**
 * Matching rule: which existing lead a submission merges into.
 *
 * 1. Email first: a lead with the same normalised email is the match.
 * 2. Else the phone, but only where one side has no email: a submission without an email
 *    merges into a lead with its phone, and a submission with an email merges into an
 *    email-less lead with its phone (which thereby gains the email). Two people with
 *    different emails who share a phone (a switchboard, a family line) stay two leads.
 * 3. Among several leads with the phone (an email-less submission, leads with emails),
 *    the email-less lead wins, else the one active most recently, then the newest.
 * 4. Otherwise the submission is a new lead.
 */
export type MatchCandidate = {
  id: number
  emailNorm: string | null
  phoneE164: string | null
  updatedAt: number
}

export function chooseMatch(
  incoming: Pick<NormalisedLead, 'emailNorm' | 'phoneE164'>,
  byEmail: MatchCandidate | undefined,
  byPhone: MatchCandidate[],
): MatchCandidate | undefined {
  if (incoming.emailNorm && byEmail) return byEmail
  if (!incoming.phoneE164) return undefined

  const usable = byPhone.filter(
    (c) => c.phoneE164 === incoming.phoneE164 && (!incoming.emailNorm || c.emailNorm === null),
  )
  usable.sort(
    (a, b) =>
      Number(a.emailNorm !== null) - Number(b.emailNorm !== null) ||
      b.updatedAt - a.updatedAt ||
      b.id - a.id,
  )
  return usable[0]
}

/** True when a locked row still satisfies the rule it was chosen by (it may have changed). */
export function stillMatches(
  incoming: Pick<NormalisedLead, 'emailNorm' | 'phoneE164'>,
  row: MatchCandidate,
): boolean {
  if (incoming.emailNorm && row.emailNorm === incoming.emailNorm) return true
  if (!incoming.phoneE164 || row.phoneE164 !== incoming.phoneE164) return false
  return !incoming.emailNorm || row.emailNorm === null
}

/** The fields of a stored lead that a merge may change. */
export type MergeableLead = {
  email: string | null
  emailNorm: string | null
  phone: string | null
  phoneE164: string | null
  name: string | null
  source: string | null
  lastSource: string | null
  metadata: Record<string, unknown>
}

/**
 * Merges a submission into a stored lead. Newer non-empty fields win, except:
 * - the email keeps its first display form (the match was on the normalised value, so the
 *   casing a person first typed is kept); a lead without an email takes the new one;
 * - `source` is the first touch and is kept; `lastSource` takes the new source;
 * - metadata is merged key by key (top level), newer values winning.
 */
export function mergeLead(stored: MergeableLead, incoming: NormalisedLead): MergeableLead {
  const hasNewPhone = incoming.phoneE164 !== undefined
  return {
    email: stored.email ?? incoming.email ?? null,
    emailNorm: stored.emailNorm ?? incoming.emailNorm ?? null,
    phone: hasNewPhone ? (incoming.phone ?? null) : stored.phone,
    phoneE164: hasNewPhone ? (incoming.phoneE164 ?? null) : stored.phoneE164,
    name: incoming.name ?? stored.name,
    source: stored.source ?? incoming.source ?? null,
    lastSource: incoming.source ?? stored.lastSource,
    metadata: { ...stored.metadata, ...incoming.metadata },
  }
}
