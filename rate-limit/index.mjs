// ESM entry of shm-hashmap/rate-limit: the same class as require('shm-hashmap/rate-limit').
import RateLimitStore from './index.js'

export { RateLimitStore }
export default RateLimitStore
