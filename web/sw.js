// The web app's service worker (registered by app/main.js at the root scope):
//
// - an offline shell: the app's own files (the page, its styles, modules, icons, the SDK under
//   /sdk/) are fetched from the network first, so an edited file shows at the next reload, and
//   kept in a cache that answers when the server cannot be reached. The page puts every file
//   it loaded in that cache once the worker is active (app/main.js), so no list of files is
//   kept here. The API, the chat WebSocket and /files/ are never cached: they need the token
//   and are the SDK's to retry. A reload while the server is down shows the app, and the
//   conversations the page stored (app/store.js), instead of the browser's error page.
// - Web Push (notify/push/README.md): a `push` shows the server's notification even with no
//   tab open; a click focuses a tab of the app on that conversation, or opens one.

const CACHE = 'ringcast-shell-v1';
const STATIC = /\.(?:js|css|png|svg|webmanifest|html)$/;

self.addEventListener('install', () => self.skipWaiting());

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

/** @param {URL} url */
function isShell(url) {
  if (url.origin !== self.location.origin) return false;
  if (/^\/(?:api|files|ws|health|metrics)(?:\/|$)/.test(url.pathname)) return false;
  return url.pathname === '/' || STATIC.test(url.pathname);
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  const navigation = request.mode === 'navigate';
  if (!navigation && !isShell(url)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok && isShell(url)) await cache.put(request, response.clone());
      return response;
    } catch (error) {
      // The server is down (or the network): the cached copy; for a page, the app's page.
      const cached = await cache.match(request, {ignoreSearch: true}) ??
          (navigation ? await cache.match('/') : undefined);
      if (cached) return cached;
      throw error;
    }
  })());
});

// A call's record (kind "call", PROTOCOL.md "Records"): its body is the server's JSON, shown
// as "Missed video call", "Audio call". (The page's own words for it: app/format.js callText.)
function callLine(/** @type {string} */ body) {
  try {
    const {call_kind: kind, outcome} = JSON.parse(body);
    const what = `${kind === 'video' ? 'video' : 'audio'} call`;
    if (outcome === 'completed') return what[0].toUpperCase() + what.slice(1);
    return `${outcome[0].toUpperCase()}${outcome.slice(1)} ${what}`;
  } catch {
    return 'Call';
  }
}

self.addEventListener('push', (event) => {
  /** @type {any} */
  let data = null;
  try {
    data = event.data?.json();
  } catch {
    // Not the server's JSON: a plain notification below.
  }
  const latest = data?.latest;
  const from = latest?.from_name ?? 'Someone';
  const title = data?.conv_name ?? (data?.group ? 'Group' : from);
  const text = latest?.kind === 'call' ? callLine(latest.body) : latest?.body ?? 'New message';
  const body = (data?.group ? `${from}: ${text}` : text) +
      (data?.count > 1 ? ` (+${data.count - 1} more)` : '');
  event.waitUntil(self.registration.showNotification(title, {
    body,
    tag: data?.conv ? `conv-${data.conv}` : 'ringcast',
    data: {conv: data?.conv ?? null},
    icon: '/icons/icon-192.png',
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const conv = event.notification.data?.conv;
  const target = conv ? `/#c${conv}` : '/';
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({type: 'window', includeUncontrolled: true});
    const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
    if (open) {
      await open.focus();
      return open.navigate(target);
    }
    return self.clients.openWindow(target);
  })());
});
