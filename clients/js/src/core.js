// ClientCore: the parts of a RingcastClient wired together, and the connection's life. It builds
// the parts from the options (the HTTP API, the connection, the session keeper, the outbox and
// its send queue, the message stream, watermarks, typing, calls, profiles), adopts a session
// (another user: a clean state and their own outbox), opens and closes the connection and
// routes each frame the server sends to the part it is for. The public methods are in the
// classes above it, by area: account.js (the account and other users), conversations.js
// (conversations and groups over HTTP), client.js (messages, reading, calls): each uses these
// parts and nothing above it.

import {ReconnectPolicy} from './backoff.js';
import {CALL_EVENTS, CallSignalling} from './call_signalling.js';
import {Connection} from './connection.js';
import {Emitter} from './emitter.js';
import {RingcastError} from './errors.js';
import {HttpApi} from './http.js';
import {Outbox} from './outbox.js';
import {ProfileLookup} from './profiles.js';
import {newCid, SendQueue} from './send_queue.js';
import {bindingOf, SessionKeeper} from './session.js';
import {defaultStorage} from './storage.js';
import {MessageStream} from './stream.js';
import {RemoteTyping, TypingThrottle} from './typing.js';
import {upload} from './uploads.js';
import {ThreadWatermarks, Watermarks} from './watermarks.js';

/** @typedef {import('./types.js').Message} Message */
/** @typedef {import('./types.js').Presence} Presence */
/** @typedef {import('./types.js').Members} Members */
/** @typedef {import('./types.js').Conversation} Conversation */
/** @typedef {import('./types.js').SyncSummary} SyncSummary */
/** @typedef {import('./types.js').Session} Session */
/** @typedef {import('./types.js').ErrorInfo} ErrorInfo */
/** @typedef {import('./types.js').ConnectionState} ConnectionState */
/** @typedef {import('./types.js').Transport} Transport */
/** @typedef {import('./types.js').ClientOptions} ClientOptions */
/** @typedef {import('./types.js').ClientEvents} ClientEvents */
/** @typedef {import('./types.js').IceServers} IceServers */

/** @extends {Emitter<ClientEvents>} */
export class ClientCore extends Emitter {
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
    this._requestTimeoutMs = options.requestTimeoutMs ?? 15000;
    this._autoDelivered = options.autoDelivered ?? true;

    this._http = new HttpApi({
      baseUrl: this.baseUrl,
      fetch: options.fetch ?? globalThis.fetch?.bind(globalThis),
      timeoutMs: this._requestTimeoutMs,
      token: () => this.session?.token ?? null,
      onUnauthorized: (reason, token) => {
        if (token !== this.session?.token) return;
        // An expired access token is renewed with the refresh token when there is one.
        if (this.session?.refresh_token) {
          this._sessions.refresh().catch(() => {});
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
    this._sessions = new SessionKeeper({
      storage: this.storage,
      prefix: this._prefix,
      persist: options.persistSession ?? true,
      http: this._http,
      current: () => this.session,
      adopt: (session, store) => this._adopt(session, store),
      renewed: (token) => this._connection.send({type: 'auth', token}),  // when connected
      expired: (reason) => this._authExpired(reason),
      onStorageError: (message) => this._error('storage', message),
    });
    this._outbox = new Outbox({
      storage: this.storage,
      sendsPerSecond: options.sendsPerSecond ?? 50,
      onStorageError: (error) => this._error('storage', `storage write failed: ${error}`),
    });
    this._sends = new SendQueue({
      outbox: this._outbox,
      connection: this._connection,
      maxOutbox: options.maxOutbox ?? 1000,
      loggedIn: () => this.session !== null,
      queued: (conv) => this._typingOut.stop(conv),
      onChange: (change) => this.emit('outbox', change),
      onAck: (ack) => this.emit('ack', ack),
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
    /** @type {Map<number, Presence>} the contacts' presence, from `hello` and `presence` */
    this.presence = new Map();
    this._profiles = new ProfileLookup({
      http: this._http,
      max: options.maxProfiles ?? 2000,
      onChange: (profile) => this.emit('profile', profile),
    });

    this._wantOpen = false;       // connect() was called and close()/logout() not since
    this._everConnected = false;  // a hello came since login: new conversations start at 0
    /** @type {string | null} the token auth_expired was raised for */
    this._expiredToken = null;
    /** @type {Map<number, number[]>} member lists of the conversations the user is in */
    this._members = new Map();
    this._onOnline = () => {
      if (this.state === 'waiting') this._connection.reconnectNow();
    };
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
    return {
      connections: this._connection.number,
      resends: this._sends.resends,
      ...this._stream.counters
    };
  }

  /**
   * The STUN and TURN servers for a call, with a short-lived TURN credential of this user's
   * (`GET /api/calls/ice-servers`; PROTOCOL.md "Calls: ICE servers"): what `RTCPeerConnection`
   * takes as `iceServers`. Fetch them for each call and each ICE restart, never keep them.
   * @returns {Promise<IceServers>}
   */
  async iceServers() {
    return this._http.request('GET', '/api/calls/ice-servers');
  }

  // ---------------------------------------------------------------------------------------
  // Internals: the session

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
    this._sessions.schedule();
    if (store) await this._sessions.store(session);
    if (this._wantOpen) this._connection.start();  // no-op while it runs
  }

  /** The local half of logout: nothing of the user stays in memory or storage. */
  async _forgetSession() {
    this._resetUserState();
    this.session = null;
    this._expiredToken = null;
    this._sessions.schedule();
    await this._outbox.close({erase: true});
    await this._sessions.unstore();
  }

  _resetUserState() {
    this._sends.clear();
    this._stream.clear();
    this._members.clear();
    this._watermarks.clear();
    this._threadReads.clear();
    this.presence.clear();
    this._profiles.clear();
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
    this._sessions.unstore();
    this.emit('auth_expired', {reason});
  }

  // ---------------------------------------------------------------------------------------
  // Internals: connection life

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
        await this._sessions.refresh();
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
      await this._listConversations();
    } catch (error) {
      if (/** @type {RingcastError} */ (error).status === 401) return null;  // auth_expired raised
      throw error;
    }
    return `${this.wsUrl}?token=${encodeURIComponent(session.token)}`;
  }

  /**
   * `GET /api/conversations` (the client's `conversations()`): each one followed, from its
   * start when it appeared after the first connection. @returns {Promise<Conversation[]>}
   */
  async _listConversations() {
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

  /** The connection in use is gone: what was tied to it goes too. */
  _onDown() {
    this._sends.down();
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
        return this._sends.onAck(body);
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
        return this._profiles.received(body.user);
      case 'call_ack':
        return this._calls.onFrame(event);
      case 'token_expiring':
        if (this.session?.refresh_token) this._sessions.refresh().catch(() => {});
        return this.emit('token_expiring', body);
      default:  // auth_ok (refreshSession has the new token already), or a newer server's type
        if (this._stream.awaits(type)) return this._stream.onAnswer(type, body);
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
    if (this._everConnected) this._profiles.refresh();
    this._everConnected = true;
    this.presence = new Map((hello.presence ?? []).map((p) => [p.user, p]));
    this.device = hello.device ?? null;
    this._calls.onHello(hello.ringing ?? []);
    this._watermarks.forgetSent();
    this._threadReads.forgetSent();
    this.emit('hello', {user: hello.user, presence: [...this.presence.values()]});
    this._stream.resume();
    this._threadReads.flush();
    this._sends.flush();
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
    if (this._sends.takeError(error)) return;
    if (this._calls.takeError(error)) return;
    if (cid === undefined && this._stream.takeError(code, message)) return;
    this._error(code, message, cid === undefined ? undefined : String(cid));
  }

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
  // Internals: misc

  /**
   * The newest seq of `conv` this client has seen: received, or acked to it (a read names it,
   * so that whichever node answers, a read replica that lacks it does not: PROTOCOL.md,
   * "Reading your own writes"). 0: none.
   * @param {number} conv
   */
  _seen(conv) {
    return Math.max(this._stream.newest(conv), this._sends.ackedSeq(conv));
  }

  /**
   * Uploads `file` (uploads.js) and hands the stored upload's id to `use` (an avatar's
   * update); `done` is what `use` answers.
   * @template T @param {Blob | Uint8Array} file
   * @param {{name?: string, type?: string,
   *     onProgress?: (p: import('./uploads.js').UploadProgress) => void}} options
   * @param {(id: string) => Promise<T>} use @returns {{done: Promise<T>, cancel: () => void}}
   */
  _uploadFor(file, options, use) {
    // Always a RingcastClient: upload names the class its callers know.
    const handle = upload(/** @type {any} */ (this), file, options);
    const done = handle.done.then((stored) => use(stored.id));
    done.catch(() => {});
    return {done, cancel: handle.cancel};
  }

  /** @param {string} code @param {string} message @param {string} [cid] */
  _error(code, message, cid) {
    /** @type {ErrorInfo} */
    const info = {code, message};
    if (cid !== undefined) info.cid = cid;
    this.emit('error', info);
  }
}
