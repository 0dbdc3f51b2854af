// ESM entry of shm-hashmap/keyv: the same class as require('shm-hashmap/keyv').
import KeyvShmHashmap from './keyv.js'

export { KeyvShmHashmap }
export default KeyvShmHashmap
