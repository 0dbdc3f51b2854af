'use strict'
// See package.json: the napi CLI imports this, but calls it only for a GitHub release.
class Octokit {
  constructor() {
    throw new Error('@octokit/rest is a stand-in here (scripts/stubs/octokit-rest): napi pre-publish must run with --no-gh-release')
  }
}
module.exports = { Octokit }
