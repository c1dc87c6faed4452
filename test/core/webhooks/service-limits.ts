/**
 * The receiving services' documented payload limits, written out independently of
 * core/webhooks/formats, and checks that list every way a payload breaks them.
 */

const SLACK = {
  text: 3000,
  header: 150,
  fields: 10,
  fieldText: 2000,
  blocks: 50,
  contextElements: 10,
}
const DISCORD = {
  content: 2000,
  username: 80,
  embeds: 10,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  total: 6000,
}

export type Json = Record<string, unknown>

export function slackProblems(payload: Json): string[] {
  const problems: string[] = []
  const text = payload.text
  if (typeof text !== 'string' || text.trim() === '') problems.push('text is empty')
  else if (text.length > SLACK.text) problems.push(`text is ${text.length} long`)

  const blocks = payload.blocks as Json[]
  if (!Array.isArray(blocks) || blocks.length === 0 || blocks.length > SLACK.blocks)
    problems.push('blocks count')
  for (const [i, block] of (blocks ?? []).entries()) {
    const textObject = (o: unknown, limit: number, where: string): void => {
      const t = o as Json | undefined
      if (!t || (t.type !== 'mrkdwn' && t.type !== 'plain_text'))
        problems.push(`${where}: bad text object`)
      else if (typeof t.text !== 'string' || t.text.trim() === '')
        problems.push(`${where}: empty text`)
      else if (t.text.length > limit) problems.push(`${where}: ${t.text.length} > ${limit}`)
    }
    if (block.type === 'header') {
      textObject(block.text, SLACK.header, `block ${i} header`)
      if ((block.text as Json).type !== 'plain_text')
        problems.push('header text must be plain_text')
    } else if (block.type === 'section') {
      if (!block.text && !block.fields) problems.push(`block ${i}: section without text or fields`)
      if (block.text) textObject(block.text, SLACK.text, `block ${i} text`)
      const fields = (block.fields as unknown[] | undefined) ?? []
      if (fields.length > SLACK.fields) problems.push(`block ${i}: ${fields.length} fields`)
      fields.forEach((f, j) => textObject(f, SLACK.fieldText, `block ${i} field ${j}`))
    } else if (block.type === 'context') {
      const elements = block.elements as unknown[]
      if (elements.length === 0 || elements.length > SLACK.contextElements)
        problems.push('context elements')
      elements.forEach((e, j) => textObject(e, SLACK.text, `block ${i} element ${j}`))
    } else {
      problems.push(`block ${i}: unexpected type ${String(block.type)}`)
    }
  }
  return problems
}

export function discordProblems(payload: Json): string[] {
  const problems: string[] = []
  const username = payload.username
  if (typeof username !== 'string' || username.length < 1 || username.length > DISCORD.username) {
    problems.push('username length')
  } else if (/discord|clyde/i.test(username)) {
    problems.push(`username "${username}" is refused by Discord`)
  }
  const content = payload.content as string | undefined
  if (content !== undefined && content.length > DISCORD.content)
    problems.push(`content ${content.length}`)

  const embeds = (payload.embeds as Json[]) ?? []
  if (embeds.length > DISCORD.embeds) problems.push('too many embeds')
  if (!content && embeds.length === 0) problems.push('empty message')
  for (const [i, embed] of embeds.entries()) {
    let total = 0
    const title = (embed.title as string) ?? ''
    if (title.length > DISCORD.title) problems.push(`embed ${i} title ${title.length}`)
    const description = (embed.description as string | undefined) ?? ''
    if (description.length > DISCORD.description) problems.push(`embed ${i} description`)
    if ('description' in embed && description.trim() === '')
      problems.push(`embed ${i} empty description`)
    const fields = (embed.fields as Json[]) ?? []
    if (fields.length > DISCORD.fields) problems.push(`embed ${i} fields ${fields.length}`)
    for (const [j, field] of fields.entries()) {
      const name = field.name as string
      const value = field.value as string
      if (typeof name !== 'string' || name.trim() === '' || name.length > DISCORD.fieldName) {
        problems.push(`embed ${i} field ${j} name`)
      }
      if (typeof value !== 'string' || value.trim() === '' || value.length > DISCORD.fieldValue) {
        problems.push(`embed ${i} field ${j} value "${String(value).slice(0, 20)}"`)
      }
      total += (name?.length ?? 0) + (value?.length ?? 0)
    }
    const footer = ((embed.footer as Json | undefined)?.text as string | undefined) ?? ''
    if (footer.length > DISCORD.footer) problems.push(`embed ${i} footer`)
    total += title.length + description.length + footer.length
    if (total > DISCORD.total) problems.push(`embed ${i} total ${total}`)
  }
  return problems
}
