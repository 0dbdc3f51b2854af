'use strict'
// How a value crosses into the binding: as itself, or as MessagePack.
const { invalidType } = require('./errors.js')
const { native } = require('./native.js')
const { VALUE_TYPES, typedArrayTag } = require('./codec.js')

const { ValueFlags } = native

/**
 * The flags of a value as the binding takes it: 0 for one stored as itself
 * (string, boolean, number, bigint, bytes), ValueFlags.Structured for one
 * stored as MessagePack. It looks at nothing but the value's type, so it
 * runs no user code; the structure is read by encodeStructured.
 * @param {unknown} val
 * @returns {number}
 */
function valueFlags(val, arg = 'val') {
  switch (typeof val) {
    case 'string':
    case 'boolean':
    case 'number':
    case 'bigint': // its int64 range is checked natively (ERR_OUT_OF_RANGE)
      return 0
    case 'object':
      return val !== null && typedArrayTag(val) === 'Uint8Array' ? 0 : ValueFlags.Structured
    default:
      throw invalidType(arg, VALUE_TYPES, val)
  }
}

module.exports = { valueFlags }
