import { Readable } from 'node:stream'

import { stringify } from 'csv-stringify/sync'
import type { Lead } from './lead.js'

/** The export's columns, in order; the header row carries these names. */
export const CSV_COLUMNS = [
  'lead_id',
  'email',
  'phone',
  'phone_raw',
  'name',
  'source',
  'last_source',
  'score',
  'tier',
  'touches',
  'created_at',
  'updated_at',
  'converted_at',
  'metadata',
] as const

// A spreadsheet treats a cell starting with one of these as a formula (or, for tab and CR,
// may drop them and then see a formula): `=`, `+`, `-`, `@`, TAB, CR (field failure C32).
// Apostrophes already in front count too, so a cell that was sent as `'=1` becomes `''=1`
// and never reads like the neutralised `=1`.
const FORMULA_START = /^'*[=+\-@\t\r]/

/**
 * Neutralises a cell against formula injection by prefixing an apostrophe, the mark
 * spreadsheets read as "this is text". It applies to every text cell alike, the E.164
 * phone column included: `+4930123456` exports as `'+4930123456`, which a spreadsheet
 * shows as text (so the + and leading digits survive, unlike a number) and a script
 * restores by dropping one leading apostrophe when the rest is apostrophes and then one of
 * = + - @ TAB CR.
 * `phone_raw` carries the number as it was typed, neutralised the same way.
 */
export function neutraliseCell(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value
}

/** One CSV record for a lead; metadata as a JSON object in one column. */
export function csvRecord(lead: Lead): string[] {
  const cells: Array<string | number | null> = [
    lead.lead_id,
    lead.email,
    lead.phone,
    lead.phone_raw,
    lead.name,
    lead.source,
    lead.last_source,
    lead.score,
    lead.tier,
    lead.touches,
    lead.created_at,
    lead.updated_at,
    lead.converted_at,
    JSON.stringify(lead.metadata),
  ]
  return cells.map((cell) => (cell === null ? '' : neutraliseCell(String(cell))))
}

/**
 * A readable stream of leads as RFC 4180 CSV (CRLF rows; cells with a comma, quote, CR or
 * LF are quoted and quotes doubled), with a header row and optionally a UTF-8 BOM for
 * Excel. `batches` is read as the stream is consumed (iterateLeads), so memory holds one
 * batch however many leads there are; each batch becomes one chunk of text.
 */
export function leadsCsvStream(
  batches: AsyncIterable<Lead[]>,
  options: { bom?: boolean } = {},
): Readable {
  const format = { columns: [...CSV_COLUMNS], record_delimiter: 'windows' as const }
  async function* chunks(): AsyncGenerator<string> {
    yield (options.bom ? '\ufeff' : '') + stringify([], { ...format, header: true })
    for await (const batch of batches) {
      if (batch.length > 0) yield stringify(batch.map(csvRecord), format)
    }
  }
  return Readable.from(chunks(), { objectMode: false })
}
