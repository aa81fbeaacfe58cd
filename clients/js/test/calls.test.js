// Calls through the SDK against the real server: iceServers() hands over the STUN servers and the
// TURN servers with a credential of this user's in coturn's TURN REST API scheme, ready for
// `RTCPeerConnection` (tests/integration/test_calls_turn.py has a real coturn grant it). Then the
// call API (src/calls.js) over the server's signalling: Node has no WebRTC, so the calls run on
// FakePeerConnection (below), which "connects" once both descriptions and a candidate went
// through the server; the media itself is tests/browser/calls.test.js's (Chromium, coturn).

import assert from 'node:assert/strict';
import {createHmac} from 'node:crypto';
import {describe, test} from 'node:test';

import {callEntry} from '../src/index.js';

import {BOUNDED, PASSWORD, serverForFile, signUp, sleep, until, waitFor} from './helpers.js';

const SECRET = 'sdk-test-turn-secret';
const files = serverForFile({
  args: [
    '--stun-urls', 'stun:127.0.0.1:3478', '--turn-urls', 'turn:127.0.0.1:3478?transport=udp',
    '--turn-secret', SECRET, '--turn-ttl', '600', '--call-ring-timeout', '2', '--call-rejoin-grace',
    '5'
  ],
});

const {pair, client} = files;

describe('calls', () => {
  test('iceServers: STUN as configured, TURN with a credential of this user', BOUNDED, async () => {
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

/**
 * Stands in for RTCPeerConnection: descriptions are labelled strings, one host candidate is
 * "gathered" after each setLocalDescription, and it "connects" (connection and ICE state, a
 * remote stream) once it has both descriptions and a candidate of the other side. `fail()`
 * drops its ICE, as a network change does.
 */
class FakePeerConnection {
  /** @type {FakePeerConnection[]} */
  static all = [];
  static counter = 0;
  /** @param {RTCConfiguration} config */
  constructor(config) {
    this.config = config;
    /** @type {any} */
    this.localDescription = null;
    /** @type {any} */
    this.remoteDescription = null;
    this.signalingState = 'stable';
    this.connectionState = 'new';
    this.iceConnectionState = 'new';
    /** @type {any[]} */
    this.candidates = [];
    /** @type {string[]} */
    this.sent = [];
    /** @type {string[]} */
    this.received = [];
    this.closed = false;
    /** @type {any} */
    this.onicecandidate = null;
    /** @type {any} */
    this.ontrack = null;
    /** @type {any} */
    this.onconnectionstatechange = null;
    /** @type {any} */
    this.oniceconnectionstatechange = null;
    FakePeerConnection.all.push(this);
  }
  /** @param {any} track */
  addTrack(track) {
    this.sent.push(track.kind);
  }
  /** @param {string} kind */
  addTransceiver(kind) {
    this.sent.push(`recvonly ${kind}`);
  }
  /** @param {{iceRestart?: boolean}} [options] */
  async createOffer(options) {
    FakePeerConnection.counter += 1;
    const restart = options?.iceRestart ? ' ice-restart' : '';
    return {type: 'offer', sdp: `offer ${FakePeerConnection.counter}${restart}`};
  }
  async createAnswer() {
    FakePeerConnection.counter += 1;
    return {type: 'answer', sdp: `answer ${FakePeerConnection.counter}`};
  }
  /** @param {any} description */
  async setLocalDescription(description) {
    this.localDescription = description;
    this.signalingState = description.type === 'offer' ? 'have-local-offer' : 'stable';
    const n = FakePeerConnection.counter;
    setTimeout(() => {
      if (this.closed) return;
      this.onicecandidate?.({
        candidate: {
          toJSON: () => ({
            candidate: `candidate:${n} 1 udp 1 127.0.0.1 ${40000 + n} typ host`,
            sdpMid: '0',
            sdpMLineIndex: 0
          }),
        },
      });
    }, 5);
    this._check();
  }
  /** @param {any} description */
  async setRemoteDescription(description) {
    this.remoteDescription = description;
    this.received.push(description.sdp);
    this.signalingState = description.type === 'offer' ? 'have-remote-offer' : 'stable';
    this._check();
  }
  /** @param {any} candidate */
  async addIceCandidate(candidate) {
    this.candidates.push(candidate);
    this._check();
  }
  /** @param {RTCConfiguration} config */
  setConfiguration(config) {
    this.config = config;
  }
  close() {
    this.closed = true;
    this.connectionState = 'closed';
  }
  fail() {
    this.iceConnectionState = 'failed';
    this.oniceconnectionstatechange?.();
  }
  _check() {
    if (this.closed || !this.localDescription || !this.remoteDescription) return;
    if (this.candidates.length === 0 || this.iceConnectionState === 'connected') return;
    if (this.signalingState !== 'stable') return;
    this.iceConnectionState = 'connected';
    this.oniceconnectionstatechange?.();
    if (this.connectionState !== 'connected') {
      this.connectionState = 'connected';
      this.onconnectionstatechange?.();
      this.ontrack?.({streams: [{id: 'remote'}], track: {kind: 'audio'}});
    }
  }
}

/** What getUserMedia would give: the app's stream, never stopped by the SDK. */
function fakeStream(kinds = ['audio', 'video']) {
  const tracks = kinds.map((kind) => ({
                             kind,
                             stopped: false,
                             stop() {
                               this.stopped = true;
                             }
                           }));
  return /** @type {any} */ ({getTracks: () => tracks});
}

const CALLS = {
  RTCPeerConnection: FakePeerConnection,
  restartAfterMs: 200
};

/** A second device of `user`'s account, connected and synced. @param {any} user */
async function secondDevice(user) {
  const other = client({calls: CALLS});
  await other.login(user.session.username, PASSWORD);
  const synced = waitFor(other, 'synced');
  other.connect();
  await synced;
  return other;
}

/** The record of call `id` in `conv`, from the server's history over HTTP. */
async function recordOf(who, conv, id) {
  let found = null;
  await until(() => found !== null, `the record of call ${id}`);
  return found;

  async function until(condition, what) {
    const deadline = Date.now() + 10000;
    for (;;) {
      const response = await fetch(
          `${files.server.baseUrl}/api/conversations/${conv}/messages?limit=50`,
          {headers: {Authorization: `Bearer ${who.session.token}`}});
      const {messages} = await response.json();
      for (const m of messages) {
        const entry = callEntry(m);
        if (entry?.call === id) found = {message: m, entry};
      }
      if (condition()) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }
}

/** Resolves with the next `name` event of `call`. @param {any} call @param {string} name */
function next(call, name, predicate = (/** @type {any} */ _e) => true, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} of the call`)), timeoutMs);
    const off = call.on(name, (/** @type {any} */ event) => {
      if (!predicate(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

describe('the call API (signalling with FakePeerConnection)', () => {
  test(
      'raw signalling: every device rings, the first accept takes it, signals reach one device',
      BOUNDED, async () => {
        const {alice, bob, conv} = await pair();
        const laptop = await secondDevice(bob);
        assert.ok(alice.device && bob.device && laptop.device, 'hello carries the device');
        assert.notEqual(bob.device, laptop.device);
        const rings = [
          waitFor(bob, 'call_event', (e) => e.type === 'call_ring'),
          waitFor(laptop, 'call_event', (e) => e.type === 'call_ring')
        ];
        const ringing = waitFor(alice, 'call_event', (e) => e.type === 'call_ringing');
        const {call} = await alice.callRequest({type: 'call_invite', conv, call_kind: 'audio'});
        for (const ring of await Promise.all(rings)) {
          assert.deepEqual(ring, {
            type: 'call_ring',
            call,
            conv,
            from: alice.userId,
            call_kind: 'audio',
            group: false
          });
        }
        assert.equal((await ringing).user, bob.userId);
        const stop = waitFor(laptop, 'call_event', (e) => e.type === 'call_stop_ringing');
        const joined = waitFor(alice, 'call_event', (e) => e.type === 'call_joined');
        const ack = await bob.callRequest({type: 'call_accept', call});
        assert.deepEqual(ack.participants, [{user: alice.userId, device: alice.device}]);
        await stop;
        assert.equal((await joined).device, bob.device);
        const late = await laptop.callRequest({type: 'call_accept', call}).catch((e) => e);
        assert.equal(late.code, 'not_found');

        const got = waitFor(bob, 'call_event', (e) => e.type === 'call_signal');
        await alice.callRequest({
          type: 'call_signal',
          call,
          to: {user: bob.userId, device: bob.device},
          sdp: {type: 'offer', sdp: 'v=0\r\n'}
        });
        assert.deepEqual((await got).from, {user: alice.userId, device: alice.device});
        const refused = await laptop
                            .callRequest({
                              type: 'call_signal',
                              call,
                              to: {user: alice.userId, device: alice.device},
                              sdp: {type: 'offer', sdp: 'v=0\r\n'}
                            })
                            .catch((e) => e);
        assert.equal(refused.code, 'forbidden');
        const ended = waitFor(bob, 'call_event', (e) => e.type === 'call_ended');
        await alice.callRequest({type: 'call_hangup', call});
        assert.equal((await ended).outcome, 'completed');
        laptop.close();
      });

  test(
      'a video call: ring on two devices, accept on one, connect, ICE restart, rejoin after a ' +
          'reconnect, hang up, the record',
      BOUNDED, async () => {
        const {alice, bob, conv} = await pair({calls: CALLS});
        const laptop = await secondDevice(bob);
        let iceFetches = 0;
        const iceServers = alice.iceServers.bind(alice);
        alice.iceServers = () => {
          iceFetches += 1;
          return iceServers();
        };
        const incoming = [waitFor(bob, 'call'), waitFor(laptop, 'call')];
        const mine = fakeStream();
        const call = await alice.startCall(conv, {kind: 'video', stream: mine});
        assert.equal(call.state, 'ringing');
        assert.equal(iceFetches, 1);
        const ringing = next(call, 'ringing');
        const [onPhone, onLaptop] = await Promise.all(incoming);
        assert.equal((await ringing).user, bob.userId);
        assert.equal(onPhone.id, call.id);
        assert.equal(onPhone.kind, 'video');
        assert.equal(onPhone.caller, alice.userId);
        // A device that connects while the call rings rings too (hello's `ringing`).
        const tablet = client({calls: CALLS});
        await tablet.login(bob.session.username, PASSWORD);
        const tabletRings = waitFor(tablet, 'call');
        tablet.connect();
        const onTablet = await tabletRings;
        assert.equal(onTablet.id, call.id);
        const tabletEnded = next(onTablet, 'ended');
        const laptopEnded = next(onLaptop, 'ended');
        const aliceConnected = next(call, 'state', (e) => e.state === 'connected');
        const bobConnected = next(onPhone, 'state', (e) => e.state === 'connected');
        const streamAtAlice = next(call, 'stream');
        await onPhone.accept(fakeStream());
        assert.equal((await laptopEnded).reason, 'stopped_ringing');
        assert.equal((await laptopEnded).stopped, 'answered');
        assert.equal((await tabletEnded).stopped, 'answered');
        tablet.close();
        await Promise.all([aliceConnected, bobConnected]);
        assert.deepEqual((await streamAtAlice).user, bob.userId);
        assert.equal(alice.currentCall, call);
        assert.equal(bob.currentCall, onPhone);
        assert.equal(laptop.currentCall, null);
        const alicePc = /** @type {any} */ (call.peers.get(`${bob.userId}:${bob.device}`)).pc;
        assert.deepEqual(alicePc.sent, ['audio', 'video']);
        assert.ok(alicePc.config.iceServers.length === 2, 'the TURN and STUN servers');

        // ICE fails on the offering side: fresh servers, an offer with iceRestart, answered.
        const restarted = next(call, 'ice_restart');
        alicePc.fail();
        await restarted;
        await until(() => alicePc.iceConnectionState === 'connected', 'the restart to connect');
        assert.equal(iceFetches, 2);
        const bobPc = /** @type {any} */ (onPhone.peers.get(`${alice.userId}:${alice.device}`)).pc;
        assert.match(bobPc.received.at(-1), /ice-restart/);

        // Bob's connection drops: a new device id, call_rejoin, and Alice offers to it.
        const oldDevice = bob.device;
        const left = next(call, 'left');
        const rejoined = next(call, 'joined');
        bob.reconnectNow();
        assert.equal((await left).device, oldDevice);
        const back = await rejoined;
        assert.notEqual(back.device, oldDevice);
        assert.equal(back.device, bob.device);
        await until(
            () => call.peers.get(`${bob.userId}:${bob.device}`)?.pc.connectionState === 'connected',
            'the peer connection to the new device');
        assert.ok(alicePc.closed, 'the old peer connection closed');
        assert.equal(call.peers.size, 1);

        await sleep(300);  // a duration to see
        const bobEnded = next(onPhone, 'ended');
        const aliceEnded = next(call, 'ended');
        const records = [
          waitFor(alice, 'message', (m) => m.kind === 'call'),
          waitFor(bob, 'message', (m) => m.kind === 'call')
        ];
        await call.hangUp();
        const [a, b] = await Promise.all([aliceEnded, bobEnded]);
        assert.equal(a.outcome, 'completed');
        assert.equal(b.outcome, 'completed');
        assert.ok(b.duration_ms >= 250, String(b.duration_ms));
        assert.equal(a.duration_ms, b.duration_ms);
        assert.ok(
            mine.getTracks().every((/** @type {any} */ t) => !t.stopped),
            'the app\'s tracks are the app\'s');
        assert.equal(call.peers.size, 0);
        for (const message of await Promise.all(records)) {
          const entry = /** @type {any} */ (callEntry(message));
          assert.equal(entry.call, call.id);
          assert.equal(entry.call_kind, 'video');
          assert.equal(entry.outcome, 'completed');
          assert.equal(entry.duration_ms, b.duration_ms);
        }
        const {entry} = await recordOf(alice, conv, call.id);
        assert.deepEqual([...entry.participants].sort(), [alice.userId, bob.userId].sort());
        laptop.close();
      });

  test('declined, cancelled, missed and busy', BOUNDED, async () => {
    const {alice, bob, conv} = await pair({calls: CALLS});
    // Declined.
    let incoming = waitFor(bob, 'call');
    let call = await alice.startCall(conv, {kind: 'audio', stream: fakeStream(['audio'])});
    let ended = next(call, 'ended');
    const declined = next(call, 'declined');
    await (await incoming).decline();
    assert.equal((await declined).user, bob.userId);
    assert.deepEqual(
        {...(await ended)}, {outcome: 'declined', reason: 'ended', duration_ms: 0, stopped: null});
    assert.equal((await recordOf(bob, conv, call.id)).entry.outcome, 'declined');

    // Cancelled by the caller: the callee stops ringing.
    incoming = waitFor(bob, 'call');
    call = await alice.startCall(conv, {kind: 'video'});
    const ringingAtBob = await incoming;
    const stopped = next(ringingAtBob, 'ended');
    ended = next(call, 'ended');
    await call.cancel();
    assert.equal((await ended).outcome, 'cancelled');
    assert.equal((await stopped).reason, 'stopped_ringing');
    assert.equal((await stopped).stopped, 'cancelled');

    // Missed: nobody answers within --call-ring-timeout (2 s).
    incoming = waitFor(bob, 'call');
    call = await alice.startCall(conv, {kind: 'audio'});
    const missedAtBob = next(await incoming, 'ended', () => true, 6000);
    assert.equal((await next(call, 'ended', () => true, 6000)).outcome, 'missed');
    assert.equal((await missedAtBob).reason, 'stopped_ringing');
    assert.equal((await missedAtBob).stopped, 'missed');
    const record = await recordOf(bob, conv, call.id);
    assert.equal(record.entry.outcome, 'missed');
    assert.equal(record.entry.answered_at, undefined);

    // Busy: Bob is in a call when Carol calls him.
    const carol = client({calls: CALLS});
    await signUp(carol, 'carol');
    const carolConv = await carol.openDirect(/** @type {number} */ (bob.userId));
    const synced = waitFor(carol, 'synced');
    carol.connect();
    await synced;
    incoming = waitFor(bob, 'call');
    call = await alice.startCall(conv, {kind: 'audio'});
    await (await incoming).accept(null);
    const busy = await carol.startCall(carolConv, {kind: 'audio'}).catch((e) => e);
    assert.equal(busy.code, 'busy');
    // A stranger to the 1:1 may not call into it.
    const stranger = await carol.startCall(conv, {kind: 'audio'}).catch((e) => e);
    assert.equal(stranger.code, 'forbidden');
    ended = next(call, 'ended');
    await call.hangUp();
    assert.equal((await ended).outcome, 'completed');
  });
});
