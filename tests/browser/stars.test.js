// Stars in the web app (PROTOCOL.md, "Stars"): the message menu's Star marks a message for the
// user alone ("★ starred", the button now Unstar), the other member sees no mark; stars made on
// another device show at the next load; the sidebar's Starred dialog lists them newest first,
// 30 at a time with More, and an item opens its conversation at that message; Unstar takes the
// mark and the item away. The server's `stars` answers are checked over a WebSocket of the test.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';

h.serveThisFile();

/**
 * Sends `requests` over a WebSocket of the page's user (another device of theirs) and returns
 * the answers, in turn (PROTOCOL.md, "Pacing"): `starred`, `stars` or `error`.
 * @param {import('playwright-core').Page} page @param {object[]} requests
 */
async function ask(page, requests) {
  return page.evaluate(async (frames) => {
    const {token} = JSON.parse(localStorage.getItem('ringcast:session'));
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws?token=${token}`);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error('the test WebSocket failed'));
    });
    const answers = [];
    await new Promise((resolve) => {
      ws.onmessage = (event) => {
        const frame = JSON.parse(event.data);
        if (!['starred', 'stars', 'error'].includes(frame.type)) return;
        answers.push(frame);
        if (answers.length === frames.length) resolve();
      };
      for (const frame of frames) ws.send(JSON.stringify(frame));
    });
    ws.close();
    return answers;
  }, requests);
}

/** The bodies the Starred dialog lists, in order. */
function starredBodies(page) {
  return page.locator('#starred-list .starred-body').allTextContents();
}

async function waitForStarred(page, expected) {
  const seen = await h.poll(async () => {
    const bodies = await starredBodies(page);
    return JSON.stringify(bodies) === JSON.stringify(expected) ? bodies : null;
  });
  assert.deepEqual(seen ?? await starredBodies(page), expected, 'the Starred dialog');
}

/** The message whose body is `text` in the open conversation. */
function bubble(page, text) {
  return page.locator(`#messages .msg:has(.body:text-is("${text}"))`);
}

test('Star, its mark, the Starred dialog and its pages, Unstar; no one else sees it', async () => {
  await h.withOpenChat('lunch at noon?', async ({alice, bob, conv}) => {
    // Bob stars Alice's message: the mark, and the menu now offers Unstar.
    const lunch = bubble(bob.page, 'lunch at noon?');
    await lunch.hover();
    const star = lunch.locator('.star-message');
    assert.equal(await star.getAttribute('aria-label'), 'Star this message');
    assert.equal(await star.textContent(), 'Star');
    await star.click();
    await lunch.locator('.starred-mark:not([hidden])').waitFor();
    assert.equal(await lunch.locator('.starred-mark').textContent(), '★ starred');
    assert.equal(await star.getAttribute('aria-label'), 'Unstar this message');
    assert.equal(await star.textContent(), 'Unstar');

    // And his own answer.
    await h.send(bob.page, 'see you there');
    const answer = bubble(bob.page, 'see you there');
    await answer.hover();
    await answer.locator('.star-message').click();
    await answer.locator('.starred-mark:not([hidden])').waitFor();
    await h.screenshot(bob.page, 'star-mark');

    // Alice sees no mark, now or after a reload (her own stars read again), and her menu
    // offers Star; her Starred dialog is empty.
    await h.waitForBubbles(alice.page, ['lunch at noon?', 'see you there']);
    assert.equal(await alice.page.locator('#messages .starred-mark:not([hidden])').count(), 0);
    await alice.page.reload();
    await h.connected(alice.page);
    await h.waitForBubbles(alice.page, ['lunch at noon?', 'see you there']);
    const alicesView = bubble(alice.page, 'lunch at noon?');
    await alicesView.hover();
    assert.equal(
        await alicesView.locator('.star-message').getAttribute('aria-label'), 'Star this message');
    assert.equal(await alice.page.locator('#messages .starred-mark:not([hidden])').count(), 0);
    await alice.page.click('#starred-button');
    await alice.page.waitForSelector(
        '#starred-status:text-is("You have not starred any message.")');
    await alice.page.click('#starred-close');

    // Thirty newer messages, which Bob stars on another device of his: this page does not
    // hear of it (PROTOCOL.md, "Stars"), and shows them at its next load.
    const later = Array.from({length: 30}, (_, i) => `later ${i + 1}`);
    for (const text of later) await h.send(alice.page, text);
    await h.waitForBubbles(bob.page, ['lunch at noon?', 'see you there', ...later]);
    const starred = await ask(bob.page, later.map((_, i) => ({type: 'star', conv, seq: i + 3})));
    assert.deepEqual(
        starred.map((a) => [a.type, a.seq, a.on]), later.map((_, i) => ['starred', i + 3, true]));
    assert.equal(await bubble(bob.page, 'later 30').locator('.starred-mark').isHidden(), true);
    await bob.page.reload();
    await h.connected(bob.page);
    await bubble(bob.page, 'later 30').locator('.starred-mark:not([hidden])').waitFor();

    // The dialog: newest first, 30, then More for the other two.
    await bob.page.click('#starred-button');
    await waitForStarred(bob.page, [...later].reverse());
    const item = bob.page.locator('#starred-list .starred-item').first();
    assert.match(
        await item.locator('.starred-where').textContent(),
        new RegExp(`^${alice.username} in ${alice.username}$`));
    await bob.page.click('#starred-more');
    await waitForStarred(
        bob.page, [...later].reverse().concat(['see you there', 'lunch at noon?']));
    assert.equal(await bob.page.locator('#starred-more').isHidden(), true);
    await h.screenshot(bob.page, 'starred');

    // Its oldest item opens the conversation at that message (past a page of history).
    await bob.page.locator('#starred-list .starred-item:has-text("lunch at noon?")').click();
    await bob.page.waitForSelector('#starred', {state: 'hidden'});
    await bob.page.waitForSelector(
        '#messages .msg[data-flash]:has(.body:text-is("lunch at noon?"))');
    const reopened = bubble(bob.page, 'lunch at noon?');
    assert.ok(await reopened.isVisible());
    await reopened.locator('.starred-mark:not([hidden])').waitFor();

    // Unstar from the menu: the mark goes, the dialog no longer lists it.
    await reopened.hover();
    await reopened.locator('.star-message[aria-label="Unstar this message"]').click();
    await reopened.locator('.starred-mark').waitFor({state: 'hidden'});
    assert.equal(
        await reopened.locator('.star-message').getAttribute('aria-label'), 'Star this message');
    await bob.page.click('#starred-button');
    await waitForStarred(bob.page, [...later].reverse());
    await bob.page.click('#starred-more');
    await waitForStarred(bob.page, [...later].reverse().concat(['see you there']));
    await bob.page.click('#starred-close');

    // The server's answers: Bob's 31 stars, newest first; none for Alice.
    const [bobs] = await ask(bob.page, [{type: 'stars', limit: 200}]);
    assert.deepEqual(
        bobs.messages.map((m) => m.body), [...later].reverse().concat(['see you there']));
    assert.equal(bobs.more, false);
    const [alices] = await ask(alice.page, [{type: 'stars'}]);
    assert.deepEqual(alices.messages, []);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});
