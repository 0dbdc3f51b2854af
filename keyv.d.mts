// Types of the ES module entry of shm-hashmap/keyv: the class as a named and
// as the default export (the declarations are in keyv.d.ts).
import { KeyvShmHashmap } from './keyv.js'

export { KeyvShmHashmap }
export type { KeyvShmHashmapOptions } from './keyv.js'
export default KeyvShmHashmap
