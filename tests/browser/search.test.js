// Message search in the web app: the sidebar's search button, a query typed, the hits with the
// matched word marked and a body's markup shown as text; choosing the oldest hit opens its
// conversation scrolled to that message, paging back through history to reach it.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';

// New messages join the index in the send's own transaction: the search follows the last send at
// once (by default within 200 ms: tests/integration/test_chat_search.py checks that).
h.serveThisFile(['--search-index-interval-ms', '0']);

test('search finds a word, marks it, and opens the conversation at the message', async () => {
  await h.withUsers(['alice', 'bob'], async (alice, bob) => {
    await h.startChat(alice.page, [bob.username]);
    const first = 'the <b>heron</b> landed by the pond';
    // More than a page of history (30) after it: opening at it means paging back.
    const texts = [first, ...Array.from({length: 40}, (_, i) => `filler ${i}`), 'a heron again'];
    for (const text of texts) await h.send(alice.page, text);
    await h.waitForTick(alice.page, texts.at(-1), 'delivered');

    await bob.page.click('#search-button');
    await bob.page.fill('#search-input', 'Heron');
    const hits = bob.page.locator('#search-list .search-hit');
    await hits.nth(1).waitFor();
    assert.equal(await hits.count(), 2);
    // Each snippet: the word marked (its own case), the markup as text, no element from it.
    const snippets =
        await hits.locator('.search-snippet')
            .evaluateAll(
                (els) =>
                    els.map((el) => ({
                              text: el.textContent,
                              marks: [...el.querySelectorAll('mark')].map((m) => m.textContent),
                              elements: el.querySelectorAll(':not(mark)').length,
                            })));
    const old = snippets.find((s) => s.text === first);
    assert.ok(old, JSON.stringify(snippets));
    assert.deepEqual(old.marks, ['heron']);
    assert.equal(old.elements, 0);
    await h.screenshot(bob.page, 'search');

    await hits.filter({hasText: 'pond'}).click();
    await bob.page.waitForSelector('#search', {state: 'hidden'});
    // Scrolled to it: the message is within the list's visible part.
    await bob.page.waitForFunction((text) => {
      const list = document.querySelector('#messages');
      const body = [...list.querySelectorAll('.msg .body')].find((el) => el.textContent === text);
      if (!body) return false;
      const box = body.getBoundingClientRect();
      const view = list.getBoundingClientRect();
      return box.top >= view.top && box.bottom <= view.bottom;
    }, first);
    // Nothing the search does not find: a word no message holds.
    await bob.page.click('#search-button');
    await bob.page.fill('#search-input', 'kingfisher');
    await bob.page.waitForSelector('#search-status:text-is("No messages found for “kingfisher”.")');
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});
