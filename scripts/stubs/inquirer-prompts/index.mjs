// See package.json: the napi CLI imports these, but asks questions only in napi new.
const ask = () => {
  throw new Error('@inquirer/prompts is a stand-in here (scripts/stubs/inquirer-prompts): the interactive napi commands are not available in this repository')
}
export { ask as checkbox, ask as confirm, ask as input, ask as select }
