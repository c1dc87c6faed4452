import { defineNotBuiltAgent } from '../kit/not-built.js'
import { runIfMain } from '../kit/run.js'

const agent = defineNotBuiltAgent('backup')
export default agent

runIfMain(import.meta.url, agent)
