// ESM entry of shm-hashmap/keyv: the same class as require('shm-hashmap/keyv').
import KeyvShmHashmap from './index.js'

export { KeyvShmHashmap }
export default KeyvShmHashmap
