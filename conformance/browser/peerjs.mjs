// Starts the PeerJS server (npm "peer") on a free loopback port, for the
// signaling benchmark, and prints {"port":…} once it listens.
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.env.NODE_MODULES, 'noop.js'));
const { PeerServer } = require('peer');

PeerServer({ port: 0, host: '127.0.0.1', path: '/', concurrent_limit: 100000 }, (server) => {
  console.log(JSON.stringify({ port: server.address().port }));
});
