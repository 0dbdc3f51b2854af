'use strict'
// The binding reports an operating-system failure with the code
// `ERR_OS:<errno>:<syscall>` (error_code in crates/napi/src/lib.rs). This is
// the one place that reads it, for index.js and the CLI.
const { getSystemErrorName } = require('node:util')

/**
 * The errno (negative, as on Node's SystemError), its name (`ENOENT`…) and
 * the syscall of a native `ERR_OS:` code; undefined for any other code.
 * Throws if the errno is not one Node can name.
 * @param {unknown} code
 * @returns {{ errno: number, name: string, syscall: string } | undefined}
 */
function osError(code) {
  if (typeof code !== 'string' || !code.startsWith('ERR_OS:')) return undefined
  const [, errno, syscall] = code.split(':')
  return { errno: -Number(errno), name: getSystemErrorName(-Number(errno)), syscall }
}

module.exports = { osError }
