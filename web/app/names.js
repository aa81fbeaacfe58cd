// Names: how the app shows a user known by id (members, senders): the display name, else the
// username, and the avatar's thumbnail. The profiles are the SDK's profile cache (filled by
// every answer that carries profiles, kept fresh by the `profile` event and re-read after a
// reconnect); ids not in it are asked for in batches (the SDK's loadProfiles, GET
// /api/users?ids=): every id asked for during one turn of the event loop goes out in one
// request. The cache is stored in localStorage per signed-in user, so a reload (even without
// the server) shows names at once.

import {avatarUrl, displayName} from '/sdk/index.js';

const storageKey = (me) => `ringcast-app:profiles:${me}`;

/**
 * Whether `query` (lowercased) finds `profile` as the server's user search does: the start of
 * the username, or of a word of the display name (words split at ASCII punctuation and spaces).
 * @param {import('/sdk/types.js').UserSummary | undefined} profile @param {string} query
 */
export function matchesQuery(profile, query) {
  if (!profile || query === '') return false;
  if (profile.username.toLowerCase().startsWith(query)) return true;
  const words =
      (profile.display_name ?? '').toLowerCase().split(/[\x20-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]+/);
  return words.some((word) => word !== '' && word.startsWith(query));
}

export class Names {
  /** @param {import('/sdk/index.js').RingcastClient} client */
  constructor(client) {
    this._client = client;
    /** @type {Set<number>} ids to ask for at the next flush */
    this._wanted = new Set();
    /** @type {Set<number>} ids the server does not know (never asked again) */
    this._unknown = new Set();
    /** @type {Promise<void> | null} the flush the wanted ids wait for */
    this._flush = null;
    /** @type {() => void} */
    this.onChange = () => {};
    this._me = 0;
    this._saveTimer = 0;
    client.on('profile', () => this.changed());
  }

  /** Starts over for the signed-in user. @param {number} me @param {string | undefined} username */
  reset(me, username) {
    this._me = me;
    this._wanted.clear();
    this._unknown.clear();
    try {
      const stored = JSON.parse(localStorage.getItem(storageKey(me)) ?? '[]');
      if (Array.isArray(stored) && stored.length > 0) {
        this._client.seedProfiles(stored);
        // Shown at once, then read afresh: the `profile` events missed while no page was open
        // are not replayed (changes come as the SDK's `profile` event).
        this._client.users(this._client.cachedProfiles().map((p) => p.id)).catch(() => {});
      }
    } catch {
      // A corrupted entry: profiles are asked for again.
    }
    if (username && !this._client.cachedProfile(me)) {
      this._client.seedProfiles([{
        id: me,
        username,
        display_name: null,
        avatar: null,
        avatar_thumb: null,
        status: null,
      }]);
    }
  }

  /** Profiles were learnt or changed (an event, a search): shown and stored. */
  changed() {
    this.onChange();
    if (!this._saveTimer) this._saveTimer = setTimeout(() => this.save(), 500);
  }

  /** Stores the profiles now (due, or the page goes). */
  save() {
    clearTimeout(this._saveTimer);
    this._saveTimer = 0;
    if (!this._client.session) return;
    try {
      localStorage.setItem(storageKey(this._me), JSON.stringify(this._client.cachedProfiles()));
    } catch {
      // Storage full or off: profiles are kept for this page only.
    }
  }

  /**
   * Removes what was stored for the signed-in `me` (the account was deleted). @param {number} me
   */
  forget(me) {
    clearTimeout(this._saveTimer);
    this._saveTimer = 0;
    localStorage.removeItem(storageKey(me));
  }

  /** @param {number} id @returns {import('/sdk/types.js').UserSummary | undefined} */
  profile(id) {
    const profile = this._client.cachedProfile(id);
    if (!profile) this.resolve([id]);
    return profile;
  }

  /**
   * @param {number} id @returns {string} the display name, else the username, or "user #id"
   *     while it is being asked for (onChange follows the answer)
   */
  name(id) {
    return displayName(this.profile(id)) ?? `user #${id}`;
  }

  /** The username (what a mention is written with), undefined until known. @param {number} id */
  username(id) {
    return this.profile(id)?.username || undefined;
  }

  /** The avatar thumbnail's URL (with the token), undefined without one. @param {number} id */
  avatar(id) {
    return avatarUrl(this._client, this.profile(id), {thumb: true});
  }

  /**
   * A group's avatar thumbnail's URL (with the token), undefined without one.
   * @param {import('./store.js').Conv} conv
   */
  groupAvatar(conv) {
    return avatarUrl(
        this._client, {avatar: conv.avatar, avatar_thumb: conv.avatarThumb}, {thumb: true});
  }

  /** @param {number} id */
  known(id) {
    return this._client.cachedProfile(id) !== undefined;
  }

  /**
   * Asks for the profiles of `ids` not known yet; resolves once they are known (or found
   * unknown, or the request failed: a later name() asks again).
   * @param {Iterable<number>} ids @returns {Promise<void>}
   */
  resolve(ids) {
    let wanted = false;
    for (const id of ids) {
      if (this._unknown.has(id) || !Number.isSafeInteger(id) || id < 1 || this.known(id)) continue;
      this._wanted.add(id);
      wanted = true;
    }
    return wanted ? this._scheduleFlush() : Promise.resolve();
  }

  /** @returns {Promise<void>} */
  _scheduleFlush() {
    if (this._flush) return this._flush;
    this._flush = Promise.resolve().then(async () => {
      this._flush = null;
      const ids = [...this._wanted];
      this._wanted.clear();
      await this._ask(this._me, ids);
    });
    return this._flush;
  }

  /** @param {number} me the user signed in when asked @param {number[]} ids */
  async _ask(me, ids) {
    try {
      const found = new Set((await this._client.loadProfiles(ids)).map((p) => p.id));
      if (me !== this._me) return;  // Signed out meanwhile: another user's profiles.
      for (const id of ids) {
        if (!found.has(id)) this._unknown.add(id);
      }
      this.changed();
    } catch {
      // Offline or signed out: the next name() asks again.
    }
  }
}

/**
 * A person's round picture (decorative: the name is beside it): the avatar's thumbnail, or
 * the name's initial drawn by CSS from `data-initial` (no text node in the DOM). The `<img>`
 * exists only while there is a picture.
 * @param {HTMLElement} [dot] the online dot of a conversation list entry
 */
export function avatarElement(dot) {
  const span = document.createElement('span');
  span.className = 'avatar';
  span.setAttribute('aria-hidden', 'true');
  if (dot) span.append(dot);
  return span;
}

/**
 * @param {HTMLElement} el an avatarElement() @param {string} name
 * @param {string | undefined} url the thumbnail's, none: the initial
 * @param {{initial?: boolean}} [options] `initial` false: no picture, no avatar at all (beside
 *   a name in a row, where an initial would only repeat its first letter, and be read with it)
 */
export function showAvatar(el, name, url, options = {}) {
  el.hidden = !url && options.initial === false;
  // Only where it shows: a hidden element's generated content is still in its computed style
  // (which tools reading the text, playwright's included, take for text).
  const initial = url || el.hidden ? '' : (Array.from(name.trim())[0] ?? '?').toUpperCase();
  if ((el.dataset.initial ?? '') !== initial) {
    if (initial)
      el.dataset.initial = initial;
    else
      delete el.dataset.initial;
  }
  let img = /** @type {HTMLImageElement | null} */ (el.querySelector('img.avatar-img'));
  if (!url) {
    img?.remove();
    return;
  }
  if (!img) {
    img = document.createElement('img');
    img.className = 'avatar-img';
    img.alt = '';
    img.referrerPolicy = 'no-referrer';
    el.prepend(img);
  }
  if (img.getAttribute('src') !== url) img.src = url;
}
