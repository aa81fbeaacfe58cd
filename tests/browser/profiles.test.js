// Profiles and account control in the web app (proto/PROTOCOL.md "Profiles", "Account
// control"): a display name, status and avatar set in the settings panel and seen live on
// another user's screen (list, header, search by a display-name word, a group's sender and
// members dialog); the signed-in devices, one signed out from another; a password change
// signing the other device out; block and unblock from a 1:1's header and the blocked list;
// account deletion. One server and one pair of users for the file, the steps in order.

import assert from 'node:assert/strict';
import {before, describe, test} from 'node:test';

import {makePng} from '../../clients/js/test/png.js';

import * as h from './harness.js';
import {browser, server} from './harness.js';

h.serveThisFile();

const NEW_PASSWORD = 'a brand new passphrase';
/** @type {Awaited<ReturnType<typeof h.newUser>>} */
let alice;
/** @type {Awaited<ReturnType<typeof h.newUser>>} */
let bob;
/** Alice's second device: a context of its own, signed in with the form. */
let second;
let conv = 0;

/** Signs `page` in with the form (it shows the sign-in screen). */
async function signIn(page, username, password) {
  await page.fill('#login-username', username);
  await page.fill('#login-password', password);
  await page.click('button[data-action=login]');
  await h.connected(page);
}

/** The server's answer to one of `user`'s requests. */
async function api(user, path) {
  const response = await fetch(
      `${server.baseUrl}${path}`, {headers: {Authorization: `Bearer ${await user.token()}`}});
  return response.json();
}

describe('profiles and account control', () => {
  before(async () => {
    [alice, bob] = await h.newUsers(browser, server, ['alice', 'bob']);
    conv = await h.startChat(alice.page, [bob.username]);
    await h.send(alice.page, 'hello');
    await bob.page.click(`[data-conv="${conv}"]`);
    await h.waitForBubbles(bob.page, ['hello']);
  });

  test('a display name, status and avatar, seen live by another user', async () => {
    await alice.page.click('#settings-button');
    await alice.page.fill('#profile-display-name', 'Alice Liddell');
    await alice.page.fill('#profile-status', 'Down the rabbit hole');
    await alice.page.setInputFiles(
        '#avatar-input', {name: 'me.png', mimeType: 'image/png', buffer: makePng(96, 96)});
    // The preview, before anything is sent.
    await alice.page.waitForSelector('#profile-avatar img.avatar-img[src^="blob:"]');
    await h.screenshot(alice.page, 'settings-profile');
    await alice.page.click('#profile-save');
    await alice.page.waitForSelector('#profile-message:text-is("Profile saved.")');
    await alice.page.press('#settings', 'Escape');
    await alice.page.waitForSelector('#me:text-is("Alice Liddell")');

    // Bob's screen, without a reload: the list, the header, the avatar's thumbnail loaded.
    const item = bob.page.locator(`[data-conv="${conv}"]`);
    await item.locator('.conv-name:text-is("Alice Liddell")').waitFor();
    await bob.page.waitForFunction(
        (c) => /** @type {HTMLImageElement} */ (
                   document.querySelector(`[data-conv="${c}"] img.avatar-img`))
                   ?.naturalWidth > 0,
        conv);
    await bob.page.waitForSelector('#conv-name:text-is("Alice Liddell")');
    await bob.page.waitForSelector('#conv-status:text-matches("Down the rabbit hole$")');
    // Found by a word of the display name, shown with it, the username and the avatar.
    await bob.page.click('#new-chat-button');
    await bob.page.fill('#user-search', 'lidd');
    const pick = bob.page.locator(`#user-results button[data-user="${alice.userId}"]`);
    await pick.locator('.person-name:text-is("Alice Liddell")').waitFor();
    await pick.locator(`.person-username:text-is("@${alice.username}")`).waitFor();
    await pick.locator('img.avatar-img:visible').waitFor();
    await h.screenshot(bob.page, 'search-display-name');
    await bob.page.click('#new-chat-form button[value=cancel]');
    await bob.page.waitForSelector('#new-chat', {state: 'hidden'});

    // A group: the sender's name and avatar on her message, and the members dialog.
    const response = await fetch(`${server.baseUrl}/api/conversations`, {
      method: 'POST',
      headers: {Authorization: `Bearer ${await alice.token()}`},
      body: JSON.stringify({members: [bob.userId], name: 'Tea', group: true}),
    });
    const group = (await response.json()).id;
    await alice.page.click(`[data-conv="${group}"]`);
    await h.send(alice.page, 'tea?');
    await bob.page.click(`[data-conv="${group}"]`);
    await h.waitForBubbles(bob.page, ['tea?']);
    const sender = bob.page.locator('#messages .msg.other .sender');
    await sender.locator('.sender-name:text-is("Alice Liddell")').waitFor();
    await sender.locator('img.avatar-img').waitFor();
    await bob.page.click('#members-button');
    const member = bob.page.locator(`#members-list [data-user="${alice.userId}"]`);
    await member.locator('.person-name:text-is("Alice Liddell")').waitFor();
    await member
        .locator(`.person-about:text-is("@${alice.username} · online · Down the rabbit hole")`)
        .waitFor();
    await member.locator('img.avatar-img').waitFor();
    await bob.page.waitForSelector(
        `#members-list [data-user="${bob.userId}"] .person-name:text-is("${bob.username} (you)")`);
    await h.screenshot(bob.page, 'group-members');
    await bob.page.click('#members-close');
    await Promise.all([alice, bob].map((u) => u.page.click(`[data-conv="${conv}"]`)));

    const me = await api(alice, '/api/me');
    assert.equal(me.display_name, 'Alice Liddell');
    assert.match(me.avatar_thumb, /^\/files\/.+\/thumb$/);
  });

  test('the signed-in devices: one signed out from the other', async () => {
    const context = await browser.newContext({baseURL: server.baseUrl});
    const page = await context.newPage();
    page.setDefaultTimeout(h.WAIT_MS);
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));
    second = {context, page, errors};
    await page.goto('/');
    await signIn(page, alice.username, h.PASSWORD);

    await alice.page.click('#settings-button');
    const other = alice.page.locator('#sessions-list .session[data-current="false"]');
    await alice.page.waitForSelector(
        '#sessions-list .session[data-current="true"] .session-current');
    await other.locator('.session-agent:text-matches("Chrome")').waitFor();
    await other.locator('.session-meta:text-matches("last used today at")').waitFor();
    await alice.page.locator('#sessions-list').scrollIntoViewIfNeeded();
    await h.screenshot(alice.page, 'settings-sessions');
    await other.locator('.session-end').click();
    await page.waitForSelector('#login-error:text-is("Your session has ended: sign in again.")');
    await alice.page.waitForFunction(
        () => document.querySelectorAll('#sessions-list .session').length === 1);
    assert.equal((await api(alice, '/api/me/sessions')).sessions.length, 1);
  });

  test('a password change signs the other device out', async () => {
    await signIn(second.page, alice.username, h.PASSWORD);
    await alice.page.fill('#password-current', 'not the password');
    await alice.page.fill('#password-new', NEW_PASSWORD);
    await alice.page.click('#password-form button[type=submit]');
    await alice.page.waitForSelector('#password-message:text-is("Not changed: wrong password")');
    await alice.page.fill('#password-current', h.PASSWORD);
    await alice.page.fill('#password-new', NEW_PASSWORD);
    await alice.page.click('#password-form button[type=submit]');
    await alice.page.waitForSelector(
        '#password-message:text-is("Password changed. One other device was signed out.")');
    await second.page.waitForSelector(
        '#login-error:text-is("Your session has ended: sign in again.")');
    await h.connected(alice.page);  // this device stays signed in
    await signIn(second.page, alice.username, NEW_PASSWORD);
    await alice.page.press('#settings', 'Escape');
    await second.context.close();
    assert.deepEqual(second.errors, []);
  });

  test('block from the header, unblock from the blocked list', async () => {
    await alice.page.click(`[data-conv="${conv}"]`);
    await alice.page.click('#block-button');
    await alice.page.waitForSelector('#block-button[aria-pressed="true"]:text-is("Unblock")');
    await alice.page.waitForSelector('#composer-input:disabled');
    assert.deepEqual((await api(alice, '/api/blocks')).blocks.map((u) => u.id), [bob.userId]);
    // Bob's send is refused, with the reason.
    await h.send(bob.page, 'are you there?');
    await bob.page.waitForSelector('#messages .msg[data-state="failed"] .send-error');

    await alice.page.click('#settings-button');
    const row = alice.page.locator(`#blocked-list [data-user="${bob.userId}"]`);
    await row.locator(`.person-name:text-is("${bob.username}")`).waitFor();
    await alice.page.locator('#blocked-list').scrollIntoViewIfNeeded();
    await h.screenshot(alice.page, 'settings-blocked');
    await row.locator('button.unblock').click();
    await alice.page.waitForSelector('#blocked-empty:visible');
    await alice.page.press('#settings', 'Escape');
    await alice.page.waitForSelector('#block-button[aria-pressed="false"]:text-is("Block")');
    assert.deepEqual((await api(alice, '/api/blocks')).blocks, []);
    await bob.page.click('#messages .msg[data-state="failed"] .retry');
    await h.waitForBubbles(alice.page, ['hello', 'are you there?']);
  });

  test('account deletion, with the password', async () => {
    await bob.page.click('#settings-button');
    await bob.page.fill('#delete-password', 'not the password');
    await bob.page.click('#delete-account');
    await bob.page.waitForSelector('#delete-message:text-is("Not deleted: wrong password")');
    await bob.page.locator('#delete-form').scrollIntoViewIfNeeded();
    await h.screenshot(bob.page, 'settings-delete');
    await bob.page.fill('#delete-password', h.PASSWORD);
    await bob.page.click('#delete-account');
    await bob.page.waitForSelector('#login-error:text-is("Your account was deleted.")');
    assert.equal(await bob.page.evaluate(() => localStorage.getItem('ringcast:session')), null);
    const login = await fetch(`${server.baseUrl}/api/login`, {
      method: 'POST',
      body: JSON.stringify({username: bob.username, password: h.PASSWORD}),
    });
    assert.equal(login.status, 401);
    // Alice's page, reloaded, names him as deleted.
    await alice.page.reload();
    await h.connected(alice.page);
    await alice.page.waitForSelector(`[data-conv="${conv}"] .conv-name:text-is("Deleted user")`);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
    await Promise.all([alice, bob].map((u) => u.context.close()));
  });
});
