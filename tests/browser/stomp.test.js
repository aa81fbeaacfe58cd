// STOMP in Chromium (proto/PROTOCOL.md, "STOMP 1.2 over WebSocket"): a page that loads
// @stomp/stompjs's browser bundle talks to ringcast over the browser's own WebSocket (which
// offers v10/v11/v12.stomp and fails unless the server answers one), the token in CONNECT as a
// browser must, next to the web app (JSON over /ws) in the same conversation: the same seqs
// both ways, the RECEIPT after the commit, a read receipt turning the app's tick to seen, a
// resend by cid stored once, a non-member subscription refused, a bad token's ERROR, heart-beats
// both ways, DISCONNECT's RECEIPT.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';
import {browser, server} from './harness.js';
import {stompPage, until} from './stomp_page.js';

h.serveThisFile(['--stomp-heartbeat-ms', '1000']);

test('stompjs in Chromium next to the web app', async () => {
  await h.withOpenChat('from the app', async ({alice, bob, conv}) => {
    const stomp = await stompPage(browser, server);
    try {
      const {page} = stomp;
      await page.evaluate((token) => window.peer('alice', token), await alice.token());
      await until(page, 'alice', (r) => r.connected !== null);
      assert.equal(await page.evaluate(() => window.peers.alice.protocol()), 'v12.stomp');
      const topic = `/topic/conversation.${conv}`;
      await page.evaluate(async (destinations) => {
        for (const d of destinations) await window.peers.alice.subscribe(d);
      }, [topic, '/user/queue/acks', '/user/queue/errors']);

      // A SEND with a receipt: the RECEIPT once committed, the web app shows it.
      await page.evaluate(
          (c) => window.peers.alice.publish(
              '/app/chat.send', {conversation: String(c), cid: 'b-1', receipt: 'r-1'},
              'from stomp'),
          conv);
      assert.deepEqual(await h.storedBodies(server, alice, conv), ['from the app', 'from stomp']);
      await h.waitForBubbles(bob.page, ['from the app', 'from stomp']);
      await until(
          page, 'alice',
          (r, c) => r.messages.some(
              (m) => m.destination === `/topic/conversation.${c}` && m.event.seq === 2),
          conv);
      const ack = await page.evaluate(
          () => window.peers.alice.messages.find((m) => m.destination === '/user/queue/acks'));
      assert.deepEqual([ack.event.cid, ack.event.seq], ['b-1', 2]);

      // The app's message reaches the STOMP page with its seq; a read from STOMP turns the
      // app's tick to seen.
      await h.send(bob.page, 'from the app to stomp');
      await until(page, 'alice', (r) => r.messages.some((m) => m.event.seq === 3));
      const third = await page.evaluate(
          () => window.peers.alice.messages.find((m) => m.event.seq === 3).event);
      assert.deepEqual(
          [third.type, third.from, third.body], ['message', bob.userId, 'from the app to stomp']);
      await page.evaluate(
          (c) => window.peers.alice.publish(
              '/app/chat.read', {conversation: String(c), seq: '3', receipt: 'read-3'}),
          conv);
      await h.waitForTick(bob.page, 'from the app to stomp', 'seen');

      // The same cid again: the same ack, nothing stored twice.
      await page.evaluate(
          (c) => window.peers.alice.publish(
              '/app/chat.send', {conversation: String(c), cid: 'b-1', receipt: 'r-2'},
              'from stomp'),
          conv);
      const acks = await page.evaluate(
          () => window.peers.alice.messages.filter((m) => m.destination === '/user/queue/acks')
                    .map((m) => [m.event.cid, m.event.seq]));
      assert.deepEqual(acks, [['b-1', 2], ['b-1', 2]]);
      assert.deepEqual(
          await h.storedBodies(server, alice, conv),
          ['from the app', 'from stomp', 'from the app to stomp']);

      // Another conversation's topic: refused on the errors queue, the session goes on.
      await page.evaluate((c) => {
        window.peers.alice.client.subscribe(`/topic/conversation.${c + 1000}`, () => {});
      }, conv);
      await until(
          page, 'alice',
          (r) => r.messages.some(
              (m) => m.destination === '/user/queue/errors' && m.event.code === 'forbidden'));
      assert.equal(await page.evaluate(() => window.peers.alice.closed), null);

      // A bad token: ERROR with its message, then the close.
      await page.evaluate(() => window.peer('bad', 'not-a-token'));
      await until(page, 'bad', (r) => r.closed !== null);
      assert.deepEqual(await page.evaluate(() => window.peers.bad.errors), ['invalid token']);

      // Heart-beats both ways: an idle connection stays (stompjs drops a silent server).
      await page.evaluate(
          (token) =>
              window.peer('beats', token, {heartbeatIncoming: 1000, heartbeatOutgoing: 1000}),
          await alice.token());
      await until(page, 'beats', (r) => r.connected !== null);
      assert.equal(
          await page.evaluate(() => window.peers.beats.connected['heart-beat']), '1000,1000');
      await until(page, 'beats', (r) => r.heartbeats >= 3);
      assert.equal(await page.evaluate(() => window.peers.beats.closed), null);

      // DISCONNECT: its RECEIPT, then a normal close.
      const receipt = await page.evaluate(() => new Promise((resolve) => {
                                            window.peers.alice.client.onDisconnect = (frame) =>
                                                resolve(frame.command);
                                            window.peers.alice.client.deactivate();
                                          }));
      assert.equal(receipt, 'RECEIPT');
      await until(page, 'alice', (r) => r.closed !== null);
      assert.equal(await page.evaluate(() => window.peers.alice.closed.code), 1000);
      assert.deepEqual(stomp.errors, []);
      assert.deepEqual([...alice.errors, ...bob.errors], []);
    } finally {
      await stomp.context.close();
    }
  });
});
