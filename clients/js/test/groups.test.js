// Groups through the SDK (PROTOCOL.md, "Groups") against the real server: roles in the member
// lists, the owner's setRole and transferOwnership, updateGroup, a member's refusals, and the
// `system` entries every change appends, read with systemEntry(); an admin's addMembers and
// removeMember, and leaveGroup (the owner's refused until ownership is passed on).

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {rolesOf, systemEntry} from '../src/index.js';

import {BOUNDED, serverForFile, signUp, waitFor} from './helpers.js';

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
});
