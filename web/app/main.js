// The web app's entry point: the SDK client (imported from the server's /sdk/ mount), the
// views, and the routing between them: the open conversation is in the URL (#c42), so a reload
// comes back to it and the browser's Back leaves it.

import {isMuted, RingcastClient} from '/sdk/index.js';

import {CallUI} from './calls.js';
import {ConversationList} from './conv_list.js';
import {ConversationView} from './conversation.js';
import {byId, setText} from './dom.js';
import {signIn} from './login.js';
import {MentionsView} from './mentions.js';
import {Names, showAvatar} from './names.js';
import {NewChatDialog} from './new_chat.js';
import {Notifier} from './notify.js';
import {SearchView} from './search.js';
import {Blocks, SettingsDialog} from './settings.js';
import {Stars, StarsView} from './stars.js';
import {Store} from './store.js';
import {ThreadPanel} from './thread.js';

const client = new RingcastClient({calls: {iceTransportPolicy: icePolicy()}});
/** The service worker (web/sw.js) once active: the offline shell, Web Push. Null: none. */
const worker = registerWorker();
const names = new Names(client);
const blocks = new Blocks(client);
const stars = new Stars(client);
const store = new Store(client, names);
const list = new ConversationList({
  list: byId('conv-list'),
  empty: byId('conv-empty'),
  store,
  names,
  presence: () => client.presence,
  onOpen: (id) => go(id),
});
const view = new ConversationView({
  client,
  store,
  names,
  list,
  blocks,
  stars,
  onBack: () => back(),
  onThread: (conv, root, from) => thread.open(conv, root, from),
});
const thread = new ThreadPanel({
  client,
  store,
  names,
  title: (conv) => list.title(store.conv(conv)),
  viewImage: (a) => view.viewImage(a),
});
const calls = new CallUI({
  client,
  store,
  names,
  title: (conv) => list.title(store.conv(conv)),
  current: () => view.current,
  isGroup: (conv) => store.conv(conv).group,
});
const dialog = new NewChatDialog({client, names, onStarted: (id) => go(id)});
// What the message lists (mentions, stars, search results) need: each item names its
// conversation and opens it (stars and search results at the message itself).
const listed = {
  client,
  names,
  title: (/** @type {number} */ conv) => list.title(store.conv(conv))
};
const openAt = (/** @type {number} */ id, /** @type {number} */ seq) => {
  go(id);
  view.jumpTo(seq);
};
const mentionsView = new MentionsView({...listed, onOpen: (id) => go(id)});
const starsView = new StarsView({...listed, onOpen: openAt});
const searchView = new SearchView({...listed, onOpen: openAt});
const settings = new SettingsDialog({
  client,
  names,
  blocks,
  onDeleted: (user) => {
    localStorage.removeItem(`ringcast:app:convs:${user}`);
    names.forget(user);
    forgetUser();
    startSignedOut('Your account was deleted.');
  },
});
const notifier = new Notifier({
  client,
  worker,
  title: (conv) => list.title(store.conv(conv)),
  sender: (user) => names.name(user),
  onOpen: (conv) => go(conv),
});

/** Opens conversation `id` (through the URL, so that Back closes it). @param {number} id */
function go(id) {
  showNotice('');
  if (location.hash !== `#c${id}`) location.hash = `c${id}`;
  // Now, not at the hashchange (a later task): the click shows the conversation at once.
  route();
  view.focusComposer();
}

function back() {
  const id = view.current;
  if (location.hash) history.pushState(null, '', location.pathname + location.search);
  route();
  if (id !== null) list.focus(id);
}

function route() {
  const match = /^#c(\d+)$/.exec(location.hash);
  const id = match ? Number(match[1]) : null;
  list.current = id;
  view.open(id);
  if (thread.conv !== id) thread.close({focus: false});
  document.body.classList.toggle('conv-open', id !== null);
  list.render();
  calls.render();
}

let rendering = false;
/** One render per frame, whatever the number of events. */
function renderSoon() {
  if (rendering) return;
  rendering = true;
  requestAnimationFrame(() => {
    rendering = false;
    list.render();
    view.render();
    thread.render();
    calls.render();
    settings.render();
    showMe();
    showUnreadInTitle();
  });
}

/** "(3) ringcast": the unread messages of every conversation, seen from another tab. */
function showUnreadInTitle() {
  let unread = 0;
  for (const conv of store.convs.values()) unread += store.unread(conv);
  const title = unread > 0 ? `(${unread}) ringcast` : 'ringcast';
  if (document.title !== title) document.title = title;
}

store.onChange = () => {
  renderSoon();
  saveSnapshotSoon();
};
names.onChange = renderSoon;
blocks.onChange = renderSoon;
stars.onChange = renderSoon;

/** The signed-in user's display name (else username) and avatar, atop the list. */
function showMe() {
  const me = client.userId;
  if (me === null) return;
  const name = names.name(me);
  setText(byId('me'), name);
  showAvatar(byId('me-avatar'), name, names.avatar(me));
}
/**
 * A conversation the user is no longer in (PROTOCOL.md, "Groups": removed, or left on this or
 * another device) is gone from the list; open, the app goes back to the list. The line atop the
 * list says why, for a change heard live or for the conversation that was open.
 */
store.onDropped = (conv, entry, live) => {
  const open = view.current === conv.id;
  if (open) back();
  if (!conv.group || !(live || open)) return;
  const title = list.title(conv);
  showNotice(
      entry?.action === 'removed' ? `${names.name(entry.actor)} removed you from “${title}”.` :
          entry?.action === 'left' ? `You left “${title}”.` :
                                     `You are no longer a member of “${title}”.`);
};

/** The line atop the list (empty: none). @param {string} text */
function showNotice(text) {
  setText(byId('notice-text'), text);
  byId('notice').hidden = text === '';
}
byId('notice-close').addEventListener('click', () => showNotice(''));

// The sender is named first (a notification is not redrawn when the name arrives).
// A muted conversation notifies only of the messages that mention the user (as the server's
// offline notifications do).
store.onIncoming = (message) => {
  const conv = store.conv(message.conv);
  if (isMuted(conv.mutedUntil) && !message.mentions?.includes(store.me)) return;
  names.resolve([message.from]).then(() => notifier.notify(message));
};

const connection = byId('connection');
client.on('state', ({state, retry_in_ms}) => {
  // Over a fallback transport (a network that refuses WebSocket) the chat works the same; the
  // line says so, quietly, since it may be slower to reach the user.
  const fallback = {sse: 'Connected over HTTP streaming', poll: 'Connected over HTTP polling'};
  const text = state === 'connected' ? fallback[client.transport] ?? '' :
      state === 'waiting' ? `Offline: reconnecting in ${Math.ceil((retry_in_ms ?? 0) / 1000)} s…` :
      state === 'connecting' ? 'Connecting…' :
                               '';
  setText(connection, text);
  document.body.dataset.connection = state;
  document.body.dataset.transport = client.transport;
});
client.on('auth_expired', () => {
  client.close();
  startSignedOut('Your session has ended: sign in again.');
});

byId('new-chat-button').addEventListener('click', () => dialog.open());
byId('mentions-button').addEventListener('click', () => mentionsView.open());
byId('starred-button').addEventListener('click', () => starsView.open());
byId('search-button').addEventListener('click', () => searchView.open());
byId('settings-button').addEventListener('click', () => settings.open());
byId('back-button').addEventListener('click', () => back());
byId('logout-button').addEventListener('click', async () => {
  await notifier.unsubscribe();
  localStorage.removeItem(snapshotKey());
  await client.logout();
  forgetUser();
  startSignedOut();
});

/** Signed out (or the account deleted): nothing of the user stays on screen. */
function forgetUser() {
  thread.close({focus: false});
  showNotice('');
  store.clear();
  blocks.clear();
  stars.clear();
  history.replaceState(null, '', location.pathname);
}
window.addEventListener('hashchange', route);

function enterChat() {
  const session = /** @type {import('/sdk/types.js').Session} */ (client.session);
  names.reset(session.user_id, session.username);
  showMe();
  byId('login').hidden = true;
  byId('chat').hidden = false;
  // Nothing of a previous session stays on screen (another user may have signed in).
  store.clear();
  stars.clear();
  view.open(null);
  store.restore(localStorage.getItem(snapshotKey()));
  store.loadOutbox();
  client.connect();
  route();
  notifier.subscribe();
  // The own profile as the server has it (display name, avatar), and whom the user blocks.
  client.me().then(() => names.changed(), () => {});
  blocks.load();
}

/** @returns {Promise<ServiceWorkerRegistration | null>} */
async function registerWorker() {
  if (!('serviceWorker' in navigator)) return null;
  const failed = (/** @type {any} */ error) => {
    document.body.dataset.shell = `failed: ${error?.message ?? error}`;
  };
  try {
    await navigator.serviceWorker.register('/sw.js');
    const registration = await navigator.serviceWorker.ready;
    fillShell().catch(failed);  // offline now: filled at the next load
    return registration;
  } catch (error) {
    failed(error);
    return null;
  }
}

/**
 * The offline shell: once the worker is active, every file of the app this page loaded goes
 * into the cache it answers from when the server is down (its name is web/sw.js's CACHE), so
 * no list of files is kept anywhere.
 */
async function fillShell() {
  const shell = new Set(['/']);
  for (const entry of performance.getEntriesByType('resource')) {
    const url = new URL(entry.name);
    if (url.origin === location.origin && /\.(?:js|css|png|webmanifest)$/.test(url.pathname)) {
      shell.add(url.pathname);
    }
  }
  const cache = await caches.open('ringcast-shell-v1');
  await cache.addAll([...shell]);
  document.body.dataset.shell = 'ready';
}

// The conversations as last seen, per user, for a reload while the server is down (the
// offline shell): written at most every 2 s while things change, and when the page goes.
const snapshotKey = () => `ringcast:app:convs:${client.userId}`;
let snapshotTimer = 0;
function saveSnapshot() {
  clearTimeout(snapshotTimer);
  snapshotTimer = 0;
  if (!client.session) return;
  try {
    localStorage.setItem(snapshotKey(), store.snapshot());
  } catch {
    // Storage full or refused: the next reload without the server shows less.
  }
}
function saveSnapshotSoon() {
  if (!snapshotTimer) snapshotTimer = setTimeout(saveSnapshot, 2000);
}
window.addEventListener('pagehide', () => {
  saveSnapshot();
  names.save();
});


/**
 * Calls' media only through the TURN servers (`relay`) when the page was opened with
 * `?ice=relay` or localStorage's `ringcast-app:ice-transport-policy` says so: what the browser
 * tests use to prove the media passes through coturn; otherwise the browser picks (`all`).
 * @returns {RTCIceTransportPolicy | undefined}
 */
function icePolicy() {
  const asked = new URLSearchParams(location.search).get('ice') ??
      localStorage.getItem('ringcast-app:ice-transport-policy');
  return asked === 'relay' || asked === 'all' ? asked : undefined;
}

/** @param {string} [message] */
async function startSignedOut(message) {
  // A dialog left open (settings, say, when another device ended this session) would cover the
  // sign-in form.
  for (const open of document.querySelectorAll('dialog[open]')) open.close();
  byId('chat').hidden = true;
  await signIn(client, message);
  enterChat();
}

if (await client.restoreSession()) {
  enterChat();
} else {
  startSignedOut();
}
