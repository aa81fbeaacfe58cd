// Mentions and mute in the web app: `@` completion of the group's members, the mention
// highlighted (for the mentioned member as "me"), the "@" mark in the list and the Mentions
// dialog that opens the conversation; muting and unmuting from the header, checked against
// the server's conversation list.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';
import {server} from './harness.js';

h.serveThisFile();

test('@ completion, highlighted mentions, the mentions view; mute and unmute', async () => {
  await h.withUsers(['alice', 'bob', 'carol'], async (alice, bob, carol) => {
    const conv = await h.startChat(alice.page, [bob.username, carol.username], 'Plans');
    // Names are known once the list has them; "@" and the first letters offer bob only.
    await alice.page.fill('#composer-input', 'ask @');
    await alice.page.waitForSelector('#mention-list li[role=option] >> nth=1');
    await alice.page.type('#composer-input', bob.username.slice(0, 3));
    await alice.page.waitForFunction(
        (name) => [...document.querySelectorAll('#mention-list li')]
                      .map((li) => li.textContent)
                      .join() === `@${name}`,
        bob.username);
    await h.screenshot(alice.page, 'mention-completion');
    await alice.page.press('#composer-input', 'Enter');  // picks, does not send
    assert.equal(await alice.page.inputValue('#composer-input'), `ask @${bob.username} `);
    await alice.page.type('#composer-input', 'about friday');
    await alice.page.press('#composer-input', 'Enter');
    const text = `ask @${bob.username} about friday`;
    await h.waitForTick(alice.page, text, 'delivered');
    await alice.page.waitForSelector(`#messages .mention:text-is("@${bob.username}")`);

    // Bob: the "@" mark in the list, the mention as his in the bubble.
    await bob.page.waitForSelector(`[data-conv="${conv}"][data-mentions="1"] .mention-badge`);
    await carol.page.waitForSelector(`[data-conv="${conv}"][data-unread="1"][data-mentions="0"]`);
    await bob.page.click('#mentions-button');
    const item = bob.page.locator(`#mentions-list .mention-item[data-conv="${conv}"]`);
    await item.locator(`.mention-body:text-is("${text}")`).waitFor();
    await h.screenshot(bob.page, 'mentions');
    await item.click();
    await h.waitForBubbles(bob.page, [text]);
    await bob.page.waitForSelector(`#messages .mention.me:text-is("@${bob.username}")`);
    await bob.page.waitForSelector(`[data-conv="${conv}"][data-mentions="0"]`);

    // Mute from the header: the server has it, the list says so; then unmute.
    await bob.page.click('#mute-button');
    await bob.page.waitForSelector('#mute-button[aria-pressed="true"]');
    await bob.page.waitForSelector(`[data-conv="${conv}"] .muted-icon:visible`);
    assert.equal((await h.storedConversation(server, bob, conv)).muted_until, 'forever');
    await bob.page.click('#mute-button');
    await bob.page.waitForSelector('#mute-button[aria-pressed="false"]');
    assert.equal((await h.storedConversation(server, bob, conv)).muted_until, null);
    assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], []);
  });
});
