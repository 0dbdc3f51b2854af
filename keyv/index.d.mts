// Types of the ES module entry of shm-hashmap/keyv: the class as a named and
// as the default export (the declarations are in index.d.ts).
import { KeyvShmHashmap } from './index.js'

export { KeyvShmHashmap }
export type { KeyvShmHashmapOptions } from './index.js'
export default KeyvShmHashmap
