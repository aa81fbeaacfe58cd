// The installable app: the web app manifest; the service worker's offline shell (a reload
// while the server is down shows the app and its stored conversations, not the browser's error
// page, and the app reconnects once the server is back); the Web Push subscription stored on
// the server when notifications are allowed, and deleted at sign-out; a push shown by the
// worker with no page of the app open.

import assert from 'node:assert/strict';
import {createECDH, randomBytes} from 'node:crypto';
import {test} from 'node:test';

import * as h from './harness.js';
import {browser, server} from './harness.js';

h.serveThisFile();

test('the manifest names the app and its icons', async () => {
  const manifest = await (await fetch(`${server.baseUrl}/manifest.webmanifest`)).json();
  assert.equal(manifest.name, 'ringcast');
  assert.equal(manifest.display, 'standalone');
  assert.equal(manifest.start_url, '/');
  for (const icon of manifest.icons) {
    const response = await fetch(new URL(icon.src, `${server.baseUrl}/`));
    assert.equal(response.status, 200, icon.src);
    assert.equal(response.headers.get('content-type'), 'image/png');
  }
  assert.ok(manifest.icons.some((i) => i.sizes === '512x512' && i.purpose === 'maskable'));
});

test('a reload while the server is down shows the app and its conversations', async () => {
  await h.withUsers(['alice', 'bob'], async (alice, bob) => {
    const conv = await h.startChat(alice.page, [bob.username]);
    await h.send(alice.page, 'see you at eight');
    await h.waitForTick(alice.page, 'see you at eight', 'delivered');
    await alice.page.waitForFunction(() => document.body.dataset.shell === 'ready');
    await alice.page.evaluate(() => window.dispatchEvent(new Event('pagehide')));

    await server.stop();
    await alice.page.reload();
    await alice.page.waitForSelector('#chat:not([hidden])');
    const row = alice.page.locator(`[data-conv="${conv}"]`);
    await row.locator(`.conv-name:text-is("${bob.username}")`).waitFor();
    await row.locator('.conv-preview:text-is("You: see you at eight")').waitFor();
    await h.waitForBubbles(alice.page, ['see you at eight']);
    assert.equal(await h.tickOf(alice.page, 'see you at eight'), 'delivered');
    await alice.page.waitForSelector('#connection:text-matches("^Offline|^Connecting")');
    await h.screenshot(alice.page, 'offline-shell');

    await server.start();
    await h.connected(alice.page);
    await h.send(alice.page, 'back');
    await h.waitForTick(alice.page, 'back', 'delivered');
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  });
});

test(
    'with notifications allowed: the push subscription reaches the server, a push shows',
    async () => {
      // Headless Chromium has no push service: the browser's subscribe() answers with a
      // subscription made here (a real P-256 key, as the server checks), the rest is the app's.
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const subscription = {
        endpoint: `https://push.example/${randomBytes(8).toString('hex')}`,
        keys: {
          p256dh: ecdh.getPublicKey().toString('base64url'),
          auth: randomBytes(16).toString('base64url'),
        },
      };
      const context = await browser.newContext({baseURL: server.baseUrl});
      await context.grantPermissions(['notifications'], {origin: server.baseUrl});
      await context.addInitScript((json) => {
        window.pushKeys = [];
        const fake = {
          endpoint: json.endpoint,
          options: {applicationServerKey: null},
          toJSON: () => json,
          unsubscribe: async () => true,
        };
        let subscribed = false;
        PushManager.prototype.subscribe = async function(options) {
          window.pushKeys.push(new Uint8Array(options.applicationServerKey).length);
          subscribed = true;
          return fake;
        };
        PushManager.prototype.getSubscription = async () => (subscribed ? fake : null);
      }, subscription);
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (error) => errors.push(error.message));
      try {
        const username = h.uniqueName('dora');
        await page.goto('/');
        await page.fill('#login-username', username);
        await page.fill('#login-password', h.PASSWORD);
        await page.click('button[data-action=register]');
        await page.waitForFunction(() => document.body.dataset.push === 'subscribed');
        // The app subscribed with the server's VAPID key (65 bytes: an uncompressed P-256 point).
        assert.deepEqual(await page.evaluate(() => window.pushKeys), [65]);
        let token =
            await page.evaluate(() => JSON.parse(localStorage.getItem('ringcast:session')).token);
        const remove = () => fetch(`${server.baseUrl}/api/push/subscriptions`, {
          method: 'DELETE',
          headers: {'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json'},
          body: JSON.stringify({endpoint: subscription.endpoint}),
        });
        assert.equal((await remove()).status, 204);  // it was stored for this user

        // The worker shows the server's push payload (notify/push/README.md) as a notification,
        // with no page of the app open: the push goes to the worker itself (DevTools'
        // ServiceWorker.deliverPushMessage), its notification is read back afterwards.
        const cdp = await context.newCDPSession(page);
        const registered = new Promise(
            (resolve) => cdp.on('ServiceWorker.workerRegistrationUpdated', ({registrations}) => {
              const r = registrations.find((x) => !x.isDeleted);
              if (r) resolve(r.registrationId);
            }));
        await cdp.send('ServiceWorker.enable');
        const registrationId = await registered;
        const payload = {
          type: 'notification',
          id: 'n1',
          conv: 7,
          group: true,
          conv_name: 'Trip',
          count: 2,
          mention: false,
          latest: {
            seq: 3,
            from: 2,
            from_name: 'alice',
            kind: 'text',
            body: 'tickets booked',
            truncated: false,
            ts: Date.now()
          },
        };
        await page.goto('about:blank');
        await cdp.send(
            'ServiceWorker.deliverPushMessage',
            {origin: server.baseUrl, registrationId, data: JSON.stringify(payload)});
        await page.goto('/');
        const shown = await page.waitForFunction(async () => {
          const registration = await navigator.serviceWorker.ready;
          const list = await registration.getNotifications();
          return list.length ? list.map((n) => ({title: n.title, body: n.body, tag: n.tag})) : null;
        });
        assert.deepEqual(
            await shown.jsonValue(),
            [{title: 'Trip', body: 'alice: tickets booked (+1 more)', tag: 'conv-7'}]);
        // A missed call's record (issue 26) is words, not the server's JSON.
        const record = {
          call: 'c1',
          call_kind: 'video',
          outcome: 'missed',
          started_at: 1,
          ended_at: 2,
          duration_ms: 0,
          participants: [2]
        };
        await cdp.send('ServiceWorker.deliverPushMessage', {
          origin: server.baseUrl,
          registrationId,
          data: JSON.stringify({
            ...payload,
            id: 'n2',
            conv: 8,
            group: false,
            conv_name: undefined,
            count: 1,
            latest: {...payload.latest, kind: 'call', body: JSON.stringify(record)}
          })
        });
        // (waitForFunction takes an async predicate's promise for a truthy answer: poll here.)
        const call = await h.poll(() => page.evaluate(async () => {
          const registration = await navigator.serviceWorker.ready;
          const found = (await registration.getNotifications()).find((n) => n.tag === 'conv-8');
          return found ? {title: found.title, body: found.body} : null;
        }));
        assert.deepEqual(call, {title: 'alice', body: 'Missed video call'});

        // Stored again at the next start; sign-out deletes it.
        await page.reload();
        await page.waitForFunction(() => document.body.dataset.push === 'subscribed');
        await page.click('#logout-button');
        await page.waitForSelector('#login-username:focus');
        const login = await fetch(`${server.baseUrl}/api/login`, {
          method: 'POST',
          body: JSON.stringify({username, password: h.PASSWORD}),
        });
        token = (await login.json()).token;
        assert.equal((await remove()).status, 404);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });
