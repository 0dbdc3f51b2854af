'use strict'
// The raw operations of the addon (the binding's `raw_operations!` table),
// with structured values decoded by lib/codec.js: one object for the
// process, shared by index.js and the batches.
const { native } = require('./native.js')
const { decodeStructured } = require('./codec.js')

/** @type {import('../binding.js').FastOps} */
const fast = native.fastOps(decodeStructured)

module.exports = { fast }
