// Fixes of the web app's layout and error handling (issue 23): a long last message keeps the
// row's time and badge in view; a send the server refuses says why and can be discarded; the
// composer counts its limit in UTF-8 bytes as the server does; the offline banner shows on a
// phone with a conversation open; sign-in errors and search results do not outlive their
// cause.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';
import {browser, server} from './harness.js';

h.serveThisFile();

test('a long last message is cut with an ellipsis; a phone shows the offline banner', async () => {
  const alice = await h.newUser(browser, server, h.uniqueName('alice'));
  const bob = await h.newUser(browser, server, h.uniqueName('bob'), {width: 390, height: 760});
  try {
    const conv = await h.startChat(alice.page, [bob.username]);
    await h.send(alice.page, 'word '.repeat(200));
    const row = `[data-conv="${conv}"]`;
    await bob.page.waitForSelector(`${row}[data-unread="1"]`);
    const box = await bob.page.$eval(row, (button) => {
      const rect = (s) => button.querySelector(s).getBoundingClientRect();
      const preview = button.querySelector('.conv-preview');
      return {
        row: button.getBoundingClientRect().right,
        badge: rect('.badge').right,
        time: rect('.conv-time').right,
        cut: preview.scrollWidth > preview.clientWidth,
        overflow: getComputedStyle(preview).textOverflow,
      };
    });
    assert.ok(box.badge <= box.row, `badge ends at ${box.badge}, the row at ${box.row}`);
    assert.ok(box.time <= box.row, `time ends at ${box.time}, the row at ${box.row}`);
    assert.ok(box.cut);
    assert.equal(box.overflow, 'ellipsis');

    // With the conversation open (the list hidden), the connection's banner still shows.
    await bob.page.click(row);
    await bob.page.waitForSelector('#composer:not([hidden])');
    assert.equal(await bob.page.isVisible('.sidebar'), false);
    bob.link.mode = 'down';
    bob.link.cut();
    await bob.page.waitForSelector('#connection:text-matches("^Offline|^Connecting")');
    assert.equal(await bob.page.isVisible('#connection'), true);
    bob.link.mode = 'pass';
    await h.connected(bob.page);
    await bob.page.waitForSelector('#connection', {state: 'hidden'});
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
});

test('the composer counts UTF-8 bytes against the server\'s limit', async () => {
  await h.withUsers(['alice', 'bob'], async (alice, bob) => {
    const conv = await h.startChat(alice.page, [bob.username]);
    // 40000 'é': 40000 UTF-16 units (under a maxlength of 65536) but 80000 UTF-8 bytes.
    await alice.page.fill('#composer-input', 'é'.repeat(40000));
    await alice.page.waitForSelector('#composer-count:text-is("80000 / 65536 bytes: too long")');
    assert.equal(await alice.page.isDisabled('#send-button'), true);
    await alice.page.press('#composer-input', 'Enter');
    await alice.page.waitForTimeout(300);
    assert.equal(await alice.page.$$eval('#messages .msg', (els) => els.length), 0);
    assert.deepEqual(await h.storedBodies(server, alice, conv), []);
    // Back under the limit: the count goes and the send goes out.
    await h.send(alice.page, 'é'.repeat(32768));
    await alice.page.waitForSelector('#composer-count:empty', {state: 'attached'});
    await h.waitForTick(alice.page, 'é'.repeat(32768), 'delivered');
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});

test('a refused send shows the server\'s reason and can be retried or discarded', async () => {
  // A server whose --max-chat-body is below the page's: it refuses what the composer lets by.
  const strict = await h.startServer(['--max-chat-body', '64']);
  const alice = await h.newUser(browser, strict, h.uniqueName('alice'));
  const bob = await h.newUser(browser, strict, h.uniqueName('bob'));
  try {
    const conv = await h.startChat(alice.page, [bob.username]);
    const long = 'x'.repeat(100);
    await h.send(alice.page, long);
    const bubble = `#messages .msg.own[data-state="failed"]:has(.body:text-is("${long}"))`;
    await alice.page.waitForSelector(
        `${bubble} .send-error:text-is("Not sent: body longer than 64 bytes")`);
    await alice.page.waitForSelector(`${bubble} button.retry`);
    await alice.page.click(`${bubble} button.discard`);
    await alice.page.waitForSelector(bubble, {state: 'detached'});
    // Gone from the outbox too: a reload does not bring it back.
    await alice.page.reload();
    await h.connected(alice.page);
    await alice.page.waitForSelector('#composer:not([hidden])');
    assert.equal(await alice.page.$$eval('#messages .msg', (els) => els.length), 0);
    await h.send(alice.page, 'short');
    await h.waitForTick(alice.page, 'short', 'delivered');
    assert.deepEqual(await h.storedBodies(strict, alice, conv), ['short']);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  } finally {
    await alice.context.close();
    await bob.context.close();
    await strict.dispose();
  }
});

test('a sign-in error goes once the fields change; old search results go at once', async () => {
  const context = await browser.newContext({viewport: {width: 1100, height: 720}});
  const bob = await h.newUser(browser, server, h.uniqueName('bob'));
  try {
    const page = await context.newPage();
    await page.goto(`${server.baseUrl}/`);
    await page.fill('#login-username', 'nobody');
    await page.fill('#login-password', 'not the password');
    await page.click('button[data-action=login]');
    await page.waitForSelector('#login-error:text-is("Wrong username or password.")');
    await page.fill('#login-password', 'another try');
    await page.waitForSelector('#login-error:empty', {state: 'attached'});

    // The search results of "bob…" must not stay while the server answers a search for "zz".
    const alice = await h.newUser(browser, server, h.uniqueName('alice'));
    await alice.page.click('#new-chat-button');
    await alice.page.fill('#user-search', bob.username);
    await alice.page.waitForSelector(
        `#user-results button .person-name:text-is("${bob.username}")`);
    await alice.context.route(/\/api\/users\?q=zz/, async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await route.continue().catch(() => {});
    });
    await alice.page.fill('#user-search', 'zz');
    await alice.page.waitForSelector(
        `#user-results button .person-name:text-is("${bob.username}")`,
        {state: 'detached', timeout: 1000});
    await alice.page.waitForSelector('#user-results li:text-is("Nobody by that name")');
    await alice.context.close();
    assert.deepEqual(bob.errors, []);
  } finally {
    await context.close();
    await bob.context.close();
  }
});
