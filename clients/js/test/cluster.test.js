// Cluster mode: a node drained by SIGTERM sends each chat client
// {"type":"reconnect","after_ms":N} and closes it 1012; the SDK waits N ms from the hint, then
// reconnects through the load balancer to another node, resumes by sync and resends what was
// not acked. Two nodes share one PostgreSQL database and one Redis; a small TCP proxy in this
// file plays the load balancer (the first node that accepts). Needs RINGCAST_TEST_DATABASE_URL
// (a role that may CREATE DATABASE) and RINGCAST_TEST_REDIS_URL, as `tools/pgtmp run --
// tools/redistmp run -- npm test` sets them (ctest: sdk_js_cluster); skipped without them.

import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {connect, createServer} from 'node:net';
import {after, before, describe, test} from 'node:test';

import {connectedPair, newClient, recordMessages, storedHistory, until, waitFor} from './helpers.js';
import {RingcastServer} from './server.js';

const databaseUrl = process.env.RINGCAST_TEST_DATABASE_URL;
const redisUrl = process.env.RINGCAST_TEST_REDIS_URL;
const skip = !(databaseUrl && redisUrl) &&
    'needs RINGCAST_TEST_DATABASE_URL and RINGCAST_TEST_REDIS_URL (tools/pgtmp, redistmp)';

/**
 * A TCP proxy that sends each connection to the first backend accepting it, as a load balancer
 * with health checks would once a node has closed its listener.
 * @param {number[]} ports
 * @returns {Promise<import('node:net').Server>}
 */
function startProxy(ports) {
  const proxy = createServer((client) => {
    client.pause();
    const attempt = (/** @type {number} */ i) => {
      if (i >= ports.length) return client.destroy();
      const upstream = connect(ports[i], '127.0.0.1');
      upstream.once('error', () => attempt(i + 1));
      upstream.once('connect', () => {
        upstream.removeAllListeners('error');
        const end = () => {
          client.destroy();
          upstream.destroy();
        };
        upstream.on('error', end);
        client.on('error', end);
        upstream.on('close', end);
        client.on('close', end);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  return new Promise((resolve) => proxy.listen(0, '127.0.0.1', () => resolve(proxy)));
}

describe('cluster', {skip}, () => {
  const database = `rc_sdk_${process.pid}`;
  /** @type {URL} */
  let nodeDatabaseUrl;
  /** @type {RingcastServer[]} */
  const nodes = [];
  /** @type {import('node:net').Server} */
  let proxy;
  /** @type {Array<import('../src/index.js').RingcastClient>} */
  const clients = [];
  const psql = (/** @type {string} */ sql) =>
      execFileSync('psql', [String(databaseUrl), '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql]);

  before(async () => {
    psql(`CREATE DATABASE ${database} TEMPLATE template0`);
    nodeDatabaseUrl = new URL(String(databaseUrl));
    nodeDatabaseUrl.pathname = `/${database}`;
    // Keys of an earlier cluster (presence, registry) would be this one's: user ids restart
    // with every database.
    execFileSync('redis-cli', ['-u', String(redisUrl), 'FLUSHALL']);
    for (const id of ['n1', 'n2']) {
      const args = ['--database-url', nodeDatabaseUrl.href, '--redis', String(redisUrl)];
      args.push('--node-id', id, '--jwt-secret', 'sdk-cluster-test-secret-0123456789abcdef');
      args.push('--reconnect-jitter-ms', '400');
      nodes.push(await new RingcastServer({threads: 1, args}).start());
    }
    proxy = await startProxy(nodes.map((node) => /** @type {number} */ (node.port)));
  });

  after(async () => {
    for (const client of clients) client.close();
    proxy?.close();
    for (const node of nodes) await node.dispose();
    if (databaseUrl) psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  });

  test('a drained node: hint waited out, another node takes over', {timeout: 60000}, async () => {
    const address = /** @type {import('node:net').AddressInfo} */ (proxy.address());
    const balanced = {baseUrl: `http://127.0.0.1:${address.port}`};
    const {alice, bob, conv} = await connectedPair(() => {
      const c = newClient(balanced);
      clients.push(c);
      return c;
    });
    const bobSeen = recordMessages(bob);
    const bodies = Array.from({length: 13}, (_, i) => `m${i + 1}`);
    await Promise.all(bodies.slice(0, 3).map((b) => alice.send(conv, b).acked));

    // When each client got the hint, and when it next tried to connect.
    /** @type {Array<{after_ms: number, at: number, next?: number}>} */
    const hints = [];
    for (const client of [alice, bob]) {
      /** @type {{after_ms: number, at: number, next?: number} | undefined} */
      let mine;
      client.on('reconnect_hint', ({after_ms}) => {
        mine = {after_ms, at: Date.now()};
        hints.push(mine);
      });
      client.on('state', ({state}) => {
        if (state === 'connecting' && mine && mine.next === undefined) mine.next = Date.now();
      });
    }

    const handles = bodies.slice(3).map((b) => alice.send(conv, b));
    const drained = nodes[0].stop('SIGTERM');
    const back =
        [waitFor(alice, 'synced', () => true, 20000), waitFor(bob, 'synced', () => true, 20000)];
    assert.equal(await drained, 0);
    await Promise.all(back);
    await Promise.all(handles.map((h) => h.acked));

    assert.equal(hints.length, 2);
    for (const hint of hints) {
      assert.ok(hint.after_ms >= 0 && hint.after_ms <= 400, `after_ms ${hint.after_ms}`);
      assert.ok(
          hint.next !== undefined && hint.next - hint.at >= hint.after_ms - 5,
          `reconnected ${(hint.next ?? 0) - hint.at} ms after a hint of ${hint.after_ms} ms`);
    }
    await until(() => bobSeen.of(conv).length === 13, 'bob has the 13 messages');
    assert.deepEqual(bobSeen.of(conv).map((m) => m.body), bodies);
    assert.deepEqual(bobSeen.violations, []);
    const stored = await storedHistory(balanced, alice, conv);
    assert.deepEqual(stored.map((m) => m.body), bodies);
  });
});
