// Type test, checked by `npm run typecheck` (tsc --strict): right calls
// compile, and every line under @ts-expect-error must fail to compile (tsc
// reports an unused directive if one does compile). It is never run.
import hashmap, { HashMap, HashMapError, calcRequiredMemorySize, open, openOrCreate, unlink } from 'shm-hashmap'
import type { CheckResult, EvictPolicy, Key, RequiredMemory, StaleResult, Stat, StoredValue, Value } from 'shm-hashmap'

export function rightCalls(): void {
  const h: HashMap = hashmap.new(1 << 20, 100, 100, { name: 'x', mode: 0o600 })
  const t: true = h.set('k', 'v')
  h.set(Buffer.from('k'), new Uint8Array([1]))
  h.set('n', 1.5)
  h.set('b', false)
  h.set('i', 42n)
  const v: StoredValue | undefined = h.get('k')
  const d: true = h.del('k')
  const s: Stat = h.stat()
  const c: CheckResult = h.check()
  const r: RequiredMemory = calcRequiredMemorySize(0, 10, 0, 64)
  const o: HashMap = open('x')
  const oc: HashMap = openOrCreate('y', 4096, 0, 0, { mode: 0o644 })
  const u: boolean = unlink('x')
  const name: string = h.name
  const owner: boolean = h.owner
  const code: string = new HashMapError().code
  const key: Key = 'k'
  const value: Value = 1n
  const session: Value = { user: 'ada', roles: new Set(['admin']), at: new Date() }
  h.set('s', session)
  h.set('n', null)
  h[Symbol.dispose]()
  void [t, v, d, s, c, r, o, oc, u, name, owner, code, key, value, s.usage.recoveries, s.owned, r.recordSize]
}

export async function newCalls(): Promise<void> {
  const h: HashMap = hashmap.new(1 << 20, 0, 0, { evict: 'lru' })
  openOrCreate('y', 4096, 0, 0, { evict: 'none', mode: 0o600 })
  openOrCreate('y', 4096, 0, 0, { lockTimeout: Infinity, trustUids: [1000], onIncompatible: 'recreate' })
  open('y', { lockTimeout: 100, trustUids: [] })
  hashmap.new(4096, 0, 0, { lockTimeout: 2000 })
  const dropped: number = h.stat().usage.dropped
  void dropped
  // A map of one value type: set takes it, get gives it back (bytes as a Buffer).
  interface Session {
    user: string
    roles: Set<string>
    seen: Date
  }
  const sessions = hashmap.new<Session>(1 << 20)
  sessions.set('s', { user: 'ada', roles: new Set(['admin']), seen: new Date() })
  const one: Session | undefined = sessions.get('s')
  const later: Session = await sessions.getOrSet('t', () => ({ user: 'bob', roles: new Set<string>(), seen: new Date() }))
  const listed: [string, Session][] = sessions.entries()
  // @ts-expect-error a map of Sessions takes Sessions only
  sessions.set('s', 'text')
  const blobs = openOrCreate<Uint8Array>('blobs', 4096)
  const blob: Buffer | undefined = blobs.get('b')
  void [one, later, listed, blob]
  const t: true = h.set('k', 'v', { ttl: 1000 })
  const ss: true = h.safeSet('k', 1)
  const a: boolean = h.add('k', 1, { ttl: 5 })
  const sa: boolean = h.safeAdd('k', 1)
  const rp: boolean = h.replace('k', 2n)
  const cas: boolean = h.compareAndSet('k', undefined, 'x', { ttl: 0 })
  const n: number | undefined = h.incr('n', 1, 0, 1000)
  const b: bigint | undefined = h.incr('b', 1n, 0n)
  const g: StoredValue = await h.getOrSet('g', async () => 'v')
  const has: boolean = h.has('k')
  const st: StaleResult | undefined = h.getStale('k')
  const ttl: number | undefined = h.ttl('k')
  const e: boolean = h.expire('k', 0)
  const f: number = h.flushExpired(10)
  const ks: string[] = h.keys()
  const kb: Buffer[] = h.keys(0, { buffers: true })
  const en: [string, StoredValue][] = h.entries(10)
  const size: number = h.size
  const cl: true = h.clear()
  const cap: number = h.capacity() + h.freeSpace()
  const del: boolean = h.delete('k')
  const pol: EvictPolicy = h.stat().evict
  const u = h.stat().usage
  for (const [key, value] of h) void [key, value]
  void [t, ss, a, sa, rp, cas, n, b, g, has, st, ttl, e, f, ks, kb, en, size, cl, cap, del, pol, u.evictions, u.expired, u.ttlEntries]
}

export function wrongNewCalls(h: HashMap): void {
  // @ts-expect-error evict is 'none' or 'lru'
  hashmap.new(1000, 0, 0, { evict: 'lfu' })
  // @ts-expect-error ttl is a number of ms
  h.set('k', 'v', { ttl: '1s' })
  // @ts-expect-error delta and init have one type
  h.incr('k', 1, 0n)
  // @ts-expect-error incr works on numbers and bigints
  h.incr('k', '1')
  // @ts-expect-error expire needs a ttl
  h.expire('k')
  // @ts-expect-error size is read-only
  h.size = 3
  // @ts-expect-error getOrSet needs a function
  void h.getOrSet('k', 'v')
}

export function wrongCalls(h: HashMap): void {
  // @ts-expect-error a key is a string or bytes
  h.set(1, 'v')
  // @ts-expect-error undefined is not a value
  h.set('k', undefined)
  // @ts-expect-error a symbol is not a value
  h.set('k', Symbol('s'))
  // @ts-expect-error undefined is not a value
  h.set('k', undefined)
  // @ts-expect-error set needs a value
  h.set('k')
  // @ts-expect-error get needs a key
  h.get()
  // @ts-expect-error memorySize is required
  hashmap.new()
  // @ts-expect-error sizes are numbers
  hashmap.new('1000')
  // @ts-expect-error unknown option
  hashmap.new(1000, 0, 0, { size: 1 })
  // @ts-expect-error openOrCreate takes no name option
  openOrCreate('x', 1000, 0, 0, { name: 'y' })
  // @ts-expect-error open needs a name
  open()
  // @ts-expect-error lockTimeout is a number of ms
  open('x', { lockTimeout: '5s' })
  // @ts-expect-error trustUids is an array of uids
  open('x', { trustUids: 1000 })
  // @ts-expect-error onIncompatible is 'error' or 'recreate'
  openOrCreate('x', 1000, 0, 0, { onIncompatible: 'replace' })
  // @ts-expect-error new() attaches to nothing foreign, so takes no trustUids
  hashmap.new(1000, 0, 0, { trustUids: [1] })
  // @ts-expect-error the name is read-only
  h.name = 'other'
  // @ts-expect-error owner is read-only
  h.owner = true
  // @ts-expect-error HashMap is not constructed directly
  new HashMap()
  // @ts-expect-error get returns possibly undefined
  const s: string = h.get('k')
  // @ts-expect-error calcRequiredMemorySize takes numbers
  calcRequiredMemorySize(0n)
  void s
}

// shm-hashmap/session is a store express-session's types accept.
import session from 'express-session'
import SessionStoreDefault, { SessionStore } from 'shm-hashmap/session'
export function sessionStore(): void {
  session({ store: new SessionStore({ name: 'x', prefix: 'sess:', ttl: 3600, evict: 'none' }), secret: 's' })
  session({ store: new SessionStoreDefault(hashmap.new(1 << 20), { ttl: (s) => (s.cookie?.expires ? 60 : 3600) }), secret: 's' })
  const p: Promise<number> = new SessionStore().length()
  new SessionStore().get('sid', (err, sess) => sess?.cookie?.expires)
  // @ts-expect-error: an unknown option
  new SessionStore({ memorysize: 1 })
  // @ts-expect-error: ttl is seconds or a function
  new SessionStore({ ttl: '1d' })
  void p
}

// shm-hashmap/metrics takes prom-client's registries.
import { Registry } from 'prom-client'
import ClusterMetricsDefault, { ClusterMetrics } from 'shm-hashmap/metrics'
export async function clusterMetrics(): Promise<string> {
  const cm = new ClusterMetrics({ registry: new Registry(), name: 'm', timeout: 500 })
  const type: string = cm.contentType
  new ClusterMetricsDefault().close()
  // @ts-expect-error: an unknown option
  new ClusterMetrics({ timout: 5 })
  void type
  return cm.clusterMetrics()
}

// Locks and compareAndDelete.
import { Lock } from 'shm-hashmap'
export async function locks(h: HashMap<string>): Promise<number> {
  const l: Lock | undefined = h.tryLock('job', { ttl: 1000 })
  const ok: boolean | undefined = l?.release()
  const t: number = await h.withLock('job', async (lock) => lock.token, { ttl: 500, waitTimeout: 100 })
  const held: Lock = await h.lock('job')
  held.extend(1000)
  held[Symbol.dispose]()
  const removed: boolean = h.compareAndDelete('k', 'v')
  // @ts-expect-error: a lock's options are ttl (and waitTimeout when waiting)
  h.tryLock('job', { waitTimeout: 5 })
  // @ts-expect-error: compareAndDelete compares with a value of the map's type
  h.compareAndDelete('k', 5)
  void ok
  void removed
  return t
}

// Value types: what incr, the writes and getOrSet take. Cases covered:
// - incr on a map of numbers, of bigints, or of the default Value compiles;
//   on a map of objects, or a number incr on a bigint map, it does not;
// - a value type with a method, a nested function, a nested symbol, or a
//   nested class instance with private (# or TypeScript private) members
//   cannot be written; a plain interface or class, Dates, Maps, Sets,
//   arrays and typed arrays nested in it can;
// - getOrSet's fn may give undefined, and its result then admits undefined.
interface Product {
  name: string
  price: number
  tags?: string[]
  at: Date
  seen: Map<string, Set<number>>
  bytes: Uint8Array
}
interface WithMethod {
  name: string
  total(): number
}
interface Nested {
  a: { b: { c: () => void } }
}
interface WithSymbol {
  s: symbol
}
class Secret {
  #pin = 1
  shown = 2
}
class Hidden {
  private pin = 1
  shown = 2
}
class PlainClass {
  shown = 2
}
export async function valueTypes(
  counts: HashMap<number>,
  big: HashMap<bigint>,
  products: HashMap<Product>,
  methods: HashMap<WithMethod>,
  nested: HashMap<Nested>,
  symbols: HashMap<WithSymbol>,
  secrets: HashMap<{ inner: Secret }>,
  hidden: HashMap<{ inner: Hidden }>,
  plain: HashMap<{ inner: PlainClass }>,
  any: HashMap,
): Promise<void> {
  counts.incr('n', 1)
  big.incr('n', 1n)
  any.incr('n', 1)
  any.incr('n', 1n)
  // @ts-expect-error: incr on a map of objects
  products.incr('n', 1)
  // @ts-expect-error: a number delta on a map of bigints
  big.incr('n', 1)
  products.set('p', { name: 'x', price: 1, at: new Date(), seen: new Map([['a', new Set([1])]]), bytes: new Uint8Array(2) })
  plain.set('p', { inner: new PlainClass() })
  // @ts-expect-error: a method
  methods.set('m', { name: 'x', total: () => 1 })
  // @ts-expect-error: a nested function
  nested.set('n', { a: { b: { c: () => {} } } })
  // @ts-expect-error: a symbol
  symbols.set('s', { s: Symbol('x') })
  // @ts-expect-error: a class instance with # private members
  secrets.set('s', { inner: new Secret() })
  // @ts-expect-error: a class instance with private members
  hidden.set('h', { inner: new Hidden() })
  // @ts-expect-error: and the other writes alike
  methods.setMany([['m', { name: 'x', total: () => 1 }]])
  const maybe: Product | undefined = await products.getOrSet('p', async () => undefined)
  const sure: Product = await products.getOrSet('p', async () => ({ name: 'x', price: 1, at: new Date(), seen: new Map(), bytes: new Uint8Array() }), { staleTtl: 1000 })
  void maybe
  void sure
}
