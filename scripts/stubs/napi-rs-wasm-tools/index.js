'use strict'
throw new Error('@napi-rs/wasm-tools is not installed here: package.json overrides it with a stand-in (scripts/stubs/napi-rs-wasm-tools), because the napi CLI loads it only for wasm targets, which this package does not build')
