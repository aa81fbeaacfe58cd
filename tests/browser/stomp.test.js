// STOMP in Chromium (proto/PROTOCOL.md, "Transports: STOMP"): a page that loads
// @stomp/stompjs's browser bundle talks to ringcast over the browser's own WebSocket (which
// offers v10/v11/v12.stomp and fails unless the server answers one), the token in CONNECT as a
// browser must, next to the web app (JSON over /ws) in the same conversation: the same seqs
// both ways, the RECEIPT after the commit, a read receipt turning the app's tick to seen, a
// resend by cid stored once, a non-member subscription refused, a bad token's ERROR, heart-beats
// both ways, DISCONNECT's RECEIPT.

import assert from 'node:assert/strict';
import {createRequire} from 'node:module';
import {test} from 'node:test';

import * as h from './harness.js';
import {browser, server} from './harness.js';

h.serveThisFile(['--stomp-heartbeat-ms', '1000']);

// The package's browser (UMD) bundle, what `require` resolves to: it defines window.StompJs.
const bundle = createRequire(import.meta.url).resolve('@stomp/stompjs');

/**
 * A page of the server's origin with stompjs loaded (window.StompJs) and `window.peer(name,
 * token, config)`: a client that records what it receives (window.peers[name]).
 */
async function stompPage() {
  const context = await browser.newContext({baseURL: server.baseUrl});
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.setDefaultTimeout(h.WAIT_MS);
  // A page the server serves (the app's sign-in screen, left alone): Chromium lets a page
  // reach a loopback address only when the page itself comes from one (Local Network Access).
  await page.goto('/');
  await page.addScriptTag({path: bundle});
  await page.evaluate(() => {
    window.peers = {};
    window.peer = (name, token, config = {}) => {
      const record =
          {messages: [], receipts: [], errors: [], heartbeats: 0, connected: null, closed: null};
      const client = new StompJs.Client({
        brokerURL: `ws://${location.host}/stomp`,
        connectHeaders: {passcode: token},
        reconnectDelay: 0,
        heartbeatIncoming: 0,
        heartbeatOutgoing: 0,
        ...config,
      });
      client.onConnect = (frame) => {
        record.connected = frame.headers;
      };
      client.onStompError = (frame) => record.errors.push(frame.headers.message);
      client.onHeartbeatReceived = () => {
        record.heartbeats += 1;
      };
      client.onWebSocketClose = (event) => {
        record.closed = {code: event.code};
      };
      record.client = client;
      record.protocol = () => client.webSocket?.protocol;
      record.subscribe = (destination) => new Promise((resolve) => {
        const receipt = `sub-${destination}`;
        client.watchForReceipt(receipt, () => resolve());
        client.subscribe(destination, (message) => {
          record.messages.push(
              {destination, headers: message.headers, event: JSON.parse(message.body)});
        }, {receipt});
      });
      record.publish = (destination, headers, body = '') => new Promise((resolve) => {
        if (headers.receipt) {
          client.watchForReceipt(headers.receipt, () => {
            record.receipts.push(headers.receipt);
            resolve();
          });
        }
        client.publish({destination, headers, body});
        if (!headers.receipt) resolve();
      });
      window.peers[name] = record;
      client.activate();
    };
  });
  return {context, page, errors};
}

/** Waits until `predicate(record)` holds for the page's peer `name`. */
function until(page, name, predicate, arg) {
  return page.waitForFunction(([peerName, source, value]) => {
    const record = window.peers[peerName];
    return record && new Function('r', 'arg', `return (${source})(r, arg)`)(record, value);
  }, [name, predicate.toString(), arg]);
}

test('stompjs in Chromium next to the web app', async () => {
  await h.withOpenChat('from the app', async ({alice, bob, conv}) => {
    const stomp = await stompPage();
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
