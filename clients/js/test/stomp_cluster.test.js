// STOMP across two cluster nodes (one PostgreSQL database, one Redis): @stomp/stompjs on node 1
// and the SDK on node 2 in one conversation get the same seqs both ways, and a read receipt
// sent over STOMP reaches the SDK on the other node. Needs RINGCAST_TEST_DATABASE_URL and
// RINGCAST_TEST_REDIS_URL, as `tools/pgtmp run -- tools/redistmp run -- npm run test:cluster`
// sets them (ctest: sdk_js_cluster); skipped without them.

import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {after, before, describe, test} from 'node:test';

import {newClient, recordMessages, signUp, until, waitFor} from './helpers.js';
import {RingcastServer} from './server.js';
import {connectPeer, stompPeer, subscribe, waitMessage, waitReceipt} from './stomp_helpers.js';

const databaseUrl = process.env.RINGCAST_TEST_DATABASE_URL;
const redisUrl = process.env.RINGCAST_TEST_REDIS_URL;
const skip = !(databaseUrl && redisUrl) &&
    'needs RINGCAST_TEST_DATABASE_URL and RINGCAST_TEST_REDIS_URL (tools/pgtmp, redistmp)';

describe('stomp across two nodes', {skip}, () => {
  const database = `rc_sdk_stomp_${process.pid}`;
  /** @type {RingcastServer[]} */
  const nodes = [];
  /** @type {Array<import('../src/index.js').RingcastClient>} */
  const clients = [];
  /** @type {Array<import('./stomp_helpers.js').StompPeer>} */
  const peers = [];
  const psql = (/** @type {string} */ sql) =>
      execFileSync('psql', [String(databaseUrl), '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql]);

  before(async () => {
    psql(`CREATE DATABASE ${database} TEMPLATE template0`);
    const nodeDatabaseUrl = new URL(String(databaseUrl));
    nodeDatabaseUrl.pathname = `/${database}`;
    // Keys of an earlier cluster (presence, registry) would be this one's: user ids restart
    // with every database.
    execFileSync('redis-cli', ['-u', String(redisUrl), 'FLUSHALL']);
    for (const id of ['s1', 's2']) {
      const args = ['--database-url', nodeDatabaseUrl.href, '--redis', String(redisUrl)];
      args.push('--node-id', id, '--jwt-secret', 'sdk-cluster-test-secret-0123456789abcdef');
      nodes.push(await new RingcastServer({threads: 1, args}).start());
    }
  });

  after(async () => {
    for (const peer of peers) await peer.client.deactivate({force: true});
    for (const client of clients) client.close();
    for (const node of nodes) await node.dispose();
    if (databaseUrl) psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  });

  test('stompjs on node 1, the SDK on node 2', {timeout: 60000}, async () => {
    const alice = newClient(nodes[0]);
    const bob = newClient(nodes[1]);
    clients.push(alice, bob);
    await signUp(alice, 'alice');
    const bobSession = await signUp(bob, 'bob');
    const conv = await alice.openDirect(bobSession.user_id);
    const synced = waitFor(bob, 'synced');
    bob.connect();
    await synced;
    const bobSeen = recordMessages(bob);

    const stomp = stompPeer(
        /** @type {number} */ (nodes[0].port),
        /** @type {string} */ (alice.session?.token));
    peers.push(stomp);
    await connectPeer(stomp);
    const topic = `/topic/conversation.${conv}`;
    await subscribe(stomp, topic);
    await subscribe(stomp, '/user/queue/acks');

    for (let i = 0; i < 4; i++) {
      const receipt = waitReceipt(stomp, `r${i}`);
      stomp.client.publish({
        destination: '/app/chat.send',
        headers: {conversation: String(conv), cid: `s${i}`, receipt: `r${i}`},
        body: `stomp ${i}`,
      });
      await receipt;
      const ack = await bob.send(conv, `sdk ${i}`).acked;
      assert.equal(ack.seq, 2 * i + 2);
    }
    await until(() => bobSeen.of(conv).length === 8, 'node 2 gets all eight');
    const isMessage = (/** @type {any} */ e) => e.type === 'message';
    await until(
        () => stomp.messages.filter((m) => m.destination === topic && isMessage(m.event)).length ===
            8,
        'node 1 gets all eight');
    const stompSeqs = stomp.messages.filter((m) => m.destination === topic && isMessage(m.event))
                          .map((m) => [m.event.seq, m.event.body]);
    assert.deepEqual(stompSeqs, bobSeen.of(conv).map((m) => [m.seq, m.body]));
    assert.deepEqual(stompSeqs.map(([seq]) => seq), [1, 2, 3, 4, 5, 6, 7, 8]);
    const acks = stomp.messages.filter((m) => m.destination === '/user/queue/acks');
    assert.deepEqual(
        acks.map((m) => [m.event.cid, m.event.seq]), [['s0', 1], ['s1', 3], ['s2', 5], ['s3', 7]]);

    const read = waitFor(bob, 'receipt', (r) => r.user === alice.userId && r.read === 8);
    stomp.client.publish(
        {destination: '/app/chat.read', headers: {conversation: String(conv), seq: '8'}});
    await read;
    bob.typing(conv);
    await waitMessage(stomp, topic, (e) => e.type === 'typing' && e.user === bob.userId);
  });
});
