// The SDK's logic without a server: the reconnect policy (backoff with full jitter, reset after
// a stable connection, the server's reconnect hint and close 1012), the reordering of messages
// per conversation, the typing throttle, and the outbox's order, pacing and stored form.

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {ConversationCursors, MemoryStorage, ReconnectPolicy} from '../src/index.js';
import {Outbox} from '../src/outbox.js';
import {TypingThrottle} from '../src/typing.js';

/** A random source that returns the given values in turn. @param {number[]} values */
function scripted(values) {
  let i = 0;
  return () => values[i++ % values.length];
}

describe('ReconnectPolicy', () => {
  test('full jitter under a doubling ceiling, capped', () => {
    // random() just under 1 shows each ceiling.
    const policy =
        new ReconnectPolicy({baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.999999});
    const delays = [];
    for (let i = 0; i < 7; i++) delays.push(policy.next({code: 1006, nowMs: 0}).delayMs);
    assert.deepEqual(delays, [99, 199, 399, 799, 999, 999, 999]);
    // The delay is drawn from [0, ceiling): here a quarter of it.
    const quarter = new ReconnectPolicy({baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.25});
    assert.deepEqual([0, 1, 2].map(() => quarter.next({nowMs: 0}).delayMs), [25, 50, 100]);
  });

  test('a stable connection resets the backoff; a short one does not', () => {
    const policy = new ReconnectPolicy(
        {baseDelayMs: 100, maxDelayMs: 10000, stableAfterMs: 5000, random: () => 0.999999});
    for (let i = 0; i < 4; i++) policy.next({nowMs: 0});
    assert.equal(policy.attempts, 4);
    policy.connected(1000);
    assert.equal(policy.next({code: 1006, nowMs: 2000}).delayMs, 1599);  // up 1 s: not stable
    policy.connected(10000);
    assert.equal(policy.next({code: 1006, nowMs: 15000}).delayMs, 99);  // up 5 s: reset
  });

  test('the reconnect hint: wait after_ms counted from the hint, not a failure', () => {
    const policy = new ReconnectPolicy({baseDelayMs: 100, random: () => 0.5});
    policy.next({nowMs: 0});
    policy.next({nowMs: 0});
    policy.connected(0);
    policy.hint(1500, 20000);
    // The close 1012 comes 300 ms after the hint: 1200 ms are left to wait.
    assert.deepEqual(policy.next({code: 1012, nowMs: 20300}), {delayMs: 1200, reason: 'hint'});
    assert.equal(policy.attempts, 0);  // the connection had been stable: reset, and the hint
    // The hint is used once; a close long after it waits nothing more.
    policy.hint(100, 0);
    assert.deepEqual(policy.next({code: 1012, nowMs: 5000}), {delayMs: 0, reason: 'hint'});
    // The next failure backs off as usual.
    assert.deepEqual(policy.next({code: 1006, nowMs: 5000}), {delayMs: 50, reason: 'backoff'});
  });

  test('close 1012 without a hint: a random delay within the restart jitter, not a failure', () => {
    const policy = new ReconnectPolicy({restartJitterMs: 2000, random: scripted([0.1, 0.9])});
    assert.deepEqual(policy.next({code: 1012, nowMs: 0}), {delayMs: 200, reason: 'restart'});
    assert.deepEqual(policy.next({code: 1012, nowMs: 0}), {delayMs: 1800, reason: 'restart'});
    assert.equal(policy.attempts, 0);
  });
});

describe('ConversationCursors', () => {
  const message = (/** @type {number} */ conv, /** @type {number} */ seq) =>
      ({id: seq, conv, seq, from: 1, kind: 'text', body: `${seq}`, ts: 0});

  test('in seq order, without gaps or duplicates, whatever the arrival order', () => {
    const cursors = new ConversationCursors(100);
    cursors.follow(7, 3);
    const delivered = [];
    for (const seq of [2, 3, 6, 5, 4, 4, 7, 9, 8, 6]) {
      const {due} = cursors.accept(message(7, seq));
      delivered.push(...due.map((m) => m.seq));
    }
    assert.deepEqual(delivered, [4, 5, 6, 7, 8, 9]);
    assert.equal(cursors.cursor(7), 9);
    assert.deepEqual(cursors.gapped(), []);
  });

  test('reports a gap, and an overflow past the bound', () => {
    const cursors = new ConversationCursors(2);
    cursors.follow(1, 0);
    assert.deepEqual(cursors.accept(message(1, 2)), {due: [], gap: true, overflow: false});
    assert.deepEqual(cursors.gapped(), [1]);
    cursors.accept(message(1, 3));
    assert.equal(cursors.accept(message(1, 4)).overflow, true);
    assert.deepEqual(cursors.accept(message(1, 1)).due.map((m) => m.seq), [1, 2, 3, 4]);
  });
});

describe('TypingThrottle', () => {
  test('one start per refresh period; stop on idle or on demand, once', async () => {
    /** @type {string[]} */
    const sent = [];
    const throttle = new TypingThrottle({
      refreshMs: 1000,
      idleMs: 60,
      send: (conv, state) => sent.push(`${conv}:${state}`) > 0,
    });
    throttle.typing(5, 0);
    throttle.typing(5, 10);
    throttle.typing(5, 999);
    throttle.typing(5, 1000);  // a refresh
    throttle.typing(6, 1000);
    assert.deepEqual(sent, ['5:start', '5:start', '6:start']);
    throttle.stop(6);
    throttle.stop(6);
    assert.deepEqual(sent.slice(3), ['6:stop']);
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.deepEqual(sent.slice(4), ['5:stop']);
    throttle.reset();
  });
});

describe('Outbox', () => {
  const entry = (/** @type {string} */ cid) =>
      /** @type {import('../src/types.js').OutboxEntry} */ (
          {cid, conv: 1, kind: 'text', body: cid, created_ms: 0, state: 'pending'});

  test('in creation order, each once per connection, none before it is stored', async () => {
    const storage = new MemoryStorage();
    const outbox = new Outbox({storage, sendsPerSecond: 1000, onStorageError: assert.fail});
    await outbox.open('k', 'b');
    outbox.add(entry('a'));
    outbox.add(entry('b'));
    assert.equal(outbox.next(1, 0), null);  // not written yet: holds the line
    await outbox.save();
    assert.deepEqual(
        JSON.parse(String(storage.getItem('k'))).entries.map((e) => e.cid), ['a', 'b']);
    /** @param {number} conn */
    const drain = (conn) => {
      const out = [];
      for (let next = outbox.next(conn, 0); next && 'entry' in next; next = outbox.next(conn, 0)) {
        out.push([next.entry.cid, outbox.sent(next.entry.cid, conn)]);
      }
      return out;
    };
    assert.deepEqual(drain(1), [['a', false], ['b', false]]);
    assert.deepEqual(drain(1), []);
    assert.deepEqual(drain(2), [['a', true], ['b', true]]);  // a new connection: resent
    // A reload: entries read back count as sent before.
    const reloaded = new Outbox({storage, sendsPerSecond: 1000, onStorageError: assert.fail});
    await reloaded.open('k', 'b');
    assert.deepEqual(reloaded.entries.map((e) => e.cid), ['a', 'b']);
    const first = reloaded.next(1, 0);
    assert.ok(first && 'entry' in first);
    assert.equal(reloaded.sent(first.entry.cid, 1), true);
  });

  test('a retry pause holds back the entries behind it; pacing spaces the sends', async () => {
    const outbox =
        new Outbox({storage: new MemoryStorage(), sendsPerSecond: 2, onStorageError: assert.fail});
    await outbox.open('k', 'b');
    outbox.add(entry('a'));
    outbox.add(entry('b'));
    await outbox.save();
    outbox.retryLater('a', 'unavailable', 0);
    assert.deepEqual(outbox.next(1, 0), {waitMs: 2000});  // doubled: the first unavailable
    const next = outbox.next(1, 2000);
    assert.ok(next && 'entry' in next && next.entry.cid === 'a');
    outbox.sent('a', 1);
    outbox.sent('b', 1);  // the bucket (2 a second) is empty now
    outbox.add(entry('c'));
    await outbox.save();
    assert.deepEqual(outbox.next(1, 2000), {waitMs: 500});
  });

  test('a stored outbox that is not one is ignored, not sent', async () => {
    const storage = new MemoryStorage();
    storage.setItem('k', JSON.stringify({
      binding: 'b',
      entries: [{cid: 5}, 'x', {cid: 'ok', conv: 2, kind: 'text', body: ''}],
    }));
    const outbox = new Outbox({storage, sendsPerSecond: 10, onStorageError: assert.fail});
    await outbox.open('k', 'b');
    assert.deepEqual(outbox.entries.map((e) => e.cid), ['ok']);
  });

  test('a stored outbox of another binding (or none) is handed back and erased', async () => {
    const storage = new MemoryStorage();
    const stored = [{cid: 'c1', conv: 2, kind: 'text', body: 'for the old account'}];
    for (const value of [{binding: 'old-db/1/5', entries: stored}, stored]) {
      storage.setItem('k', JSON.stringify(value));
      const outbox = new Outbox({storage, sendsPerSecond: 10, onStorageError: assert.fail});
      const rejected = await outbox.open('k', 'new-db/1/9');
      assert.deepEqual(rejected.map((e) => e.cid), ['c1']);
      assert.deepEqual(outbox.entries, []);
      assert.equal(storage.getItem('k'), null);
    }
  });
});
