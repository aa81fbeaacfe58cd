// AccountClient: RingcastClient's methods for the user's account and for other users. The
// session (register, login, the tokens' renewal, restore after a reload, logout), the profile
// and password, the logins on other devices, account deletion and blocks, all over HTTP; and the
// profile cache (profiles.js) that names the users an app knows only by id. The session's
// machinery is in session.js and core.js; this class is what an app calls.

import {ClientCore} from './core.js';
import {sessionFrom} from './session.js';

/** @typedef {import('./types.js').Session} Session */
/** @typedef {import('./types.js').UserSummary} UserSummary */
/** @typedef {import('./types.js').Me} Me */
/** @typedef {import('./types.js').LoginSession} LoginSession */

export class AccountClient extends ClientCore {
  // ---------------------------------------------------------------------------------------
  // Accounts

  /** @param {string} username @param {string} password @returns {Promise<{user_id: number}>} */
  register(username, password) {
    return this._http.request('POST', '/api/register', {username, password}, {auth: false});
  }

  /**
   * Logs in; a different user than before starts from a clean state (their own outbox is
   * loaded). If `connect()` was called, the connection (re)opens with the new token.
   * @param {string} username @param {string} password @returns {Promise<Session>}
   */
  async login(username, password) {
    const answer =
        await this._http.request('POST', '/api/login', {username, password}, {auth: false});
    const session = sessionFrom(answer, username);
    await this._adopt(session, true);
    return session;
  }

  /**
   * Trades the refresh token for a new pair (the server rotates it: each is taken once) and
   * gives the open connection the new access token (`auth`), so it is not closed at the old
   * one's expiry. Runs by itself before each expiry, on `token_expiring` and on a close 4001;
   * concurrent calls share one request. A refusal (401) raises `auth_expired`.
   * @returns {Promise<Session>}
   */
  refreshSession() {
    return this._sessions.refresh();
  }

  /**
   * Takes back the session a previous page (or process) stored; null when there is none or it
   * has expired. Loads that user's outbox, whose sends go out at the next connection.
   * @returns {Promise<Session | null>}
   */
  async restoreSession() {
    return this._sessions.restore();
  }

  /**
   * Revokes the token on the server, closes the connection and forgets the session and the
   * outbox, in memory and in the storage (a shared computer keeps nothing of the user).
   * @returns {Promise<{revoked: boolean}>} `revoked` false when the server could not be told
   */
  async logout() {
    const session = this.session;
    this.close();
    let revoked = false;
    if (session && session.token !== this._expiredToken) {
      try {
        // An expired access token cannot log out, and only a logout revokes the refresh token
        // (its whole login): renew it first (a tab that slept through its refresh).
        if (session.refresh_token && session.expires_at <= Date.now() + 1000) {
          await this.refreshSession();
        }
        await this._http.request('POST', '/api/logout');
        revoked = true;
      } catch {
        // Offline or already expired: the token dies at its expiry; nothing is kept here.
      }
    }
    await this._forgetSession();
    return {revoked};
  }

  /** `GET /api/me`: the caller's profile, and email. @returns {Promise<Me>} */
  async me() {
    return this._profiles.keep(await this._http.request('GET', '/api/me'));
  }

  /**
   * Changes the caller's profile (`PATCH /api/me`): each field given is set, `null` clears it,
   * one not given stays. The server sends the `profile` event to the user's contacts.
   * @param {{display_name?: string | null, status?: string | null, avatar?: string | null,
   *     email?: string | null}} fields `avatar`: the id of an image the user uploaded
   * @returns {Promise<Me>} the profile after the change
   */
  async updateProfile(fields) {
    return this._profiles.keep(await this._http.request('PATCH', '/api/me', fields));
  }

  /**
   * Uploads `file` (an image: PNG, JPEG, GIF, WebP) and makes it the caller's avatar.
   * @param {Blob | Uint8Array} file
   * @param {{name?: string, type?: string,
   *     onProgress?: (p: import('./uploads.js').UploadProgress) => void}} [options]
   * @returns {{done: Promise<Me>, cancel: () => void}} `done` rejects as `upload` does, or
   *   with 400 `avatar must be an image you uploaded (with a thumbnail)`
   */
  uploadAvatar(file, options = {}) {
    return this._uploadFor(file, options, (id) => this.updateProfile({avatar: id}));
  }

  /**
   * `POST /api/me/password`: every other login of the user ends; this one stays.
   * @param {string} currentPassword @param {string} newPassword
   * @returns {Promise<{changed: boolean, sessions_ended: number}>} rejects 403 `wrong password`
   *   (counted as a failed login: 429 with `retryAfterS` past the limits)
   */
  async changePassword(currentPassword, newPassword) {
    return this._http.request(
        'POST', '/api/me/password', {current_password: currentPassword, new_password: newPassword});
  }

  /**
   * The user's logins, newest first (`GET /api/me/sessions`). @returns {Promise<LoginSession[]>}
   */
  async sessions() {
    return (await this._http.request('GET', '/api/me/sessions')).sessions;
  }

  /**
   * Ends one login (`DELETE /api/me/sessions/{id}`): its tokens are refused and its connections
   * closed at once. Ending the current one is a logout on the server; call `logout()` for that.
   * @param {string} id a `sessions()` entry's id @returns {Promise<{revoked: boolean}>}
   */
  async endSession(id) {
    return this._http.request('DELETE', `/api/me/sessions/${encodeURIComponent(id)}`);
  }

  /**
   * Deletes the account (`DELETE /api/me`, with the password), then forgets the session and the
   * outbox as `logout()` does.
   * @param {string} password @returns {Promise<{deleted: boolean}>} rejects 403 `wrong
   *   password` (the session stays)
   */
  async deleteAccount(password) {
    // The server closes this user's connections (1008 token revoked) maybe before its answer
    // arrives: that is the deletion, not an `auth_expired` to report.
    const expired = this._expiredToken;
    this._expiredToken = this.session?.token ?? null;
    let answer;
    try {
      answer = await this._http.request('DELETE', '/api/me', {password});
    } catch (error) {
      this._expiredToken = expired;
      throw error;
    }
    this.close();
    await this._forgetSession();
    return answer;
  }

  /**
   * Blocks `user` (`POST /api/blocks`): neither can open a 1:1 with the other or send into it.
   * @param {number} user @returns {Promise<{blocked: number}>}
   */
  async block(user) {
    return this._http.request('POST', '/api/blocks', {user});
  }

  /** `DELETE /api/blocks/{user}`. @param {number} user @returns {Promise<{unblocked: number}>} */
  async unblock(user) {
    return this._http.request('DELETE', `/api/blocks/${user}`);
  }

  /** The users the caller blocks, by id (`GET /api/blocks`). @returns {Promise<UserSummary[]>} */
  async blocks() {
    return this._profiles.keepAll((await this._http.request('GET', '/api/blocks')).blocks);
  }

  // ---------------------------------------------------------------------------------------
  // Other users and their profiles (profiles.js)

  /**
   * `GET /api/users?q=`: users whose username starts with `prefix` (ASCII case ignored), then
   * those with a display name's word that starts with it; each once.
   * @param {string} prefix @param {number} [limit] 1..50 (the server's default: 20)
   * @returns {Promise<import('./types.js').UserSummary[]>}
   */
  async searchUsers(prefix, limit) {
    const query = new URLSearchParams({q: prefix});
    if (limit !== undefined) query.set('limit', String(limit));
    return this._profiles.keepAll((await this._http.request('GET', `/api/users?${query}`)).users);
  }

  /**
   * `GET /api/users?ids=`: the names of users known by id (members, senders), ordered by id;
   * unknown ids are absent. Any number of ids: asked 100 at a time (the server's limit), each
   * id once.
   * @param {number[]} ids positive integers
   * @returns {Promise<import('./types.js').UserSummary[]>}
   */
  async users(ids) {
    return this._profiles.lookUp(ids);
  }

  /**
   * The cached profile of `user` (undefined: not known yet; `loadProfiles` asks for it). The
   * cache is filled by every answer that carries profiles and kept fresh by the `profile`
   * event; at most `maxProfiles` users, the least recently read dropped first.
   * @param {number} user @returns {UserSummary | undefined}
   */
  cachedProfile(user) {
    return this._profiles.get(user);
  }

  /** Every cached profile, least recently read first (to store them: `seedProfiles`). */
  cachedProfiles() {
    return this._profiles.values();
  }

  /**
   * The profiles of `ids`: those cached at once, the others asked for (`users(ids)`; an id
   * already asked for is not asked again while its answer is on the way). Unknown ids are
   * absent; rejects when the lookup fails (offline), and a later call asks again.
   * @param {number[]} ids @returns {Promise<UserSummary[]>}
   */
  async loadProfiles(ids) {
    return this._profiles.load(ids);
  }

  /**
   * Puts profiles the app stored (a reload without the server) into the cache; no event.
   * @param {UserSummary[]} profiles
   */
  seedProfiles(profiles) {
    this._profiles.seed(profiles);
  }
}
