// STOMP in Chromium across two cluster nodes (one PostgreSQL database, one Redis): a page on node
// 1 running @stomp/stompjs (stomp_page.js) and the web app on node 2 in one 1:1 get each other's
// messages with the same seqs, the STOMP client's RECEIPT after the commit, and its read receipt
// turns the app's tick to seen. Needs RINGCAST_TEST_DATABASE_URL and RINGCAST_TEST_REDIS_URL
// (`tools/pgtmp run -- tools/redistmp run`, as `npm run test:pg` runs under ctest's
// `browser_pg`); skipped without them.

import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';

import {clusterSkip, launchBrowser, newUser, PASSWORD, send, startClusterNodes, storedBodies, uniqueName, waitForBubbles, waitForTick} from './harness.js';
import {stompPage, until} from './stomp_page.js';

/** POST `path` on `node` with a JSON body; the JSON answer. */
async function post(node, path, body, token) {
  const headers = {'Content-Type': 'application/json'};
  if (token) headers.Authorization = `Bearer ${token}`;
  const response =
      await fetch(`${node.baseUrl}${path}`, {method: 'POST', headers, body: JSON.stringify(body)});
  return response.json();
}

describe('STOMP across two cluster nodes', {skip: clusterSkip}, () => {
  /** @type {import('../../clients/js/test/server.js').RingcastServer[]} */
  let nodes = [];
  let dispose = async () => {};
  /** @type {import('playwright-core').Browser} */
  let browser;

  before(async () => {
    ({nodes, dispose} = await startClusterNodes('stomp'));
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await dispose();
  });

  test('stompjs on node 1, the web app on node 2', {timeout: 60000}, async () => {
    const bob = await newUser(browser, nodes[1], uniqueName('bob'));
    const alice = uniqueName('alice');
    await post(nodes[0], '/api/register', {username: alice, password: PASSWORD});
    const {token} = await post(nodes[0], '/api/login', {username: alice, password: PASSWORD});
    const {id: conv} = await post(nodes[0], '/api/conversations', {members: [bob.userId]}, token);
    const stomp = await stompPage(browser, nodes[0]);
    try {
      const {page} = stomp;
      await page.evaluate((t) => window.peer('alice', t), token);
      await until(page, 'alice', (r) => r.connected !== null);
      await page.evaluate(async (c) => {
        await window.peers.alice.subscribe(`/topic/conversation.${c}`);
        await window.peers.alice.subscribe('/user/queue/acks');
      }, conv);

      await page.evaluate(
          (c) => window.peers.alice.publish(
              '/app/chat.send', {conversation: String(c), cid: 'n1-1', receipt: 'r1'},
              'from node 1'),
          conv);
      await bob.page.locator(`[data-conv="${conv}"]`).click();
      await waitForBubbles(bob.page, ['from node 1']);
      await send(bob.page, 'from node 2');
      await until(page, 'alice', (r) => r.messages.some((m) => m.event.seq === 2));
      const seen = await page.evaluate(
          () => window.peers.alice.messages.filter((m) => m.event.type === 'message')
                    .map((m) => [m.event.seq, m.event.body]));
      assert.deepEqual(seen, [[1, 'from node 1'], [2, 'from node 2']]);
      const acks = await page.evaluate(
          () => window.peers.alice.messages.filter((m) => m.destination === '/user/queue/acks')
                    .map((m) => [m.event.cid, m.event.seq]));
      assert.deepEqual(acks, [['n1-1', 1]]);

      await page.evaluate(
          (c) => window.peers.alice.publish(
              '/app/chat.read', {conversation: String(c), seq: '2', receipt: 'read'}),
          conv);
      await waitForTick(bob.page, 'from node 2', 'seen');
      assert.deepEqual(await storedBodies(nodes[1], bob, conv), ['from node 1', 'from node 2']);
      assert.deepEqual([...stomp.errors, ...bob.errors], []);
    } finally {
      await stomp.context.close();
      await bob.context.close();
    }
  });
});
