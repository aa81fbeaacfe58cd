// RingcastClient: one chat session against a ringcast server (proto/PROTOCOL.md, "The chat
// service"). What it keeps, and why:
//
// - session: the login token (persisted unless `persistSession` is false). A 401 on an HTTP
//   call, a `/ws` refusal (seen as the HTTP 401 of the conversation list that precedes every
//   connection) or a close 1008 `token revoked` raises `auth_expired` once per token and stops
//   reconnecting until `login` gives a new one.
// - one WebSocket (connection.js), reopened after every loss. Every attempt starts with
//   `GET /api/conversations` (discovers conversations created meanwhile, and checks the token
//   with an answer a browser's WebSocket would hide), then `/ws`; after `hello` the client
//   resumes: `sync` from each conversation's cursor, paging while `more`, and resends the
//   outbox.
// - cursors (stream.js, cursors.js): per conversation, the last seq handed to the app, so that
//   `message` events come in seq order with no gap and no duplicate across reconnects. A
//   conversation known at the first connection after login starts at its `last_seq` then
//   (older messages are history); one that appears later (created, joined, or found at a
//   reconnect) starts at 0.
// - outbox (outbox.js): sends until acked, persisted, resent with the same `cid` on every new
//   connection, paced below the server's `--msg-rate`.
//
// The parts, each in its file: connection.js (the socket), backoff.js (when to reconnect),
// stream.js (messages in order: live, sync, history; with cursors.js and answers.js),
// outbox.js (unacked sends), watermarks.js (receipts asked for), typing.js, http.js.

import {ReconnectPolicy} from './backoff.js';
import {CALL_EVENTS, CallSignalling} from './call_signalling.js';
import {Connection} from './connection.js';
import {Emitter} from './emitter.js';
import {RingcastError} from './errors.js';
import {HttpApi} from './http.js';
import {Outbox} from './outbox.js';
import {ProfileCache} from './profiles.js';
import {defaultStorage} from './storage.js';
import {MessageStream} from './stream.js';
import {RemoteTyping, TypingThrottle} from './typing.js';
import {upload} from './uploads.js';
import {ThreadWatermarks, Watermarks} from './watermarks.js';

// The ids one GET /api/users?ids= may ask for (proto/PROTOCOL.md).
const MAX_USER_LOOKUP = 100;

/** @typedef {import('./types.js').Message} Message */
/** @typedef {import('./types.js').Ack} Ack */
/** @typedef {import('./types.js').Typing} Typing */
/** @typedef {import('./types.js').Presence} Presence */
/** @typedef {import('./types.js').Members} Members */
/** @typedef {import('./types.js').Conversation} Conversation */
/** @typedef {import('./types.js').SyncSummary} SyncSummary */
/** @typedef {import('./types.js').HistoryPage} HistoryPage */
/** @typedef {import('./types.js').ThreadPage} ThreadPage */
/** @typedef {import('./types.js').Session} Session */
/** @typedef {import('./types.js').OutboxEntry} OutboxEntry */
/** @typedef {import('./types.js').ConnectionState} ConnectionState */
/** @typedef {import('./types.js').Transport} Transport */
/** @typedef {import('./types.js').ErrorInfo} ErrorInfo */
/** @typedef {import('./types.js').ClientOptions} ClientOptions */
/** @typedef {import('./types.js').ClientEvents} ClientEvents */
/** @typedef {import('./types.js').UserSummary} UserSummary */
/** @typedef {import('./types.js').Me} Me */
/** @typedef {import('./types.js').LoginSession} LoginSession */
/** @typedef {import('./types.js').CallAck} CallAck */
/** @typedef {import('./types.js').CallOptions} CallOptions */
/** @typedef {import('./calls.js').Call} Call */

/** @typedef {OutboxEntry & {acked: Promise<Ack>}} SendHandle */

/** @extends {Emitter<ClientEvents>} */
export class RingcastClient extends Emitter {
  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    super();
    const base = options.baseUrl ?? /** @type {any} */ (globalThis).location?.origin;
    if (!base) throw new RingcastError('options.baseUrl is required', {code: 'bad_option'});
    /** @type {string} */
    this.baseUrl = String(base).replace(/\/+$/, '');
    /** @type {string} */
    this.wsUrl = options.wsUrl ?? `${this.baseUrl.replace(/^http/, 'ws')}/ws`;
    this.storage = options.storage ?? defaultStorage();
    this._prefix = options.storagePrefix ?? 'ringcast:';
    this._persistSession = options.persistSession ?? true;
    this._requestTimeoutMs = options.requestTimeoutMs ?? 15000;
    this._autoDelivered = options.autoDelivered ?? true;
    this._maxOutbox = options.maxOutbox ?? 1000;

    this._http = new HttpApi({
      baseUrl: this.baseUrl,
      fetch: options.fetch ?? globalThis.fetch?.bind(globalThis),
      timeoutMs: this._requestTimeoutMs,
      token: () => this.session?.token ?? null,
      onUnauthorized: (reason, token) => {
        if (token !== this.session?.token) return;
        // An expired access token is renewed with the refresh token when there is one.
        if (this.session?.refresh_token) {
          this.refreshSession().catch(() => {});
        } else {
          this._authExpired(reason);
        }
      },
    });
    this._connection = new Connection({
      WebSocket: options.WebSocket,
      policy: new ReconnectPolicy(options.reconnect),
      pingIntervalMs: options.pingIntervalMs ?? 25000,
      pongTimeoutMs: options.pongTimeoutMs ?? 10000,
      helloTimeoutMs: options.helloTimeoutMs ?? 10000,
      transport: options.transport ?? 'auto',
      fallbackMs: options.fallbackMs ?? 4000,
      baseUrl: this.baseUrl,
      fetch: options.fetch ?? globalThis.fetch?.bind(globalThis),
      token: () => this.session?.token ?? null,
      prepare: () => this._prepareConnection(),
      onState: (change) => this.emit('state', change),
      onHello: (hello) => this._onHello(hello),
      onEvent: (event) => this._onEvent(event),
      onDown: () => this._onDown(),
      onClose: (code, reason) => this._onClose(code, reason),
      onHint: (afterMs) => this.emit('reconnect_hint', {after_ms: afterMs}),
      onError: (code, message) => this._error(code, message),
    });
    /** @type {Map<number, number>} per conversation, the newest seq this client was acked */
    this._acked = new Map();
    this._outbox = new Outbox({
      storage: this.storage,
      sendsPerSecond: options.sendsPerSecond ?? 50,
      onStorageError: (error) => this._error('storage', `storage write failed: ${error}`),
    });
    // Typing and watermarks go out only for conversations the user is known to be in: the
    // server's `forbidden` for them carries no cid and would be taken for a history's.
    this._typingOut = new TypingThrottle({
      refreshMs: options.typing?.refreshMs ?? 3000,
      idleMs: options.typing?.idleMs ?? 5000,
      send: (conv, state) =>
          this._members.has(conv) && this._connection.send({type: 'typing', conv, state}),
    });
    this._watermarks = new Watermarks({
      batchMs: 50,
      send: (conv, type, seq) =>
          this._members.has(conv) && this._connection.send({type, conv, seq}),
    });
    this._threadReads = new ThreadWatermarks({
      send: (conv, root, seq) =>
          this._members.has(conv) && this._connection.send({type: 'thread_read', conv, root, seq}),
    });
    this._stream = new MessageStream({
      connection: this._connection,
      maxBuffered: options.maxBufferedPerConversation ?? 10000,
      syncTimeoutMs: options.syncTimeoutMs ?? 60000,
      historyTimeoutMs: this._requestTimeoutMs,
      isMember: (conv) => this._members.has(conv),
      deliver: (message) => this._deliver(message),
      onSync: (summaries, asked) => this._onSync(summaries, asked),
      onSynced: () => this.emit('synced', {}),
      onError: (code, message) => this._error(code, message),
    });
    this._calls = new CallSignalling(
        {
          send: (frame) => this._connection.send(frame),
          device: () => this.device,
          user: () => this.session?.user_id ?? null,
          iceServers: () => this.iceServers(),
          emit: (name, event) => this.emit(/** @type {any} */ (name), event),
          newCid,
        },
        {requestTimeoutMs: this._requestTimeoutMs, calls: options.calls});
    /** @type {number | null} this connection's device id (`hello`; PROTOCOL.md "Calls") */
    this.device = null;
    this._typingIn = new RemoteTyping({
      expireMs: options.typing?.expireMs ?? 8000,
      emit: (event) => this.emit('typing', event),
    });

    /** @type {Session | null} */
    this.session = null;
    this._resends = 0;
    /** @type {Map<number, Presence>} the contacts' presence, from `hello` and `presence` */
    this.presence = new Map();
    this._profiles = new ProfileCache(options.maxProfiles ?? 2000);
    /** @type {Map<number, Promise<void>>} profiles asked for by loadProfiles, not answered yet */
    this._profilesAsked = new Map();

    this._wantOpen = false;       // connect() was called and close()/logout() not since
    this._everConnected = false;  // a hello came since login: new conversations start at 0
    /** @type {Promise<Session> | null} the refresh on its way (refreshSession) */
    this._refreshing = null;
    /** @type {ReturnType<typeof setTimeout> | null} the next automatic refresh */
    this._refreshTimer = null;
    /** @type {string | null} the token auth_expired was raised for */
    this._expiredToken = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._flushTimer = null;
    /** @type {Map<number, number[]>} member lists of the conversations the user is in */
    this._members = new Map();
    /**
     * @type {Map<string, {promise: Promise<Ack>, resolve: (ack: Ack) => void,
     *                     reject: (error: RingcastError) => void}>}
     */
    this._waiters = new Map();
    this._onOnline = () => {
      if (this.state === 'waiting') this._connection.reconnectNow();
    };
  }

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
    if (this._refreshing) return this._refreshing;
    const session = this.session;
    if (!session?.refresh_token) {
      return Promise.reject(new RingcastError('no refresh token', {code: 'auth_expired'}));
    }
    this._refreshing = (async () => {
      try {
        // Tabs sharing the stored session take turns, and one that comes second adopts what
        // the first stored: a refresh token used twice would end the login for both.
        return await withRefreshLock(this.storage, `${this._prefix}refresh`, async () => {
          const next = (await this._renewedElsewhere(session)) ??
              sessionFrom(await this._http.request(
                              'POST', '/api/token/refresh', {refresh_token: session.refresh_token},
                              {auth: false}),
                          session.username);
          if (this.session !== session) return /** @type {Session} */ (this.session);
          await this._adopt(next, true);
          this._connection.send({type: 'auth', token: next.token});  // when connected
          return next;
        });
      } catch (error) {
        if (/** @type {RingcastError} */ (error).status === 401 && this.session === session) {
          this._authExpired(/** @type {RingcastError} */ (error).message);
        }
        throw error;
      } finally {
        this._refreshing = null;
      }
    })();
    return this._refreshing;
  }

  /**
   * Takes back the session a previous page (or process) stored; null when there is none or it
   * has expired. Loads that user's outbox, whose sends go out at the next connection.
   * @returns {Promise<Session | null>}
   */
  async restoreSession() {
    let raw = null;
    try {
      raw = await this.storage.getItem(this._sessionKey());
    } catch (error) {
      this._error('storage', `storage read failed: ${error}`);
    }
    /** @type {any} */
    let stored = null;
    try {
      stored = raw ? JSON.parse(raw) : null;
    } catch {
      // A corrupted entry is no session.
    }
    if (!stored || typeof stored.token !== 'string' || !Number.isSafeInteger(stored.user_id)) {
      return null;
    }
    const refreshable =
        typeof stored.refresh_token === 'string' && stored.refresh_expires_at > Date.now();
    if (!(stored.expires_at > Date.now()) && !refreshable) {
      await this._storageRemove(this._sessionKey());
      return null;
    }
    const session =
        sessionFrom(stored, typeof stored.username === 'string' ? stored.username : undefined);
    await this._adopt(session, false);
    if (session.expires_at > Date.now()) return session;
    try {
      return await this.refreshSession();
    } catch {
      return null;
    }
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

  /** The local half of logout: nothing of the user stays in memory or storage. */
  async _forgetSession() {
    this._resetUserState();
    this.session = null;
    this._expiredToken = null;
    this._scheduleRefresh();
    await this._outbox.close({erase: true});
    await this._storageRemove(this._sessionKey());
  }

  /**
   * The STUN and TURN servers for a call, with a short-lived TURN credential of this user's
   * (`GET /api/calls/ice-servers`; PROTOCOL.md "Calls: ICE servers"): what `RTCPeerConnection`
   * takes as `iceServers`. Fetch them for each call and each ICE restart, never keep them.
   * @returns {Promise<import('./types.js').IceServers>}
   */
  async iceServers() {
    return this._http.request('GET', '/api/calls/ice-servers');
  }

  /**
   * Calls `conv` (`call_invite`; PROTOCOL.md "Calls: signalling"): resolves with the Call once
   * the server took it (state `ringing` until someone answers); rejects with the server's code
   * (`busy`: the error's `call` names a group call going on in `conv`, to `joinCall`;
   * `forbidden`; `unavailable`). `stream` is the app's getUserMedia, sent to each device that
   * answers.
   * @param {number} conv
   * @param {{kind?: 'audio' | 'video', stream?: MediaStream | null} & CallOptions} [options]
   * @returns {Promise<Call>}
   */
  startCall(conv, options = {}) {
    return this._calls.start(conv, options);
  }

  /**
   * Joins group call `call` of `conv` that is going on (it did not ring this device).
   * @param {string} call @param {number} conv
   * @param {{kind?: 'audio' | 'video', stream?: MediaStream | null} & CallOptions} [options]
   * @returns {Promise<Call>}
   */
  joinCall(call, conv, options = {}) {
    return this._calls.join(call, conv, options);
  }

  /** The call this device is in (null: none); a call that only rings is not. */
  get currentCall() {
    return this._calls.current;
  }

  /**
   * A raw call request (PROTOCOL.md "Calls: signalling": `call_invite`, `call_accept`, ...),
   * sent with a fresh cid: resolves with its `call_ack`, rejects with the server's error. The
   * Call objects use it; an app needs it only to drive the signalling itself.
   * @param {Record<string, unknown> & {type: string}} frame
   * @returns {Promise<CallAck>}
   */
  callRequest(frame) {
    return this._calls.request(frame);
  }

  /** `GET /api/me`: the caller's profile, and email. @returns {Promise<Me>} */
  async me() {
    return this._keepProfile(await this._http.request('GET', '/api/me'));
  }

  /**
   * Changes the caller's profile (`PATCH /api/me`): each field given is set, `null` clears it,
   * one not given stays. The server sends the `profile` event to the user's contacts.
   * @param {{display_name?: string | null, status?: string | null, avatar?: string | null,
   *     email?: string | null}} fields `avatar`: the id of an image the user uploaded
   * @returns {Promise<Me>} the profile after the change
   */
  async updateProfile(fields) {
    return this._keepProfile(await this._http.request('PATCH', '/api/me', fields));
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
    const handle = upload(this, file, options);
    const done = handle.done.then((stored) => this.updateProfile({avatar: stored.id}));
    done.catch(() => {});
    return {done, cancel: handle.cancel};
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
    return this._keepProfiles((await this._http.request('GET', '/api/blocks')).blocks);
  }

  // ---------------------------------------------------------------------------------------
  // Connection

  /** Opens the WebSocket and keeps it open (reconnecting) until `close()` or `logout()`. */
  connect() {
    if (!this.session) throw new RingcastError('not logged in', {code: 'not_logged_in'});
    if (this._wantOpen) return;
    this._wantOpen = true;
    /** @type {any} */ (globalThis).addEventListener?.('online', this._onOnline);
    this._connection.start();
  }

  /** Closes the WebSocket and stops reconnecting; the session and the outbox stay. */
  close() {
    this._wantOpen = false;
    /** @type {any} */ (globalThis).removeEventListener?.('online', this._onOnline);
    this._connection.stop('closed');
    this._typingIn.clear();
  }

  /**
   * Drops the current connection and opens a new one at once (the app learnt that the network
   * changed, say). Unacked sends go out again on it, with their cids.
   */
  reconnectNow() {
    this._connection.reconnectNow();
  }

  /** The user id of the session, or null. */
  get userId() {
    return this.session?.user_id ?? null;
  }

  /** Whether requests go out now (the server's hello arrived). */
  get connected() {
    return this._connection.ready;
  }

  /** @returns {ConnectionState} */
  get state() {
    return this._connection.state;
  }

  /** @returns {Transport} the transport of the current connection (or the one being tried) */
  get transport() {
    return this._connection.transport;
  }

  /** Counters, for tests and diagnostics. */
  get stats() {
    return {connections: this._connection.number, resends: this._resends, ...this._stream.counters};
  }

  // ---------------------------------------------------------------------------------------
  // Messages

  /**
   * Queues a message: it goes out now if connected, else at the next connection, and again
   * after every reconnect until acked (the same `cid` each time: the server stores it once).
   * `acked` resolves with the ack, or rejects when the server refuses it for good (the entry
   * then stays `failed` in the outbox) or it is discarded.
   * @param {number} conv
   * @param {string} body
   * @param {{kind?: string, cid?: string, attachments?: string[], mentions?: number[],
   *   replyTo?: number, thread?: boolean}} [options]
   *   `attachments`: ids of the user's uploads (uploads.js); `mentions`: member ids mentioned
   *   besides the `@username`s of `body`; `replyTo`: the seq of the message answered, and
   *   `thread` to put the reply in that message's thread (PROTOCOL.md, "Replies and threads")
   * @returns {SendHandle}
   */
  send(conv, body, options = {}) {
    return this._queue(conv, body, options, {});
  }

  // ---------------------------------------------------------------------------------------
  // Changes to messages (PROTOCOL.md, "Changes to messages"): each goes through the outbox as
  // a send does (resent with its cid until acked) and comes back to every member as a
  // `message` of the server's kind naming its `target`.

  /**
   * Replaces the body of this user's message `seq` (within the server's `--edit-window`).
   * @param {number} conv @param {number} seq @param {string} body
   * @param {{cid?: string, mentions?: number[]}} [options]
   * @returns {SendHandle}
   */
  edit(conv, seq, body, options = {}) {
    return this._queue(conv, body, options, {change: 'edit', kind: 'edit', target: seq});
  }

  /**
   * Deletes this user's message `seq`: it becomes a tombstone for everyone.
   * @param {number} conv @param {number} seq @param {{cid?: string}} [options]
   * @returns {SendHandle}
   */
  deleteMessage(conv, seq, options = {}) {
    return this._queue(conv, '', options, {change: 'delete', kind: 'delete', target: seq});
  }

  /**
   * Adds (`on` true) or takes away this user's reaction `emoji` (one character) to message
   * `seq`; doing either twice is doing it once.
   * @param {number} conv @param {number} seq @param {string} emoji
   * @param {{on?: boolean, cid?: string}} [options]
   * @returns {SendHandle}
   */
  react(conv, seq, emoji, options = {}) {
    const on = options.on ?? true;
    return this._queue(conv, emoji, options, {change: 'react', kind: 'reaction', target: seq, on});
  }

  /**
   * Pins (or with `on` false unpins) message `seq` in its conversation.
   * @param {number} conv @param {number} seq @param {{on?: boolean, cid?: string}} [options]
   * @returns {SendHandle}
   */
  pin(conv, seq, options = {}) {
    const change = options.on === false ? 'unpin' : 'pin';
    return this._queue(conv, '', options, {change, kind: change, target: seq});
  }

  /**
   * The pinned messages of `conv`, newest pin first.
   * @param {number} conv @returns {Promise<Message[]>}
   */
  async pins(conv) {
    return (await this._http.request('GET', `/api/conversations/${conv}/pins`)).pins;
  }

  /**
   * @param {number} conv @param {string} body
   * @param {{kind?: string, cid?: string, attachments?: string[], mentions?: number[],
   *   replyTo?: number, thread?: boolean}} options
   * @param {{change?: OutboxEntry['change'], kind?: string, target?: number, on?: boolean}} change
   * @returns {SendHandle}
   */
  _queue(conv, body, options, change) {
    if (!this.session) throw new RingcastError('not logged in', {code: 'not_logged_in'});
    if (!Number.isSafeInteger(conv) || conv <= 0) {
      throw new RingcastError('conv must be a positive integer', {code: 'bad_request'});
    }
    if (typeof body !== 'string') {
      throw new RingcastError('body must be a string', {code: 'bad_request'});
    }
    if (change.change && (!Number.isSafeInteger(change.target) || (change.target ?? 0) <= 0)) {
      throw new RingcastError('seq must be a positive integer', {code: 'bad_request'});
    }
    if (this._outbox.entries.length >= this._maxOutbox) {
      throw new RingcastError(
          `outbox full (${this._maxOutbox} sends waiting)`, {code: 'outbox_full'});
    }
    const cid = options.cid ?? newCid();
    if (this._outbox.get(cid)) throw new RingcastError('cid already queued', {code: 'bad_request'});
    /** @type {OutboxEntry} */
    const entry = {
      cid,
      conv,
      kind: change.kind ?? options.kind ?? 'text',
      body,
      created_ms: Date.now(),
      state: 'pending',
    };
    if (change.change) {
      entry.change = change.change;
      entry.target = change.target;
      if (change.on !== undefined) entry.on = change.on;
    }
    if (options.attachments?.length) entry.attachments = [...options.attachments];
    if (options.mentions?.length) entry.mentions = [...options.mentions];
    if (!change.change && options.replyTo !== undefined) {
      if (!Number.isSafeInteger(options.replyTo) || options.replyTo <= 0) {
        throw new RingcastError(
            'replyTo must be a positive integer (a seq)', {code: 'bad_request'});
      }
      entry.reply_to = options.replyTo;
      if (options.thread) entry.thread = true;
    } else if (!change.change && options.thread) {
      throw new RingcastError('thread needs replyTo', {code: 'bad_request'});
    }
    this._outbox.add(entry);
    const acked = this.acked(cid);
    this._typingOut.stop(conv);
    this.emit('outbox', {change: 'added', entry: {...entry}});
    this._outbox.save().then(() => this._flushOutbox());
    return {...entry, acked};
  }

  /**
   * The ack of the queued send `cid`, one restored after a reload included: resolves with the
   * ack; rejects when the server refuses the send for good, it is discarded, or the session
   * ends; rejects at once for a cid not in the outbox.
   * @param {string} cid @returns {Promise<Ack>}
   */
  acked(cid) {
    const waiter = this._waiters.get(cid);
    if (waiter) return waiter.promise;
    /** @type {Promise<Ack>} */
    let promise;
    if (!this._outbox.get(cid)) {
      promise = Promise.reject(
          new RingcastError('no such send in the outbox', {code: 'unknown_cid', cid}));
    } else {
      /** @type {(ack: Ack) => void} */
      let resolve = () => {};
      /** @type {(error: RingcastError) => void} */
      let reject = () => {};
      promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this._waiters.set(cid, {promise, resolve, reject});
    }
    // Nobody has to await it: an unawaited rejection must not end a Node process.
    promise.catch(() => {});
    return promise;
  }

  /** The sends not yet acked, oldest first (copies). @returns {OutboxEntry[]} */
  outbox() {
    return this._outbox.entries.map((entry) => ({...entry}));
  }

  /**
   * Puts a `failed` send back in line, with its cid. @param {string} cid
   * @returns {Promise<Ack> | undefined} its ack (undefined: `cid` is not a failed send)
   */
  retry(cid) {
    if (!this._outbox.revive(cid)) return undefined;
    const entry = /** @type {OutboxEntry} */ (this._outbox.get(cid));
    this.emit('outbox', {change: 'retried', entry: {...entry}});
    this._outbox.save().then(() => this._flushOutbox());
    return this.acked(cid);
  }

  /**
   * Drops a send from the outbox (a pending one may still have reached the server: its message
   * then arrives like any other). @param {string} cid
   */
  discard(cid) {
    const entry = this._outbox.remove(cid);
    if (!entry) return;
    this._settle(cid, null, new RingcastError('discarded', {code: 'discarded', cid}));
    this.emit('outbox', {change: 'discarded', entry});
    this._outbox.save();
  }

  /**
   * A page of history, newest first: messages with seq < `before` (0: the newest). Over the
   * WebSocket when connected, else over HTTP.
   * @param {number} conv
   * @param {{before?: number, limit?: number}} [options] `limit` 1–200 (default 50)
   * @returns {Promise<HistoryPage>}
   */
  async history(conv, options = {}) {
    const before = options.before ?? 0;
    const limit = options.limit ?? 50;
    const seen = this._seen(conv);
    if (this._connection.ready && this._members.has(conv)) {
      return this._stream.history(conv, before, limit, seen);
    }
    const query = new URLSearchParams({limit: String(limit)});
    if (before > 0) query.set('before', String(before));
    if (seen > 0) query.set('seen', String(seen));
    const page = await this._http.request('GET', `/api/conversations/${conv}/messages?${query}`);
    return {conv, messages: page.messages, more: page.more};
  }

  /**
   * A page of the thread of root message `root`, newest first: replies with seq < `before`
   * (0: the newest), over the WebSocket (PROTOCOL.md, "Replies and threads"), with the user's
   * thread watermark (`read_seq`) and the replies by others above it (`unread`). Rejects with
   * code `not_found` when `root` is no thread root.
   * @param {number} conv @param {number} root
   * @param {{before?: number, limit?: number}} [paging] `limit` 1–200 (default 50)
   * @returns {Promise<ThreadPage>}
   */
  async thread(conv, root, paging = {}) {
    if (!this._connection.ready) {
      throw new RingcastError('not connected', {code: 'disconnected'});
    }
    const page = await this._stream.thread(
        conv, root, paging.before ?? 0, paging.limit ?? 50, this._seen(conv));
    this._threadReads.confirm(conv, root, page.read_seq);
    return page;
  }

  /**
   * The user has read thread `root` of `conv` up to reply `seq` (PROTOCOL.md, "Replies and
   * threads"): `thread_read` goes out now, or at the next connection until the server's answer
   * (the `thread_read` event) shows it has it; it only ever moves forward. Only for a root the
   * user knows (a `thread` page of it came back): the server's refusal carries no cid.
   * @param {number} conv @param {number} root @param {number} seq
   */
  threadRead(conv, root, seq) {
    this._threadReads.move(conv, root, seq);
  }

  /**
   * Pages backwards through a conversation: each `next()` gives the next older page (newest
   * first), `null` once the first message was given.
   * @param {number} conv
   * @param {{before?: number, limit?: number}} [options] start below `before` (0: the newest)
   */
  historyPager(conv, options = {}) {
    let before = options.before ?? 0;
    let done = false;
    return {
      /** @returns {Promise<HistoryPage | null>} */
      next: async () => {
        if (done) return null;
        const page = await this.history(conv, {before, limit: options.limit});
        if (page.messages.length > 0) before = page.messages[page.messages.length - 1].seq;
        if (!page.more || page.messages.length === 0 || before <= 1) done = true;
        return page;
      },
    };
  }

  /**
   * Everything up to `seq` is read (on screen, page visible): `read` goes out now or at the next
   * connection; it only ever moves forward. Also marks it delivered.
   * @param {number} conv @param {number} seq
   */
  markRead(conv, seq) {
    this._watermarks.move(conv, 'read', seq);
  }

  /** Everything up to `seq` reached this device. @param {number} conv @param {number} seq */
  markDelivered(conv, seq) {
    this._watermarks.move(conv, 'delivered', seq);
  }

  /** Call on every keystroke; see typing.js for what goes out. @param {number} conv */
  typing(conv) {
    if (this._connection.ready) this._typingOut.typing(conv, Date.now());
  }

  /** The user stopped typing (cleared the field, left the conversation). @param {number} conv */
  stopTyping(conv) {
    this._typingOut.stop(conv);
  }

  // ---------------------------------------------------------------------------------------
  // Conversations (HTTP)

  /** `GET /api/conversations`, most recently active first. @returns {Promise<Conversation[]>} */
  async conversations() {
    const answer = await this._http.request('GET', '/api/conversations');
    /** @type {Conversation[]} */
    const list = answer.conversations;
    for (const conv of list) {
      this._members.set(conv.id, conv.members);
      this._stream.follow(conv.id, this._everConnected ? 0 : conv.last_seq);
    }
    this.emit('conversations', {conversations: list});
    return list;
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

  /**
   * `GET /api/users?q=`: users whose username starts with `prefix` (ASCII case ignored), then
   * those with a display name's word that starts with it; each once.
   * @param {string} prefix @param {number} [limit] 1..50 (the server's default: 20)
   * @returns {Promise<import('./types.js').UserSummary[]>}
   */
  async searchUsers(prefix, limit) {
    const query = new URLSearchParams({q: prefix});
    if (limit !== undefined) query.set('limit', String(limit));
    return this._keepProfiles((await this._http.request('GET', `/api/users?${query}`)).users);
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

  /**
   * `GET /api/users?ids=`: the names of users known by id (members, senders), ordered by id;
   * unknown ids are absent. Any number of ids: asked 100 at a time (the server's limit), each
   * id once.
   * @param {number[]} ids positive integers
   * @returns {Promise<import('./types.js').UserSummary[]>}
   */
  async users(ids) {
    const unique = [...new Set(ids)].sort((a, b) => a - b);
    const pages = [];
    for (let i = 0; i < unique.length; i += MAX_USER_LOOKUP) {
      const query = new URLSearchParams({ids: unique.slice(i, i + MAX_USER_LOOKUP).join(',')});
      pages.push(this._http.request('GET', `/api/users?${query}`));
    }
    return this._keepProfiles((await Promise.all(pages)).flatMap((page) => page.users));
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
    const unique = [...new Set(ids)].filter((id) => Number.isSafeInteger(id) && id > 0);
    const missing = unique.filter((id) => !this._profiles.get(id) && !this._profilesAsked.has(id));
    if (missing.length > 0) {
      const asked = this.users(missing).then(() => {});
      for (const id of missing) this._profilesAsked.set(id, asked);
      asked.catch(() => {}).then(() => {
        for (const id of missing) {
          if (this._profilesAsked.get(id) === asked) this._profilesAsked.delete(id);
        }
      });
    }
    await Promise.all(unique.map((id) => this._profilesAsked.get(id)));
    return /** @type {UserSummary[]} */ (
        unique.map((id) => this._profiles.get(id)).filter(Boolean));
  }

  /**
   * Puts profiles the app stored (a reload without the server) into the cache; no event.
   * @param {UserSummary[]} profiles
   */
  seedProfiles(profiles) {
    for (const profile of profiles) {
      if (Number.isSafeInteger(profile?.id)) this._profiles.put(profile);
    }
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
    const handle = upload(this, file, options);
    const done = handle.done.then((stored) => this.updateGroup(conv, {avatar: stored.id}));
    done.catch(() => {});
    return {done, cancel: handle.cancel};
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

  // ---------------------------------------------------------------------------------------
  // Internals: connection life

  _sessionKey() {
    return `${this._prefix}session`;
  }

  /** @param {Session} session @param {boolean} store */
  async _adopt(session, store) {
    // The same user id on another database (a reset) is another account: a new start too.
    const sameUser =
        this.session?.user_id === session.user_id && bindingOf(this.session) === bindingOf(session);
    if (!sameUser) {
      this._connection.stop('user changed');
      this._resetUserState();
      this.session = session;
      const rejected =
          await this._outbox.open(`${this._prefix}outbox:${session.user_id}`, bindingOf(session));
      if (rejected.length > 0) {
        this.emit('outbox_rejected', {
          entries: rejected,
          reason: 'stored for another account or server database: not sent',
        });
      }
    }
    this.session = session;
    this._expiredToken = null;
    this._scheduleRefresh();
    if (store && this._persistSession) {
      await this._storageSet(this._sessionKey(), JSON.stringify(session));
    }
    if (this._wantOpen) this._connection.start();  // no-op while it runs
  }

  /**
   * The stored session, when another client on the same storage (another tab) has renewed
   * `session`'s tokens since; else null.
   * @param {Session} session @returns {Promise<Session | null>}
   */
  async _renewedElsewhere(session) {
    if (!this._persistSession) return null;
    let stored = null;
    try {
      stored = JSON.parse((await this.storage.getItem(this._sessionKey())) ?? 'null');
    } catch {
      return null;
    }
    if (stored?.user_id !== session.user_id || typeof stored.refresh_token !== 'string' ||
        stored.refresh_token === session.refresh_token || !(stored.expires_at > Date.now())) {
      return null;
    }
    const renewed = sessionFrom(stored, session.username);
    return bindingOf(renewed) === bindingOf(session) ? renewed : null;
  }

  /** Renews the tokens a while before the access token expires (a tenth of its life, <= 60 s). */
  _scheduleRefresh() {
    if (this._refreshTimer) clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
    const session = this.session;
    if (!session?.refresh_token) return;
    const left = session.expires_at - Date.now();
    const margin = Math.min(60000, Math.max(500, left / 2));
    this._refreshTimer = setTimeout(() => {
      this._refreshTimer = null;
      if (this.session === session) this.refreshSession().catch(() => {});
    }, Math.max(0, left - margin));
    /** @type {any} */ (this._refreshTimer).unref?.();  // Node: no process kept alive for it
  }

  _resetUserState() {
    for (const [cid] of this._waiters) {
      this._settle(cid, null, new RingcastError('session ended', {code: 'logged_out', cid}));
    }
    this._stream.clear();
    this._acked.clear();
    this._members.clear();
    this._watermarks.clear();
    this._threadReads.clear();
    this.presence.clear();
    this._profiles.clear();
    this._profilesAsked.clear();
    this._typingIn.clear();
    this._calls.reset();
    this._everConnected = false;
  }

  /** @param {string} reason */
  _authExpired(reason) {
    const token = this.session?.token;
    if (!token || this._expiredToken === token) return;
    this._expiredToken = token;
    this._connection.stop('auth_expired');
    this._storageRemove(this._sessionKey());
    this.emit('auth_expired', {reason});
  }

  /**
   * Before each connection attempt: the conversation list (new conversations, and the token's
   * check); the URL to open, or null when the token is no good.
   * @returns {Promise<string | null>}
   */
  async _prepareConnection() {
    const session = this.session;
    if (!session || session.token === this._expiredToken) return null;
    if (session.expires_at <= Date.now() + 1000 && session.refresh_token) {
      try {
        await this.refreshSession();
      } catch (error) {
        if (/** @type {RingcastError} */ (error).status === 401) return null;  // auth_expired
        throw error;
      }
      return this._prepareConnection();
    }
    if (session.expires_at <= Date.now()) {
      this._authExpired('token expired');
      return null;
    }
    try {
      await this.conversations();
    } catch (error) {
      if (/** @type {RingcastError} */ (error).status === 401) return null;  // auth_expired raised
      throw error;
    }
    return `${this.wsUrl}?token=${encodeURIComponent(session.token)}`;
  }

  /** The connection in use is gone: what was tied to it goes too. */
  _onDown() {
    if (this._flushTimer) clearTimeout(this._flushTimer);
    this._flushTimer = null;
    this._stream.down();
    this._typingOut.reset();
  }

  /**
   * The server closed the connection: whether to reconnect.
   * @param {number} code @param {string} reason @returns {boolean}
   */
  _onClose(code, reason) {
    if (code === 1008 && reason === 'token revoked') {
      this._authExpired(reason);
      return false;
    }
    if (code === 4001 && !this.session?.refresh_token) {
      this._authExpired(reason);
      return false;
    }
    // 4001 with a refresh token: the next attempt renews the tokens first (_prepareConnection).
    if (code === 1008 && reason.startsWith('too many connections')) {
      this._error('too_many_connections', reason);
    }
    return true;
  }

  // ---------------------------------------------------------------------------------------
  // Internals: frames

  /** A frame from the server (not hello, reconnect or pong: connection.js's). @param {any} event */
  _onEvent(event) {
    const {type, ...body} = event ?? {};
    switch (type) {
      case 'message':
        // A conversation not heard of (its `members` event was missed): the user is in it, and
        // it is delivered from its start.
        if (!this._members.has(body.conv)) this._members.set(body.conv, []);
        return this._stream.accept(body, true);
      case 'ack':
        return this._onAck(body);
      case 'receipt':
        return this.emit('receipt', body);
      case 'typing':
        return this._typingIn.received(body);
      case 'presence':
        this.presence.set(body.user, body);
        return this.emit('presence', body);
      case 'members':
        return this._onMembers(body);
      case 'sync':
        return this._stream.onSyncAnswer(body.convs ?? []);
      case 'history':
        return this._stream.onHistoryAnswer(body);
      case 'thread':
        return this._stream.onThreadAnswer(body);
      case 'thread_read':
        this._threadReads.confirm(body.conv, body.root, body.read_seq);
        return this.emit('thread_read', body);
      case 'error':
        return this._onErrorFrame(body);
      case 'mention':
        return this.emit('mention', body.message);
      case 'profile':
        this._profiles.put(body.user);
        return this.emit('profile', /** @type {UserSummary} */ (this._profiles.get(body.user.id)));
      case 'call_ack':
        return this._calls.onFrame(event);
      case 'token_expiring':
        if (this.session?.refresh_token) this.refreshSession().catch(() => {});
        return this.emit('token_expiring', body);
      default:  // auth_ok (refreshSession has the new token already), or a newer server's type
        if (CALL_EVENTS.has(type)) this._calls.onFrame(event);
        return undefined;
    }
  }

  /**
   * @param {{user: number, presence: Presence[], instance?: string, device?: number,
   *     ringing?: any[]}} hello
   */
  _onHello(hello) {
    const instance = this.session?.instance;
    if (instance && hello.instance && hello.instance !== instance) {
      // The token still verifies, but the database behind it is another (a reset with the
      // same signing secret): its user id may be someone else. Nothing of ours goes out.
      const rejected = this._outbox.entries.splice(0);
      this._outbox.meta.clear();
      this._outbox.save();
      if (rejected.length > 0) {
        this.emit(
            'outbox_rejected',
            {entries: rejected, reason: 'the server database changed: not sent'});
      }
      this._authExpired('the server database changed');
      return;
    }
    // The `profile` event is not replayed: changes made while this client was away are read
    // afresh (PROTOCOL.md, "Profiles").
    if (this._everConnected) this._refreshProfiles();
    this._everConnected = true;
    this.presence = new Map((hello.presence ?? []).map((p) => [p.user, p]));
    this.device = hello.device ?? null;
    this._calls.onHello(hello.ringing ?? []);
    this._watermarks.forgetSent();
    this._threadReads.forgetSent();
    this.emit('hello', {user: hello.user, presence: [...this.presence.values()]});
    this._stream.resume();
    this._threadReads.flush();
    this._flushOutbox();
  }

  /** A message due to the app (in order, once). @param {Message} message */
  _deliver(message) {
    this._typingIn.messageFrom(message.conv, message.from);
    this.emit('message', message);
    if (this._autoDelivered && message.from !== this.session?.user_id) {
      this._watermarks.deliveredSoon(message.conv, message.seq);
    }
  }

  /**
   * A sync answer's conversations: counts and watermarks for the app; watermarks asked for
   * earlier that the server lacks go out again.
   * @param {SyncSummary[]} summaries @param {number[]} asked
   */
  _onSync(summaries, asked) {
    const me = this.session?.user_id;
    const listed = new Set();
    for (const summary of summaries) {
      listed.add(summary.conv);
      const mine = summary.members?.find((m) => m.user === me);
      if (mine) this._watermarks.confirm(summary.conv, mine);
    }
    // Left out of the answer: the user is no longer a member.
    for (const conv of asked)
      if (!listed.has(conv)) this._members.delete(conv);
    this.emit('sync', {convs: summaries});
  }

  /** @param {{code: string, message: string, cid?: string}} error */
  _onErrorFrame(error) {
    const {code, message, cid} = error;
    if (cid !== undefined && this._outbox.get(String(cid))) return this._onSendError(error);
    if (this._calls.takeError(error)) return;
    if (cid === undefined && this._stream.takeError(code, message)) return;
    this._error(code, message, cid === undefined ? undefined : String(cid));
  }

  // ---------------------------------------------------------------------------------------
  // Internals: outbox

  /** @param {string} cid @param {Ack | null} ack @param {RingcastError} [error] */
  _settle(cid, ack, error) {
    const waiter = this._waiters.get(cid);
    if (!waiter) return;
    this._waiters.delete(cid);
    if (ack)
      waiter.resolve(ack);
    else if (error)
      waiter.reject(error);
  }

  _flushOutbox() {
    const connection = this._connection;
    if (!connection.ready) return;
    if (this._flushTimer) clearTimeout(this._flushTimer);
    this._flushTimer = null;
    for (;;) {
      const next = this._outbox.next(connection.number, Date.now());
      if (!next) return;
      if ('waitMs' in next) {
        this._flushTimer = setTimeout(() => this._flushOutbox(), next.waitMs);
        return;
      }
      if (!connection.send(requestOf(next.entry))) return;
      const {cid} = next.entry;
      if (this._outbox.sent(cid, connection.number)) this._resends += 1;
    }
  }

  /**
   * The newest seq of `conv` this client has seen: received, or acked to it (a read names it,
   * so that whichever node answers, a read replica that lacks it does not: PROTOCOL.md,
   * "Reading your own writes"). 0: none.
   * @param {number} conv
   */
  _seen(conv) {
    return Math.max(this._stream.newest(conv), this._acked.get(conv) ?? 0);
  }

  /** @param {Ack} ack */
  _onAck(ack) {
    if (ack.seq > (this._acked.get(ack.conv) ?? 0)) this._acked.set(ack.conv, ack.seq);
    const entry = this._outbox.remove(ack.cid);
    if (entry) {
      this._outbox.save();
      this._settle(ack.cid, ack);
      this.emit('outbox', {change: 'acked', entry});
    }
    this.emit('ack', ack);
  }

  /** @param {{code: string, message: string, cid?: string}} error */
  _onSendError(error) {
    const cid = String(error.cid);
    const entry = this._outbox.get(cid);
    if (!entry) return;
    if (error.code === 'rate_limited' || error.code === 'unavailable') {
      this._outbox.retryLater(cid, error.code, Date.now());
      this._flushOutbox();
      return;
    }
    entry.state = 'failed';
    entry.error = {code: error.code, message: error.message};
    this._outbox.save();
    this._settle(cid, null, new RingcastError(error.message, {code: error.code, cid}));
    this.emit('outbox', {change: 'failed', entry: {...entry}});
  }

  // ---------------------------------------------------------------------------------------
  // Internals: members

  /** @param {Members} event */
  _onMembers(event) {
    const me = this.session?.user_id;
    if (me !== undefined && event.members.includes(me)) {
      this._members.set(event.conv, event.members);
      this._stream.join(event.conv);
      this._watermarks.flush(event.conv);
      this._threadReads.flush();
    } else {
      this._members.delete(event.conv);
    }
    this.emit('members', event);
  }

  // ---------------------------------------------------------------------------------------
  // Internals: profiles

  /**
   * Caches `profile`; a change of one cached already (seen in a listing, or after a reconnect)
   * is told as the `profile` event is.
   * @template {UserSummary} T @param {T} profile @returns {T}
   */
  _keepProfile(profile) {
    const known = this._profiles.has(profile.id);
    if (this._profiles.put(profile) && known) {
      this.emit('profile', /** @type {UserSummary} */ (this._profiles.get(profile.id)));
    }
    return profile;
  }

  /** @param {UserSummary[]} profiles @returns {UserSummary[]} */
  _keepProfiles(profiles) {
    for (const profile of profiles) this._keepProfile(profile);
    return profiles;
  }

  /** Reads the cached profiles again; those that changed come as `profile` events. */
  _refreshProfiles() {
    const ids = this._profiles.ids();
    if (ids.length > 0) this.users(ids).catch(() => {});
  }

  // ---------------------------------------------------------------------------------------
  // Internals: misc

  /** @param {string} code @param {string} message @param {string} [cid] */
  _error(code, message, cid) {
    /** @type {ErrorInfo} */
    const info = {code, message};
    if (cid !== undefined) info.cid = cid;
    this.emit('error', info);
  }

  /** @param {string} key @param {string} value */
  async _storageSet(key, value) {
    try {
      await this.storage.setItem(key, value);
    } catch (error) {
      this._error('storage', `storage write failed: ${error}`);
    }
  }

  /** @param {string} key */
  async _storageRemove(key) {
    try {
      await this.storage.removeItem(key);
    } catch (error) {
      this._error('storage', `storage write failed: ${error}`);
    }
  }
}

/**
 * A fresh client message id: 128 random bits in hex (Web Crypto where there is one; Node 18
 * has none global, and uniqueness per sender is all a cid needs).
 * @returns {string}
 */
export function newCid() {
  const bytes = new Uint8Array(16);
  const crypto = /** @type {any} */ (globalThis).crypto;
  if (crypto?.getRandomValues) {
    crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** @type {WeakMap<object, Promise<unknown>>} the refreshes under way, per storage */
const refreshChains = new WeakMap();

/**
 * Runs `fn` alone among the clients of one storage: across tabs with the Web Locks API where
 * there is one (browsers), else among the clients of this process on the same storage object.
 * @template T @param {object} storage @param {string} name @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
function withRefreshLock(storage, name, fn) {
  const locks = /** @type {any} */ (globalThis.navigator)?.locks;
  if (locks?.request) return locks.request(name, fn);
  const previous = refreshChains.get(storage) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  refreshChains.set(storage, run.catch(() => {}));
  return run;
}

/**
 * The session a login or refresh answer (or a stored session) describes.
 * @param {any} answer @param {string | undefined} username @returns {Session}
 */
function sessionFrom(answer, username) {
  /** @type {Session} */
  const session = {
    token: answer.token,
    user_id: answer.user_id,
    expires_at: answer.expires_at,
    username,
  };
  if (typeof answer.refresh_token === 'string') {
    session.refresh_token = answer.refresh_token;
    session.refresh_expires_at = answer.refresh_expires_at;
  }
  if (typeof answer.instance === 'string') {
    session.instance = answer.instance;
    session.user_created_at = answer.user_created_at;
  }
  return session;
}

/**
 * What a stored outbox is bound to: the account, on one server database; null for a server
 * that names no instance.
 * @param {Session | null} session @returns {string | null}
 */
function bindingOf(session) {
  if (!session?.instance) return null;
  return `${session.instance}/${session.user_id}/${session.user_created_at}`;
}

/**
 * The WebSocket request of an outbox entry: a send, or a change to message `target`.
 * @param {OutboxEntry} entry
 */
function requestOf(entry) {
  const {cid, conv, kind, body, attachments, mentions, change, target: seq} = entry;
  switch (change) {
    case 'edit':
      return {type: 'edit', conv, cid, seq, body, mentions};
    case 'react':
      return {type: 'react', conv, cid, seq, emoji: body, on: entry.on ?? true};
    case 'delete':
    case 'pin':
    case 'unpin':
      return {type: change, conv, cid, seq};
    default:
      return {
        type: 'send',
        conv,
        cid,
        kind,
        body,
        attachments,
        mentions,
        reply_to: entry.reply_to,
        thread: entry.thread
      };
  }
}
