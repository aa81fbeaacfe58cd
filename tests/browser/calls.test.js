// Calls in the web app (issue 26), media through a real coturn: two users in Chromium with fake
// camera and microphone (Chromium's own test devices), the app forced to `iceTransportPolicy:
// 'relay'` (localStorage `ringcast-app:ice-transport-policy`), so the only way the media can flow
// is through the throwaway coturn (coturn.js) with the credentials the server hands out
// (`--turn-urls`, `--turn-secret`). Each step is checked where the user sees it (the DOM), in
// WebRTC's own counters (getStats: inbound RTP bytes growing, a relay candidate pair on both
// ends), in coturn's log (the allocations of both users) and in the server's HTTP history (the
// call's record).

import assert from 'node:assert/strict';
import {randomBytes} from 'node:crypto';
import {after, before, test} from 'node:test';

import {allocatedFor, answer, MEDIA_FLAGS, mediaFlows, openChat, records, relayOnly, ring, shownDuration, storedCalls, waitForRecord} from './call_steps.js';
import {Coturn} from './coturn.js';
import {connected, launchBrowser, newUser, PASSWORD, screenshot, send, startChat, startServer, uniqueName, WAIT_MS, waitForBubbles} from './harness.js';

const SECRET = randomBytes(16).toString('hex');
// A short ring: the missed call is seconds, not the default 45 s.
const RING_TIMEOUT_S = 5;

/** @type {Coturn} */
let coturn;
/** @type {any} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  coturn = await Coturn.start(SECRET);
  server = await startServer([
    '--turn-urls', coturn.url('udp'), '--turn-secret', SECRET, '--stun-urls', coturn.stunUrl,
    '--call-ring-timeout', String(RING_TIMEOUT_S)
  ]);
  browser = await launchBrowser(MEDIA_FLAGS);
});
after(async () => {
  await browser?.close();
  await server?.dispose();
  coturn?.stop();
});

/** A user in a new context, ready to call. @param {string} prefix */
async function caller(prefix) {
  return relayOnly(await newUser(browser, server, uniqueName(prefix)));
}

/**
 * Runs `body` with a caller for each prefix; their pages must end without a JavaScript error,
 * and their contexts close however it ends.
 * @param {string[]} prefixes @param {(...users: any[]) => Promise<void>} body
 */
async function withCallers(prefixes, body) {
  const users = [];
  try {
    for (const prefix of prefixes) users.push(await caller(prefix));
    await body(...users);
    for (const u of users) assert.deepEqual(u.errors, []);
  } finally {
    await Promise.all(users.map((u) => u.context.close()));
  }
}

/**
 * A test of a call between alice and bob (withCallers) from their 1:1, open on both pages.
 * @param {string} name @param {(alice: any, bob: any, conv: number) => Promise<void>} body
 */
function pairCallTest(name, body) {
  test(
      name, {timeout: 90000},
      () => withCallers(
          ['alice', 'bob'], async (alice, bob) => body(alice, bob, await openChat(alice, bob))));
}

/** Waits for the call screen's state (body's data-call) on `page`. @param {string} state */
async function callState(page, state) {
  await page.waitForFunction((want) => document.body.dataset.call === want, state);
}

/** Waits for the call screen's status line to read `text`. @param {string} text */
async function callStatus(page, text) {
  await page.waitForFunction(
      (want) => document.getElementById('call-status')?.textContent === want, text);
}

/** The peers of the page's call. */
function peerCount(page) {
  return page.evaluate(() => /** @type {any} */ (window).ringcastCall.peers.size);
}

/** Another device of `user`: a context of its own, signed in through the form. @param {any} user */
async function secondDevice(user) {
  const context =
      await browser.newContext({viewport: {width: 1100, height: 720}, baseURL: server.baseUrl});
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.setDefaultTimeout(WAIT_MS);
  await page.goto('/');
  await page.fill('#login-username', user.username);
  await page.fill('#login-password', PASSWORD);
  await page.click('button[data-action=login]');
  await connected(page);
  return relayOnly({context, page, errors, username: user.username, userId: user.userId});
}

test(
    'an audio call through coturn: rings on both of bob\'s devices, answered on one, the other ' +
        'stops; audio both ways, the level meter; hang up; the record on both pages and stored',
    {timeout: 90000},
    () => withCallers(['alice', 'bob'], async (alice, bob) => {
      const laptop = await secondDevice(bob);
      try {
        const conv = await openChat(alice, bob);
        await ring(alice, 'audio', [bob, laptop]);
        for (const page of [bob.page, laptop.page]) {
          assert.equal(await page.textContent('#call-incoming-title'), alice.username);
          assert.equal(await page.textContent('#call-incoming-kind'), 'Incoming audio call');
        }
        await callStatus(alice.page, 'Ringing…');
        await screenshot(bob.page, 'call-incoming');
        await answer(bob, [alice]);
        await laptop.page.waitForSelector('#call-incoming', {state: 'hidden'});
        assert.notEqual(await laptop.page.evaluate(() => document.body.dataset.call), 'connected');
        await mediaFlows(alice.page, 'audio');
        await mediaFlows(bob.page, 'audio');
        await allocatedFor(coturn, alice.userId);
        await allocatedFor(coturn, bob.userId);
        // The other party's name and the level of their voice (the fake microphone's beep).
        assert.equal(await bob.page.textContent('.call-tile.audio .call-name'), alice.username);
        await bob.page.waitForFunction(
            () => Number(document.querySelector('.call-tile.audio .call-level')
                             ?.getAttribute('aria-valuenow')) > 0);
        await alice.page.waitForFunction(
            () => /^\d+:\d\d$/.test(document.getElementById('call-status')?.textContent ?? ''));
        // Mute: the page's own track off, the button pressed.
        await alice.page.click('#call-mute');
        assert.equal(await alice.page.getAttribute('#call-mute', 'aria-pressed'), 'true');
        assert.equal(
            await alice.page.evaluate(
                () => /** @type {any} */ (window)
                          .ringcastCall.localStream.getAudioTracks()[0]
                          .enabled),
            false);
        await screenshot(alice.page, 'call-audio');
        await alice.page.waitForTimeout(1000);
        await alice.page.click('#call-hangup');
        for (const page of [alice.page, bob.page]) {
          await callState(page, 'ended');
          await waitForRecord(page, /^Audio call, \d+:\d\d$/);
          await page.waitForSelector('#call-screen', {state: 'hidden'});
        }
        // The app's own tracks are stopped once the call is over (the microphone is free).
        assert.ok(await alice.page.evaluate(
            () => /** @type {any} */ (window).ringcastCall.localStream.getTracks().every(
                (/** @type {MediaStreamTrack} */ t) => t.readyState === 'ended')));
        const [record] = await storedCalls(server, alice, conv);
        assert.equal(record.from, alice.userId);
        assert.equal(record.body.outcome, 'completed');
        assert.equal(record.body.call_kind, 'audio');
        assert.ok(record.body.duration_ms >= 2000, String(record.body.duration_ms));
        assert.deepEqual([...record.body.participants].sort(), [alice.userId, bob.userId].sort());
        const shown = (await records(bob.page)).at(-1);
        assert.equal(shown, `Audio call, ${shownDuration(record.body.duration_ms)}`);
        // The conversation list's last message.
        assert.equal(await bob.page.textContent(`[data-conv="${conv}"] .conv-preview`), shown);
        assert.deepEqual(laptop.errors, []);
      } finally {
        await laptop.context.close();
      }
    }));

pairCallTest(
    'a video call through coturn: both videos play, video bytes both ways, camera off, the ' +
        'callee hangs up; the record on both pages',
    async (alice, bob, conv) => {
      await ring(bob, 'video', [alice]);
      assert.equal(await alice.page.textContent('#call-incoming-kind'), 'Incoming video call');
      await answer(alice, [bob]);
      for (const page of [alice.page, bob.page]) {
        // The other party's video has frames; this device's preview too.
        await page.waitForFunction(() => {
          const remote =
              /** @type {HTMLVideoElement | null} */ (document.querySelector('.call-tile video'));
          const local = /** @type {HTMLVideoElement} */ (document.getElementById('call-local'));
          return (remote?.videoWidth ?? 0) > 0 && local.videoWidth > 0 && !local.hidden;
        });
      }
      await mediaFlows(alice.page, 'video');
      await mediaFlows(bob.page, 'video');
      await mediaFlows(alice.page, 'audio');
      await screenshot(alice.page, 'call-video');
      await alice.page.click('#call-camera');
      assert.equal(await alice.page.getAttribute('#call-camera', 'aria-pressed'), 'true');
      assert.equal(
          await alice.page.evaluate(
              () =>
                  /** @type {any} */ (window).ringcastCall.localStream.getVideoTracks()[0].enabled),
          false);
      await bob.page.click('#call-hangup');
      for (const page of [alice.page, bob.page]) {
        await callState(page, 'ended');
        await waitForRecord(page, /^Video call, \d+:\d\d$/);
      }
      const [record] = await storedCalls(server, bob, conv);
      assert.equal(record.from, bob.userId);
      assert.equal(record.body.outcome, 'completed');
      assert.equal(record.body.call_kind, 'video');
      await screenshot(alice.page, 'call-records');
    });

pairCallTest(
    'a declined call and a missed one (no answer within --call-ring-timeout) as entries on both ' +
        'pages and in the list',
    async (alice, bob, conv) => {
      await ring(alice, 'audio', [bob]);
      await bob.page.click('#call-decline');
      await callStatus(alice.page, 'Declined');
      for (const page of [alice.page, bob.page]) {
        await waitForRecord(page, /^Declined audio call$/);
      }
      await alice.page.waitForSelector('#call-screen', {state: 'hidden'});

      await ring(alice, 'video', [bob]);
      // Nobody answers: the server ends it after the ring timeout, and bob stops ringing.
      await bob.page.waitForSelector(
          '#call-incoming', {state: 'hidden', timeout: (RING_TIMEOUT_S + 5) * 1000});
      await callStatus(alice.page, 'No answer');
      await waitForRecord(alice.page, /^Video call, no answer$/);
      await waitForRecord(bob.page, /^Missed video call$/);
      assert.equal(
          await bob.page.textContent(`[data-conv="${conv}"] .conv-preview`), 'Missed video call');
      const stored = await storedCalls(server, alice, conv);
      assert.deepEqual(stored.map((r) => r.body.outcome), ['declined', 'missed']);
      assert.equal(stored[1].body.answered_at, undefined);
      await screenshot(bob.page, 'call-missed');
    });

pairCallTest(
    'the chat connection cut mid-call: the SDK reconnects and rejoins (call_rejoin), the other ' +
        'side offers to the new device, and the media flows again through coturn',
    async (alice, bob, conv) => {
      await ring(alice, 'audio', [bob]);
      await answer(bob);
      await mediaFlows(bob.page, 'audio');
      assert.equal(await peerCount(bob.page), 1);
      const device = await bob.page.evaluate(
          () => /** @type {any} */ (window).ringcastCall._signalling._host.device());
      bob.link.cut();
      // A new connection is a new device: the call goes on from it.
      await bob.page.waitForFunction((old) => {
        const call = /** @type {any} */ (window).ringcastCall;
        const peer = [...call.peers.values()][0];
        return document.body.dataset.connection === 'connected' &&
            call._signalling._host.device() !== old && peer?.pc.connectionState === 'connected';
      }, device, {timeout: 20000});
      await callState(bob.page, 'connected');
      await mediaFlows(bob.page, 'audio');
      await mediaFlows(alice.page, 'audio');
      await bob.page.click('#call-hangup');
      for (const page of [alice.page, bob.page]) {
        await waitForRecord(page, /^Audio call, \d+:\d\d$/);
      }
      const [record] = await storedCalls(server, bob, conv);
      assert.equal(record.body.outcome, 'completed');
    });

test(
    'a group video call: a mesh of three, each page with the other two\'s video and media from ' +
        'both through coturn; one leaves and the call goes on; the record lists all three',
    {timeout: 120000},
    () => withCallers(['alice', 'bob', 'carol'], async (alice, bob, carol) => {
      const users = [alice, bob, carol];
      const conv = await startChat(alice.page, [bob.username, carol.username], 'Standup');
      await send(alice.page, 'video now');
      for (const u of [bob, carol]) {
        await u.page.locator(`[data-conv="${conv}"]`).click();
        await waitForBubbles(u.page, ['video now']);
      }
      await ring(alice, 'video', [bob, carol]);
      for (const u of [bob, carol]) {
        assert.equal(
            await u.page.textContent('#call-incoming-kind'), 'Incoming video call · Standup');
      }
      await answer(bob);
      await carol.page.click('#call-accept');
      // Those in the call (alice, bob) each offered to carol: two tiles on every page.
      for (const u of users) {
        await u.page.waitForFunction(() => {
          const videos = /** @type {HTMLVideoElement[]} */ (
              [...document.querySelectorAll('.call-tile video')]);
          return videos.length === 2 && videos.every((v) => v.videoWidth > 0);
        }, undefined, {timeout: 20000});
        assert.equal(await peerCount(u.page), 2);
        await mediaFlows(u.page, 'video');
      }
      const names = await carol.page.$$eval(
          '.call-tile .call-name', (els) => els.map((el) => el.textContent).sort());
      assert.deepEqual(names, [alice.username, bob.username].sort());
      await screenshot(carol.page, 'call-group');
      // Bob leaves: his page ends, the others go on with each other.
      await bob.page.click('#call-hangup');
      await callState(bob.page, 'ended');
      for (const u of [alice, carol]) {
        await u.page.waitForFunction(() => document.querySelectorAll('.call-tile').length === 1);
        assert.equal(await u.page.evaluate(() => document.body.dataset.call), 'connected');
      }
      await carol.page.click('#call-hangup');
      for (const u of users) await waitForRecord(u.page, /^Video call, \d+:\d\d$/);
      const [record] = await storedCalls(server, alice, conv);
      assert.equal(record.body.outcome, 'completed');
      assert.deepEqual([...record.body.participants].sort(), users.map((u) => u.userId).sort());
    }));
