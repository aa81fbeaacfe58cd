// The SDK against the real server: accounts, a conversation between two clients, receipts,
// history paging, the typing throttle, token expiry and revocation.

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {MemoryStorage} from '../src/index.js';

import {BOUNDED, newClient, recordMessages, serverForFile, signUp, sleep, until, waitFor} from './helpers.js';
import {RingcastServer} from './server.js';

const {client, pair} = serverForFile();

describe('chat', () => {
  test('two clients: send, receive, acks and receipts', BOUNDED, async () => {
    const {alice, bob, conv} = await pair();
    const bobSeen = recordMessages(bob);
    const aliceSeen = recordMessages(alice);
    const delivered = waitFor(alice, 'receipt', (r) => r.user === bob.userId && r.delivered === 1);

    const handle = alice.send(conv, 'hello bob');
    assert.equal(alice.outbox().length, 1);
    const ack = await handle.acked;
    assert.equal(ack.cid, handle.cid);
    assert.equal(ack.seq, 1);
    assert.equal(alice.outbox().length, 0);
    await until(() => bobSeen.of(conv).length === 1, 'bob receives the message');
    const got = bobSeen.of(conv)[0];
    assert.deepEqual(
        {body: got.body, from: got.from, seq: got.seq, id: got.id, kind: got.kind},
        {body: 'hello bob', from: alice.userId, seq: 1, id: ack.id, kind: 'text'});
    // The sender gets its own message too, once.
    await until(() => aliceSeen.of(conv).length === 1, 'alice receives her own message');

    // autoDelivered: bob's client acknowledged delivery; markRead moves read.
    await delivered;
    const read = waitFor(alice, 'receipt', (r) => r.user === bob.userId && r.read === 1);
    bob.markRead(conv, 1);
    await read;

    bob.send(conv, 'hi alice', {kind: 'text'});
    await until(() => aliceSeen.of(conv).length === 2, 'alice receives the answer');
    assert.equal(aliceSeen.of(conv)[1].body, 'hi alice');
    assert.deepEqual([...aliceSeen.violations, ...bobSeen.violations], []);
  });

  test('mentions and mute over HTTP', BOUNDED, async () => {
    const {alice, bob, conv} = await pair();
    const [me] = await bob.users([bob.userId ?? 0]);
    const ack = await alice.send(conv, `look @${me.username}`).acked;
    await alice.send(conv, 'no mention').acked;
    const page = await bob.mentions({limit: 5});
    assert.deepEqual(page.mentions.map((m) => m.id), [ack.id]);
    assert.equal(page.more, false);
    assert.equal((await alice.mentions()).mentions.length, 0);
    const listed = async () => (await bob.conversations()).find((c) => c.id === conv);
    assert.equal((await listed())?.unread_mentions, 1);

    assert.deepEqual(await bob.mute(conv), {muted_until: 'forever'});
    assert.equal((await listed())?.muted_until, 'forever');
    const until = Date.now() + 3600_000;
    assert.deepEqual(await bob.mute(conv, until), {muted_until: until});
    await bob.unmute(conv);
    assert.equal((await listed())?.muted_until, null);
  });

  test('conversations over HTTP: list, groups, members events', BOUNDED, async () => {
    const {alice, bob, conv} = await pair();
    const carol = client();
    const carolSession = await signUp(carol, 'carol');
    carol.connect();
    await waitFor(carol, 'synced');

    // The same 1:1 again: the existing one.
    assert.deepEqual(
        await alice.createConversation({members: [bob.userId ?? 0], group: false}),
        {id: conv, created: false});
    const membersEvent = waitFor(carol, 'members', (e) => e.name === 'trio');
    const group = await alice.createGroup('trio', [bob.userId ?? 0, carolSession.user_id]);
    const event = await membersEvent;
    assert.equal(event.conv, group);
    assert.deepEqual([...event.members].sort(), [alice.userId, bob.userId, carol.userId].sort());

    // A conversation that appears while connected is delivered from its first message.
    const carolSeen = recordMessages(carol);
    await alice.send(group, 'welcome').acked;
    await until(() => carolSeen.of(group).length === 1, 'carol receives the group message');

    // Finding each other by name, as the app does before opening a conversation.
    const carolName = carolSession.username ?? '';
    const found = await alice.searchUsers(carolName.slice(0, -1).toUpperCase(), 50);
    assert.ok(found.some((u) => u.id === carolSession.user_id && u.username === carolName),
              JSON.stringify(found));
    // A display name's words may hold spaces; past 64 bytes the server refuses the query.
    await assert.rejects(carol.searchUsers('x'.repeat(65)), (error) => error.status === 400);

    // Naming members known only by id, as the app does for a conversation's members.
    const aliceId = alice.session?.user_id ?? 0;
    const named = await carol.users([carolSession.user_id, aliceId, carolSession.user_id, 1e12]);
    assert.deepEqual(named.map(({id, username}) => ({id, username})),
                     [{id: aliceId, username: alice.session?.username},
                      {id: carolSession.user_id, username: carolName}]
                         .sort((a, b) => a.id - b.id));
    assert.ok(named.every((u) => u.display_name === null && u.avatar === null), JSON.stringify(named));
    assert.deepEqual(await carol.users([]), []);
    // Past the server's 100 ids per request: asked in pages, answered as one list.
    const many = Array.from({length: 150}, (_, i) => i + 1);
    const everyone = await carol.users(many);
    assert.ok(everyone.some((u) => u.id === aliceId), JSON.stringify(everyone));
    assert.deepEqual(everyone.map((u) => u.id), [...everyone.map((u) => u.id)].sort((a, b) => a - b));
    await assert.rejects(carol.users([0]), (error) => error.status === 400);

    const list = await carol.conversations();
    const entry = list.find((c) => c.id === group);
    assert.ok(entry);
    assert.equal(entry.name, 'trio');
    assert.equal(entry.last_seq, 1);

    const left = (/** @type {import('../src/types.js').Members} */ e) =>
        e.conv === group && !e.members.includes(carolSession.user_id);
    const removed = waitFor(carol, 'members', left);
    await carol.removeMember(group, carolSession.user_id);
    await removed;
  });

  test('history pages backwards over the WebSocket and over HTTP', BOUNDED, async () => {
    const {alice, bob, conv} = await pair();
    const acks = [];
    for (let i = 1; i <= 12; i++) acks.push(alice.send(conv, `m${i}`).acked);
    await Promise.all(acks);

    const pager = bob.historyPager(conv, {limit: 5});
    const pages = [];
    for (let page = await pager.next(); page; page = await pager.next()) pages.push(page);
    assert.deepEqual(
        pages.map((p) => p.messages.map((m) => m.seq)),
        [[12, 11, 10, 9, 8], [7, 6, 5, 4, 3], [2, 1]]);
    assert.deepEqual(pages.map((p) => p.more), [true, true, false]);

    // Disconnected: the same pages come over HTTP.
    bob.close();
    const page = await bob.history(conv, {before: 8, limit: 5});
    assert.deepEqual(page.messages.map((m) => m.body), ['m7', 'm6', 'm5', 'm4', 'm3']);
    assert.equal(page.more, true);
  });

  test(
      'a history read names the newest seq the client has seen or was acked', BOUNDED, async () => {
        /** @type {string[]} */
        const urls = [];
        /** @type {typeof fetch} */
        const recording = (url, init) => {
          urls.push(String(url));
          return fetch(url, init);
        };
        const {alice, bob, conv} = await pair({fetch: recording});
        await alice.send(conv, 'one').acked;
        const ack = await alice.send(conv, 'two').acked;
        alice.close();
        bob.close();
        // alice was acked (and received) seq 2: her HTTP page names it.
        const asked = (/** @type {string} */ url) => new URL(url).searchParams.get('seen');
        urls.length = 0;
        const page = await alice.history(conv);
        assert.deepEqual(page.messages.map((m) => m.seq), [2, 1]);
        assert.deepEqual(urls.map(asked), [String(ack.seq)]);
        // The server checks it as it checks `before`.
        const base = urls[0].slice(0, urls[0].indexOf('?'));
        const bad = await fetch(
            `${base}?seen=x`, {headers: {Authorization: `Bearer ${alice.session?.token}`}});
        assert.equal(bad.status, 400);
        assert.match((await bad.json()).error, /seen must be a non-negative integer/);
      });

  test('typing: a start per refresh period, a stop on idle or send', BOUNDED, async () => {
    const {alice, bob, conv} = await pair({typing: {refreshMs: 1000, idleMs: 600, expireMs: 3000}});
    /** @type {import('../src/types.js').Typing[]} */
    const seen = [];
    bob.on('typing', (event) => seen.push(event));

    for (let i = 0; i < 10; i++) {
      alice.typing(conv);
      await sleep(10);
    }
    await until(() => seen.length >= 1, 'a typing start');
    await until(() => seen.length >= 2, 'a typing stop after idling');
    assert.deepEqual(
        seen.map((e) => [e.user, e.state, e.expired ?? false]),
        [[alice.userId, 'start', false], [alice.userId, 'stop', false]]);

    // Typing for longer than the refresh period sends one more start, to keep it shown.
    seen.length = 0;
    const startedAt = Date.now();
    while (Date.now() - startedAt < 1500) {
      alice.typing(conv);
      await sleep(50);
    }
    alice.send(conv, 'done typing');  // a send ends the indicator at once
    await until(() => seen.some((e) => e.state === 'stop'), 'the stop that a send brings');
    await sleep(100);
    assert.deepEqual(seen.map((e) => e.state), ['start', 'start', 'stop']);
  });

  // Without a refresh token (a session stored by an older SDK): with one, the SDK renews the
  // token by itself (session.test.js).
  test('an expired token raises auth_expired; a new login resumes', BOUNDED, async () => {
    const shortLived = await new RingcastServer({args: ['--token-ttl', '2']}).start();
    const alice = newClient(shortLived);
    const forgetRefreshToken = () => {
      delete alice.session?.refresh_token;
    };
    try {
      await signUp(alice, 'alice');
      forgetRefreshToken();
      const expired = waitFor(alice, 'auth_expired', () => true, 10000);
      await sleep(2100);
      await assert.rejects(alice.conversations(), (error) => error.status === 401);
      assert.match((await expired).reason, /token expired/);

      // The /ws path: connecting with the expired token (its expiry hidden from the client,
      // which otherwise refuses to try) ends in auth_expired, not in endless reconnects.
      const username = alice.session?.username ?? '';
      await alice.login(username, 'correct horse battery staple');
      forgetRefreshToken();
      const session = /** @type {import('../src/types.js').Session} */ (alice.session);
      await sleep(2100);
      session.expires_at = Date.now() + 60000;
      const again = waitFor(alice, 'auth_expired');
      alice.connect();
      assert.match((await again).reason, /token expired/);
      assert.equal(alice.state, 'stopped');

      // Logging in again reconnects by itself.
      const synced = waitFor(alice, 'synced');
      await alice.login(username, 'correct horse battery staple');
      await synced;
      assert.equal(alice.state, 'connected');
    } finally {
      alice.close();
      await shortLived.dispose();
    }
  });

  test('a logout elsewhere with the same token: auth_expired here', BOUNDED, async () => {
    const storage = new MemoryStorage();
    const phone = client({storage});
    await signUp(phone, 'dana');
    phone.connect();
    await waitFor(phone, 'synced');
    const laptop = client({storage});
    assert.ok(await laptop.restoreSession());
    const expired = waitFor(phone, 'auth_expired');
    assert.deepEqual(await laptop.logout(), {revoked: true});
    assert.equal((await expired).reason, 'token revoked');
    assert.equal(phone.state, 'stopped');
  });
});
