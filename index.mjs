// ESM entry: the very object require('shm-hashmap') returns, as default and
// as named exports.
import hashmap from './index.js'

const create = hashmap.new
export const { calcRequiredMemorySize, open, openOrCreate, unlink, HashMap, HashMapError, Lock } = hashmap
export { create as new }
export default hashmap
