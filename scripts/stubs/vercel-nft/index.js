'use strict'
throw new Error(
  'ava --watch needs @vercel/nft, which package.json replaces with a stand-in (scripts/stubs/vercel-nft) to keep npm install light; run ava without --watch, or drop the stand-in from devDependencies and overrides in a local checkout',
)
