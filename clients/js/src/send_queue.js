// SendQueue: a send (or a change to a message) from `send()` to its ack. It checks and builds
// the outbox entry, with the cid it keeps for life; keeps the promise each `acked(cid)` waits
// on; writes the outbox's entries into the connection at the outbox's pace (outbox.js) as its
// requests (`send`, `edit`, `react`, ...); and takes the server's answers: an ack settles the
// entry, `rate_limited` and `unavailable` put it back in line, any other refusal marks it
// `failed` until `retry` or `discard`. The client routes frames and events through it.

import {RingcastError} from './errors.js';

/** @typedef {import('./types.js').Ack} Ack */
/** @typedef {import('./types.js').OutboxEntry} OutboxEntry */
/** @typedef {import('./types.js').OutboxChange} OutboxChange */
/** @typedef {OutboxEntry & {acked: Promise<Ack>}} SendHandle */

/**
 * A send's options (`send()`), and what a change to a message adds to them.
 * @typedef {{kind?: string, cid?: string, attachments?: string[], mentions?: number[],
 *   replyTo?: number, thread?: boolean}} SendOptions
 * @typedef {{change?: OutboxEntry['change'], kind?: string, target?: number, on?: boolean}}
 *   Change
 */

/**
 * What the queue needs of the client.
 * @typedef {object} SendHost
 * @property {import('./outbox.js').Outbox} outbox
 * @property {import('./connection.js').Connection} connection
 * @property {number} maxOutbox unacked sends at most
 * @property {() => boolean} loggedIn
 * @property {(conv: number) => void} queued a send of `conv` was queued
 * @property {(change: OutboxChange) => void} onChange the client's `outbox` event
 * @property {(ack: Ack) => void} onAck the client's `ack` event
 */

export class SendQueue {
  /** @param {SendHost} host */
  constructor(host) {
    this._host = host;
    this._outbox = host.outbox;
    this._connection = host.connection;
    /**
     * @type {Map<string, {promise: Promise<Ack>, resolve: (ack: Ack) => void,
     *                     reject: (error: RingcastError) => void}>}
     */
    this._waiters = new Map();
    /** @type {Map<number, number>} per conversation, the newest seq this client was acked */
    this._acked = new Map();
    /** Sends that went out again on a later connection (stats). */
    this.resends = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._flushTimer = null;
  }

  /**
   * Checks and queues a send or a change; it goes out now if connected, else at the next
   * connection. @param {number} conv @param {string} body @param {SendOptions} options
   * @param {Change} change @returns {SendHandle}
   */
  queue(conv, body, options, change) {
    if (!this._host.loggedIn()) throw new RingcastError('not logged in', {code: 'not_logged_in'});
    if (!Number.isSafeInteger(conv) || conv <= 0) {
      throw new RingcastError('conv must be a positive integer', {code: 'bad_request'});
    }
    if (typeof body !== 'string') {
      throw new RingcastError('body must be a string', {code: 'bad_request'});
    }
    if (change.change && (!Number.isSafeInteger(change.target) || (change.target ?? 0) <= 0)) {
      throw new RingcastError('seq must be a positive integer', {code: 'bad_request'});
    }
    if (this._outbox.entries.length >= this._host.maxOutbox) {
      throw new RingcastError(
          `outbox full (${this._host.maxOutbox} sends waiting)`, {code: 'outbox_full'});
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
    this._host.queued(conv);
    this._host.onChange({change: 'added', entry: {...entry}});
    this._outbox.save().then(() => this.flush());
    return {...entry, acked};
  }

  /**
   * The ack of the queued send `cid` (RingcastClient.acked). @param {string} cid
   * @returns {Promise<Ack>}
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

  /**
   * Puts a `failed` send back in line. @param {string} cid
   * @returns {Promise<Ack> | undefined} its ack (undefined: `cid` is not a failed send)
   */
  retry(cid) {
    if (!this._outbox.revive(cid)) return undefined;
    const entry = /** @type {OutboxEntry} */ (this._outbox.get(cid));
    this._host.onChange({change: 'retried', entry: {...entry}});
    this._outbox.save().then(() => this.flush());
    return this.acked(cid);
  }

  /** Drops a send from the outbox. @param {string} cid */
  discard(cid) {
    const entry = this._outbox.remove(cid);
    if (!entry) return;
    this._settle(cid, null, new RingcastError('discarded', {code: 'discarded', cid}));
    this._host.onChange({change: 'discarded', entry});
    this._outbox.save();
  }

  /** Sends what the outbox lets go now, and comes back when its pacing allows more. */
  flush() {
    const connection = this._connection;
    if (!connection.ready) return;
    if (this._flushTimer) clearTimeout(this._flushTimer);
    this._flushTimer = null;
    for (;;) {
      const next = this._outbox.next(connection.number, Date.now());
      if (!next) return;
      if ('waitMs' in next) {
        this._flushTimer = setTimeout(() => this.flush(), next.waitMs);
        return;
      }
      if (!connection.send(requestOf(next.entry))) return;
      const {cid} = next.entry;
      if (this._outbox.sent(cid, connection.number)) this.resends += 1;
    }
  }

  /** The connection is gone: nothing is flushed until the next one. */
  down() {
    if (this._flushTimer) clearTimeout(this._flushTimer);
    this._flushTimer = null;
  }

  /** The newest seq of `conv` acked to this client (0: none). @param {number} conv */
  ackedSeq(conv) {
    return this._acked.get(conv) ?? 0;
  }

  /** @param {Ack} ack */
  onAck(ack) {
    if (ack.seq > (this._acked.get(ack.conv) ?? 0)) this._acked.set(ack.conv, ack.seq);
    const entry = this._outbox.remove(ack.cid);
    if (entry) {
      this._outbox.save();
      this._settle(ack.cid, ack);
      this._host.onChange({change: 'acked', entry});
    }
    this._host.onAck(ack);
  }

  /**
   * An error frame: taken (true) when it answers a send of the outbox.
   * @param {{code: string, message: string, cid?: string}} error @returns {boolean}
   */
  takeError(error) {
    if (error.cid === undefined || !this._outbox.get(String(error.cid))) return false;
    const cid = String(error.cid);
    const entry = /** @type {OutboxEntry} */ (this._outbox.get(cid));
    if (error.code === 'rate_limited' || error.code === 'unavailable') {
      this._outbox.retryLater(cid, error.code, Date.now());
      this.flush();
      return true;
    }
    entry.state = 'failed';
    entry.error = {code: error.code, message: error.message};
    this._outbox.save();
    this._settle(cid, null, new RingcastError(error.message, {code: error.code, cid}));
    this._host.onChange({change: 'failed', entry: {...entry}});
    return true;
  }

  /** The session ended: every ack waited for rejects (`logged_out`); the acked seqs go. */
  clear() {
    for (const [cid] of this._waiters) {
      this._settle(cid, null, new RingcastError('session ended', {code: 'logged_out', cid}));
    }
    this._acked.clear();
  }

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
