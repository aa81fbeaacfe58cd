// The web app when the network or the server fails: a page offline (the browser's network
// emulation) with sends queued, a server restart mid-chat, and a reload with sends still in
// the outbox (one of them stored by the server whose ack was lost). Every message must reach
// the other user once, in order, and be stored once (the server's HTTP history).

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';
import {browser, server} from './harness.js';

h.serveThisFile();

async function disconnected(page) {
  await page.waitForFunction(() => document.body.dataset.connection !== 'connected');
}

test('sends made offline go out once each, in order, when the page is back online', async () => {
  await h.withOpenChat('ready?', async ({alice, bob, conv}) => {
    await alice.context.setOffline(true);
    alice.link.cut();  // Chromium's emulation leaves open WebSockets alone: the network would not.
    await disconnected(alice.page);
    for (const text of ['one', 'two', 'three']) await h.send(alice.page, text);
    for (const text of ['one', 'two', 'three']) {
      assert.equal(await h.tickOf(alice.page, text), 'pending');
    }
    await alice.context.setOffline(false);  // The page's 'online' event: the SDK retries now.
    await h.waitForBubbles(bob.page, ['ready?', 'one', 'two', 'three']);
    await h.waitForTick(alice.page, 'three', 'seen');
    await h.waitForBubbles(alice.page, ['ready?', 'one', 'two', 'three']);
    assert.deepEqual(await h.storedBodies(server, alice, conv), ['ready?', 'one', 'two', 'three']);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});

test('a server restart mid-chat: both pages reconnect, nothing lost or doubled', async () => {
  await h.withOpenChat('ready?', async ({alice, bob, conv}) => {
    await server.stop();
    await Promise.all([disconnected(alice.page), disconnected(bob.page)]);
    await h.send(alice.page, 'while you were out');
    await h.send(bob.page, 'me too');
    await server.start();  // The same port and data dir.
    await Promise.all([h.connected(alice.page), h.connected(bob.page)]);
    await h.send(alice.page, 'back');
    const both = ['ready?', 'while you were out', 'me too', 'back'];
    const bobFirst = ['ready?', 'me too', 'while you were out', 'back'];
    const stored = await waitForStored(alice, conv, 4);
    assert.ok([both, bobFirst].some((order) => same(order, stored)), JSON.stringify(stored));
    // Each page shows the server's order, each message once.
    await h.waitForBubbles(alice.page, stored);
    await h.waitForBubbles(bob.page, stored);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});

test('a reload with unacked sends in the outbox sends each once', async () => {
  await h.withOpenChat('ready?', async ({alice, bob, conv}) => {
    // The first send reaches the server, but nothing comes back (its ack is lost)...
    alice.link.mode = 'deaf';
    await h.send(alice.page, 'stored, ack lost');
    await h.waitForBubbles(bob.page, ['ready?', 'stored, ack lost']);
    // ...then the network goes: the second never leaves the page.
    alice.link.mode = 'down';
    alice.link.cut();
    await disconnected(alice.page);
    await h.send(alice.page, 'queued');
    await alice.page.reload();
    // After the reload: the outbox (localStorage) holds both; the first is in the history too,
    // and shows once, as the stored message; the second is a pending bubble.
    await alice.page.waitForSelector(
        '#messages .msg[data-state="pending"]:has(.body:text-is("queued"))');
    await h.waitForBubbles(alice.page, ['ready?', 'stored, ack lost', 'queued']);
    assert.equal(await outboxLength(alice.page), 2);
    alice.link.mode = 'pass';
    await h.waitForTick(alice.page, 'queued', 'seen');
    await h.waitForBubbles(bob.page, ['ready?', 'stored, ack lost', 'queued']);
    await h.waitForBubbles(alice.page, ['ready?', 'stored, ack lost', 'queued']);
    assert.deepEqual(
        await h.storedBodies(server, alice, conv), ['ready?', 'stored, ack lost', 'queued']);
    assert.equal(await outboxLength(alice.page), 0);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});

test('the app stays connected across access-token expiry: the SDK refreshes', async () => {
  const shortLived = await h.startServer(['--token-ttl', '2', '--token-refresh-notice', '1']);
  const alice = await h.newUser(browser, shortLived, h.uniqueName('alice'));
  const bob = await h.newUser(browser, shortLived, h.uniqueName('bob'));
  try {
    const conv = await h.startChat(alice.page, [bob.username]);
    await bob.page.locator(`[data-conv="${conv}"]`).click();
    const firstToken = await alice.token();
    // Whatever the page's connection state is over 5 s (two and a half access tokens' lives),
    // sampled every 50 ms: never anything but connected (a 4001 close would show).
    const states = await alice.page.evaluate(async () => {
      const seen = new Set();
      for (const end = Date.now() + 5000; Date.now() < end;) {
        seen.add(document.body.dataset.connection);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return [...seen];
    });
    assert.deepEqual(states, ['connected']);
    assert.notEqual(await alice.token(), firstToken);
    assert.equal(await alice.page.isVisible('#login-username'), false);
    await h.send(alice.page, 'after two ttls');
    await h.waitForBubbles(bob.page, ['after two ttls']);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  } finally {
    await alice.context.close();
    await bob.context.close();
    await shortLived.dispose();
  }
});

/** The sends in the page's stored outbox (the SDK's localStorage entry). */
async function outboxLength(page) {
  return page.evaluate(() => {
    const me = JSON.parse(localStorage.getItem('ringcast:session')).user_id;
    // {binding, entries}: bound to the server database and the account (clients/js/README.md).
    return JSON.parse(localStorage.getItem(`ringcast:outbox:${me}`) ?? '{"entries":[]}')
        .entries.length;
  });
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The stored bodies once there are `count` of them (bounded). */
async function waitForStored(user, conv, count) {
  const deadline = Date.now() + h.WAIT_MS;
  for (;;) {
    const bodies = await h.storedBodies(server, user, conv);
    if (bodies.length >= count || Date.now() > deadline) return bodies;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
