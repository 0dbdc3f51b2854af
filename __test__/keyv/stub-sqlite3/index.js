'use strict'
throw new Error('sqlite3 is not installed here: package.json overrides it with a stand-in (__test__/keyv/stub-sqlite3), because @keyv/test-suite lists it as a dependency but never loads it, and it is a native module with an install script')
