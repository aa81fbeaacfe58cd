// Replies in the web app (PROTOCOL.md, "Replies and threads"): the message menu's Reply puts a
// bar above the composer (Escape or × cancels it, the text stays), the send answers that
// message, and both pages show the quote of its parent above the reply; the quote follows an
// edit of the parent and says "Deleted message" once it is deleted; a click on the quote
// scrolls back to the parent. The server's history holds the reply's reply_to and quote.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';
import {server} from './harness.js';

h.serveThisFile();

test('reply from the menu, the quote follows its parent, a click on it jumps there', async () => {
  await h.withOpenChat('where shall we meet?', async ({alice, bob, conv}) => {
    // Reply, cancelled with Escape (the text stays), then again and sent.
    const parent =
        bob.page.locator('#messages .msg.other:has(.body:text-is("where shall we meet?"))');
    await parent.hover();
    await parent.locator('.reply-message').click();
    await bob.page.waitForSelector('#reply-bar:not([hidden])');
    assert.match(
        await bob.page.textContent('#reply-to-text'), /^Replying to .+: where shall we meet\?$/);
    await bob.page.fill('#composer-input', 'at the café');
    await bob.page.press('#composer-input', 'Escape');
    await bob.page.waitForSelector('#reply-bar', {state: 'hidden'});
    assert.equal(await bob.page.inputValue('#composer-input'), 'at the café');
    await parent.hover();
    await parent.locator('.reply-message').click();
    await bob.page.press('#composer-input', 'Enter');
    await bob.page.waitForSelector('#reply-bar', {state: 'hidden'});

    const quoteOn = (page) =>
        page.locator('#messages .msg:has(.body:text-is("at the café")) .quote:not([hidden])');
    await quoteOn(alice.page).waitFor();
    assert.equal(
        await quoteOn(alice.page).textContent(), `${alice.username}: where shall we meet?`);
    await h.screenshot(alice.page, 'reply');

    // The parent edited: the quote shows its new text on both pages.
    await alice.page.press('#composer-input', 'ArrowUp');  // Alice's last own message.
    await alice.page.fill('#composer-input', 'where shall we meet tonight?');
    await alice.page.press('#composer-input', 'Enter');
    await bob.page.waitForSelector(
        '#messages .msg:has(.body:text-is("at the café")) .quote:text-is("' + alice.username +
        ': where shall we meet tonight?")');

    // Far below it now, a click on the quote brings the parent back into view.
    const later = Array.from({length: 25}, (_, i) => `later ${i + 1}`);
    for (const text of later) await h.send(alice.page, text);
    await h.waitForBubbles(bob.page, ['where shall we meet tonight?', 'at the café', ...later]);
    await quoteOn(bob.page).scrollIntoViewIfNeeded();
    await quoteOn(bob.page).click();
    await bob.page.waitForSelector(
        '#messages .msg[data-flash]:has(.body:text-is("where shall we meet tonight?"))');

    // The parent deleted: the quote keeps no text of it.
    alice.page.once('dialog', (dialog) => dialog.accept());
    const own =
        alice.page.locator('#messages .msg.own:has(.body:text-is("where shall we meet tonight?"))');
    await own.scrollIntoViewIfNeeded();
    await own.hover();
    await own.locator('.delete-message').click();
    await bob.page.waitForSelector(
        '#messages .msg:has(.body:text-is("at the café")) .quote.gone:text-is("' + alice.username +
        ': Deleted message")');

    const response = await fetch(
        `${server.baseUrl}/api/conversations/${conv}/messages`,
        {headers: {Authorization: `Bearer ${await alice.token()}`}});
    const reply = (await response.json()).messages.find((m) => m.body === 'at the café');
    assert.equal(reply.reply_to, 1);
    assert.deepEqual(reply.quote, {from: alice.userId, deleted: true});
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});
