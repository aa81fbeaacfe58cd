// Profiles, account control and blocks through the SDK (proto/PROTOCOL.md "Profiles",
// "Account control") against the real server: a profile change reaching a contact live as the
// `profile` event and in the profile cache (and after a reconnect, the event not being
// replayed), the avatar upload, the cache's bound; a password change and a revoked session
// ending the other login; account deletion; blocks.

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {avatarUrl, displayName, ProfileCache} from '../src/index.js';

import {BOUNDED, PASSWORD, serverForFile, signUp, waitFor} from './helpers.js';
import {makePng} from './png.js';

const {client, pair} = serverForFile();

/** A second login of `session`'s user on a client of its own, connected. */
async function secondLogin(session) {
  const other = client();
  await other.login(/** @type {string} */ (session.username), PASSWORD);
  const synced = waitFor(other, 'synced');
  other.connect();
  await synced;
  return other;
}

describe('profiles', () => {
  test('a change reaches a contact live, cached; the avatar is an upload', BOUNDED, async () => {
    const {alice, bob} = await pair();
    const aliceId = /** @type {number} */ (alice.userId);
    const [before] = await bob.loadProfiles([aliceId]);
    assert.equal(displayName(before), alice.session?.username);

    const seen = waitFor(bob, 'profile', (p) => p.id === aliceId);
    const me =
        await alice.updateProfile({display_name: '  Alice Liddell ', status: 'down the hole'});
    assert.equal(me.display_name, 'Alice Liddell');
    assert.equal((await seen).display_name, 'Alice Liddell');
    assert.equal(displayName(bob.cachedProfile(aliceId)), 'Alice Liddell');
    assert.equal(bob.cachedProfile(aliceId)?.status, 'down the hole');

    const withAvatar = waitFor(bob, 'profile', (p) => p.id === aliceId && p.avatar !== null);
    const progress = [];
    const mine = await alice
                     .uploadAvatar(new Blob([makePng(200, 120)], {type: 'image/png'}), {
                       name: 'me.png',
                       onProgress: (p) => progress.push(p),
                     })
                     .done;
    assert.match(String(mine.avatar_thumb), /^\/files\/[^/]+\/thumb$/);
    assert.ok(progress.length > 0);
    assert.deepEqual(await alice.me(), mine);
    const profile = await withAvatar;
    assert.equal(profile.avatar_thumb, mine.avatar_thumb);
    // Bob reads the thumbnail with his own token.
    const thumb = await fetch(/** @type {string} */ (avatarUrl(bob, profile, {thumb: true})));
    assert.equal(thumb.status, 200);
    assert.equal(thumb.headers.get('content-type'), 'image/jpeg');
    // A file that is no image is refused as an avatar, with the server's reason.
    await assert.rejects(
        alice.uploadAvatar(new TextEncoder().encode('not an image'), {name: 'x.txt'}).done,
        {status: 400, message: 'avatar must be an image you uploaded (with a thumbnail)'});

    // Changed while Bob was away: read again at his reconnect (the event is not replayed).
    bob.close();
    await alice.updateProfile({display_name: 'Alice L.', avatar: null});
    const reread = waitFor(bob, 'profile', (p) => p.id === aliceId);
    bob.connect();
    assert.equal((await reread).display_name, 'Alice L.');
    assert.equal(bob.cachedProfile(aliceId)?.avatar, null);
  });

  test('profiles are asked for once, and the cache is bounded', BOUNDED, async () => {
    let lookups = 0;
    const counting = client({
      maxProfiles: 2,
      fetch: (/** @type {string} */ url, /** @type {any} */ init) => {
        if (url.includes('/api/users?ids=')) lookups += 1;
        return fetch(url, init);
      },
    });
    const me = await signUp(counting, 'counting');
    const others = [];
    for (const name of ['p1', 'p2']) {
      const c = client();
      others.push((await signUp(c, name)).user_id);
    }
    await Promise.all([counting.loadProfiles(others), counting.loadProfiles(others)]);
    assert.equal(lookups, 1);
    await counting.loadProfiles(others);
    assert.equal(lookups, 1);
    // A third profile pushes out the least recently read.
    counting.cachedProfile(others[1]);
    await counting.loadProfiles([me.user_id]);
    assert.equal(counting.cachedProfile(others[0]), undefined);
    assert.ok(counting.cachedProfile(others[1]));
    assert.deepEqual(counting.cachedProfiles().map((p) => p.id), [me.user_id, others[1]]);
    // What an app stored comes back without a request.
    const reloaded = client({maxProfiles: 2});
    reloaded.seedProfiles(counting.cachedProfiles());
    assert.equal(reloaded.cachedProfile(me.user_id)?.username, me.username);

    const cache = new ProfileCache(3);
    for (let id = 1; id <= 10; id++) cache.put({id, username: `u${id}`} /** @type {any} */);
    assert.deepEqual(cache.ids(), [8, 9, 10]);
  });
});

describe('account control', () => {
  test('a password change ends the other login, not this one', BOUNDED, async () => {
    const alice = client();
    const session = await signUp(alice, 'pw');
    alice.connect();
    const other = await secondLogin(session);
    const ended = waitFor(other, 'auth_expired');
    await assert.rejects(
        alice.changePassword('wrong password!', 'new password 123'),
        {status: 403, message: 'wrong password'});
    assert.deepEqual(
        await alice.changePassword(PASSWORD, 'new password 123'),
        {changed: true, sessions_ended: 1});
    assert.equal((await ended).reason, 'token revoked');
    assert.equal((await alice.me()).id, session.user_id);  // still signed in
    await assert.rejects(
        client().login(/** @type {string} */ (session.username), PASSWORD), {status: 401});
    await client().login(/** @type {string} */ (session.username), 'new password 123');
  });

  test('the sessions list, and one ended from another', BOUNDED, async () => {
    const alice = client();
    const session = await signUp(alice, 'sess');
    const other = await secondLogin(session);
    const sessions = await alice.sessions();
    assert.equal(sessions.length, 2);
    assert.deepEqual(sessions.map((s) => s.current).sort(), [false, true]);
    const theOther =
        /** @type {import('../src/types.js').LoginSession} */ (sessions.find((s) => !s.current));
    assert.equal(typeof theOther.user_agent, 'string');
    assert.ok(theOther.last_used_at >= theOther.created_at);
    const ended = waitFor(other, 'auth_expired');
    assert.deepEqual(await alice.endSession(theOther.id), {revoked: true});
    await ended;
    assert.deepEqual(
        (await alice.sessions()).map((s) => s.id),
        sessions.filter((s) => s.current).map((s) => s.id));
    await assert.rejects(alice.endSession(theOther.id), {status: 404});
  });

  test('account deletion: the password asked, then nothing kept', BOUNDED, async () => {
    const {alice, bob} = await pair();
    const aliceId = /** @type {number} */ (alice.userId);
    const username = /** @type {string} */ (alice.session?.username);
    let expired = 0;
    alice.on('auth_expired', () => (expired += 1));
    await assert.rejects(alice.deleteAccount('not my password'), {status: 403});
    assert.ok(alice.session);
    assert.deepEqual(await alice.deleteAccount(PASSWORD), {deleted: true});
    assert.equal(alice.session, null);
    assert.equal(alice.state, 'stopped');
    await assert.rejects(client().login(username, PASSWORD), {status: 401});
    const [gone] = await bob.users([aliceId]);
    assert.equal(gone.deleted, true);
    assert.equal(displayName(gone), 'Deleted user');
    assert.equal(expired, 0);  // the deletion is no expiry to report
  });

  test('block, blocks, unblock: no 1:1 while blocked', BOUNDED, async () => {
    const alice = client();
    const bob = client();
    await signUp(alice, 'blocker');
    const bobId = (await signUp(bob, 'blocked')).user_id;
    assert.deepEqual(await alice.block(bobId), {blocked: bobId});
    assert.deepEqual((await alice.blocks()).map((u) => u.id), [bobId]);
    await assert.rejects(
        bob.openDirect(/** @type {number} */ (alice.userId)),
        {status: 403, message: 'you cannot start a conversation with this user'});
    await assert.rejects(alice.block(/** @type {number} */ (alice.userId)), {status: 400});
    assert.deepEqual(await alice.unblock(bobId), {unblocked: bobId});
    assert.deepEqual(await alice.blocks(), []);
    assert.ok(await bob.openDirect(/** @type {number} */ (alice.userId)));
  });
});
