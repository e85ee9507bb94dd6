// CommonJS entry of `hybi` (`require('hybi')`): the package is ES modules,
// which Node loads with require() from 20.19 on; this gives the same
// exports (`const { WebSocket, serve } = require('hybi')`).
'use strict';

try {
  module.exports = require('./index.js');
} catch (error) {
  if (error && error.code === 'ERR_REQUIRE_ESM') {
    throw new Error('hybi: require() of this package needs Node 20.19 or later; on older Node 20 use import()', { cause: error });
  }
  throw error;
}
