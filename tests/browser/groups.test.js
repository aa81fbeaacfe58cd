// Groups in the web app (PROTOCOL.md, "Groups"): the changes the owner makes through the API
// (the group renamed with a topic, a member made admin, a member removed) appear in the open
// conversation of another member as centered notices ("alice removed carol"), not bubbles, and
// never unread; the members dialog shows each member's role.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';
import {server} from './harness.js';

h.serveThisFile();

test('group changes show as centered notices', async () => {
  await h.withUsers(['alice', 'bob', 'carol'], async (alice, bob, carol) => {
    const conv = await h.startChat(alice.page, [bob.username, carol.username], 'Team');
    await h.send(alice.page, 'hello team');
    await bob.page.click(`[data-conv="${conv}"]`);
    await h.waitForBubbles(bob.page, ['hello team']);

    const call = async (method, path, body) => {
      const r = await fetch(`${server.baseUrl}/api/conversations/${conv}${path}`, {
        method,
        headers:
            {Authorization: `Bearer ${await alice.token()}`, 'Content-Type': 'application/json'},
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      assert.equal(r.status, 200, await r.text());
    };
    await call('PATCH', '', {name: 'Team room', topic: 'plans'});
    await call('PUT', `/members/${bob.userId}/role`, {role: 'admin'});
    await call('DELETE', `/members/${carol.userId}`);

    const expected = [
      `${alice.username} renamed the group to “Team room” and set the topic to “plans”`,
      `${alice.username} made ${bob.username} an admin`,
      `${alice.username} removed ${carol.username}`,
    ];
    const notices = () =>
        bob.page.$$eval('#messages .system-notice', (els) => els.map((el) => el.textContent));
    await bob.page
        .waitForFunction(
            (want) => JSON.stringify([...document.querySelectorAll('#messages .system-notice')].map(
                          (el) => el.textContent)) === JSON.stringify(want),
            expected, {timeout: h.WAIT_MS})
        .catch(async (error) => {
          assert.deepEqual(await notices(), expected);
          throw error;
        });
    assert.deepEqual(await h.bubbles(bob.page), ['hello team']);
    await bob.page.waitForSelector(`[data-conv="${conv}"][data-unread="0"]`);
    await h.screenshot(bob.page, 'group-notices');

    // The members dialog names the roles.
    await bob.page.click('#members-button');
    await bob.page.waitForSelector(
        `#members-list li[data-user="${alice.userId}"] .person-role:text-is("owner")`);
    await bob.page.waitForSelector(
        `#members-list li[data-user="${bob.userId}"] .person-role:text-is("admin")`);
    await h.screenshot(bob.page, 'group-roles');
    assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], []);
  });
});
