// Message search through the SDK (PROTOCOL.md, "Search") against the real server: words found
// in the caller's conversations only, snippets as segments, paging by cursor, filters, an edit
// found by its new body, a deletion never, and a bad query rejected with the server's reason.

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {BOUNDED, serverForFile, signUp} from './helpers.js';

// New messages join the index in the send's own transaction, so that a search right after an ack
// finds them (by default within 200 ms: tests/integration/test_chat_search.py checks that).
const {client, pair} = serverForFile({args: ['--search-index-interval-ms', '0']});

describe('search', () => {
  test('finds, pages and filters; edits and deletions are followed', BOUNDED, async () => {
    const {alice, bob, conv} = await pair();
    const first = await alice.send(conv, 'the ocelot sleeps').acked;
    const second = await bob.send(conv, 'an OCELOT <i>wakes</i>').acked;
    const doomed = await alice.send(conv, 'ocelot to delete').acked;
    await alice.deleteMessage(conv, doomed.seq).acked;

    const all = await alice.search('ocelot');
    assert.deepEqual(all.results.map((hit) => hit.seq).sort(), [first.seq, second.seq].sort());
    assert.equal(all.next_cursor, null);
    const hit = all.results.find((h) => h.seq === second.seq);
    assert.deepEqual(hit?.snippet, [
      {text: 'an ', match: false}, {text: 'OCELOT', match: true},
      {text: ' <i>wakes</i>', match: false}
    ]);

    const page = await alice.search('ocelot', {limit: 1});
    assert.equal(page.results.length, 1);
    assert.equal(typeof page.next_cursor, 'string');
    const cursor = /** @type {string} */ (page.next_cursor);
    const rest = await alice.search('ocelot', {limit: 1, cursor});
    assert.equal(rest.results.length, 1);
    assert.notEqual(rest.results[0].seq, page.results[0].seq);

    assert.deepEqual(
        (await alice.search('ocelot', {from: bob.userId})).results.map((h) => h.seq), [second.seq]);
    assert.deepEqual((await alice.search('ocelot', {conv, before: first.ts})).results, []);
    assert.equal(
        (await alice.search('ocelot', {after: first.ts - 1, conv})).results.length >= 1, true);

    await alice.edit(conv, first.seq, 'the lynx sleeps').acked;
    assert.deepEqual((await bob.search('lynx')).results.map((h) => h.seq), [first.seq]);
    assert.deepEqual((await bob.search('ocelot')).results.map((h) => h.seq), [second.seq]);

    // Someone outside the conversation finds none of it.
    const carol = client();
    await signUp(carol, 'carol');
    assert.deepEqual((await carol.search('ocelot')).results, []);
    await assert.rejects(alice.search('***'), /no words/);
  });
});
