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
// The class is built in layers, one file each, every layer using only those below it: core.js
// (the parts wired together: connection.js, session.js, send_queue.js with outbox.js, stream.js
// with cursors.js and answers.js, watermarks.js, typing.js, call_signalling.js, profiles.js,
// http.js; the connection's life and the routing of frames), account.js (the account and other
// users), conversations.js (conversations and groups over HTTP), and this file: messages, their
// changes, reading (history, threads, receipts, typing) and calls.

import {ConversationClient} from './conversations.js';
import {RingcastError} from './errors.js';

export {newCid} from './send_queue.js';

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

/** @typedef {import('./send_queue.js').SendHandle} SendHandle */

export class RingcastClient extends ConversationClient {
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
    return this._sends.queue(conv, body, options, {});
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
    return this._sends.queue(conv, body, options, {change: 'edit', kind: 'edit', target: seq});
  }

  /**
   * Deletes this user's message `seq`: it becomes a tombstone for everyone.
   * @param {number} conv @param {number} seq @param {{cid?: string}} [options]
   * @returns {SendHandle}
   */
  deleteMessage(conv, seq, options = {}) {
    return this._sends.queue(conv, '', options, {change: 'delete', kind: 'delete', target: seq});
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
    return this._sends.queue(
        conv, emoji, options, {change: 'react', kind: 'reaction', target: seq, on});
  }

  /**
   * Pins (or with `on` false unpins) message `seq` in its conversation.
   * @param {number} conv @param {number} seq @param {{on?: boolean, cid?: string}} [options]
   * @returns {SendHandle}
   */
  pin(conv, seq, options = {}) {
    const change = options.on === false ? 'unpin' : 'pin';
    return this._sends.queue(conv, '', options, {change, kind: change, target: seq});
  }

  /**
   * The pinned messages of `conv`, newest pin first.
   * @param {number} conv @returns {Promise<Message[]>}
   */
  async pins(conv) {
    return (await this._http.request('GET', `/api/conversations/${conv}/pins`)).pins;
  }

  /**
   * The ack of the queued send `cid`, one restored after a reload included: resolves with the
   * ack; rejects when the server refuses the send for good, it is discarded, or the session
   * ends; rejects at once for a cid not in the outbox.
   * @param {string} cid @returns {Promise<Ack>}
   */
  acked(cid) {
    return this._sends.acked(cid);
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
    return this._sends.retry(cid);
  }

  /**
   * Drops a send from the outbox (a pending one may still have reached the server: its message
   * then arrives like any other). @param {string} cid
   */
  discard(cid) {
    this._sends.discard(cid);
  }

  // ---------------------------------------------------------------------------------------
  // Reading: history, threads, receipts, typing

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
    this._needConnection();
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
   * Stars message `seq` of `conv` (`on` false: unstars it) for this user alone (PROTOCOL.md,
   * "Stars"), over the WebSocket: resolves with the `starred` answer; rejects with code
   * `not_found` (no such message, or a change), `gone` (deleted) or `forbidden`.
   * @param {number} conv @param {number} seq @param {boolean} [on]
   * @returns {Promise<{conv: number, seq: number, on: boolean}>}
   */
  async star(conv, seq, on = true) {
    this._needConnection();
    const answer = await this._stream.ask({type: 'star', conv, seq, on}, 'starred',
                                          ['forbidden', 'not_found', 'gone']);
    return {conv: answer.conv, seq: answer.seq, on: answer.on};
  }

  /**
   * A page of the user's starred messages, newest message first: ids below `before` (0: the
   * newest), over the WebSocket (PROTOCOL.md, "Stars"). Page on with the last message's `id`.
   * @param {{before?: number, limit?: number}} [paging] `limit` 1–200 (default 50)
   * @returns {Promise<{messages: Message[], more: boolean}>}
   */
  async stars(paging = {}) {
    this._needConnection();
    const {messages, more} = await this._stream.ask(
        {type: 'stars', before: paging.before ?? 0, limit: paging.limit ?? 50}, 'stars', []);
    return {messages, more};
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
  // Calls (call_signalling.js, calls.js; the ICE servers: core.js)

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

  /** Throws `disconnected` unless the WebSocket is up: star and stars have no HTTP route. */
  _needConnection() {
    if (!this._connection.ready) {
      throw new RingcastError('not connected', {code: 'disconnected'});
    }
  }
}
