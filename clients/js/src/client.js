// RingcastClient: one chat session against a ringcast server (proto/PROTOCOL.md, "The chat
// service"). What it keeps, and why:
//
// - session: the login token (persisted unless `persistSession` is false). A 401 on an HTTP
//   call, a `/ws` refusal (seen as the HTTP 401 of the conversation list that precedes every
//   connection) or a close 1008 `token revoked` raises `auth_expired` once per token and stops
//   reconnecting until `login` gives a new one.
// - one WebSocket, reopened after every loss (backoff.js decides when). Every connection starts
//   with `GET /api/conversations` (discovers conversations created meanwhile, and checks the
//   token with an answer a browser's WebSocket would hide), then `/ws`; after `hello` it
//   resumes: `sync` from each conversation's cursor, paging while `more`, and resends the
//   outbox.
// - cursors (cursors.js): per conversation, the last seq handed to the app, so that `message`
//   events come in seq order with no gap and no duplicate across reconnects. A conversation known
//   at the first connection after login starts at its `last_seq` then (older messages are
//   history); one that appears later (created, joined, or found at a reconnect) starts at 0.
// - outbox (outbox.js): sends until acked, persisted, resent with the same `cid` on every new
//   connection, paced below the server's `--msg-rate`.
//
// Answers to `sync` and `history` carry no request id; the server answers them one at a time, in
// request order (PROTOCOL.md, "Pacing"), so `_answers` is a FIFO that they are matched against.

import {ReconnectPolicy} from './backoff.js';
import {ConversationCursors} from './cursors.js';
import {Emitter} from './emitter.js';
import {RingcastError} from './errors.js';
import {HttpApi} from './http.js';
import {Outbox} from './outbox.js';
import {defaultStorage} from './storage.js';
import {RemoteTyping, TypingThrottle} from './typing.js';

/** @typedef {import('./types.js').Message} Message */
/** @typedef {import('./types.js').Ack} Ack */
/** @typedef {import('./types.js').Receipt} Receipt */
/** @typedef {import('./types.js').Typing} Typing */
/** @typedef {import('./types.js').Presence} Presence */
/** @typedef {import('./types.js').Members} Members */
/** @typedef {import('./types.js').Conversation} Conversation */
/** @typedef {import('./types.js').SyncSummary} SyncSummary */
/** @typedef {import('./types.js').HistoryPage} HistoryPage */
/** @typedef {import('./types.js').Session} Session */
/** @typedef {import('./types.js').OutboxEntry} OutboxEntry */
/** @typedef {import('./types.js').ConnectionState} ConnectionState */
/** @typedef {import('./types.js').StateChange} StateChange */
/** @typedef {import('./types.js').ErrorInfo} ErrorInfo */
/** @typedef {import('./storage.js').StorageLike} StorageLike */
/** @typedef {import('./backoff.js').BackoffOptions} BackoffOptions */
/** @typedef {import('./http.js').FetchLike} FetchLike */

/**
 * @typedef {object} ClientOptions
 * @property {string} [baseUrl] the server's HTTP root, `https://chat.example.com` (in a browser,
 *   default: the page's origin)
 * @property {string} [wsUrl] default: `baseUrl` with `ws:`/`wss:` and the path `/ws`
 * @property {any} [WebSocket] a WebSocket class; default the global one, else (Node 18–21) the
 *   `ws` package, imported when first needed
 * @property {FetchLike} [fetch] default the global fetch
 * @property {StorageLike} [storage] where the session and the outbox survive a reload; default
 *   localStorage, else in memory
 * @property {string} [storagePrefix] prefix of the storage keys (default `ringcast:`)
 * @property {boolean} [persistSession] keep the token in the storage (default true)
 * @property {BackoffOptions} [reconnect] backoff and hint settings (backoff.js)
 * @property {number} [pingIntervalMs] a `ping` this often; also the presence heartbeat (25000)
 * @property {number} [pongTimeoutMs] no frame for a ping interval plus this: the connection is
 *   taken as dead and replaced (10000)
 * @property {number} [helloTimeoutMs] no `hello` this long after opening: replaced (10000)
 * @property {number} [requestTimeoutMs] HTTP requests and `history` answers (15000)
 * @property {number} [syncTimeoutMs] one `sync` answer (60000)
 * @property {{refreshMs?: number, idleMs?: number, expireMs?: number}} [typing] typing.js
 *   (3000, 5000, 8000)
 * @property {boolean} [autoDelivered] send `delivered` for others' messages handed to the app
 *   (default true)
 * @property {number} [maxOutbox] sends waiting for their ack at most; `send` throws
 *   `outbox_full` past it (1000)
 * @property {number} [sendsPerSecond] outbox pacing, half the server's default `--msg-rate`
 *   (50; bursts of as many)
 * @property {number} [maxBufferedPerConversation] messages held ahead of a gap (10000)
 */

/**
 * @typedef {object} ClientEvents
 * @property {StateChange} state
 * @property {{user: number, presence: Presence[]}} hello
 * @property {Message} message
 * @property {Ack} ack
 * @property {Receipt} receipt
 * @property {Typing} typing
 * @property {Presence} presence
 * @property {Members} members
 * @property {{convs: SyncSummary[]}} sync
 * @property {{}} synced
 * @property {{conversations: Conversation[]}} conversations
 * @property {{change: 'added' | 'acked' | 'failed' | 'retried' | 'discarded', entry: OutboxEntry}} outbox
 * @property {{after_ms: number}} reconnect_hint
 * @property {{reason: string}} auth_expired
 * @property {ErrorInfo} error
 */

/**
 * @typedef {object} PendingAnswer
 * @property {'sync' | 'history'} kind
 * @property {number[]} convs for sync: the conversations asked for; for history: the one
 * @property {(value: any) => void} resolve
 * @property {(error: RingcastError) => void} reject
 * @property {ReturnType<typeof setTimeout>} timer
 */

/** @typedef {OutboxEntry & {acked: Promise<Ack>}} SendHandle */

const textDecoder = new TextDecoder();

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
    this._WebSocket = options.WebSocket ?? /** @type {any} */ (globalThis).WebSocket;
    this.storage = options.storage ?? defaultStorage();
    this._prefix = options.storagePrefix ?? 'ringcast:';
    this._persistSession = options.persistSession ?? true;
    this._pingIntervalMs = options.pingIntervalMs ?? 25000;
    this._pongTimeoutMs = options.pongTimeoutMs ?? 10000;
    this._helloTimeoutMs = options.helloTimeoutMs ?? 10000;
    this._requestTimeoutMs = options.requestTimeoutMs ?? 15000;
    this._syncTimeoutMs = options.syncTimeoutMs ?? 60000;
    this._autoDelivered = options.autoDelivered ?? true;
    this._maxOutbox = options.maxOutbox ?? 1000;
    this._sendsPerSecond = options.sendsPerSecond ?? 50;

    this._http = new HttpApi({
      baseUrl: this.baseUrl,
      fetch: options.fetch ?? globalThis.fetch?.bind(globalThis),
      timeoutMs: this._requestTimeoutMs,
      token: () => this.session?.token ?? null,
      onUnauthorized: (reason, token) => {
        if (token === this.session?.token) this._authExpired(reason);
      },
    });
    this._policy = new ReconnectPolicy(options.reconnect);
    this._cursors = new ConversationCursors(options.maxBufferedPerConversation ?? 10000);
    this._outbox = new Outbox({
      storage: this.storage,
      onStorageError: (error) => this._error('storage', `storage write failed: ${error}`),
    });
    this._typingOut = new TypingThrottle({
      refreshMs: options.typing?.refreshMs ?? 3000,
      idleMs: options.typing?.idleMs ?? 5000,
      send: (conv, state) => this._members.has(conv) && this._sendFrame({type: 'typing', conv, state}),
    });
    this._typingIn = new RemoteTyping({
      expireMs: options.typing?.expireMs ?? 8000,
      emit: (event) => this.emit('typing', event),
    });

    /** @type {Session | null} */
    this.session = null;
    /** @type {ConnectionState} */
    this.state = 'stopped';
    /** Counters, for tests and diagnostics. */
    this.stats = {connections: 0, syncRequests: 0, resends: 0, gapRepairs: 0};
    /** @type {Map<number, Presence>} the contacts' presence, from `hello` and `presence` */
    this.presence = new Map();

    this._wantOpen = false; // connect() was called and close()/logout() not since
    this._attemptId = 0; // bumped by every attempt and stop: a stale async step sees it moved
    this._everConnected = false; // a hello came since login: new conversations start at 0
    /** @type {string | null} the token auth_expired was raised for */
    this._expiredToken = null;
    /** @type {any} */
    this._socket = null;
    this._connNo = 0;
    this._ready = false; // hello received, no reconnect hint since: requests may go out
    this._resuming = false; // the sync after hello is not finished
    this._lastFrameAt = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._retryTimer = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this._pingTimer = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._helloTimer = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._flushTimer = null;
    /** @type {ReturnType<typeof setTimeout> | null} after an `unavailable` sync */
    this._syncRetryTimer = null;
    /** @type {PendingAnswer[]} */
    this._answers = [];
    this._syncInFlight = false;
    /** @type {Set<number>} conversations to sync once the answer in flight is in */
    this._syncWanted = new Set();
    /** @type {Map<number, number[]>} member lists of the conversations the user is in */
    this._members = new Map();
    /** @type {Map<number, {read: number, delivered: number, sentRead: number, sentDelivered: number}>} */
    this._watermarks = new Map();
    /** @type {Map<number, number>} highest seq to mark delivered, per conversation */
    this._deliveredDue = new Map();
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._deliveredTimer = null;
    /** @type {Map<string, {resolve: (ack: Ack) => void, reject: (error: RingcastError) => void}>} */
    this._waiters = new Map();
    this._bucket = {tokens: this._sendsPerSecond, at: 0};
    this._onOnline = () => {
      if (this.state === 'waiting') this._attemptNow();
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
    const answer = await this._http.request('POST', '/api/login', {username, password},
                                            {auth: false});
    /** @type {Session} */
    const session = {
      token: answer.token,
      user_id: answer.user_id,
      expires_at: answer.expires_at,
      username,
    };
    await this._adopt(session, true);
    return session;
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
    if (!(stored.expires_at > Date.now())) {
      await this._storageRemove(this._sessionKey());
      return null;
    }
    /** @type {Session} */
    const session = {
      token: stored.token,
      user_id: stored.user_id,
      expires_at: stored.expires_at,
      username: typeof stored.username === 'string' ? stored.username : undefined,
    };
    await this._adopt(session, false);
    return session;
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
        await this._http.request('POST', '/api/logout');
        revoked = true;
      } catch {
        // Offline or already expired: the token dies at its expiry; nothing is kept here.
      }
    }
    this._resetUserState();
    this.session = null;
    this._expiredToken = null;
    await this._outbox.close({erase: true});
    await this._storageRemove(this._sessionKey());
    return {revoked};
  }

  // ---------------------------------------------------------------------------------------
  // Connection

  /** Opens the WebSocket and keeps it open (reconnecting) until `close()` or `logout()`. */
  connect() {
    if (!this.session) throw new RingcastError('not logged in', {code: 'not_logged_in'});
    if (this._wantOpen) return;
    this._wantOpen = true;
    this._policy.reset();
    /** @type {any} */ (globalThis).addEventListener?.('online', this._onOnline);
    this._attemptNow();
  }

  /** Closes the WebSocket and stops reconnecting; the session and the outbox stay. */
  close() {
    this._wantOpen = false;
    /** @type {any} */ (globalThis).removeEventListener?.('online', this._onOnline);
    this._stopConnection('closed');
  }

  /**
   * Drops the current connection and opens a new one at once (the app learnt that the network
   * changed, say). Unacked sends go out again on it, with their cids.
   */
  reconnectNow() {
    if (!this._wantOpen) return;
    if (this._socket) this._teardownSocket(4001, 'client reconnecting');
    this._attemptNow();
  }

  /** The user id of the session, or null. */
  get userId() {
    return this.session?.user_id ?? null;
  }

  /** Whether requests go out now (the server's hello arrived). */
  get connected() {
    return this._ready;
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
   * @param {{kind?: string, cid?: string}} [options]
   * @returns {SendHandle}
   */
  send(conv, body, options = {}) {
    if (!this.session) throw new RingcastError('not logged in', {code: 'not_logged_in'});
    if (!Number.isSafeInteger(conv) || conv <= 0) {
      throw new RingcastError('conv must be a positive integer', {code: 'bad_request'});
    }
    if (typeof body !== 'string') {
      throw new RingcastError('body must be a string', {code: 'bad_request'});
    }
    if (this._outbox.entries.length >= this._maxOutbox) {
      throw new RingcastError(`outbox full (${this._maxOutbox} sends waiting)`,
                              {code: 'outbox_full'});
    }
    const cid = options.cid ?? newCid();
    if (this._outbox.get(cid)) throw new RingcastError('cid already queued', {code: 'bad_request'});
    /** @type {OutboxEntry} */
    const entry = {
      cid,
      conv,
      kind: options.kind ?? 'text',
      body,
      created_ms: Date.now(),
      state: 'pending',
    };
    this._outbox.add(entry);
    const acked = this._waiterFor(cid);
    this._typingOut.stop(conv);
    this.emit('outbox', {change: 'added', entry: {...entry}});
    this._outbox.save().then(() => this._flushOutbox());
    return {...entry, acked};
  }

  /** The sends not yet acked, oldest first (copies). @returns {OutboxEntry[]} */
  outbox() {
    return this._outbox.entries.map((entry) => ({...entry}));
  }

  /** Puts a `failed` send back in line. @param {string} cid */
  retry(cid) {
    const entry = this._outbox.get(cid);
    if (!entry || entry.state !== 'failed') return;
    entry.state = 'pending';
    delete entry.error;
    const meta = this._outbox.meta.get(cid);
    if (meta) Object.assign(meta, {sentOn: 0, retryAt: 0, retries: 0});
    this.emit('outbox', {change: 'retried', entry: {...entry}});
    this._outbox.save().then(() => this._flushOutbox());
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
    if (this._ready && this._members.has(conv)) {
      /** @type {Record<string, unknown>} */
      const request = {type: 'history', conv, limit};
      if (before > 0) request.before = before;
      return this._ask(request, 'history', [conv], this._requestTimeoutMs);
    }
    const query = new URLSearchParams({limit: String(limit)});
    if (before > 0) query.set('before', String(before));
    const page = await this._http.request('GET', `/api/conversations/${conv}/messages?${query}`);
    return {conv, messages: page.messages, more: page.more};
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
    this._moveWatermark(conv, 'read', seq);
  }

  /** Everything up to `seq` reached this device. @param {number} conv @param {number} seq */
  markDelivered(conv, seq) {
    this._moveWatermark(conv, 'delivered', seq);
  }

  /** Call on every keystroke; see typing.js for what goes out. @param {number} conv */
  typing(conv) {
    if (this._ready) this._typingOut.typing(conv, Date.now());
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
      this._cursors.follow(conv.id, this._everConnected ? 0 : conv.last_seq);
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
    this._cursors.follow(answer.id, 0);
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

  /** @param {number} conv @param {number[]} members @returns {Promise<{id: number, members: number[]}>} */
  async addMembers(conv, members) {
    const answer = await this._http.request('POST', `/api/conversations/${conv}/members`, {members});
    this._members.set(conv, answer.members);
    return answer;
  }

  /** Removes `user` (yourself: leave). @param {number} conv @param {number} user */
  async removeMember(conv, user) {
    return this._http.request('DELETE', `/api/conversations/${conv}/members/${user}`);
  }

  // ---------------------------------------------------------------------------------------
  // Internals: connection life

  _sessionKey() {
    return `${this._prefix}session`;
  }

  /** @param {Session} session @param {boolean} store */
  async _adopt(session, store) {
    const sameUser = this.session?.user_id === session.user_id;
    if (!sameUser) {
      this._stopConnection('user changed');
      this._resetUserState();
      this.session = session;
      await this._outbox.open(`${this._prefix}outbox:${session.user_id}`);
    }
    this.session = session;
    this._expiredToken = null;
    if (store && this._persistSession) {
      await this._storageSet(this._sessionKey(), JSON.stringify(session));
    }
    if (this._wantOpen && !this._socket && this.state !== 'connecting') {
      this._policy.reset();
      this._attemptNow();
    }
  }

  _resetUserState() {
    for (const [cid] of this._waiters) {
      this._settle(cid, null, new RingcastError('session ended', {code: 'logged_out', cid}));
    }
    this._cursors.clear();
    this._members.clear();
    this._watermarks.clear();
    this._deliveredDue.clear();
    this.presence.clear();
    this._typingIn.clear();
    this._everConnected = false;
  }

  /** @param {string} reason */
  _authExpired(reason) {
    const token = this.session?.token;
    if (!token || this._expiredToken === token) return;
    this._expiredToken = token;
    this._stopConnection('auth_expired');
    this._storageRemove(this._sessionKey());
    this.emit('auth_expired', {reason});
  }

  _attemptNow() {
    if (this._retryTimer) clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._attempt();
  }

  async _attempt() {
    const attempt = ++this._attemptId;
    const session = this.session;
    if (!this._wantOpen || !session) return;
    if (session.token === this._expiredToken) return this._setState('stopped', {reason: 'auth_expired'});
    this._setState('connecting');
    if (session.expires_at <= Date.now()) return this._authExpired('token expired');
    try {
      await this.conversations();
    } catch (error) {
      if (attempt !== this._attemptId) return;
      if (/** @type {RingcastError} */ (error).status === 401) return; // auth_expired raised
      return this._scheduleReconnect(undefined, String(/** @type {any} */ (error)?.message));
    }
    if (attempt !== this._attemptId) return;
    let WebSocketClass;
    try {
      WebSocketClass = await this._webSocketClass();
    } catch (error) {
      this._error('no_websocket', String(/** @type {any} */ (error)?.message));
      this._wantOpen = false;
      return this._setState('stopped', {reason: 'no_websocket'});
    }
    if (attempt !== this._attemptId) return;
    const url = `${this.wsUrl}?token=${encodeURIComponent(session.token)}`;
    /** @type {any} */
    let socket;
    try {
      socket = new WebSocketClass(url);
    } catch (error) {
      return this._scheduleReconnect(undefined, String(/** @type {any} */ (error)?.message));
    }
    this._socket = socket;
    this._connNo += 1;
    this.stats.connections += 1;
    this._lastFrameAt = Date.now();
    // An error is always followed by a close; the handler stays set for good, as the `ws`
    // package throws an error event that nobody listens to.
    socket.onerror = () => {};
    socket.onmessage = (/** @type {{data: any}} */ event) => {
      if (this._socket === socket) this._onFrame(event.data);
    };
    socket.onclose = (/** @type {{code: number, reason: string}} */ event) => {
      if (this._socket === socket) this._onSocketGone(event.code, String(event.reason ?? ''));
    };
    this._helloTimer = setTimeout(() => this._replaceSocket('no hello from the server'),
                                  this._helloTimeoutMs);
  }

  async _webSocketClass() {
    if (this._WebSocket) return this._WebSocket;
    // Node before 22 has no global WebSocket: use the `ws` package if the app has it. The
    // specifier is a variable so that browser bundlers do not try to resolve it.
    const specifier = 'ws';
    try {
      const module = await import(specifier);
      this._WebSocket = module.WebSocket ?? module.default;
    } catch {
      // Reported below.
    }
    if (!this._WebSocket) {
      throw new RingcastError('no WebSocket class: pass options.WebSocket (in Node: the ws package)',
                              {code: 'no_websocket'});
    }
    return this._WebSocket;
  }

  /** @param {number | undefined} code @param {string} [reason] */
  _scheduleReconnect(code, reason) {
    if (!this._wantOpen) return this._setState('stopped', {code, reason});
    const {delayMs} = this._policy.next({code, nowMs: Date.now()});
    this._setState('waiting', {retry_in_ms: delayMs, code, reason});
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      this._attempt();
    }, delayMs);
  }

  /** @param {number} code @param {string} reason */
  _onSocketGone(code, reason) {
    this._teardownSocket();
    if (code === 1008 && reason === 'token revoked') return this._authExpired(reason);
    if (code === 1008 && reason.startsWith('too many connections')) {
      this._error('too_many_connections', reason);
    }
    this._scheduleReconnect(code, reason);
  }

  /** Gives up on a connection that looks dead and reconnects. @param {string} why */
  _replaceSocket(why) {
    if (!this._socket) return;
    this._teardownSocket(4000, why);
    this._scheduleReconnect(undefined, why);
  }

  /** @param {string} reason */
  _stopConnection(reason) {
    ++this._attemptId;
    if (this._retryTimer) clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._teardownSocket(1000, 'client closed');
    this._typingIn.clear();
    this._setState('stopped', {reason});
  }

  /** Drops the socket (closing it when given a code) and everything tied to it. @param {number} [code] @param {string} [reason] */
  _teardownSocket(code, reason) {
    const socket = this._socket;
    this._socket = null;
    this._ready = false;
    this._resuming = false;
    for (const timer of [this._helloTimer, this._flushTimer, this._syncRetryTimer]) {
      if (timer) clearTimeout(timer);
    }
    if (this._pingTimer) clearInterval(this._pingTimer);
    this._helloTimer = this._flushTimer = this._syncRetryTimer = this._pingTimer = null;
    if (socket && code !== undefined) {
      socket.onmessage = null;
      socket.onclose = null;
      try {
        if (socket.readyState < 2) socket.close(code, reason);
      } catch {
        // Closing a socket that is still connecting may throw in some implementations.
      }
    }
    const answers = this._answers;
    this._answers = [];
    this._syncInFlight = false;
    this._syncWanted.clear();
    for (const answer of answers) {
      clearTimeout(answer.timer);
      answer.reject(new RingcastError('connection lost', {code: 'disconnected'}));
    }
    this._typingOut.reset();
  }

  /** @param {ConnectionState} state @param {Partial<StateChange>} [details] */
  _setState(state, details = {}) {
    const previous = this.state;
    if (previous === state && state !== 'waiting') return;
    this.state = state;
    this.emit('state', {...details, state, previous});
  }

  // ---------------------------------------------------------------------------------------
  // Internals: frames

  /** @param {Record<string, unknown>} frame @returns {boolean} whether it went out */
  _sendFrame(frame) {
    const socket = this._socket;
    if (!this._ready || !socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  /** @param {string | ArrayBuffer | Uint8Array} data */
  _onFrame(data) {
    this._lastFrameAt = Date.now();
    const text = typeof data === 'string' ? data : textDecoder.decode(data);
    /** @type {any} */
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      return this._error('protocol', 'a frame from the server is not JSON');
    }
    const {type, ...body} = event ?? {};
    switch (type) {
      case 'hello':
        return this._onHello(body);
      case 'message':
        return this._accept(body, true);
      case 'ack':
        return this._onAck(body);
      case 'receipt':
        return this._onReceipt(body);
      case 'typing':
        return this._typingIn.received(body);
      case 'presence':
        this.presence.set(body.user, body);
        return this.emit('presence', body);
      case 'members':
        return this._onMembers(body);
      case 'sync':
        return this._onSyncAnswer(body.convs ?? []);
      case 'history':
        return this._onHistoryAnswer(body);
      case 'reconnect':
        // The node is draining: it handles nothing more here and closes with 1012 after what
        // it queued. Requests wait for the next connection.
        this._policy.hint(Number(body.after_ms) || 0, Date.now());
        this._ready = false;
        return this.emit('reconnect_hint', {after_ms: Number(body.after_ms) || 0});
      case 'error':
        return this._onErrorFrame(body);
      default:
        return undefined; // pong, or a type from a newer server
    }
  }

  /** @param {{user: number, presence: Presence[]}} hello */
  _onHello(hello) {
    if (this._helloTimer) clearTimeout(this._helloTimer);
    this._helloTimer = null;
    this._ready = true;
    this._resuming = true;
    this._everConnected = true;
    this._policy.connected(Date.now());
    this.presence = new Map((hello.presence ?? []).map((p) => [p.user, p]));
    for (const w of this._watermarks.values()) w.sentRead = w.sentDelivered = 0;
    this._pingTimer = setInterval(() => this._ping(), this._pingIntervalMs);
    this._setState('connected');
    this.emit('hello', {user: hello.user, presence: [...this.presence.values()]});
    this._requestSync(this._cursors.ids());
    this._flushOutbox();
  }

  _ping() {
    if (Date.now() - this._lastFrameAt > this._pingIntervalMs + this._pongTimeoutMs) {
      return this._replaceSocket('no answer to ping');
    }
    this._sendFrame({type: 'ping'});
  }

  /**
   * @param {Message} message
   * @param {boolean} live from the live stream (else from a sync answer)
   */
  _accept(message, live) {
    // A message of a conversation not heard of (its `members` event was missed): the user is
    // in it, and it is delivered from its start.
    if (!this._members.has(message.conv)) this._members.set(message.conv, []);
    if (!this._cursors.has(message.conv)) this._cursors.follow(message.conv, 0);
    const {due, gap, overflow} = this._cursors.accept(message);
    const me = this.session?.user_id;
    for (const m of due) {
      this._typingIn.messageFrom(m.conv, m.from);
      this.emit('message', m);
      if (this._autoDelivered && m.from !== me) this._dueDelivered(m.conv, m.seq);
    }
    if (overflow) {
      this._error('gap', `too many messages held behind a gap in conversation ${message.conv}`);
      return this._replaceSocket('gap did not close');
    }
    // A live message beyond the cursor with nothing on its way to fill the gap: a conversation
    // this connection joined with history before it. Ask for what lies between.
    if (live && gap && !this._syncCovers(message.conv)) {
      this.stats.gapRepairs += 1;
      this._requestSync([message.conv]);
    }
  }

  /** @param {number} conv */
  _syncCovers(conv) {
    return this._syncWanted.has(conv) ||
           this._answers.some((a) => a.kind === 'sync' && a.convs.includes(conv));
  }

  /** @param {number[]} convs */
  _requestSync(convs) {
    for (const conv of convs) this._syncWanted.add(conv);
    this._pumpSync();
  }

  _pumpSync() {
    if (!this._ready || this._syncInFlight) return;
    /** @type {Record<string, number>} */
    const asks = {};
    const convs = [...this._syncWanted].filter((conv) => this._members.has(conv));
    this._syncWanted.clear();
    for (const conv of convs) asks[String(conv)] = this._cursors.cursor(conv);
    if (convs.length === 0) {
      if (this._resuming) {
        this._resuming = false;
        this.emit('synced', {});
      }
      return;
    }
    this._syncInFlight = true;
    this.stats.syncRequests += 1;
    this._ask({type: 'sync', convs: asks}, 'sync', convs, this._syncTimeoutMs).catch(() => {});
  }

  /**
   * Sends a request answered by a `sync` or `history` frame, and waits for that answer.
   * @param {Record<string, unknown>} request @param {'sync' | 'history'} kind
   * @param {number[]} convs @param {number} timeoutMs
   * @returns {Promise<any>}
   */
  _ask(request, kind, convs, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // The answers are matched by order: one that never comes breaks the matching of every
        // later one, so the connection is replaced rather than waited on.
        reject(new RingcastError(`no ${kind} answer within ${timeoutMs} ms`, {code: 'timeout'}));
        this._replaceSocket(`no ${kind} answer`);
      }, timeoutMs);
      this._answers.push({kind, convs, resolve, reject, timer});
      if (!this._sendFrame(request)) {
        this._answers.pop();
        clearTimeout(timer);
        reject(new RingcastError('not connected', {code: 'disconnected'}));
      }
    });
  }

  /** @param {'sync' | 'history'} kind @returns {PendingAnswer | undefined} */
  _takeAnswer(kind) {
    const head = this._answers[0];
    if (!head || head.kind !== kind) {
      this._error('protocol', `unexpected ${kind} answer`);
      return undefined;
    }
    this._answers.shift();
    clearTimeout(head.timer);
    return head;
  }

  /** @param {Array<SyncSummary & {messages: Message[]}>} convs */
  _onSyncAnswer(convs) {
    const pending = this._takeAnswer('sync');
    if (!pending) return;
    this._syncInFlight = false;
    const listed = new Set();
    /** @type {SyncSummary[]} */
    const summaries = [];
    const me = this.session?.user_id;
    for (const {messages, ...summary} of convs) {
      listed.add(summary.conv);
      for (const message of messages ?? []) this._accept(message, false);
      if (summary.more) this._syncWanted.add(summary.conv);
      summaries.push(summary);
      // Watermarks asked for on an earlier connection that the server does not show yet.
      const mine = summary.members?.find((m) => m.user === me);
      const w = this._watermarks.get(summary.conv);
      if (mine && w) {
        w.sentRead = mine.read;
        w.sentDelivered = mine.delivered;
        this._sendWatermarks(summary.conv);
      }
    }
    // Left out: the user is no longer a member.
    for (const conv of pending.convs) if (!listed.has(conv)) this._members.delete(conv);
    pending.resolve(summaries);
    this.emit('sync', {convs: summaries});
    // The answer gave everything after each cursor that this connection had not received live,
    // so a gap that remains in a conversation it covered cannot close on this connection.
    for (const conv of this._cursors.gapped()) {
      if (this._syncWanted.has(conv)) continue;
      if (listed.has(conv)) {
        this._error('gap', `conversation ${conv} has a gap after sync`);
        return this._replaceSocket('gap after sync');
      }
      this._syncWanted.add(conv);
    }
    this._pumpSync();
  }

  /** @param {HistoryPage} page */
  _onHistoryAnswer(page) {
    const pending = this._takeAnswer('history');
    if (pending) pending.resolve({conv: page.conv, messages: page.messages, more: page.more});
  }

  /** @param {{code: string, message: string, cid?: string}} error */
  _onErrorFrame(error) {
    const {code, message, cid} = error;
    if (cid !== undefined && this._outbox.get(String(cid))) return this._onSendError(error);
    const head = this._answers[0];
    // Errors carry no request id either; those of a sync or history take its place in the
    // ordered answers. The SDK sends watermarks and typing only for conversations it knows the
    // user is in, so a `forbidden` while a history answer is due is that history's.
    if (head && (code === 'unavailable' || (code === 'forbidden' && head.kind === 'history'))) {
      this._answers.shift();
      clearTimeout(head.timer);
      head.reject(new RingcastError(message, {code}));
      if (head.kind === 'sync') {
        this._syncInFlight = false;
        for (const conv of head.convs) this._syncWanted.add(conv);
        this._syncRetryTimer = setTimeout(() => this._pumpSync(), 1000);
      }
      return;
    }
    if (code === 'rate_limited' && head) {
      // Some request without a cid was dropped; if it was a sync or history, its answer will
      // never come: start over on a fresh connection.
      this._error(code, message);
      return this._replaceSocket('request dropped by the rate limit');
    }
    this._error(code, message, cid === undefined ? undefined : String(cid));
  }

  // ---------------------------------------------------------------------------------------
  // Internals: outbox

  /** @param {string} cid @returns {Promise<Ack>} */
  _waiterFor(cid) {
    const promise = new Promise((resolve, reject) => this._waiters.set(cid, {resolve, reject}));
    // Nobody has to await it: an unawaited rejection must not crash a Node process.
    promise.catch(() => {});
    return /** @type {Promise<Ack>} */ (promise);
  }

  /** @param {string} cid @param {Ack | null} ack @param {RingcastError} [error] */
  _settle(cid, ack, error) {
    const waiter = this._waiters.get(cid);
    if (!waiter) return;
    this._waiters.delete(cid);
    if (ack) waiter.resolve(ack);
    else if (error) waiter.reject(error);
  }

  _flushOutbox() {
    if (!this._ready) return;
    if (this._flushTimer) clearTimeout(this._flushTimer);
    this._flushTimer = null;
    const now = Date.now();
    for (const entry of this._outbox.entries) {
      const meta = this._outbox.meta.get(entry.cid);
      if (entry.state !== 'pending' || !meta || meta.sentOn === this._connNo) continue;
      // In creation order: an entry not yet written, or waiting out a retry, holds back the
      // ones behind it, so a conversation's messages keep the order they were sent in.
      if (!meta.stored) return;
      const wait = Math.max(meta.retryAt - now, this._takeSendToken(now));
      if (wait > 0) {
        this._flushTimer = setTimeout(() => this._flushOutbox(), wait);
        return;
      }
      this._bucket.tokens -= 1;
      if (!this._sendFrame({type: 'send', conv: entry.conv, cid: entry.cid, kind: entry.kind,
                            body: entry.body})) {
        return;
      }
      if (meta.everSent) this.stats.resends += 1;
      meta.sentOn = this._connNo;
      meta.everSent = true;
    }
  }

  /** Refills the send bucket; returns 0 when a send may go now, else ms to wait. @param {number} now */
  _takeSendToken(now) {
    const rate = this._sendsPerSecond;
    const bucket = this._bucket;
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) * rate) / 1000);
    bucket.at = now;
    return bucket.tokens >= 1 ? 0 : Math.ceil(((1 - bucket.tokens) * 1000) / rate);
  }

  /** @param {Ack} ack */
  _onAck(ack) {
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
    const meta = this._outbox.meta.get(cid);
    if (!entry || !meta) return;
    if (error.code === 'rate_limited' || error.code === 'unavailable') {
      // Dropped or not stored: send again, same cid, after a pause (doubling while the store
      // stays unavailable, up to 30 s).
      meta.retries = error.code === 'unavailable' ? meta.retries + 1 : meta.retries;
      meta.retryAt = Date.now() + Math.min(30000, 1000 * 2 ** Math.min(meta.retries, 5));
      meta.sentOn = 0;
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
  // Internals: receipts, members

  /** @param {number} conv @param {'read' | 'delivered'} kind @param {number} seq */
  _moveWatermark(conv, kind, seq) {
    if (!Number.isSafeInteger(seq) || seq <= 0) return;
    let w = this._watermarks.get(conv);
    if (!w) this._watermarks.set(conv, (w = {read: 0, delivered: 0, sentRead: 0, sentDelivered: 0}));
    if (seq <= w[kind]) return;
    w[kind] = seq;
    if (kind === 'read') w.delivered = Math.max(w.delivered, seq);
    this._sendWatermarks(conv);
  }

  /** Sends what the server lacks of the watermarks asked for. @param {number} conv */
  _sendWatermarks(conv) {
    const w = this._watermarks.get(conv);
    if (!w || !this._ready || !this._members.has(conv)) return;
    if (w.read > w.sentRead && this._sendFrame({type: 'read', conv, seq: w.read})) {
      w.sentRead = w.read;
      w.sentDelivered = Math.max(w.sentDelivered, w.read); // read moves delivered too
    }
    if (w.delivered > w.sentDelivered && this._sendFrame({type: 'delivered', conv, seq: w.delivered})) {
      w.sentDelivered = w.delivered;
    }
  }

  /** Batches the automatic `delivered` of a burst. @param {number} conv @param {number} seq */
  _dueDelivered(conv, seq) {
    this._deliveredDue.set(conv, Math.max(seq, this._deliveredDue.get(conv) ?? 0));
    if (this._deliveredTimer) return;
    this._deliveredTimer = setTimeout(() => {
      this._deliveredTimer = null;
      const due = [...this._deliveredDue];
      this._deliveredDue.clear();
      for (const [c, s] of due) this.markDelivered(c, s);
    }, 50);
  }

  /** @param {Receipt} receipt */
  _onReceipt(receipt) {
    this.emit('receipt', receipt);
  }

  /** @param {Members} event */
  _onMembers(event) {
    const me = this.session?.user_id;
    if (me !== undefined && event.members.includes(me)) {
      this._members.set(event.conv, event.members);
      // New to this client: delivered from its start (the first live message fills the rest).
      this._cursors.follow(event.conv, 0);
      this._sendWatermarks(event.conv);
    } else {
      this._members.delete(event.conv);
    }
    this.emit('members', event);
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
