'use strict'
throw new Error(
  '@vitest/coverage-v8 is not installed here: package.json overrides it with a stand-in (__test__/keyv/stub-coverage-v8), because @keyv/test-suite lists it as a dependency but never loads it, and nothing here measures coverage',
)
