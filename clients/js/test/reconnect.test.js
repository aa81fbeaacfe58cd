// Reconnecting: a server restart with sends in flight and queued, a lost ack, and the resume
// with `sync` (paged: the server runs with --sync-limit 5) while messages keep coming live. In
// every case each message is stored once and each client sees every conversation as seq 1, 2,
// 3, ... exactly once.

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {BOUNDED, recordMessages, serverForFile, signUp, storedHistory, until, waitFor} from './helpers.js';

const fixture = serverForFile({args: ['--sync-limit', '5']});
const {pair} = fixture;

/** Asserts that the stored history of `conv` is exactly `bodies`, in order. */
async function assertStored(client, conv, bodies) {
  const stored = await storedHistory(fixture.server, client, conv);
  assert.deepEqual(stored.map((m) => m.body), bodies);
  assert.deepEqual(stored.map((m) => m.seq), bodies.map((_, i) => i + 1));
}

const bodies = (/** @type {number} */ from, /** @type {number} */ to) =>
    Array.from({length: to - from + 1}, (_, i) => `m${from + i}`);

describe('reconnect', () => {
  test('a server restart: sends in flight and queued go out once each', BOUNDED, async () => {
    const {alice, bob, conv} = await pair();
    const bobSeen = recordMessages(bob);
    await Promise.all(bodies(1, 3).map((b) => alice.send(conv, b).acked));

    // Sends racing the shutdown: some may be committed with their ack lost, some never read.
    const handles = bodies(4, 13).map((b) => alice.send(conv, b));
    const down = waitFor(alice, 'state', (s) => s.state === 'waiting');
    assert.equal(await fixture.server.stop(), 0);
    await down;
    // Queued while the server is away.
    handles.push(...bodies(14, 16).map((b) => alice.send(conv, b)));
    assert.ok(alice.outbox().length >= 3);

    const back = [waitFor(alice, 'synced'), waitFor(bob, 'synced')];
    await fixture.server.start();
    await Promise.all(back);
    const acks = await Promise.all(handles.map((h) => h.acked));
    assert.deepEqual(acks.map((a) => a.seq), bodies(4, 16).map((_, i) => i + 4));
    assert.equal(alice.outbox().length, 0);
    assert.ok(alice.stats.connections >= 2 && bob.stats.connections >= 2);

    await until(() => bobSeen.of(conv).length === 16, 'bob has all 16 messages');
    assert.deepEqual(bobSeen.of(conv).map((m) => m.body), bodies(1, 16));
    assert.deepEqual(bobSeen.violations, []);
    await assertStored(alice, conv, bodies(1, 16));
  });

  test('an ack lost with the connection: resent with its cid, stored once', BOUNDED, async () => {
    const {alice, bob, conv} = await pair();
    const bobSeen = recordMessages(bob);
    const handles = bodies(1, 5).map((b) => alice.send(conv, b));
    // Let them go out (they go once written to the storage, a few microtasks away), then drop
    // the connection before any ack can be back: the server commits them, and its acks die
    // with the connection.
    await new Promise((resolve) => setImmediate(resolve));
    alice.reconnectNow();
    const acks = await Promise.all(handles.map((h) => h.acked));
    assert.equal(alice.stats.resends, 5);
    assert.deepEqual(acks.map((a) => a.cid), handles.map((h) => h.cid));
    assert.deepEqual(acks.map((a) => a.seq), [1, 2, 3, 4, 5]);
    await until(() => bobSeen.of(conv).length === 5, 'bob has the 5 messages');
    assert.deepEqual(bobSeen.of(conv).map((m) => m.body), bodies(1, 5));
    await assertStored(alice, conv, bodies(1, 5));
  });

  test('resume: missed messages come by sync, paged, racing live ones', BOUNDED, async () => {
    const {alice, bob, conv} = await pair();
    const bobSeen = recordMessages(bob);
    await alice.send(conv, 'm1').acked;
    await until(() => bobSeen.of(conv).length === 1, 'bob has m1');

    bob.close();
    await Promise.all(bodies(2, 24).map((b) => alice.send(conv, b).acked));
    const syncsBefore = bob.stats.syncRequests;
    const synced = waitFor(bob, 'synced');
    bob.connect();
    // More messages while bob resumes: live ones overtake the sync pages.
    const racing = bodies(25, 34).map((b) => alice.send(conv, b).acked);
    await synced;
    await Promise.all(racing);
    await until(() => bobSeen.of(conv).length === 34, 'bob has all 34 messages');
    assert.deepEqual(bobSeen.of(conv).map((m) => m.body), bodies(1, 34));
    assert.deepEqual(bobSeen.violations, []);
    // 23 missed messages in pages of 5: at least 5 sync requests.
    assert.ok(
        bob.stats.syncRequests - syncsBefore >= 5,
        `${bob.stats.syncRequests - syncsBefore} sync requests`);
    await assertStored(bob, conv, bodies(1, 34));
  });
});
