// Types of the ES module entry of shm-hashmap/rate-limit: the class as a
// named and as the default export (the declarations are in index.d.ts).
import { RateLimitStore } from './index.js'

export { RateLimitStore }
export type { RateLimitStoreOptions } from './index.js'
export default RateLimitStore
