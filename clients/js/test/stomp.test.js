// STOMP (proto/PROTOCOL.md, "STOMP 1.2 over WebSocket") with @stomp/stompjs, a real STOMP client,
// side by side with the SDK's WebSocket client in the same conversation: the same seqs both
// ways, RECEIPTs only after the commit, read receipts reaching the SDK, a non-member's
// subscription refused, a bad token's ERROR, heart-beats both ways, DISCONNECT's RECEIPT, and a
// resend by cid that stores nothing twice.

import assert from 'node:assert/strict';
import {after, describe, test} from 'node:test';

import {BOUNDED, connectedPair, recordMessages, serverForFile, signUp, sleep, storedHistory, until, waitFor} from './helpers.js';
import {connectPeer, stompPeer, subscribe, waitMessage, waitReceipt} from './stomp_helpers.js';

const file = serverForFile({args: ['--stomp-heartbeat-ms', '1000']});
const {client} = file;

/** @type {import('./stomp_helpers.js').StompPeer[]} */
const peers = [];
/**
 * A stompjs client of the file's server for `token` (deactivated after the test file).
 * @param {string} token @param {Partial<import('@stomp/stompjs').StompConfig>} [config]
 */
function peer(token, config) {
  const made = stompPeer(/** @type {number} */ (file.server.port), token, config);
  peers.push(made);
  return made;
}

/** Alice as a STOMP client, Bob on the SDK, a 1:1 between them. */
async function stompAndSdk() {
  const {alice, bob, conv} = await connectedPair(() => client());
  const stomp = peer(/** @type {string} */ (alice.session?.token));
  await connectPeer(stomp);
  return {alice, bob, conv, stomp};
}

describe('stomp', () => {
  test('send: the same seq as the SDK sees, the RECEIPT after the commit', BOUNDED, async () => {
    const {alice, bob, conv, stomp} = await stompAndSdk();
    assert.equal(stomp.connected?.version, '1.2');
    assert.equal(stomp.connected?.['user-name'], String(alice.userId));
    const topic = `/topic/conversation.${conv}`;
    await subscribe(stomp, topic);
    await subscribe(stomp, '/user/queue/acks');
    const bobSeen = recordMessages(bob);

    const receipt = waitReceipt(stomp, 'r1');
    stomp.client.publish({
      destination: '/app/chat.send',
      headers: {conversation: String(conv), cid: 'stomp-1', receipt: 'r1'},
      body: 'hello from stompjs',
    });
    await receipt;
    // Committed before the RECEIPT: the stored history has it.
    const stored = await storedHistory(file.server, bob, conv);
    assert.deepEqual(stored.map((m) => [m.seq, m.body]), [[1, 'hello from stompjs']]);
    const ack = await waitMessage(stomp, '/user/queue/acks', (e) => e.cid === 'stomp-1');
    assert.equal(ack.event.seq, 1);
    const own = await waitMessage(stomp, topic, (e) => e.type === 'message' && e.seq === 1);
    assert.equal(own.headers['content-type'], 'application/json');
    await until(() => bobSeen.of(conv).length === 1, 'the SDK gets the message');
    assert.deepEqual(
        {seq: bobSeen.of(conv)[0].seq, id: bobSeen.of(conv)[0].id, body: bobSeen.of(conv)[0].body},
        {seq: own.event.seq, id: own.event.id, body: own.event.body});

    // The SDK's message reaches the STOMP subscriber with the seq the SDK's ack has.
    const sdkAck = await bob.send(conv, 'hello from the SDK').acked;
    const got =
        await waitMessage(stomp, topic, (e) => e.type === 'message' && e.seq === sdkAck.seq);
    assert.deepEqual(
        [got.event.seq, got.event.from, got.event.body], [2, bob.userId, 'hello from the SDK']);
    assert.deepEqual(bobSeen.violations, []);
  });

  test('read receipts reach the SDK; its typing reaches STOMP', BOUNDED, async () => {
    const {alice, bob, conv, stomp} = await stompAndSdk();
    const topic = `/topic/conversation.${conv}`;
    await subscribe(stomp, topic);
    const sdkAck = await bob.send(conv, 'read this').acked;
    await waitMessage(stomp, topic, (e) => e.type === 'message' && e.seq === sdkAck.seq);
    const read = waitFor(bob, 'receipt', (r) => r.user === alice.userId && r.read === sdkAck.seq);
    stomp.client.publish({
      destination: '/app/chat.read',
      headers: {conversation: String(conv), seq: String(sdkAck.seq)},
    });
    await read;
    bob.typing(conv);
    await waitMessage(stomp, topic, (e) => e.type === 'typing' && e.user === bob.userId);
  });

  test('a resend with the same cid is acked with the same seq, stored once', BOUNDED, async () => {
    const {bob, conv, stomp} = await stompAndSdk();
    await subscribe(stomp, '/user/queue/acks');
    const bobSeen = recordMessages(bob);
    for (const receipt of ['a', 'b']) {
      const got = waitReceipt(stomp, receipt);
      stomp.client.publish({
        destination: '/app/chat.send',
        headers: {conversation: String(conv), cid: 'same-cid', receipt},
        body: 'only once',
      });
      await got;
    }
    await until(() => stomp.messages.length === 2, 'two acks');
    assert.deepEqual(
        stomp.messages.map((m) => [m.event.cid, m.event.seq]), [['same-cid', 1], ['same-cid', 1]]);
    await bob.send(conv, 'next').acked;
    await until(() => bobSeen.of(conv).length === 2, 'the SDK gets both');
    assert.deepEqual(bobSeen.of(conv).map((m) => m.seq), [1, 2]);
    assert.deepEqual(
        (await storedHistory(file.server, bob, conv)).map((m) => m.body), ['only once', 'next']);
  });

  test('a non-member subscription is refused, the session goes on', BOUNDED, async () => {
    const {conv} = await stompAndSdk();
    const outsider = client();
    const session = await signUp(outsider, 'outsider');
    const stomp = peer(session.token);
    await connectPeer(stomp);
    await subscribe(stomp, '/user/queue/errors');
    stomp.client.subscribe(`/topic/conversation.${conv}`, () => {
      assert.fail('a non-member got a message');
    });
    const refused = await waitMessage(stomp, '/user/queue/errors', (e) => e.code === 'forbidden');
    assert.match(refused.event.message, /not a member of conversation/);
    // Still connected: a subscription of its own is taken.
    await subscribe(stomp, '/user/queue/events');
    await waitMessage(stomp, '/user/queue/events', (e) => e.type === 'hello');
    assert.equal(stomp.closed, null);
  });

  test('a bad token: an ERROR frame with its message, then the close', BOUNDED, async () => {
    const stomp = peer('not-a-token');
    stomp.client.activate();
    await until(() => stomp.closed !== null, 'the close');
    assert.equal(stomp.connected, null);
    assert.equal(stomp.errors.length, 1);
    assert.equal(stomp.errors[0].message, 'invalid token');
  });

  test('heart-beats both ways keep an idle connection', {timeout: 30000}, async () => {
    const {alice} = await connectedPair(() => client());
    const stomp = peer(
        /** @type {string} */ (alice.session?.token),
        {heartbeatIncoming: 1000, heartbeatOutgoing: 1000});
    await connectPeer(stomp);
    assert.equal(stomp.connected?.['heart-beat'], '1000,1000');
    await sleep(4500);
    // stompjs drops a server silent for twice the interval; the server, a client silent as long.
    assert.equal(stomp.closed, null);
    assert.ok(stomp.heartbeats >= 3, `${stomp.heartbeats} heart-beats`);
    assert.ok(stomp.client.connected);
  });

  test('DISCONNECT: the RECEIPT after the sends before it, then the close', BOUNDED, async () => {
    const {bob, conv, stomp} = await stompAndSdk();
    await subscribe(stomp, '/user/queue/acks');
    for (const body of ['one', 'two', 'three']) {
      stomp.client.publish(
          {destination: '/app/chat.send', headers: {conversation: String(conv)}, body});
    }
    /** @type {Promise<import('@stomp/stompjs').IFrame>} */
    const disconnected = new Promise((resolve) => {
      stomp.client.onDisconnect = resolve;
    });
    await stomp.client.deactivate();
    const receipt = await disconnected;
    assert.equal(receipt.command, 'RECEIPT');
    // Every ack came first: all three are stored.
    assert.equal(stomp.messages.length, 3);
    await until(() => stomp.closed !== null, 'the close');
    assert.equal(stomp.closed?.code, 1000);
    assert.deepEqual(
        (await storedHistory(file.server, bob, conv)).map((m) => m.body), ['one', 'two', 'three']);
  });

  test('resume: chat.sync answers on /user/queue/events', BOUNDED, async () => {
    const {alice, bob, conv} = await connectedPair(() => client());
    for (const body of ['x1', 'x2', 'x3']) await bob.send(conv, body).acked;
    const stomp = peer(/** @type {string} */ (alice.session?.token));
    await connectPeer(stomp);
    await subscribe(stomp, '/user/queue/events');
    stomp.client.publish({destination: '/app/chat.sync', body: JSON.stringify({[conv]: 1})});
    const sync = await waitMessage(stomp, '/user/queue/events', (e) => e.type === 'sync');
    assert.deepEqual(
        sync.event.convs[0].messages.map((/** @type {{seq: number}} */ m) => m.seq), [2, 3]);
  });
});

after(async () => {
  for (const p of peers) await p.client.deactivate({force: true});
});
