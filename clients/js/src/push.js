// Web Push (notify/push/README.md, "For a web client"): subscribe a browser's service worker
// to the server's offline notifications, and end the subscription. The service worker's own
// half (the `push` event) is the app's: web/sw.js shows one.

/** @param {string} base64url @returns {Uint8Array} what `applicationServerKey` takes */
export function decodeBase64Url(base64url) {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * The server's VAPID public key (`GET /api/push/vapid-public-key`, base64url).
 * @param {import('./client.js').RingcastClient} client @returns {Promise<string>}
 */
export async function vapidPublicKey(client) {
  const answer =
      await client._http.request('GET', '/api/push/vapid-public-key', undefined, {auth: false});
  return answer.public_key;
}

/**
 * Stores a subscription for the signed-in user (`POST /api/push/subscriptions`).
 * @param {import('./client.js').RingcastClient} client
 * @param {{endpoint: string, keys: {p256dh: string, auth: string}}} subscription
 *   `PushSubscription.toJSON()`
 * @returns {Promise<{endpoint: string}>}
 */
export function savePushSubscription(client, subscription) {
  const {endpoint, keys} = subscription;
  return client._http.request('POST', '/api/push/subscriptions', {endpoint, keys});
}

/**
 * Deletes the user's subscription at `endpoint` (`DELETE /api/push/subscriptions`); a 404
 * (none there) rejects with status 404.
 * @param {import('./client.js').RingcastClient} client @param {string} endpoint
 */
export function deletePushSubscription(client, endpoint) {
  return client._http.request('DELETE', '/api/push/subscriptions', {endpoint});
}

/**
 * The whole flow in a browser: the service worker `registration`'s push subscription (made
 * with the server's key, or the one it has when that key is the server's), stored for the
 * signed-in user. The caller asks for the Notification permission first (browsers ask only in
 * answer to a click).
 * @param {import('./client.js').RingcastClient} client
 * @param {ServiceWorkerRegistration} registration
 * @returns {Promise<PushSubscriptionJSON>}
 */
export async function subscribePush(client, registration) {
  const key = decodeBase64Url(await vapidPublicKey(client));
  let subscription = await registration.pushManager.getSubscription();
  const current = subscription?.options?.applicationServerKey;
  if (subscription && current && !sameBytes(new Uint8Array(current), key)) {
    await subscription.unsubscribe();  // Bound to another server's key: useless here.
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe(
      {userVisibleOnly: true, applicationServerKey: /** @type {BufferSource} */ (key.buffer)});
  const json = subscription.toJSON();
  await savePushSubscription(client, /** @type {any} */ (json));
  return json;
}

/**
 * Ends the browser's subscription, on the server first (at sign-out: the next user of the
 * browser must not get this one's notifications).
 * @param {import('./client.js').RingcastClient} client
 * @param {ServiceWorkerRegistration} registration
 */
export async function unsubscribePush(client, registration) {
  const subscription = await registration.pushManager.getSubscription();
  if (!subscription) return;
  await deletePushSubscription(client, subscription.endpoint).catch(() => {});
  await subscription.unsubscribe();
}

/** @param {Uint8Array} a @param {Uint8Array} b */
function sameBytes(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
