// Threads in the web app (PROTOCOL.md, "Replies and threads"): the message menu's "Reply in
// thread" opens the thread panel (the root at the top, its replies under it, a composer that
// sends into the thread); a root shows "N replies · last reply …" under its body, counted live
// from the thread replies' `message` events, with a mark while the thread has replies by others
// the user has not read (the panel open and visible reads them: `thread_read`). Replies reach an
// open panel live, Escape closes it, and after a reload the counts are the server's and the
// unread mark the server's thread watermark. A long thread pages its older replies, and "Reply
// in thread" on a reply whose root is older than the history read opens that root's thread.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';
import {browser, server} from './harness.js';

h.serveThisFile();

/** A group of `users` made by the first through the API, opened on every page. */
async function group(users, name) {
  const [owner, ...others] = users;
  const response = await fetch(`${server.baseUrl}/api/conversations`, {
    method: 'POST',
    headers: {Authorization: `Bearer ${await owner.token()}`, 'Content-Type': 'application/json'},
    body: JSON.stringify({members: others.map((u) => u.userId), name, group: true}),
  });
  const answer = await response.text();
  assert.equal(response.status, 201, answer);
  const {id} = JSON.parse(answer);
  for (const user of users) await user.page.click(`[data-conv="${id}"]`);
  return id;
}

/** Sets `user`'s display name through the API. */
async function displayName(user, name) {
  const response = await fetch(`${server.baseUrl}/api/me`, {
    method: 'PATCH',
    headers: {Authorization: `Bearer ${await user.token()}`, 'Content-Type': 'application/json'},
    body: JSON.stringify({display_name: name}),
  });
  assert.equal(response.status, 200, await response.text());
}

/**
 * `user` on another device: a browser context of its own (nothing stored), signed in with the
 * form, conversation `conv` opened.
 */
async function otherDevice(user, conv) {
  const context =
      await browser.newContext({viewport: {width: 1100, height: 720}, baseURL: server.baseUrl});
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.setDefaultTimeout(h.WAIT_MS);
  await page.goto('/');
  await page.fill('#login-username', user.username);
  await page.fill('#login-password', h.PASSWORD);
  await page.click('button[data-action=login]');
  await h.connected(page);
  await page.click(`[data-conv="${conv}"]`);
  return {context, page, errors};
}

/** The line under root message `text` on `page`, read or unread ('[data-unread]'). */
const summaryOf = (page, text, state = '') =>
    page.locator(`#messages .msg:has(> .body:text-is("${text}")) .thread-summary${state}`);

/** Opens the thread of message `text` from its menu. */
async function replyInThread(page, text) {
  const message = page.locator(`#messages .msg:has(> .body:text-is("${text}"))`);
  await message.hover();
  await message.locator('.thread-message').click();
  await page.waitForSelector('#thread:not([hidden])');
}

/** Sends `text` from the thread panel's composer. */
async function sendInThread(page, text) {
  await page.fill('#thread-input', text);
  await page.press('#thread-input', 'Enter');
}

/** The thread panel's bodies, root first. */
async function threadBodies(page) {
  return page.$$eval('#thread-messages .msg .body', (els) => els.map((el) => el.textContent));
}

async function waitForThread(page, texts) {
  await page
      .waitForFunction(
          (want) =>
              JSON.stringify([...document.querySelectorAll('#thread-messages .msg .body')].map(
                  (el) => el.textContent)) === JSON.stringify(want),
          texts, {timeout: h.WAIT_MS})
      .catch(async (error) => {
        throw new Error(`thread ${JSON.stringify(await threadBodies(page))}, wanted ${
            JSON.stringify(texts)}: ${error.message}`);
      });
}

test(
    'a thread: counts and unread live, the panel both ways, the server\'s state after a reload',
    async () => {
      const [alice, bob] = await h.newUsers(browser, server, ['alice', 'bob']);
      try {
        await displayName(alice, 'Alice Liddell');
        await displayName(bob, 'Bob Dylan');
        const conv = await group([alice, bob], 'Trip');
        const root = 'who brings the tent?';
        await h.send(alice.page, root);
        await h.waitForBubbles(bob.page, [root]);

        // Bob replies in the thread from the menu: the panel shows the root, then his reply.
        await replyInThread(bob.page, root);
        await bob.page.waitForSelector(
            `#thread-messages .thread-root:has(.sender-name:text-is("Alice Liddell")) ` +
            `.body:text-is("${root}")`);
        await bob.page.waitForSelector('#thread-messages .thread-count:text-is("No replies yet")');
        assert.equal(await bob.page.evaluate(() => document.activeElement?.id), 'thread-input');
        await sendInThread(bob.page, 'I will, and the stove');
        await bob.page.waitForSelector(
            '#thread-messages .msg.own:has(.sender-name:text-is("Bob Dylan")) ' +
            '.body:text-is("I will, and the stove")');
        await bob.page.waitForSelector('#thread-messages .thread-count:text-is("1 reply")');

        // Alice: the reply in the conversation (as a reply, quoting the root), and the root's
        // line, unread, live.
        await h.waitForBubbles(alice.page, [root, 'I will, and the stove']);
        assert.equal(
            await alice.page.textContent(
                '#messages .msg:has(> .body:text-is("I will, and the stove")) .quote'),
            `Alice Liddell: ${root}`);
        await summaryOf(alice.page, root, '[data-unread]').waitFor();
        assert.match(
            await summaryOf(alice.page, root).textContent(), /^1 reply · last reply \S.*$/);
        // Bob's own reply is no unread one for him.
        await summaryOf(bob.page, root, ':not([data-unread])').waitFor();

        // Alice opens the thread from the line: read, and she answers in it.
        await summaryOf(alice.page, root).click();
        await waitForThread(alice.page, [root, 'I will, and the stove']);
        await alice.page.waitForSelector(
            '#thread-messages .msg.other .sender-name:text-is("Bob Dylan")');
        await summaryOf(alice.page, root, ':not([data-unread])').waitFor();
        await sendInThread(alice.page, 'thanks! I bring the food');

        // Bob's open panel gets it live, and reads it: no unread mark on his line.
        await waitForThread(bob.page, [root, 'I will, and the stove', 'thanks! I bring the food']);
        await bob.page.waitForSelector(
            '#thread-messages .msg.other:has(.sender-name:text-is("Alice Liddell")) ' +
            '.body:text-is("thanks! I bring the food")');
        await bob.page.waitForSelector('#thread-messages .thread-count:text-is("2 replies")');
        await summaryOf(bob.page, root, ':not([data-unread])').waitFor();
        assert.match(await summaryOf(bob.page, root).textContent(), /^2 replies · /);
        // Thread replies stay messages of the conversation, as the server has them.
        await h.waitForBubbles(
            bob.page, [root, 'I will, and the stove', 'thanks! I bring the food']);
        await bob.page.mouse.move(900, 500);  // No message menu over the conversation.
        await h.screenshot(bob.page, 'threads');

        // Escape closes Alice's panel; the focus is back on the line that opened it.
        await alice.page.press('#thread-input', 'Escape');
        await alice.page.waitForSelector('#thread', {state: 'hidden'});
        assert.equal(
            await alice.page.evaluate(() => document.activeElement?.className), 'thread-summary');
        await bob.page.click('#thread-close');
        await bob.page.waitForSelector('#thread', {state: 'hidden'});

        // A third reply, sent from Alice's menu on her own root while Bob's panel is closed:
        // his line counts it, unread.
        await replyInThread(alice.page, root);
        await sendInThread(alice.page, 'and the map');
        await waitForThread(
            alice.page, [root, 'I will, and the stove', 'thanks! I bring the food', 'and the map']);
        await alice.page.press('#thread-input', 'Escape');
        await summaryOf(bob.page, root, '[data-unread]').waitFor();
        assert.match(await summaryOf(bob.page, root).textContent(), /^3 replies · /);

        // Reloaded, the page keeps the counts. Bob's other device, with nothing stored, has
        // the server's counts and learns his thread watermark from the server (unread since
        // Alice's third reply); opening the thread there reads it, for the first device too.
        await alice.page.reload();
        await h.connected(alice.page);
        await summaryOf(alice.page, root, ':not([data-unread])').waitFor();
        assert.match(await summaryOf(alice.page, root).textContent(), /^3 replies · /);
        const phone = await otherDevice(bob, conv);
        try {
          await summaryOf(phone.page, root, '[data-unread]').waitFor();
          assert.match(await summaryOf(phone.page, root).textContent(), /^3 replies · /);
          await summaryOf(phone.page, root).click();
          await waitForThread(
              phone.page,
              [root, 'I will, and the stove', 'thanks! I bring the food', 'and the map']);
          await summaryOf(phone.page, root, ':not([data-unread])').waitFor();
          assert.deepEqual(phone.errors, []);
        } finally {
          await phone.context.close();
        }

        // The server: the root's count and newest reply, each reply in its thread.
        const response = await fetch(
            `${server.baseUrl}/api/conversations/${conv}/messages`,
            {headers: {Authorization: `Bearer ${await alice.token()}`}});
        const messages = (await response.json()).messages;
        const stored = messages.find((m) => m.body === root);
        const last = messages.find((m) => m.body === 'and the map');
        assert.deepEqual([stored.reply_count, stored.last_reply_seq], [3, last.seq]);
        assert.deepEqual(
            messages.filter((m) => m.thread_root === stored.seq).map((m) => m.body).reverse(),
            ['I will, and the stove', 'thanks! I bring the food', 'and the map']);
      } finally {
        assert.deepEqual([...alice.errors, ...bob.errors], []);
        await Promise.all([alice, bob].map((u) => u.context.close()));
      }
    });

test('a long thread pages older replies; a reply opens its root\'s thread', async () => {
  await h.withUsers(['alice', 'bob'], async (alice, bob) => {
    const conv = await group([alice, bob], 'Long');
    await h.send(alice.page, 'the plan');
    await replyInThread(alice.page, 'the plan');
    const replies = Array.from({length: 34}, (_, i) => `step ${i + 1}`);
    for (const text of replies) await sendInThread(alice.page, text);
    await waitForThread(alice.page, ['the plan', ...replies]);

    // Bob's other device reads the newest history page: the last 30 replies, not the root.
    // "Reply in thread" on one of them opens the root's thread (the root read for it), its
    // newest page; "Older replies" the rest, oldest at the top.
    const phone = await otherDevice(bob, conv);
    try {
      await h.waitForBubbles(phone.page, replies.slice(-30));
      await replyInThread(phone.page, 'step 34');
      await waitForThread(phone.page, ['the plan', ...replies.slice(-30)]);
      await phone.page.waitForSelector('#thread-messages .thread-count:text-is("34 replies")');
      await phone.page.click('#thread-messages .thread-older-button');
      await waitForThread(phone.page, ['the plan', ...replies]);
      assert.equal(await phone.page.locator('#thread-messages .thread-older-button').count(), 0);
      assert.deepEqual(phone.errors, []);
    } finally {
      await phone.context.close();
    }
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});
