// The SDK's session against the real server (issue 23): access tokens renewed before they
// expire, on the open connection, so one connection outlives many of them; and a stored outbox
// bound to the server's database and the account, so a database reset (the same user id,
// someone else) never receives what was queued for the old one.

import assert from 'node:assert/strict';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';

import {FileStorage} from '../src/file_storage.js';
import {MemoryStorage} from '../src/index.js';

import {BOUNDED, connectedPair, newClient, PASSWORD, signUp, sleep, storedHistory, uniqueName, until, waitFor} from './helpers.js';
import {RingcastServer} from './server.js';

/** @type {string} */
let dir;
/** @type {Array<import('../src/index.js').RingcastClient>} */
const clients = [];
/** @type {RingcastServer[]} */
const servers = [];

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ringcast-sdk-session-'));
});

after(async () => {
  for (const client of clients) client.close();
  for (const server of servers) await server.dispose();
  rmSync(dir, {recursive: true, force: true});
});

/** @param {string[]} args */
async function startServer(args) {
  const server = new RingcastServer({args});
  servers.push(server);
  return server.start();
}

/**
 * @param {RingcastServer} server
 * @param {import('../src/client.js').ClientOptions} [options]
 */
function client(server, options) {
  const c = newClient(server, options);
  clients.push(c);
  return c;
}

describe('session', () => {
  test('tokens renewed before expiry: one connection outlives several ttls', BOUNDED, async () => {
    const server = await startServer(['--token-ttl', '2', '--token-refresh-notice', '1']);
    const {alice, bob, conv} = await connectedPair(() => client(server));
    const firstToken = alice.session?.token;
    const connections = alice.stats.connections;
    /** @type {unknown[]} */
    const trouble = [];
    alice.on('state', (change) => trouble.push(change));
    alice.on('auth_expired', (event) => trouble.push(event));

    await sleep(5000);  // two and a half access tokens' lives
    assert.notEqual(alice.session?.token, firstToken);
    assert.deepEqual(trouble, []);  // never closed (4001), never asked to log in
    assert.equal(alice.stats.connections, connections);
    assert.equal(alice.state, 'connected');
    const seen = waitFor(bob, 'message', (m) => m.body === 'after two ttls');
    await alice.send(conv, 'after two ttls').acked;
    await seen;
  });

  test('two tabs on one stored session renew it in turn, neither logged out', BOUNDED, async () => {
    const server = await startServer(['--token-ttl', '2', '--token-refresh-notice', '1']);
    const storage = new MemoryStorage();
    const tab1 = client(server, {storage});
    await signUp(tab1, 'tabs');
    const tab2 = client(server, {storage});
    assert.ok(await tab2.restoreSession());
    /** @type {unknown[]} */
    const trouble = [];
    for (const tab of [tab1, tab2]) {
      tab.on('auth_expired', (event) => trouble.push(event));
      tab.connect();
      await waitFor(tab, 'synced');
    }
    const firstToken = tab1.session?.token;
    await sleep(5000);  // both refresh at the same moments: same expiry, same token_expiring
    assert.deepEqual(trouble, []);
    assert.deepEqual([tab1.state, tab2.state], ['connected', 'connected']);
    assert.notEqual(tab1.session?.token, firstToken);
    await tab2.conversations();  // its token still works
  });

  test(
      'a logout with an expired access token still revokes the refresh token', BOUNDED,
      async () => {
        const server = await startServer(['--token-ttl', '2']);
        /** @type {string[]} every refresh token the server handed out */
        const issued = [];
        /** @type {typeof fetch} */
        const recording = async (url, init) => {
          const response = await fetch(url, init);
          if (String(url).endsWith('/api/token/refresh') && response.status === 200) {
            issued.push((await response.clone().json()).refresh_token);
          }
          return response;
        };
        const alice = client(server, {fetch: recording});
        issued.push(/** @type {string} */ ((await signUp(alice, 'alice')).refresh_token));
        // A tab that slept through its refresh: the timer never ran, the access token expired.
        clearTimeout(/** @type {any} */ (alice)._refreshTimer);
        await sleep(Math.max(0, (alice.session?.expires_at ?? 0) - Date.now()) + 200);
        await alice.logout();
        await sleep(300);  // whatever a refused call set off
        // Newest first: trying a used one first would revoke the rest (a reuse), proving nothing.
        for (const token of [...issued].reverse()) {
          const response = await fetch(`${server.baseUrl}/api/token/refresh`, {
            method: 'POST',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({refresh_token: token}),
          });
          assert.equal(response.status, 401, `refresh token #${issued.indexOf(token)} still works`);
        }
      });

  test('a stored outbox is not sent to the same user id on a reset database', BOUNDED, async () => {
    // One signing secret for both databases: the old token still verifies after the reset,
    // the worst case (a new secret refuses it, and the next login meets the check below).
    const secret = ['--jwt-secret', 'sdk-tests-secret-0123456789abcdef0123456789'];
    const server = await startServer(secret);
    const file = path.join(dir, 'reset.json');
    const alice = client(server, {storage: new FileStorage(file)});
    const aliceName = uniqueName('alice');
    await alice.register(aliceName, PASSWORD);
    const session = await alice.login(aliceName, PASSWORD);
    const bob = client(server);
    const bobSession = await signUp(bob, 'bob');
    const conv = await alice.openDirect(bobSession.user_id);
    alice.send(conv, 'for bob only');  // offline: stored, never sent
    await until(() => alice.outbox().length === 1, 'the send queued');
    await sleep(200);  // the write to the file
    alice.close();

    // The reset: a new database at the same address, where someone else gets alice's id and
    // the same conversation id, with carol.
    await server.stop();
    server.dataDir = path.join(server.dir, 'data-after-reset');
    await server.start();
    const mallory = client(server);
    const mallorySession = await signUp(mallory, 'mallory');
    assert.equal(mallorySession.user_id, session.user_id);
    const carol = client(server);
    const carolSession = await signUp(carol, 'carol');
    assert.equal(await mallory.openDirect(carolSession.user_id), conv);

    // A reload of alice's page: the old session and its outbox come back.
    const page = client(server, {storage: new FileStorage(file)});
    assert.equal((await page.restoreSession())?.user_id, session.user_id);
    const rejected = waitFor(page, 'outbox_rejected');
    const expired = waitFor(page, 'auth_expired');
    page.connect();
    const event = await rejected;
    assert.deepEqual(event.entries.map((e) => e.body), ['for bob only']);
    assert.match((await expired).reason, /database changed/);
    assert.deepEqual(page.outbox(), []);
    await sleep(300);
    assert.deepEqual(await storedHistory(server, mallory, conv), []);

    // Nothing of it comes back with a login on the new database either.
    const page2 = client(server, {storage: new FileStorage(file)});
    await page2.register(aliceName, PASSWORD);
    await page2.login(aliceName, PASSWORD);
    assert.deepEqual(page2.outbox(), []);
  });
});
