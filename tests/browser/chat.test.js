// The web app in headless Chromium against the real server: two (or three) users, each in a
// browser context of their own, chatting through the UI. Checks what the user sees (the DOM)
// and, where it matters, what the server stored (HTTP history). Saves screenshots of the main
// screens (harness.js, SCREENSHOTS).

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';
import {browser, server} from './harness.js';

h.serveThisFile();

/** The unread badge of conversation `conv` in `page`'s list ('' when none). */
async function badge(page, conv) {
  return page.$eval(`[data-conv="${conv}"]`, (el) => el.dataset.unread);
}

async function waitForBadge(page, conv, count) {
  await page.waitForSelector(`[data-conv="${conv}"][data-unread="${count}"]`, {state: 'attached'});
}

test('the sign-in screen', async () => {
  const context = await browser.newContext({viewport: {width: 1100, height: 720}});
  try {
    const page = await context.newPage();
    await page.goto(`${server.baseUrl}/`);
    await page.waitForSelector('#login-username:focus');
    // A wrong password is refused with a message, and the form stays.
    await page.fill('#login-username', 'nobody');
    await page.fill('#login-password', 'not the password');
    await page.click('button[data-action=login]');
    await page.waitForSelector('#login-error:text-is("Wrong username or password.")');
    await page.fill('#login-username', 'alice');
    await page.fill('#login-password', '');
    await h.screenshot(page, 'login');
    // Create an account (signed in at once), then sign out: the form again, no session kept.
    await page.fill('#login-username', 'dave');
    await page.fill('#login-password', h.PASSWORD);
    await page.click('button[data-action=register]');
    await h.connected(page);
    await page.waitForSelector('#me:text-is("dave")');
    await page.click('#logout-button');
    await page.waitForSelector('#login-username:focus');
    assert.equal(await page.evaluate(() => localStorage.getItem('ringcast:session')), null);
  } finally {
    await context.close();
  }
});

test('two users find each other and chat: ticks, typing, unread badges', async () => {
  // Plain names (the first users of this file's server): they are in the screenshots.
  const alice = await h.newUser(browser, server, 'alice');
  // Bob is on a phone: one pane at a time.
  const bob = await h.newUser(browser, server, 'bob', {width: 390, height: 760});
  try {
    const conv = await h.startChat(
        alice.page, [bob.username], undefined, (page) => h.screenshot(page, 'new-chat-dialog'));
    await h.send(alice.page, 'hello bob');
    // Sent, then delivered (bob's app is connected, and has not opened the chat).
    await h.waitForTick(alice.page, 'hello bob', 'delivered');
    // Bob's list: the chat, named after alice (the server names her id), with one unread: her
    // message (starting a chat sends nothing into it).
    const item = bob.page.locator(`[data-conv="${conv}"]`);
    await item.locator(`.conv-name:text-is("${alice.username}")`).waitFor();
    await waitForBadge(bob.page, conv, 1);
    // Alice knows bob is online at once (a contact met while both are connected).
    await alice.page.waitForSelector(`[data-conv="${conv}"] .dot:visible`);
    assert.equal(await h.tickOf(alice.page, 'hello bob'), 'delivered');
    await h.screenshot(bob.page, 'phone-list');

    // Bob opens it (his list gives way to the conversation): read, so alice sees it seen.
    await item.click();
    await bob.page.locator('.sidebar').waitFor({state: 'hidden'});
    await h.waitForBubbles(bob.page, ['hello bob']);
    await h.waitForTick(alice.page, 'hello bob', 'seen');
    await waitForBadge(bob.page, conv, 0);
    assert.equal((await h.storedConversation(server, bob, conv)).unread, 0);

    // Typing shows while bob types, and clears when he empties the field.
    await bob.page.fill('#composer-input', 'hi al');
    await alice.page.waitForSelector('#typing:text-is("typing…")');
    await alice.page.waitForSelector(`[data-conv="${conv}"] .conv-preview:text-is("typing…")`);
    await h.screenshot(alice.page, 'conversation');
    await bob.page.fill('#composer-input', '');
    await alice.page.waitForSelector('#typing:empty');
    // ...and when his message arrives.
    await bob.page.fill('#composer-input', 'hi alice');
    await alice.page.waitForSelector('#typing:text-is("typing…")');
    await bob.page.press('#composer-input', 'Enter');
    await h.waitForBubbles(alice.page, ['hello bob', 'hi alice']);
    await alice.page.waitForSelector('#typing:empty');
    // Alice has the chat on screen: bob's message is seen at once.
    await h.waitForTick(bob.page, 'hi alice', 'seen');
    await h.screenshot(bob.page, 'phone-conversation');

    // Escape goes back to the list (on the phone: the list pane again, focus on the chat).
    await bob.page.press('#composer-input', 'Escape');
    await bob.page.waitForSelector('.sidebar', {state: 'visible'});
    assert.equal(await bob.page.evaluate(() => document.activeElement?.dataset.conv), String(conv));

    // Unread badges count and clear: alice leaves the chat, bob sends two.
    await alice.page.press('#composer-input', 'Escape');
    await alice.page.waitForSelector('#composer', {state: 'hidden'});
    await item.click();
    await h.send(bob.page, 'are you there?');
    await h.send(bob.page, 'alice?');
    await waitForBadge(alice.page, conv, 2);
    assert.equal((await h.storedConversation(server, alice, conv)).unread, 2);
    await h.waitForTick(bob.page, 'alice?', 'delivered');
    await h.screenshot(alice.page, 'conversation-list');
    // Keyboard: the chat's button in the list, Enter opens it.
    await alice.page.focus(`[data-conv="${conv}"]`);
    await alice.page.keyboard.press('Enter');
    await h.waitForBubbles(alice.page, ['hello bob', 'hi alice', 'are you there?', 'alice?']);
    await waitForBadge(alice.page, conv, 0);
    await h.waitForTick(bob.page, 'alice?', 'seen');
    assert.equal((await h.storedConversation(server, alice, conv)).unread, 0);
    assert.deepEqual(
        await h.storedBodies(server, alice, conv),
        ['hello bob', 'hi alice', 'are you there?', 'alice?']);

    // Presence: bob is online (a dot in the list, "online" in the header), then last seen once
    // his page is gone.
    await alice.page.waitForSelector(`[data-conv="${conv}"] .dot:visible`);
    await alice.page.waitForSelector('#conv-status:text-is("online")');
    await bob.context.close();
    await alice.page.waitForSelector('#conv-status:text-matches("^last seen today at ")');
    await alice.page.waitForSelector(`[data-conv="${conv}"] .dot`, {state: 'hidden'});
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
});

test('a group of three', async () => {
  await h.withUsers(['alice', 'bob', 'carol'], async (alice, bob, carol) => {
    const conv = await h.startChat(alice.page, [bob.username, carol.username], 'Weekend');
    await h.send(alice.page, 'who is in?');
    for (const user of [bob, carol]) {
      await user.page.locator(`[data-conv="${conv}"] .conv-name:text-is("Weekend")`).click();
      await h.waitForBubbles(user.page, ['who is in?']);
    }
    // Seen only once both have read it.
    await h.waitForTick(alice.page, 'who is in?', 'seen');
    await h.send(bob.page, 'me');
    await h.waitForBubbles(carol.page, ['who is in?', 'me']);
    await h.send(carol.page, 'me too');
    for (const user of [alice, bob, carol]) {
      await h.waitForBubbles(user.page, ['who is in?', 'me', 'me too']);
    }
    // Other people's messages carry their names, as the server names their ids.
    const senders = await alice.page.$$eval(
        '#messages .msg.other .sender', (els) => els.map((e) => e.textContent));
    assert.deepEqual(senders, [bob.username, carol.username]);
    await alice.page.waitForSelector('#conv-status:text-matches("^3 members")');
    assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], []);
  });
});

test('older messages load while scrolling up', async () => {
  await h.withUsers(['alice', 'bob'], async (alice, bob) => {
    const conv = await h.startChat(alice.page, [bob.username]);
    // 80 messages from a second client of alice's: the SDK imported from /sdk/ as any page
    // would, with its own storage (so that it does not share the app's outbox).
    await alice.page.evaluate(async ({conv, username, password}) => {
      const {MemoryStorage, RingcastClient} = await import('/sdk/index.js');
      const client = new RingcastClient({storage: new MemoryStorage()});
      await client.login(username, password);
      client.connect();
      const sends = [];
      for (let i = 1; i <= 80; i++) sends.push(client.send(conv, `m${i}`).acked);
      await Promise.all(sends);
      client.close();
    }, {conv, username: alice.username, password: h.PASSWORD});
    // Bob's app received them live; after a reload it has none and pages through history.
    await bob.page.reload();
    await h.connected(bob.page);
    await bob.page.locator(`[data-conv="${conv}"]`).click();
    const all = Array.from({length: 80}, (_, i) => `m${i + 1}`);
    await bob.page.waitForSelector('#messages .msg:has(.body:text-is("m80"))');
    // The newest page first (the view is scrolled to the bottom)...
    assert.ok((await h.bubbles(bob.page)).length < 80);
    // ...then scrolling to the top loads the rest, in order, each once.
    // Each page loads when the top is reached; on a busy machine a page may take longer than a
    // scroll step, so scrolling goes on until every message is in, within the wait's bound.
    const deadline = Date.now() + 10_000;
    while ((await h.bubbles(bob.page)).length < 80 && Date.now() < deadline) {
      await bob.page.$eval('#messages', (el) => (el.scrollTop = 0));
      await bob.page.waitForTimeout(150);
    }
    await h.waitForBubbles(bob.page, all);
    assert.equal(await bob.page.$$eval('#messages .day', (els) => els.length), 1);
    assert.equal(await bob.page.isVisible('#messages .sentinel'), false);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});

test('a hidden page notifies, and reads only once visible again', async () => {
  await h.withUsers(['alice', 'bob'], async (alice, bob) => {
    const conv = await h.startChat(alice.page, [bob.username]);
    await bob.context.grantPermissions(['notifications'], {origin: server.baseUrl});
    // Headless Chromium cannot hide a tab: bob's page is told it is hidden (visibilityState and
    // the event, as a browser does), and the notifications it shows are recorded on their way.
    await bob.page.evaluate(() => {
      window.hiddenForTest = false;
      Object.defineProperty(
          document, 'visibilityState', {get: () => (window.hiddenForTest ? 'hidden' : 'visible')});
      window.shown = [];
      const Real = window.Notification;
      window.Notification = class extends Real {
        constructor(title, options) {
          super(title, options);
          window.shown.push({title, body: options?.body});
        }
        static get permission() {
          return Real.permission;
        }
      };
    });
    await bob.page.locator(`[data-conv="${conv}"]`).click();
    await bob.page.waitForSelector(`#conv-name:text-is("${alice.username}")`);
    await bob.page.evaluate(() => {
      window.hiddenForTest = true;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await h.send(alice.page, 'psst');
    await bob.page.waitForFunction(() => window.shown.length === 1);
    assert.deepEqual(
        await bob.page.evaluate(() => window.shown), [{title: alice.username, body: 'psst'}]);
    // On bob's screen but hidden: delivered, not seen...
    await h.waitForTick(alice.page, 'psst', 'delivered');
    await alice.page.waitForTimeout(300);
    assert.equal(await h.tickOf(alice.page, 'psst'), 'delivered');
    // ...until the page is visible again.
    await bob.page.evaluate(() => {
      window.hiddenForTest = false;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await h.waitForTick(alice.page, 'psst', 'seen');
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});
