// ConversationClient: RingcastClient's methods for conversations and groups over HTTP (proto/
// PROTOCOL.md, "HTTP API" and "Groups"): the list, new 1:1s and groups, members and roles, a
// group's name, topic and avatar, mute, the mentions of the user and message search. A
// conversation the list or a creation reveals is followed by the message stream from here on.

import {AccountClient} from './account.js';
import {RingcastError} from './errors.js';

/** @typedef {import('./types.js').Conversation} Conversation */

export class ConversationClient extends AccountClient {
  /** `GET /api/conversations`, most recently active first. @returns {Promise<Conversation[]>} */
  async conversations() {
    return this._listConversations();
  }

  /**
   * `POST /api/conversations`. @param {{members: number[], name?: string, group?: boolean}} spec
   * @returns {Promise<{id: number, created: boolean}>} `created` false: the 1:1 existed already
   */
  async createConversation(spec) {
    const {status, body: answer} =
        await this._http.requestWithStatus('POST', '/api/conversations', spec);
    if (!this._members.has(answer.id)) {
      this._members.set(answer.id, [...new Set([this.session?.user_id ?? 0, ...spec.members])]);
    }
    this._stream.follow(answer.id, 0);
    return {id: answer.id, created: status === 201};
  }

  /** The 1:1 conversation with `user` (created if needed). @param {number} user */
  async openDirect(user) {
    return (await this.createConversation({members: [user], group: false})).id;
  }

  /** A new group. @param {string} name @param {number[]} members */
  async createGroup(name, members) {
    return (await this.createConversation({members, name, group: true})).id;
  }

  /**
   * Adds members to a group.
   * @param {number} conv @param {number[]} members
   * @returns {Promise<{id: number, members: number[]}>}
   */
  async addMembers(conv, members) {
    const answer =
        await this._http.request('POST', `/api/conversations/${conv}/members`, {members});
    this._members.set(conv, answer.members);
    return answer;
  }

  /**
   * Removes `user` (yourself: leave). Admins remove members; the owner cannot leave before
   * `transferOwnership` (PROTOCOL.md, "Groups").
   * @param {number} conv @param {number} user
   * @returns {Promise<import('./types.js').Group>}
   */
  async removeMember(conv, user) {
    return this._http.request('DELETE', `/api/conversations/${conv}/members/${user}`);
  }

  /**
   * Leaves group `conv` (`removeMember` of oneself): the other members get the `left` entry,
   * this user's connections the `members` event without them. The owner is refused (409 `the
   * owner must transfer ownership before leaving`) until `transferOwnership`.
   * @param {number} conv
   * @returns {Promise<import('./types.js').Group>}
   */
  async leaveGroup(conv) {
    if (!this.session) throw new RingcastError('not logged in', {code: 'not_logged_in'});
    return this.removeMember(conv, this.session.user_id);
  }

  /**
   * The owner names an admin (`'admin'`) or demotes one (`'member'`).
   * @param {number} conv @param {number} user @param {'admin' | 'member'} role
   * @returns {Promise<import('./types.js').Group>}
   */
  async setRole(conv, user, role) {
    return this._http.request('PUT', `/api/conversations/${conv}/members/${user}/role`, {role});
  }

  /**
   * The owner hands the group to `user` (a member) and becomes an admin.
   * @param {number} conv @param {number} user
   * @returns {Promise<import('./types.js').Group>}
   */
  async transferOwnership(conv, user) {
    return this._http.request('POST', `/api/conversations/${conv}/transfer`, {members: [user]});
  }

  /**
   * Admins and the owner rename a group, set its topic (`''` clears it) and its avatar (an
   * upload id of the caller's, an image; null removes it: uploadGroupAvatar() does both steps).
   * @param {number} conv
   * @param {{name?: string, topic?: string, avatar?: string | null}} settings
   * @returns {Promise<import('./types.js').Group>}
   */
  async updateGroup(conv, settings) {
    return this._http.request('PATCH', `/api/conversations/${conv}`, settings);
  }

  /**
   * Uploads `file` (an image: PNG, JPEG, GIF, WebP) and makes it group `conv`'s avatar (admins
   * and the owner).
   * @param {number} conv @param {Blob | Uint8Array} file
   * @param {{name?: string, type?: string,
   *     onProgress?: (p: import('./uploads.js').UploadProgress) => void}} [options]
   * @returns {{done: Promise<import('./types.js').Group>, cancel: () => void}} `done` rejects as
   *   `upload` does, or as updateGroup() does (403 for a member)
   */
  uploadGroupAvatar(conv, file, options = {}) {
    return this._uploadFor(file, options, (id) => this.updateGroup(conv, {avatar: id}));
  }

  /**
   * Mutes `conv` for this user: no offline notification of its messages except those that
   * mention the user (`POST /api/conversations/{id}/mute`).
   * @param {number} conv @param {number} [untilMs] the end, ms since the epoch; none: until
   * unmute
   * @returns {Promise<{muted_until: number | 'forever'}>}
   */
  async mute(conv, untilMs) {
    const body = untilMs === undefined ? {} : {until: untilMs};
    return this._http.request('POST', `/api/conversations/${conv}/mute`, body);
  }

  /** Ends a mute (`DELETE /api/conversations/{id}/mute`). @param {number} conv */
  async unmute(conv) {
    return this._http.request('DELETE', `/api/conversations/${conv}/mute`);
  }

  /**
   * `GET /api/mentions`: the messages that mention this user, newest first.
   * @param {{before?: number, limit?: number}} [options] `before`: a message id (the previous
   * page's `next_before`); `limit` 1..200 (the server's default: 50)
   * @returns {Promise<{mentions: import('./types.js').Message[], more: boolean,
   *     next_before?: number}>}
   */
  async mentions(options = {}) {
    const query = new URLSearchParams();
    if (options.before !== undefined) query.set('before', String(options.before));
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    const text = query.toString();
    const suffix = text ? `?${text}` : '';
    return this._http.request('GET', `/api/mentions${suffix}`);
  }

  /**
   * `GET /api/search`: the messages of this user's conversations that hold every word of
   * `query`, best first (PROTOCOL.md, "Search"). The next page: the same call with `cursor` set
   * to the answer's `next_cursor`.
   * @param {string} query text (never a query language), 1..256 bytes, up to 16 words
   * @param {{conv?: number, from?: number, before?: number, after?: number, limit?: number,
   *     cursor?: string}} [options] `conv`: one conversation; `from`: one author's user id;
   *     `before`/`after`: sent before/after these ms since the epoch; `limit` 1..50 (default 20)
   * @returns {Promise<import('./types.js').SearchPage>}
   */
  async search(query, options = {}) {
    const params = new URLSearchParams({q: query});
    for (const name of ['conv', 'from', 'before', 'after', 'limit', 'cursor']) {
      const value = options[/** @type {keyof typeof options} */ (name)];
      if (value !== undefined) params.set(name, String(value));
    }
    return this._http.request('GET', `/api/search?${params}`);
  }
}
