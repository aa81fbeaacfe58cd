// Running a group from the web app (PROTOCOL.md, "Groups"), through the group's dialog (the
// header's Members button), with display names: the owner renames the group and sets its topic
// (another member sees both live, in the header and the list), gives it a picture (in every
// member's list) and makes a member an admin; the
// admin adds a fourth user (found by the user search; his list shows the group live) and removes
// a member, whose page drops the conversation live and says who removed her; the owner's Leave is
// refused with the server's reason and the transfer offered, ownership passed on, then she
// leaves. Each user sees only the controls the server would allow them, and the system notices
// come in order on the new owner's page.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import {makePng} from '../../clients/js/test/png.js';

import * as h from './harness.js';
import {browser, server} from './harness.js';

h.serveThisFile();

/** `user`'s request to the server's HTTP API, its answer as JSON (`status` must be 200/201). */
async function api(user, method, path, body) {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method,
    headers: {Authorization: `Bearer ${await user.token()}`, 'Content-Type': 'application/json'},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.status === 200 || response.status === 201, `${method} ${path}: ${text}`);
  return JSON.parse(text);
}

/** Waits until the texts of `selector`'s elements on `page` are exactly `texts`. */
async function waitForTexts(page, selector, texts) {
  await page
      .waitForFunction(
          ([sel, want]) => JSON.stringify([...document.querySelectorAll(sel)].map(
                               (el) => el.textContent)) === JSON.stringify(want),
          [selector, texts], {timeout: h.WAIT_MS})
      .catch(async (error) => {
        const got = await page.$$eval(selector, (els) => els.map((el) => el.textContent));
        throw new Error(`${selector}: ${JSON.stringify(got)}, wanted ${JSON.stringify(texts)}: ${
            error.message}`);
      });
}

test('group settings, roles, members and leaving, live on every page', async () => {
  const [alice, bob, carol, dave] =
      await h.newUsers(browser, server, ['alice', 'bob', 'carol', 'dave']);
  const users = [alice, bob, carol, dave];
  const names = ['Alice Arden', 'Bob Baker', 'Carol Chen', 'Dave Dunn'];
  /** The confirm() questions each page was asked (all accepted). */
  const asked = users.map(() => []);
  users.forEach((user, i) => user.page.on('dialog', (dialog) => {
    asked[i].push(dialog.message());
    dialog.accept();
  }));
  const row = (user) => `#members-list li[data-user="${user.userId}"]`;
  try {
    await Promise.all(users.map((u, i) => api(u, 'PATCH', '/api/me', {display_name: names[i]})));
    const {id: conv} = await api(alice, 'POST', '/api/conversations', {
      members: [bob.userId, carol.userId],
      name: 'Team',
      group: true,
    });
    for (const user of [alice, bob, carol]) await user.page.click(`[data-conv="${conv}"]`);
    await h.send(alice.page, 'hello team');
    await h.waitForBubbles(carol.page, ['hello team']);

    // The owner renames the group and sets its topic: the member sees both live.
    await alice.page.click('#members-button');
    await alice.page.waitForSelector('#group-form:not([hidden])');
    await alice.page.fill('#group-name-input', 'Team room');
    assert.equal(await alice.page.textContent('#group-form-message'), '');
    await alice.page.fill('#group-topic-input', 'Release plans');
    await alice.page.click('#group-save');
    await alice.page.waitForSelector('#group-form-message:text-is("Saved.")');
    await carol.page.waitForSelector('#conv-name:text-is("Team room")');
    await carol.page.waitForSelector('#conv-topic-text:text-is("Release plans")');
    await carol.page.waitForSelector(`[data-conv="${conv}"] .conv-name:text-is("Team room")`);
    await h.screenshot(carol.page, 'group-topic');
    // The owner gives the group a picture, uploaded once picked: every member's list shows it.
    await alice.page.setInputFiles(
        '#group-avatar-input', {name: 'team.png', mimeType: 'image/png', buffer: makePng(96, 96)});
    await alice.page.waitForSelector('#group-avatar-message:text-is("Picture changed.")');
    await alice.page.waitForSelector('#group-avatar img');
    await carol.page.waitForSelector(`[data-conv="${conv}"] .avatar img`);
    await h.screenshot(alice.page, 'group-avatar');
    // A member sees the name and topic, and no control but Leave.
    await carol.page.click('#members-button');
    await carol.page.waitForSelector('#group-view dd:text-is("Release plans")');
    await carol.page.waitForSelector('#group-avatar img');
    assert.equal(await carol.page.isHidden('#group-avatar-controls'), true);
    assert.equal(await carol.page.isHidden('#group-form'), true);
    assert.equal(await carol.page.isHidden('#group-add'), true);
    assert.equal(await carol.page.locator('#members-list .person-actions:visible').count(), 0);
    assert.equal(await carol.page.isVisible('#group-leave'), true);
    await carol.page.click('#members-close');

    // The owner makes Bob an admin; a refusal (an empty name) shows the server's reason.
    await alice.page.click(`${row(bob)} .role-toggle:text-is("Make admin")`);
    await alice.page.waitForSelector(`${row(bob)} .person-role:text-is("admin")`);
    await alice.page.waitForSelector(`${row(bob)} .role-toggle:text-is("Remove admin")`);
    await alice.page.waitForSelector(`${row(bob)} .person-name:text-is("Bob Baker")`);
    await h.screenshot(alice.page, 'group-settings');
    await alice.page.fill('#group-name-input', '');
    await alice.page.click('#group-save');
    await alice.page.waitForSelector(
        '#group-form-message.error:text-is("Could not save: name must be 1 to 128 bytes.")');
    await alice.page.fill('#group-name-input', 'Team room');
    assert.equal(await alice.page.textContent('#group-form-message'), '');

    // The admin: Add people and Remove on members, nothing on the owner, no role changes.
    await bob.page.click('#members-button');
    await bob.page.waitForSelector('#group-add:not([hidden])');
    await bob.page.waitForSelector(`${row(carol)} .remove-member:visible`);
    assert.equal(await bob.page.isHidden(`${row(alice)} .person-actions`), true);
    assert.equal(await bob.page.locator('#members-list .role-toggle:visible').count(), 0);
    await bob.page.fill('#group-add-search', dave.username.slice(0, -2));
    await bob.page.click('#group-add-results button .person-name:text-is("Dave Dunn")');
    await bob.page.waitForSelector('#group-add-picked:text-is("Dave Dunn")');
    await bob.page.click('#group-add-button');
    await bob.page.waitForSelector('#group-add-message:text-is("Added Dave Dunn.")');
    await bob.page.waitForSelector(`${row(dave)} .person-name:text-is("Dave Dunn")`);
    await dave.page.waitForSelector(`[data-conv="${conv}"] .conv-name:text-is("Team room")`);

    // The admin removes Carol: her page drops the group and says who removed her.
    await bob.page.click(`${row(carol)} .remove-member`);
    await bob.page.waitForSelector(`${row(carol)}`, {state: 'detached'});
    await carol.page.waitForSelector(`[data-conv="${conv}"]`, {state: 'detached'});
    await carol.page.waitForSelector(
        '#notice-text:text-is("Bob Baker removed you from “Team room”.")');
    await carol.page.waitForSelector('#conv-placeholder:not([hidden])');
    assert.equal(await carol.page.isHidden('#composer'), true);
    await h.screenshot(carol.page, 'group-removed');

    // The owner cannot leave: the server's reason, and the transfer offered.
    await alice.page.click('#group-leave');
    await alice.page.waitForSelector(
        '#group-message.error:text-is("Could not leave the group: the owner must transfer ' +
        'ownership before leaving.")');
    await alice.page.waitForSelector('#group-transfer-offer:not([hidden])');
    await h.screenshot(alice.page, 'group-leave-refused');
    await alice.page.selectOption('#group-transfer-to', String(bob.userId));
    await alice.page.click('#group-transfer');
    await alice.page.waitForSelector(`${row(bob)} .person-role:text-is("owner")`);
    await alice.page.waitForSelector(`${row(alice)} .person-role:text-is("admin")`);
    await alice.page.waitForSelector(
        '#group-message:text-is("Bob Baker is the owner now: you can leave the group.")');
    assert.equal(await alice.page.isHidden('#group-transfer-offer'), true);
    // The new owner's open dialog gains the owner's controls live.
    await bob.page.waitForSelector(`${row(dave)} .role-toggle:visible`);
    await bob.page.waitForSelector(`${row(alice)} .make-owner:visible`);

    await alice.page.click('#group-leave');
    await alice.page.waitForSelector(`[data-conv="${conv}"]`, {state: 'detached'});
    await alice.page.waitForSelector('#notice-text:text-is("You left “Team room”.")');
    assert.equal(await alice.page.isHidden('#members'), true);
    assert.deepEqual(asked[0], [
      'Leave “Team room”? Its messages stop coming.',
      'Make Bob Baker the owner of “Team room”? You will be an admin.',
      'Leave “Team room”? Its messages stop coming.',
    ]);
    assert.deepEqual(asked[1], ['Remove Carol Chen from “Team room”?']);
    await bob.page.waitForSelector(`${row(alice)}`, {state: 'detached'});

    // Every change as a notice, in order, on the new owner's page.
    await bob.page.click('#members-close');
    await waitForTexts(bob.page, '#messages .system-notice', [
      'Alice Arden renamed the group to “Team room” and set the topic to “Release plans”',
      'Alice Arden changed the group picture',
      'Alice Arden made Bob Baker an admin',
      'Bob Baker added Dave Dunn',
      'Bob Baker removed Carol Chen',
      'Alice Arden made Bob Baker the owner',
      'Alice Arden left',
    ]);
    await bob.page.waitForSelector(`[data-conv="${conv}"][data-unread="0"]`);

    const {conversations} = await api(bob, 'GET', '/api/conversations');
    const group = conversations.find((c) => c.id === conv);
    assert.equal(group.name, 'Team room');
    assert.equal(group.topic, 'Release plans');
    assert.match(group.avatar_thumb, /^\/files\/[^/]+\/thumb$/);
    const roles = Object.fromEntries(group.members.map((u, i) => [u, group.roles[i]]));
    assert.deepEqual(roles, {[bob.userId]: 'owner', [dave.userId]: 'member'});
  } finally {
    assert.deepEqual(users.flatMap((u) => u.errors), []);
    await Promise.all(users.map((u) => u.context.close()));
  }
});
