// Profiles (proto/PROTOCOL.md, "Profiles"): the cache of users by id that lets an app name the
// senders and members it knows only by id without asking the server again. Every answer that
// carries profiles fills it (`users`, `searchUsers`, `blocks`, `me`, `updateProfile`) and the
// `profile` event keeps it fresh. Bounded: past `max` entries the least recently used goes
// (a Map iterates in insertion order; a read re-inserts). ProfileLookup asks the server for
// the profiles the cache lacks, each once while its answer is on the way, and reads the cached
// ones again after a reconnect (the `profile` event is not replayed).

import {attachmentUrl} from './uploads.js';

/** @typedef {import('./types.js').UserSummary} UserSummary */

// The ids one GET /api/users?ids= may ask for (proto/PROTOCOL.md).
const MAX_USER_LOOKUP = 100;

export class ProfileCache {
  /** @param {number} max entries kept at most */
  constructor(max) {
    this.max = Math.max(1, max);
    /** @type {Map<number, UserSummary>} */
    this._byId = new Map();
  }

  /** @param {number} id @returns {UserSummary | undefined} */
  get(id) {
    const profile = this._byId.get(id);
    if (profile) {
      this._byId.delete(id);
      this._byId.set(id, profile);
    }
    return profile;
  }

  /**
   * Keeps `profile` (the fields a profile has; a `GET /api/me` answer's `email` is left out).
   * @param {UserSummary} profile @returns {boolean} whether it differs from what was kept
   */
  put(profile) {
    /** @type {UserSummary} */
    const kept = {
      id: profile.id,
      username: profile.username,
      display_name: profile.display_name ?? null,
      avatar: profile.avatar ?? null,
      avatar_thumb: profile.avatar_thumb ?? null,
      status: profile.status ?? null,
    };
    if (profile.deleted) kept.deleted = true;
    const before = this._byId.get(profile.id);
    this._byId.delete(profile.id);
    this._byId.set(profile.id, kept);
    while (this._byId.size > this.max) {
      this._byId.delete(/** @type {number} */ (this._byId.keys().next().value));
    }
    return JSON.stringify(before) !== JSON.stringify(kept);
  }

  /** @param {number} id (not a use: the order stays) */
  has(id) {
    return this._byId.has(id);
  }

  /** The ids kept, least recently used first. */
  ids() {
    return [...this._byId.keys()];
  }

  /** The profiles kept, least recently used first (not a use). @returns {UserSummary[]} */
  values() {
    return [...this._byId.values()];
  }

  get size() {
    return this._byId.size;
  }

  clear() {
    this._byId.clear();
  }
}

/** The profile cache and the lookups that fill it (the client's profile methods). */
export class ProfileLookup {
  /**
   * @param {{http: import('./http.js').HttpApi, max: number,
   *     onChange: (profile: UserSummary) => void}} options `onChange`: the `profile` event
   */
  constructor(options) {
    this._http = options.http;
    this._onChange = options.onChange;
    this._cache = new ProfileCache(options.max);
    /** @type {Map<number, Promise<void>>} profiles asked for by load(), not answered yet */
    this._asked = new Map();
  }

  /** @param {number} id @returns {UserSummary | undefined} */
  get(id) {
    return this._cache.get(id);
  }

  /** Every cached profile, least recently read first. */
  values() {
    return this._cache.values();
  }

  /** Puts profiles the app stored into the cache; no event. @param {UserSummary[]} profiles */
  seed(profiles) {
    for (const profile of profiles) {
      if (Number.isSafeInteger(profile?.id)) this._cache.put(profile);
    }
  }

  clear() {
    this._cache.clear();
    this._asked.clear();
  }

  /**
   * Caches `profile`; a change of one cached already (seen in a listing, or after a reconnect)
   * is told as the `profile` event is.
   * @template {UserSummary} T @param {T} profile @returns {T}
   */
  keep(profile) {
    const known = this._cache.has(profile.id);
    if (this._cache.put(profile) && known) {
      this._onChange(/** @type {UserSummary} */ (this._cache.get(profile.id)));
    }
    return profile;
  }

  /** @param {UserSummary[]} profiles @returns {UserSummary[]} */
  keepAll(profiles) {
    for (const profile of profiles) this.keep(profile);
    return profiles;
  }

  /** The server's `profile` event: cached, and told. @param {UserSummary} profile */
  received(profile) {
    this._cache.put(profile);
    this._onChange(/** @type {UserSummary} */ (this._cache.get(profile.id)));
  }

  /**
   * `GET /api/users?ids=`, 100 ids a request (the server's limit), each id once; the answers
   * cached. @param {number[]} ids @returns {Promise<UserSummary[]>}
   */
  async lookUp(ids) {
    const unique = [...new Set(ids)].sort((a, b) => a - b);
    const pages = [];
    for (let i = 0; i < unique.length; i += MAX_USER_LOOKUP) {
      const query = new URLSearchParams({ids: unique.slice(i, i + MAX_USER_LOOKUP).join(',')});
      pages.push(this._http.request('GET', `/api/users?${query}`));
    }
    return this.keepAll((await Promise.all(pages)).flatMap((page) => page.users));
  }

  /**
   * The profiles of `ids`: the cached ones, the others looked up (an id already asked for is
   * not asked again while its answer is on the way). @param {number[]} ids
   * @returns {Promise<UserSummary[]>}
   */
  async load(ids) {
    const unique = [...new Set(ids)].filter((id) => Number.isSafeInteger(id) && id > 0);
    const missing = unique.filter((id) => !this._cache.get(id) && !this._asked.has(id));
    if (missing.length > 0) {
      const asked = this.lookUp(missing).then(() => {});
      for (const id of missing) this._asked.set(id, asked);
      asked.catch(() => {}).then(() => {
        for (const id of missing) {
          if (this._asked.get(id) === asked) this._asked.delete(id);
        }
      });
    }
    await Promise.all(unique.map((id) => this._asked.get(id)));
    return /** @type {UserSummary[]} */ (unique.map((id) => this._cache.get(id)).filter(Boolean));
  }

  /** Reads the cached profiles again; those that changed come as `profile` events. */
  refresh() {
    const ids = this._cache.ids();
    if (ids.length > 0) this.lookUp(ids).catch(() => {});
  }
}

/**
 * The name to show for a user: the display name, else the username; a deleted account is
 * "Deleted user" (its username is gone: PROTOCOL.md, "Account control").
 * @param {UserSummary | undefined | null} profile @returns {string | undefined}
 */
export function displayName(profile) {
  if (!profile) return undefined;
  if (profile.deleted) return 'Deleted user';
  return profile.display_name || profile.username;
}

/**
 * The URL of a user's or a group's avatar (or its thumbnail, `thumb`), with the token as
 * `?token=` (what an `<img src>` can carry); undefined without an avatar.
 * @param {import('./client.js').RingcastClient} client
 * @param {{avatar?: string | null, avatar_thumb?: string | null} | undefined | null} profile a
 *   profile (UserSummary), a Group or a Conversation
 * @param {{thumb?: boolean}} [options]
 */
export function avatarUrl(client, profile, options = {}) {
  if (!profile?.avatar) return undefined;
  return attachmentUrl(
      client, {url: profile.avatar, thumb_url: profile.avatar_thumb ?? undefined}, options);
}
