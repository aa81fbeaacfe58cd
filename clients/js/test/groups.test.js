// Groups through the SDK (PROTOCOL.md, "Groups") against the real server: roles in the member
// lists, the owner's setRole and transferOwnership, updateGroup, a member's refusals, and the
// `system` entries every change appends, read with systemEntry(); an admin's addMembers and
// removeMember, and leaveGroup (the owner's refused until ownership is passed on); a new member's
// client receiving the entry that added them at once, with what came before; the group's
// avatar (uploadGroupAvatar), which the members read and a member cannot set.

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {avatarUrl, rolesOf, systemEntry} from '../src/index.js';

import {BOUNDED, serverForFile, signUp, waitFor} from './helpers.js';
import {makePng} from './png.js';

const {client, pair} = serverForFile();

describe('groups', () => {
  test('roles, transfer and settings; each change a system entry the other member gets',
       BOUNDED, async () => {
         const {alice, bob} = await pair();
         const aliceId = alice.session.user_id;
         const bobId = bob.session.user_id;
         const group = await alice.createGroup('team', [bobId]);
         let listed = (await bob.conversations()).find((c) => c.id === group);
         assert.deepEqual(rolesOf(listed), new Map([[aliceId, 'owner'], [bobId, 'member']]));

         await assert.rejects(bob.updateGroup(group, {name: 'mine'}), {status: 403});
         await assert.rejects(bob.removeMember(group, aliceId), {status: 403});

         const entries = [];
         const three = new Promise((resolve) => {
           bob.on('message', (m) => {
             if (m.conv === group && systemEntry(m)) entries.push(systemEntry(m));
             if (entries.length === 3) resolve(undefined);
           });
         });
         const promoted = await alice.setRole(group, bobId, 'admin');
         assert.deepEqual(rolesOf(promoted).get(bobId), 'admin');
         const renamed = await bob.updateGroup(group, {name: 'renamed', topic: 'plans'});
         assert.equal(renamed.topic, 'plans');
         const moved = await alice.transferOwnership(group, bobId);
         assert.deepEqual(rolesOf(moved), new Map([[aliceId, 'admin'], [bobId, 'owner']]));
         await three;
         assert.deepEqual(entries, [
           {action: 'role', actor: aliceId, users: [bobId], role: 'admin'},
           {action: 'updated', actor: bobId, users: [], name: 'renamed', topic: 'plans'},
           {action: 'transferred', actor: aliceId, users: [bobId]},
         ]);
         listed = (await alice.conversations()).find((c) => c.id === group);
         assert.equal(listed.name, 'renamed');
         assert.equal(listed.unread, 0);
         assert.equal(systemEntry({kind: 'text', body: '{"action":"x"}'}), null);
         const left = waitFor(bob, 'message', (m) => m.conv === group && m.kind === 'system');
         await alice.removeMember(group, aliceId);
         assert.deepEqual(systemEntry(await left),
                          {action: 'left', actor: aliceId, users: [aliceId]});
       });

  test(
      'an admin adds and removes members; the owner leaves once ownership is passed on', BOUNDED,
      async () => {
        const {alice, bob} = await pair();
        const carol = client();
        const carolId = (await signUp(carol, 'carol')).user_id;
        const aliceId = alice.session.user_id;
        const bobId = bob.session.user_id;
        const group = await alice.createGroup('crew', [bobId]);
        await alice.setRole(group, bobId, 'admin');

        const joined =
            waitFor(alice, 'members', (e) => e.conv === group && e.members.includes(carolId));
        const added = await bob.addMembers(group, [carolId]);
        assert.deepEqual(rolesOf(added).get(carolId), 'member');
        await joined;
        // A member adds nobody; an admin removes a member, never the owner.
        await assert.rejects(carol.addMembers(group, [aliceId]), {status: 403});
        await assert.rejects(
            bob.removeMember(group, aliceId),
            {status: 403, message: 'the owner cannot be removed or demoted'});
        const gone =
            waitFor(alice, 'members', (e) => e.conv === group && !e.members.includes(carolId));
        const removed = await bob.removeMember(group, carolId);
        assert.deepEqual(removed.members.sort(), [aliceId, bobId].sort());
        await gone;

        await assert.rejects(alice.leaveGroup(group), {
          status: 409,
          message: 'the owner must transfer ownership before leaving',
        });
        await alice.transferOwnership(group, bobId);
        const left =
            waitFor(bob, 'message', (m) => m.conv === group && systemEntry(m)?.action === 'left');
        // The leaver's connections get the `members` event without her.
        const out =
            waitFor(alice, 'members', (e) => e.conv === group && !e.members.includes(aliceId));
        const answer = await alice.leaveGroup(group);
        assert.deepEqual(rolesOf(answer), new Map([[bobId, 'owner']]));
        assert.deepEqual(
            systemEntry(await left), {action: 'left', actor: aliceId, users: [aliceId]});
        await out;
      });

  test('an admin sets the group avatar; every member sees it and reads the picture', BOUNDED,
       async () => {
         const {alice, bob} = await pair();
         const aliceId = alice.session.user_id;
         const bobId = bob.session.user_id;
         const group = await alice.createGroup('pictured', [bobId]);
         const png = () => new Blob([makePng(160, 90)], {type: 'image/png'});
         await assert.rejects(bob.uploadGroupAvatar(group, png()).done, {status: 403});

         const heard = waitFor(bob, 'members', (e) => e.conv === group && e.avatar !== null);
         const entry = waitFor(
             bob, 'message', (m) => m.conv === group && systemEntry(m)?.avatar !== undefined);
         const set = await alice.uploadGroupAvatar(group, png(), {name: 'group.png'}).done;
         assert.match(String(set.avatar), /^\/files\/[^/]+$/);
         assert.equal(set.avatar_thumb, `${set.avatar}/thumb`);
         const event = await heard;
         assert.equal(event.avatar, set.avatar);
         assert.deepEqual(systemEntry(await entry), {
           action: 'updated',
           actor: aliceId,
           users: [],
           avatar: String(set.avatar).slice('/files/'.length),
         });
         const listed = (await bob.conversations()).find((c) => c.id === group);
         assert.equal(listed?.avatar_thumb, set.avatar_thumb);
         const thumb = await fetch(/** @type {string} */ (avatarUrl(bob, listed, {thumb: true})));
         assert.equal(thumb.status, 200);
         assert.equal(thumb.headers.get('content-type'), 'image/jpeg');
         // Not an image: the server's reason.
         const text = await alice.uploadGroupAvatar(group, new TextEncoder().encode('no'), {
           name: 'x.txt',
         }).done.catch((error) => error);
         assert.equal(text.status, 400);
         assert.equal(text.message, 'avatar must be an image you uploaded (with a thumbnail)');

         const cleared = await alice.updateGroup(group, {avatar: null});
         assert.equal(cleared.avatar, null);
         assert.equal(cleared.avatar_thumb, null);
       });

  test('a member added while connected gets the entry that added them, and the history, at once',
       BOUNDED, async () => {
         const {alice, bob} = await pair();
         const carol = client();
         const carolId = (await signUp(carol, 'carol')).user_id;
         const synced = waitFor(carol, 'synced');
         carol.connect();
         await synced;
         const group = await alice.createGroup('later', [bob.session.user_id]);
         await alice.send(group, 'before carol').acked;
         const seen = [];
         const both = new Promise((resolve) => carol.on('message', (m) => {
           if (m.conv === group) seen.push(m.kind === 'system' ? systemEntry(m)?.action : m.body);
           if (seen.length === 2) resolve(undefined);
         }));
         await alice.addMembers(group, [carolId]);
         // Nothing is sent after the add: the entry comes without a later message to reveal it.
         await both;
         assert.deepEqual(seen, ['before carol', 'added']);
       });
});
