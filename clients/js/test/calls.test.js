// Calls through the SDK against the real server: iceServers() hands over the STUN servers and the
// TURN servers with a credential of this user's in coturn's TURN REST API scheme, ready for
// `RTCPeerConnection` (tests/integration/test_calls_turn.py has a real coturn grant it).

import assert from 'node:assert/strict';
import {createHmac} from 'node:crypto';
import {describe, test} from 'node:test';

import {BOUNDED, serverForFile} from './helpers.js';

const SECRET = 'sdk-test-turn-secret';
const {pair} = serverForFile({
  args: ['--stun-urls', 'stun:127.0.0.1:3478', '--turn-urls',
         'turn:127.0.0.1:3478?transport=udp', '--turn-secret', SECRET, '--turn-ttl', '600'],
});

describe('calls', () => {
  test('iceServers: STUN as configured, TURN with a credential of this user', BOUNDED,
       async () => {
         const {alice} = await pair();
         const before = Date.now();
         const {ice_servers: servers, expires_at: expires} = await alice.iceServers();
         assert.deepEqual(servers[0], {urls: ['stun:127.0.0.1:3478']});
         const turn = servers[1];
         assert.deepEqual(turn.urls, ['turn:127.0.0.1:3478?transport=udp']);
         const [expiry, user] = turn.username.split(':');
         assert.equal(Number(user), alice.userId);
         assert.equal(Number(expiry) * 1000, expires);
         assert.ok(expires >= Math.floor(before / 1000) * 1000 + 600_000 - 1000, String(expires));
         assert.equal(
             turn.credential, createHmac('sha1', SECRET).update(turn.username).digest('base64'));
       });
});
