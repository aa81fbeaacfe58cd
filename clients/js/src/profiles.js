// Profiles (proto/PROTOCOL.md, "Profiles"): the cache of users by id that lets an app name the
// senders and members it knows only by id without asking the server again. Every answer that
// carries profiles fills it (`users`, `searchUsers`, `blocks`, `me`, `updateProfile`) and the
// `profile` event keeps it fresh. Bounded: past `max` entries the least recently used goes
// (a Map iterates in insertion order; a read re-inserts).

import {attachmentUrl} from './uploads.js';

/** @typedef {import('./types.js').UserSummary} UserSummary */

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
