'use strict'
throw new Error(
  '@napi-rs/cross-toolchain is not installed here: package.json overrides it with a stand-in (scripts/stubs/napi-rs-cross-toolchain), because the napi CLI loads it only for --use-napi-cross, which no build here uses (test:platforms links with the cross gcc of Debian)',
)
