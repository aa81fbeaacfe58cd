// Changes to messages through the SDK (PROTOCOL.md, "Changes to messages") against the real
// server: edit, react, pin and delete go out through the outbox, are acked, and reach the other
// member as messages naming their target; reads give the current state; a refusal rejects
// `acked` with the server's code. Stars (PROTOCOL.md, "Stars"): answered in turn, the user's own.

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {BOUNDED, serverForFile, waitFor} from './helpers.js';

const {pair} = serverForFile();

describe('changes to messages', () => {
  test('edit, react, pin and delete reach the other member; reads show the current state',
       BOUNDED, async () => {
         const {alice, bob, conv} = await pair();
         const sent = await alice.send(conv, 'helo').acked;
         const changes = ['edit', 'reaction', 'pin', 'delete'].map(
             (kind) => waitFor(bob, 'message', (m) => m.conv === conv && m.kind === kind));
         const edit = await alice.edit(conv, sent.seq, 'hello').acked;
         const react = await bob.react(conv, sent.seq, '\u{1F44D}').acked;
         await bob.pin(conv, sent.seq).acked;
         const [edited, reacted, pinned] = await Promise.all(changes.slice(0, 3));
         assert.deepEqual([edited.target, edited.body], [sent.seq, 'hello']);
         assert.deepEqual([reacted.target, reacted.body, reacted.on], [sent.seq, '\u{1F44D}', true]);
         assert.equal(pinned.from, bob.session.user_id);
         const [current] = (await bob.history(conv)).messages.filter((m) => m.seq === sent.seq);
         assert.equal(current.body, 'hello');
         assert.equal(current.edited_at, edit.ts);
         assert.deepEqual(current.reactions,
                          [{emoji: '\u{1F44D}', count: 1, users: [bob.session.user_id]}]);
         assert.equal(react.seq, edit.seq + 1);
         assert.deepEqual((await alice.pins(conv)).map((m) => m.seq), [sent.seq]);

         await assert.rejects(bob.edit(conv, sent.seq, 'not mine').acked, {code: 'forbidden'});
         await alice.deleteMessage(conv, sent.seq).acked;
         const deleted = await changes[3];
         assert.equal(deleted.target, sent.seq);
         const [tomb] = (await alice.history(conv)).messages.filter((m) => m.seq === sent.seq);
         assert.equal(tomb.deleted, true);
         assert.equal(tomb.body, undefined);
         assert.deepEqual(await alice.pins(conv), []);
         await assert.rejects(alice.edit(conv, sent.seq, 'back').acked, {code: 'gone'});
       });

  test('a star is answered in turn, listed newest first and refused with the server\'s code',
       BOUNDED, async () => {
         const {alice, bob, conv} = await pair();
         const first = await alice.send(conv, 'first').acked;
         const second = await bob.send(conv, 'second').acked;
         // Asked back to back with a history: each answer goes to its own request.
         const [starred, page, again] = await Promise.all([
           alice.star(conv, first.seq), alice.history(conv), alice.star(conv, second.seq)]);
         assert.deepEqual(starred, {conv, seq: first.seq, on: true});
         assert.deepEqual(again, {conv, seq: second.seq, on: true});
         assert.ok(page.messages.some((m) => m.seq === second.seq));
         const listed = await alice.stars({limit: 1});
         assert.deepEqual([listed.messages.map((m) => m.body), listed.more], [['second'], true]);
         const rest = await alice.stars({before: listed.messages[0].id});
         assert.deepEqual(rest.messages.map((m) => m.body), ['first']);
         assert.deepEqual((await bob.stars()).messages, []);
         const unstarred = await alice.star(conv, first.seq, false);
         assert.deepEqual(unstarred, {conv, seq: first.seq, on: false});
         await assert.rejects(alice.star(conv, 999999), {code: 'not_found'});
         await bob.deleteMessage(conv, second.seq).acked;
         await assert.rejects(alice.star(conv, second.seq), {code: 'gone'});
         assert.deepEqual((await alice.stars()).messages, []);
       });
});
