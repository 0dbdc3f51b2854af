// Type test, checked by `npm run typecheck` (tsc --strict): right calls
// compile, and every line under @ts-expect-error must fail to compile (tsc
// reports an unused directive if one does compile). It is never run.
import hashmap, { HashMap, HashMapError, calcRequiredMemorySize, open, openOrCreate, unlink } from 'shm-hashmap'
import type { CheckResult, Key, RequiredMemory, Stat, StoredValue, Value } from 'shm-hashmap'

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
  h[Symbol.dispose]()
  void [t, v, d, s, c, r, o, oc, u, name, owner, code, key, value, s.usage.recoveries, s.owned, r.recordSize]
}

export function wrongCalls(h: HashMap): void {
  // @ts-expect-error a key is a string or bytes
  h.set(1, 'v')
  // @ts-expect-error undefined is not a value
  h.set('k', undefined)
  // @ts-expect-error objects are not values
  h.set('k', { a: 1 })
  // @ts-expect-error null is not a value
  h.set('k', null)
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
