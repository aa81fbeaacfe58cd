// The steps and checks of the call tests (calls.test.js on one server, calls_cluster.test.js
// across two cluster nodes): Chromium's fake media, a page forced to relay its calls through
// coturn, WebRTC's counters (getStats), coturn's log, the call records on the page and in the
// server's HTTP history.

import assert from 'node:assert/strict';

import {connected, send, startChat, WAIT_MS, waitForBubbles} from './harness.js';

/** Chromium's flags for calls (launchBrowser's extraArgs). */
export const MEDIA_FLAGS = [
  // Chromium's test camera (a moving pattern) and microphone (a beep), allowed without asking.
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  // The remote audio plays without a click; the peers and coturn are all on 127.0.0.1.
  '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection'
];

/**
 * A page of the app with calls relayed only (the setting read at start: a reload applies it).
 * @param {any} user
 */
export async function relayOnly(user) {
  await user.context.grantPermissions(['camera', 'microphone']);
  await user.page.evaluate(
      () => localStorage.setItem('ringcast-app:ice-transport-policy', 'relay'));
  await user.page.reload();
  await connected(user.page);
  return user;
}

/**
 * WebRTC's counters of the page's call: the bytes received of `kind` over all its peer
 * connections, and whether each one's selected pair is relay to relay (through coturn).
 * @param {import('playwright-core').Page} page @param {'audio' | 'video'} kind
 */
function inbound(page, kind) {
  return page.evaluate(async (kind) => {
    const call = /** @type {any} */ (window).ringcastCall;
    let bytes = 0;
    let pairs = 0;
    let relayed = 0;
    for (const peer of call?.peers.values() ?? []) {
      const stats = await peer.pc.getStats();
      const byId = new Map();
      stats.forEach((s) => byId.set(s.id, s));
      for (const s of byId.values()) {
        if (s.type === 'inbound-rtp' && s.kind === kind) bytes += s.bytesReceived ?? 0;
        if (s.type === 'transport' && s.selectedCandidatePairId) {
          const pair = byId.get(s.selectedCandidatePairId);
          pairs += 1;
          if (byId.get(pair?.localCandidateId)?.candidateType === 'relay' &&
              byId.get(pair?.remoteCandidateId)?.candidateType === 'relay') {
            relayed += 1;
          }
        }
      }
    }
    return {bytes, pairs, relayed};
  }, kind);
}

/**
 * The media of `kind` flows into `page` through coturn: a relay pair selected, and the bytes
 * received growing between two readings.
 * @param {import('playwright-core').Page} page @param {'audio' | 'video'} kind
 */
export async function mediaFlows(page, kind) {
  const deadline = Date.now() + WAIT_MS;
  let first = await inbound(page, kind);
  while (first.bytes === 0 && Date.now() < deadline) {
    await page.waitForTimeout(200);
    first = await inbound(page, kind);
  }
  await page.waitForTimeout(1000);
  const second = await inbound(page, kind);
  assert.ok(
      first.bytes > 0 && second.bytes > first.bytes,
      `${kind} bytes received ${first.bytes} then ${second.bytes}`);
  assert.ok(
      second.pairs >= 1 && second.relayed === second.pairs,
      `relay pairs: ${second.relayed} of ${second.pairs}`);
}

/**
 * The call record entries of the open conversation, as
 * read. @param {import('playwright-core').Page} page
 */
export function records(page) {
  return page.$$eval('#messages .call-record .call-text', (els) => els.map((el) => el.textContent));
}

/** Waits until the last call record entry matches `pattern`. */
export async function waitForRecord(page, pattern) {
  await page
      .waitForFunction(
          (source) => {
            const texts = [...document.querySelectorAll('#messages .call-record .call-text')].map(
                (el) => el.textContent);
            return new RegExp(source).test(texts.at(-1) ?? '');
          },
          pattern.source)
      .catch(async (error) => {
        throw new Error(`call records ${JSON.stringify(await records(page))}, wanted ${pattern}: ${
            error.message}`);
      });
}

/** A record's duration as the page shows it (m:ss). @param {number} durationMs */
export function shownDuration(durationMs) {
  const seconds = Math.floor(durationMs / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/**
 * The call records `server` stored in `conv`, oldest first (bodies parsed), read with `user`'s
 * token.
 * @param {{baseUrl: string}} server
 */
export async function storedCalls(server, user, conv) {
  const token = await user.page.evaluate(
      () => JSON.parse(/** @type {string} */ (localStorage.getItem('ringcast:session'))).token);
  const response = await fetch(
      `${server.baseUrl}/api/conversations/${conv}/messages?limit=200`,
      {headers: {Authorization: `Bearer ${token}`}});
  const {messages} = await response.json();
  return messages.filter((m) => m.kind === 'call')
      .map((m) => ({...m, body: JSON.parse(m.body)}))
      .reverse();
}

/** Both users with their 1:1 open: alice starts it, bob opens it. */
export async function openChat(alice, bob) {
  const conv = await startChat(alice.page, [bob.username]);
  await send(alice.page, 'call me');
  await bob.page.locator(`[data-conv="${conv}"]`).click();
  await waitForBubbles(bob.page, ['call me']);
  return conv;
}

/**
 * `caller` starts a call of `kind` from the open conversation's header, and the incoming-call
 * screen shows on the page of each of `callees`.
 * @param {any} caller @param {'audio' | 'video'} kind @param {any[]} callees
 */
export async function ring(caller, kind, callees) {
  await caller.page.click(`#call-${kind}-button`);
  for (const u of callees) await u.page.waitForSelector('#call-incoming:not([hidden])');
}

/**
 * `callee` accepts the call ringing on its page; it and each of `others` are then in the call.
 * @param {any} callee @param {any[]} [others]
 */
export async function answer(callee, others = []) {
  await callee.page.click('#call-accept');
  for (const u of [callee, ...others]) {
    await u.page.waitForFunction(() => document.body.dataset.call === 'connected');
  }
}

/**
 * coturn granted a relay to `user` (its log names the credential's `expiry:user id`).
 * @param {import('./coturn.js').Coturn} coturn @param {number} userId
 */
export async function allocatedFor(coturn, userId) {
  const granted = new RegExp(`user <\\d+:${userId}>: incoming packet ALLOCATE processed, success`);
  const deadline = Date.now() + WAIT_MS;
  while (!granted.test(coturn.log())) {
    if (Date.now() > deadline) {
      throw new Error(
          `no allocation for user ${userId} in coturn's log: ${coturn.log().slice(-1500)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
