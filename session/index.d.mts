// Types of the ES module entry of shm-hashmap/session: the class as a named
// and as the default export (the declarations are in index.d.ts).
import { SessionStore } from './index.js'

export { SessionStore }
export type { SessionCallback, SessionStoreOptions, StoredSession } from './index.js'
export default SessionStore
