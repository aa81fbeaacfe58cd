// Reactions and pins in the web app (PROTOCOL.md, "Changes to messages"): the message menu's
// React opens the picker (a quick row and a field for any one emoji); the chips show the emoji,
// the count and who reacted, one's own pressed, a click toggles it, on both pages; Pin marks the
// message for both, the header's pins dialog lists it and a click on it scrolls back to it; the
// server's history holds the same reactions and pin.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';
import {server} from './harness.js';

h.serveThisFile();

/** The chips of the message whose body is `text`, as `emoji count` strings. */
async function chips(page, text) {
  return page.locator(`#messages .msg:has(.body:text-is("${text}")) .reaction`).allTextContents();
}

async function waitForChips(page, text, expected) {
  const deadline = Date.now() + h.WAIT_MS;
  let seen = [];
  while (Date.now() < deadline) {
    seen = await chips(page, text);
    if (JSON.stringify(seen) === JSON.stringify(expected)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(seen, expected, `the reactions on "${text}"`);
}

test('react from the menu and the chips, pin and find it in the pins dialog', async () => {
  await h.withOpenChat('lunch at noon?', async ({alice, bob, conv}) => {
    // Bob reacts to Alice's message: the menu is there on others' messages, without Edit/Delete.
    const bobsView = bob.page.locator('#messages .msg.other:has(.body:text-is("lunch at noon?"))');
    await bobsView.hover();
    assert.equal(await bobsView.locator('.edit-message').isVisible(), false);
    assert.equal(await bobsView.locator('.delete-message').isVisible(), false);
    await bobsView.locator('.react-message').click();
    await bobsView.locator('.react-quick', {hasText: '👍'}).click();
    await waitForChips(bob.page, 'lunch at noon?', ['👍 1']);
    await waitForChips(alice.page, 'lunch at noon?', ['👍 1']);
    const alicesChip = alice.page.locator('#messages .msg.own .reaction', {hasText: '👍'});
    assert.equal(await alicesChip.getAttribute('aria-pressed'), 'false');
    assert.match(await alicesChip.getAttribute('title'), new RegExp(bob.username));

    // Any other emoji through the field; something that is not one emoji is not sent.
    await bobsView.hover();
    await bobsView.locator('.react-message').click();
    await bobsView.locator('.react-other').fill('ok');
    await bobsView.locator('.react-other').press('Enter');
    await bobsView.locator('.react-other').fill('🦄');
    await bobsView.locator('.react-other').press('Enter');
    await waitForChips(alice.page, 'lunch at noon?', ['👍 1', '🦄 1']);

    // Alice adds hers by clicking the chip; Bob takes his 👍 away by clicking his.
    await alicesChip.click();
    await waitForChips(bob.page, 'lunch at noon?', ['👍 2', '🦄 1']);
    await bob.page.locator('#messages .msg.other .reaction', {hasText: '👍'}).click();
    await waitForChips(alice.page, 'lunch at noon?', ['👍 1', '🦄 1']);
    assert.equal(await alicesChip.getAttribute('aria-pressed'), 'true');

    // Bob pins it; then enough messages that it leaves the screen.
    await bobsView.hover();
    await bobsView.locator('.pin-message').click();
    await alice.page.waitForSelector(
        '#messages .msg.own:has(.body:text-is("lunch at noon?")) .pinned-mark:not([hidden])');
    await bob.page.waitForSelector('#messages .msg.other .pinned-mark:not([hidden])');
    await h.screenshot(bob.page, 'reactions');
    const later = Array.from({length: 30}, (_, i) => `later ${i + 1}`);
    for (const text of later) await h.send(alice.page, text);
    await h.waitForBubbles(bob.page, ['lunch at noon?', ...later]);

    await bob.page.click('#pins-button');
    const item = bob.page.locator('#pins-list .pin-item');
    await item.waitFor();
    assert.match(await item.textContent(), /lunch at noon\?$/);
    await h.screenshot(bob.page, 'pins');
    await item.click();
    await bob.page.waitForSelector('#pins', {state: 'hidden'});
    await bob.page.waitForSelector(
        '#messages .msg[data-flash]:has(.body:text-is("lunch at noon?"))');
    assert.ok(await bobsView.isVisible());

    // Unpinned from Alice's menu: the mark goes on both pages and the dialog says so.
    const alicesView =
        alice.page.locator('#messages .msg.own:has(.body:text-is("lunch at noon?"))');
    await alicesView.scrollIntoViewIfNeeded();
    await alicesView.hover();
    assert.equal(await alicesView.locator('.pin-message').textContent(), 'Unpin');
    await alicesView.locator('.pin-message').click();
    await bob.page.waitForSelector(
        '#messages .msg:has(.body:text-is("lunch at noon?")) .pinned-mark[hidden]',
        {state: 'attached'});
    await bob.page.click('#pins-button');
    await bob.page.waitForSelector('#pins-status:text-is("No pinned messages.")');
    await bob.page.click('#pins-close');

    const response = await fetch(
        `${server.baseUrl}/api/conversations/${conv}/messages`,
        {headers: {Authorization: `Bearer ${await bob.token()}`}});
    const first = (await response.json()).messages.find((m) => m.seq === 1);
    assert.deepEqual(first.reactions.map((r) => [r.emoji, r.count]), [['👍', 1], ['🦄', 1]]);
    assert.equal(first.pinned_at, undefined);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});
