// Changes to messages in the web app (PROTOCOL.md, "Changes to messages"): ↑ in the empty
// composer edits the user's last message, Enter saves it, and the other member sees the new
// text marked "edited"; Escape cancels an edit without leaving the conversation; the message
// menu's Delete (confirmed) leaves "This message was deleted" on both pages, and no change
// counts as unread; the server's history has the edited body and the tombstone.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';
import {server} from './harness.js';

h.serveThisFile();

test('edit with ↑, cancel with Escape, delete from the message menu', async () => {
  await h.withUsers(['alice', 'bob'], async (alice, bob) => {
    const conv = await h.startChat(alice.page, [bob.username]);
    await h.send(alice.page, 'first');
    await h.send(alice.page, 'secnod');
    await h.waitForTick(alice.page, 'secnod', 'delivered');
    await bob.page.click(`[data-conv="${conv}"]`);
    await h.waitForBubbles(bob.page, ['first', 'secnod']);

    // ↑ takes the last own message into the composer; Escape gives it back untouched.
    await alice.page.press('#composer-input', 'ArrowUp');
    assert.equal(await alice.page.inputValue('#composer-input'), 'secnod');
    await alice.page.waitForSelector('#composer.editing');
    await alice.page.press('#composer-input', 'Escape');
    assert.equal(await alice.page.inputValue('#composer-input'), '');
    await alice.page.waitForSelector('#composer:not([hidden]):not(.editing)');

    await alice.page.press('#composer-input', 'ArrowUp');
    await alice.page.fill('#composer-input', 'second');
    await alice.page.press('#composer-input', 'Enter');
    await h.waitForBubbles(bob.page, ['first', 'second']);
    await h.waitForBubbles(alice.page, ['first', 'second']);
    await bob.page.waitForSelector(
        '#messages .msg.other:has(.body:text-is("second")) .edited:not([hidden])');
    assert.equal(await alice.page.inputValue('#composer-input'), '');

    // The menu of an own message: Delete, confirmed.
    alice.page.once('dialog', (dialog) => dialog.accept());
    const first = alice.page.locator('#messages .msg.own:has(.body:text-is("first"))');
    await first.hover();
    await first.locator('.delete-message').click();
    await h.waitForBubbles(bob.page, ['This message was deleted', 'second']);
    await h.waitForBubbles(alice.page, ['This message was deleted', 'second']);
    assert.equal(
        await bob.page
            .locator('#messages .msg.other :is(.edit-message, .delete-message):not([hidden])')
            .count(),
        0);
    // Changes are never unread: the open conversation's badge stays clear.
    await bob.page.waitForSelector(`[data-conv="${conv}"][data-unread="0"]`);
    await h.screenshot(bob.page, 'changed-messages');

    const response = await fetch(
        `${server.baseUrl}/api/conversations/${conv}/messages`,
        {headers: {Authorization: `Bearer ${await bob.token()}`}});
    const byseq = new Map((await response.json()).messages.map((m) => [m.seq, m]));
    assert.equal(byseq.get(1).deleted, true);
    assert.equal(byseq.get(2).body, 'second');
    assert.ok(byseq.get(2).edited_at > 0);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});
