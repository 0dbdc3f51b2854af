// See package.json: the napi CLI imports these, but asks questions only in napi new.
'use strict'
const ask = () => {
  throw new Error('@inquirer/prompts is a stand-in here (scripts/stubs/inquirer-prompts): the interactive napi commands are not available in this repository')
}
module.exports = { checkbox: ask, confirm: ask, input: ask, select: ask }
