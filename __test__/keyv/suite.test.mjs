// The official Keyv adapter test suite (API, values, namespaces) and its
// iterator tests, on one shared map opened by name as an application would.
import * as test from 'vitest'
import keyvTestSuite, { keyvIteratorTests } from '@keyv/test-suite'
import Keyv from 'keyv'
import hashmap from 'shm-hashmap'
import KeyvShmHashmap from 'shm-hashmap/keyv'

const name = `shm-hashmap-keyv-suite-${process.pid}`
const store = () => new KeyvShmHashmap(name, { memorySize: 1 << 20 })

keyvTestSuite(test, Keyv, store)

// Keyv 5 builds keyv.iterator() only for the adapters on a fixed list
// (sqlite, postgres, mysql, mongo, redis, valkey, etcd). This subclass wires
// our store.iterator() through Keyv's own generateIterator, as Keyv does for
// those, so the suite's iterator tests run against it unchanged.
class KeyvIterating extends Keyv {
  constructor(...args) {
    super(...args)
    this.iterator = this.generateIterator(this.store.iterator.bind(this.store))
  }
}

test.describe('iterator (through Keyv.generateIterator)', () => {
  keyvIteratorTests(test, KeyvIterating, store)
})

test.afterAll(() => {
  hashmap.unlink(name)
})
