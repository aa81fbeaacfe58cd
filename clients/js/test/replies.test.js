// Replies and threads through the SDK (PROTOCOL.md, "Replies and threads") against the real
// server: send with replyTo (and thread) goes out through the outbox, reaches the other member
// with its quote; the root counts its thread replies; thread() pages them; a reply to no message
// rejects `acked` with the server's code. threadRead moves the user's thread watermark (forward
// only, sent again after a reconnect), which the next thread() page shows.

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {BOUNDED, serverForFile, waitFor} from './helpers.js';

const {pair} = serverForFile();

describe('replies and threads', () => {
  test('a reply carries its quote; thread replies count on the root and page', BOUNDED,
       async () => {
         const {alice, bob, conv} = await pair();
         const root = await alice.send(conv, 'the root').acked;
         const arrived = waitFor(bob, 'message', (m) => m.conv === conv && m.seq === root.seq + 1);
         const first = await bob.send(conv, 'one', {replyTo: root.seq, thread: true}).acked;
         const reply = await arrived;
         assert.deepEqual([reply.reply_to, reply.thread_root], [root.seq, root.seq]);
         assert.deepEqual(reply.quote, {from: alice.session.user_id, body: 'the root'});
         const second = await alice.send(conv, 'two', {replyTo: first.seq, thread: true}).acked;
         const plain = await alice.send(conv, 'aside', {replyTo: root.seq}).acked;

         const [stored] = (await bob.history(conv)).messages.filter((m) => m.seq === root.seq);
         assert.deepEqual([stored.reply_count, stored.last_reply_seq], [2, second.seq]);
         const page = await bob.thread(conv, root.seq, {limit: 1});
         assert.deepEqual([page.root, page.messages.map((m) => m.seq), page.more],
                          [root.seq, [second.seq], true]);
         const older = await bob.thread(conv, root.seq, {before: second.seq});
         assert.deepEqual([older.messages.map((m) => m.seq), older.more], [[first.seq], false]);
         assert.ok(plain.seq > second.seq);

         await assert.rejects(bob.thread(conv, first.seq), {code: 'not_found'});
         await assert.rejects(bob.send(conv, 'to nothing', {replyTo: 999}).acked,
                              {code: 'not_found'});
         assert.throws(() => bob.send(conv, 'x', {thread: true}), {code: 'bad_request'});
       });

  test('threadRead moves the thread watermark, forward only, also from offline', BOUNDED,
       async () => {
         const {alice, bob, conv} = await pair();
         const root = await alice.send(conv, 'the root').acked;
         const first = await bob.send(conv, 'one', {replyTo: root.seq, thread: true}).acked;
         const second = await alice.send(conv, 'two', {replyTo: root.seq, thread: true}).acked;

         // A thread reply moves its sender's watermark; the other's reply is unread.
         const mine = await alice.thread(conv, root.seq);
         assert.deepEqual([mine.read_seq, mine.unread], [second.seq, 0]);
         const his = await bob.thread(conv, root.seq);
         assert.deepEqual([his.read_seq, his.unread], [first.seq, 1]);

         let answer = waitFor(bob, 'thread_read');
         bob.threadRead(conv, root.seq, second.seq);
         assert.deepEqual(await answer, {conv, root: root.seq, read_seq: second.seq});
         const read = await bob.thread(conv, root.seq);
         assert.deepEqual([read.read_seq, read.unread], [second.seq, 0]);

         // Backwards: nothing goes out (the next answer is the next forward move's).
         bob.threadRead(conv, root.seq, first.seq);
         const third = await alice.send(conv, 'three', {replyTo: root.seq, thread: true}).acked;
         answer = waitFor(bob, 'thread_read');
         bob.threadRead(conv, root.seq, third.seq);
         assert.equal((await answer).read_seq, third.seq);

         // Asked for while offline: sent once the connection is back.
         const synced = waitFor(bob, 'synced');
         bob.close();
         const fourth = await alice.send(conv, 'four', {replyTo: root.seq, thread: true}).acked;
         bob.threadRead(conv, root.seq, fourth.seq);
         answer = waitFor(bob, 'thread_read');
         bob.connect();
         await synced;
         assert.equal((await answer).read_seq, fourth.seq);
         assert.equal((await alice.thread(conv, root.seq)).unread, 0);
         assert.equal((await bob.thread(conv, root.seq)).unread, 0);
       });
});
