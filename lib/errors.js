'use strict'
// The errors index.js throws: HashMapError, and Node's own kinds with a
// `code` (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE), with messages in Node's
// words; and translate(), which turns the binding's errors into them.
const { osError } = require('./os-error.js')

/** Errors of the map itself and of the operating system (see index.d.ts). */
class HashMapError extends Error {
  constructor(code, message) {
    super(message)
    this.code = code
  }

  get name() {
    return 'HashMapError'
  }
}

/** How a received value is named in an argument error. */
function describe(v) {
  if (v === null) return 'null'
  if (typeof v === 'string') return `type string (${JSON.stringify(v.length > 28 ? v.slice(0, 25) + '...' : v)})`
  if (typeof v === 'bigint') return `type bigint (${v}n)`
  if (typeof v === 'function') return `function ${v.name || '<anonymous>'}`
  if (typeof v === 'object') return `an instance of ${v.constructor?.name ?? 'Object'}`
  return `type ${typeof v} (${String(v)})`
}

function withCode(err, code) {
  err.code = code
  return err
}

function invalidType(arg, expected, v) {
  return withCode(new TypeError(`The "${arg}" argument must be ${expected}. Received ${describe(v)}`), 'ERR_INVALID_ARG_TYPE')
}

function outOfRange(arg, range, v) {
  return withCode(new RangeError(`The value of "${arg}" is out of range. It must be ${range}. Received ${describe(v)}`), 'ERR_OUT_OF_RANGE')
}

// Native errors carry their contract code in `code`; OS errors carry
// `ERR_OS:<errno>:<syscall>` (see lib/os-error.js).
function translate(e) {
  const code = e?.code
  if (typeof code !== 'string') return e
  let err
  const os = osError(code)
  if (os) {
    err = new HashMapError(os.name, `${os.syscall} ${os.name}: ${e.message}`)
    Object.assign(err, { errno: os.errno, syscall: os.syscall })
  } else if (code === 'ERR_OUT_OF_RANGE') {
    err = withCode(new RangeError(e.message), code)
  } else if (code === 'ERR_INVALID_ARG_VALUE') {
    err = withCode(new TypeError(e.message), code)
  } else if (code.startsWith('ERR_HASHMAP_')) {
    err = new HashMapError(code, e.message)
  } else {
    return e
  }
  Error.captureStackTrace?.(err, translate)
  return err
}

module.exports = { HashMapError, describe, invalidType, outOfRange, translate, withCode }
