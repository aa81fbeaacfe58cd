// Calls across cluster nodes (issue 26): calls.test.js's audio and video call, with the caller's
// page on one node and the callee's on another. Two nodes share one PostgreSQL database (a fresh
// one, dropped at the end), one Redis, the JWT secret and one throwaway coturn (coturn.js); each
// page loads the app from its own node. The media is relayed only, so it can flow only through
// coturn; the signalling crosses the nodes (docs/calls.md: notes on rc:all, requests on
// rc:node:<id>). Needs RINGCAST_TEST_DATABASE_URL (a role that may CREATE DATABASE) and
// RINGCAST_TEST_REDIS_URL, as `tools/pgtmp run -- tools/redistmp run -- npm run test:pg` sets
// them (ctest: browser_pg); skipped without them (`npm test`, ctest's browser).

import assert from 'node:assert/strict';
import {randomBytes} from 'node:crypto';
import {after, before, describe, test} from 'node:test';

import {allocatedFor, answer, MEDIA_FLAGS, mediaFlows, openChat, records, relayOnly, ring, shownDuration, storedCalls, waitForRecord} from './call_steps.js';
import {Coturn} from './coturn.js';
import {clusterSkip, launchBrowser, newUser, startClusterNodes, uniqueName} from './harness.js';

describe('calls across two cluster nodes', {skip: clusterSkip}, () => {
  const secret = randomBytes(16).toString('hex');
  /** @type {Coturn} */
  let coturn;
  /** @type {import('../../clients/js/test/server.js').RingcastServer[]} */
  let nodes = [];
  let dispose = async () => {};
  /** @type {import('playwright-core').Browser} */
  let browser;

  before(async () => {
    coturn = await Coturn.start(secret);
    ({nodes, dispose} = await startClusterNodes('calls', [
       '--turn-urls', coturn.url('udp'), '--turn-secret', secret, '--stun-urls', coturn.stunUrl
     ]));
    browser = await launchBrowser(MEDIA_FLAGS);
  });

  after(async () => {
    await browser?.close();
    await dispose();
    coturn?.stop();
  });

  /**
   * A call of `kind` from alice's page on node 1 or 2 (`from`) to bob's on the other node, his
   * accept, the media both ways through coturn, the hang-up by `hangsUp`, and the record with
   * its duration on both pages and in each node's history. A failure names the nodes' stderr.
   * @param {'audio' | 'video'} kind @param {0 | 1} from @param {'caller' | 'callee'} hangsUp
   */
  async function callAcross(kind, from, hangsUp) {
    const [alice, bob] = await Promise.all([
      newUser(browser, nodes[from], uniqueName('alice')).then(relayOnly),
      newUser(browser, nodes[1 - from], uniqueName('bob')).then(relayOnly),
    ]);
    try {
      // Each page and its chat WebSocket on its own node (the SDK connects to the page's origin).
      assert.equal(new URL(alice.page.url()).port, String(nodes[from].port));
      assert.equal(new URL(bob.page.url()).port, String(nodes[1 - from].port));
      const conv = await openChat(alice, bob);
      await ring(alice, kind, [bob]);
      assert.equal(await bob.page.textContent('#call-incoming-title'), alice.username);
      assert.equal(await bob.page.textContent('#call-incoming-kind'), `Incoming ${kind} call`);
      await answer(bob, [alice]);
      for (const page of [alice.page, bob.page]) await mediaFlows(page, kind);
      await allocatedFor(coturn, alice.userId);
      await allocatedFor(coturn, bob.userId);
      await alice.page.waitForTimeout(1000);
      await (hangsUp === 'caller' ? alice : bob).page.click('#call-hangup');
      const label = kind === 'audio' ? 'Audio' : 'Video';
      for (const page of [alice.page, bob.page]) {
        await page.waitForFunction(() => document.body.dataset.call === 'ended');
        await waitForRecord(page, new RegExp(`^${label} call, \\d+:\\d\\d$`));
      }
      // The record as each node serves it, and as each page shows it.
      for (const [user, node] of [[alice, nodes[from]], [bob, nodes[1 - from]]]) {
        const [record] = await storedCalls(node, user, conv);
        assert.equal(record?.from, alice.userId);
        assert.equal(record.body.outcome, 'completed');
        assert.equal(record.body.call_kind, kind);
        assert.ok(record.body.duration_ms >= 1000, String(record.body.duration_ms));
        assert.deepEqual([...record.body.participants].sort(), [alice.userId, bob.userId].sort());
        const shown = `${label} call, ${shownDuration(record.body.duration_ms)}`;
        assert.equal((await records(user.page)).at(-1), shown);
      }
      for (const u of [alice, bob]) assert.deepEqual(u.errors, []);
    } catch (error) {
      const stderr = nodes.map((n, i) => `node n${i + 1} stderr:\n${n.stderr()}`).join('\n');
      throw new Error(`${/** @type {Error} */ (error).message}\n${stderr}`, {cause: error});
    } finally {
      await Promise.all([alice, bob].map((u) => u.context.close()));
    }
  }

  test(
      'an audio call from node 1 to node 2 through coturn: audio both ways, the caller hangs ' +
          'up; the record on both pages and in both nodes\' history',
      {timeout: 90000}, () => callAcross('audio', 0, 'caller'));

  test(
      'a video call from node 2 to node 1 through coturn: video both ways, the callee hangs ' +
          'up; the record on both pages and in both nodes\' history',
      {timeout: 90000}, () => callAcross('video', 1, 'callee'));
});
