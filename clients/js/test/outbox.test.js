// The outbox across a "page reload": a new client instance on the same storage (a file here,
// localStorage in a browser) takes back the session and the unacked sends, and sends each once.

import assert from 'node:assert/strict';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';

import {FileStorage} from '../src/file_storage.js';

import {BOUNDED, recordMessages, serverForFile, signUp, storedHistory, until, waitFor} from './helpers.js';

const fixture = serverForFile();
/** @type {string} */
let dir;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ringcast-sdk-storage-'));
});

after(() => {
  rmSync(dir, {recursive: true, force: true});
});

/**
 * The bodies of the outbox that `file` holds for `user`.
 * @param {string} file @param {number | null} user @returns {string[]}
 */
function storedBodies(file, user) {
  let content = {};
  try {
    content = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
  const raw = content[`ringcast:outbox:${user}`];
  return raw ? JSON.parse(raw).entries.map((/** @type {{body: string}} */ e) => e.body) : [];
}

/** @param {import('../src/storage.js').StorageLike} storage */
function client(storage) {
  return fixture.client({storage});
}

describe('outbox', () => {
  test('sends queued offline survive a reload and go out once', BOUNDED, async () => {
    const file = path.join(dir, 'reload.json');
    const bob = client(new FileStorage(path.join(dir, 'bob.json')));
    const bobSession = await signUp(bob, 'bob');
    bob.connect();
    await waitFor(bob, 'synced');
    const bobSeen = recordMessages(bob);

    // The first page: logged in, never connected (offline), two sends queued.
    const page1 = client(new FileStorage(file));
    await signUp(page1, 'alice');
    const conv = await page1.openDirect(bobSession.user_id);
    const queued = [page1.send(conv, 'r1'), page1.send(conv, 'r2')];
    await until(() => storedBodies(file, page1.userId).length === 2, 'the outbox written');
    page1.close();

    // The reload: a new instance, the same storage.
    const page2 = client(new FileStorage(file));
    const session = await page2.restoreSession();
    assert.equal(session?.user_id, page1.userId);
    assert.deepEqual(
        page2.outbox().map((e) => [e.cid, e.body, e.state]),
        queued.map((h) => [h.cid, h.body, 'pending']));
    const acked = new Map();
    page2.on('ack', (ack) => acked.set(ack.cid, ack));
    page2.connect();
    await until(() => acked.size === 2, 'both acked');
    assert.deepEqual(page2.outbox(), []);
    assert.equal(page2.stats.resends, 2);  // sent, as far as it knows, before the reload
    await until(() => storedBodies(file, page2.userId).length === 0, 'the outbox emptied on disk');
    await until(() => bobSeen.of(conv).length === 2, 'bob has both');
    assert.deepEqual(bobSeen.of(conv).map((m) => m.body), ['r1', 'r2']);
    assert.deepEqual(
        (await storedHistory(fixture.server, page2, conv)).map((m) => m.body), ['r1', 'r2']);
  });

  test('a reload that lost an ack: resent, the original ack, stored once', BOUNDED, async () => {
    const file = path.join(dir, 'lost-ack.json');
    const bob = client(new FileStorage(path.join(dir, 'bob2.json')));
    const bobSession = await signUp(bob, 'bob');
    // The file as it was when the send had been written and not yet removed: what a page
    // closed between the ack's arrival and the write of its removal leaves behind.
    let beforeAck = '';
    const storage = new FileStorage(file);
    const setItem = storage.setItem.bind(storage);
    storage.setItem = (key, value) => {
      setItem(key, value);
      if (!beforeAck && value.includes('once')) beforeAck = readFileSync(file, 'utf8');
    };
    const page1 = client(storage);
    await signUp(page1, 'alice');
    const conv = await page1.openDirect(bobSession.user_id);
    page1.connect();
    await waitFor(page1, 'synced');

    const handle = page1.send(conv, 'once');
    const ack = await handle.acked;
    page1.close();
    await until(() => storedBodies(file, page1.userId).length === 0, 'the removal written');
    writeFileSync(file, beforeAck);

    const page2 = client(new FileStorage(file));
    await page2.restoreSession();
    assert.deepEqual(page2.outbox().map((e) => e.cid), [handle.cid]);
    const resent = waitFor(page2, 'ack', (a) => a.cid === handle.cid);
    page2.connect();
    assert.deepEqual(await resent, ack);
    const stored = await storedHistory(fixture.server, page2, conv);
    assert.deepEqual(stored.map((m) => [m.body, m.id]), [['once', ack.id]]);
  });

  test('logout erases the stored session and outbox', BOUNDED, async () => {
    const file = path.join(dir, 'logout.json');
    const page = client(new FileStorage(file));
    await signUp(page, 'erin');
    page.send(1, 'never sent');  // conversation 1 may not be erin's: it never goes out anyway
    await until(() => storedBodies(file, page.userId).length === 1, 'the outbox written');
    assert.deepEqual(await page.logout(), {revoked: true});
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {});
    const next = client(new FileStorage(file));
    assert.equal(await next.restoreSession(), null);
  });
});
