// ESM entry of shm-hashmap/session: the same class as require('shm-hashmap/session').
import SessionStore from './index.js'

export { SessionStore }
export default SessionStore
