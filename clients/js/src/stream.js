// The inbound side of the chat connection: live `message` events, `sync` answers and `history`
// answers, turned into one stream per conversation, in seq order, without gap or duplicate
// (cursors.js holds the order). What it does, and why:
//
// - after every `hello`, `resume()` asks `sync` from each followed conversation's cursor, and
//   keeps asking for those answered `more` until none is; then `onSynced`.
// - one `sync` at a time (the server answers one sync or history at a time anyway); what is
//   wanted meanwhile is asked for with the next one.
// - a conversation the user joins (the `members` event): a `sync` of it from its start, which
//   brings the system entry that added them and what came before.
// - a live message beyond the cursor with no sync on its way for its conversation: a `sync` of
//   that conversation from the cursor.
// - a gap left after a complete answer for that conversation cannot close on this connection
//   (the server never sends again what it sent live): the connection is replaced, and the new
//   one resumes from the cursor. So is one whose reorder buffer overflows.
// - answers and their errors carry no request id: they are matched in request order
//   (answers.js). Errors without a cid that stand for an answer (`unavailable`, `forbidden`
//   for a history) take its place; a `rate_limited` without a cid may have dropped a request
//   whose answer is due, so the connection is replaced.

import {AnswerQueue} from './answers.js';
import {ConversationCursors} from './cursors.js';
import {RingcastError} from './errors.js';

/** @typedef {import('./types.js').Message} Message */
/** @typedef {import('./types.js').SyncSummary} SyncSummary */
/** @typedef {import('./types.js').HistoryPage} HistoryPage */
/** @typedef {import('./types.js').ThreadPage} ThreadPage */

/**
 * @typedef {object} StreamOptions
 * @property {{ready: boolean, send: (frame: Record<string, unknown>) => boolean,
 *             replace: (why: string) => void}} connection
 * @property {number} maxBuffered messages held behind a gap, per conversation
 * @property {number} syncTimeoutMs
 * @property {number} historyTimeoutMs
 * @property {(conv: number) => boolean} isMember the user is known to be in `conv`
 * @property {(message: Message) => void} deliver to the app, in order
 * @property {(summaries: SyncSummary[], asked: number[]) => void} onSync an answer's
 *   conversations (those asked for but left out: the user is no longer in them)
 * @property {() => void} onSynced the resume after a hello is complete
 * @property {(code: string, message: string) => void} onError
 */

export class MessageStream {
  /** @param {StreamOptions} options */
  constructor(options) {
    this._options = options;
    this._connection = options.connection;
    this._cursors = new ConversationCursors(options.maxBuffered);
    this._answers = new AnswerQueue({
      onTimeout: (kind) => this._connection.replace(`no ${kind} answer`),
    });
    this.counters = {syncRequests: 0, gapRepairs: 0};
    this._inFlight = false;
    this._resuming = false;
    /** @type {Set<number>} conversations to sync with the next request */
    this._wanted = new Set();
    /** @type {ReturnType<typeof setTimeout> | null} after an `unavailable` sync */
    this._retryTimer = null;
  }

  /**
   * Follows `conv` from `cursor` on, unless it is followed already.
   * @param {number} conv @param {number} cursor
   */
  follow(conv, cursor) {
    this._cursors.follow(conv, cursor);
  }

  /**
   * A conversation the user has just joined (the `members` event): followed from its start,
   * which a sync asks for at once. (Its messages so far, the system entry that added the user
   * among them, were published before this connection was in it: none of them comes live.)
   * @param {number} conv
   */
  join(conv) {
    if (this._cursors.follow(conv, 0)) this._request([conv]);
  }

  /** A connection is ready: sync every followed conversation. */
  resume() {
    this._resuming = true;
    this._request(this._cursors.ids());
  }

  /** The connection is gone: answers will not come. */
  down() {
    this._resuming = false;
    if (this._retryTimer) clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._inFlight = false;
    this._wanted.clear();
    this._answers.rejectAll(new RingcastError('connection lost', {code: 'disconnected'}));
  }

  /** Another user: nothing followed any more. */
  clear() {
    this._cursors.clear();
  }

  /** The newest seq of `conv` received on any connection (0: none). @param {number} conv */
  newest(conv) {
    return this._cursors.newest(conv);
  }

  /**
   * A history page over the connection (ready, and `conv` one of the user's); `seen`: the
   * newest seq the client knows (0: none), which the answer must hold (PROTOCOL.md, "Reading
   * your own writes").
   * @param {number} conv @param {number} before @param {number} limit @param {number} seen
   * @returns {Promise<HistoryPage>}
   */
  history(conv, before, limit, seen) {
    /** @type {Record<string, unknown>} */
    const request = {type: 'history', conv, limit};
    if (before > 0) request.before = before;
    if (seen > 0) request.seen = seen;
    return this._ask(request, 'history', [conv], ['unavailable', 'forbidden'],
                     this._options.historyTimeoutMs);
  }

  /**
   * A page of a thread's replies over the connection; `seen` as history's.
   * @param {number} conv @param {number} root @param {number} before @param {number} limit
   * @param {number} seen
   * @returns {Promise<ThreadPage>}
   */
  thread(conv, root, before, limit, seen) {
    /** @type {Record<string, unknown>} */
    const request = {type: 'thread', conv, root, limit};
    if (before > 0) request.before = before;
    if (seen > 0) request.seen = seen;
    return this._ask(request, 'thread', [conv], ['unavailable', 'forbidden', 'not_found'],
                     this._options.historyTimeoutMs);
  }

  /**
   * Any other request the server answers in turn (PROTOCOL.md, "Pacing"): resolves with its
   * answer (of type `kind`), or rejects with an error without a cid whose code is one of
   * `refusals` ('unavailable' always is).
   * @param {Record<string, unknown>} request @param {string} kind @param {string[]} refusals
   * @returns {Promise<any>}
   */
  ask(request, kind, refusals) {
    return this._ask(request, kind, [], ['unavailable', ...refusals],
                     this._options.historyTimeoutMs);
  }

  /** Whether the oldest answer due is of type `kind`. @param {string} kind */
  awaits(kind) {
    return this._answers.head()?.kind === kind;
  }

  /** The answer `ask` waits for. @param {string} kind @param {unknown} body */
  onAnswer(kind, body) {
    this._take(kind)?.resolve(body);
  }

  /**
   * A message, live (a `message` event) or from a sync answer.
   * @param {Message} message @param {boolean} live
   */
  accept(message, live) {
    const {due, gap, overflow} = this._cursors.accept(message);
    for (const m of due) this._options.deliver(m);
    if (overflow) {
      this._options.onError('gap', `too many messages held in conversation ${message.conv}`);
      return this._connection.replace('gap did not close');
    }
    if (live && gap && !this._wanted.has(message.conv) && !this._answers.syncing(message.conv)) {
      this.counters.gapRepairs += 1;
      this._request([message.conv]);
    }
  }

  /** @param {Array<SyncSummary & {messages?: Message[]}>} convs */
  onSyncAnswer(convs) {
    const pending = this._take('sync');
    if (!pending) return;
    this._inFlight = false;
    const listed = new Set();
    /** @type {SyncSummary[]} */
    const summaries = [];
    for (const {messages, ...summary} of convs) {
      listed.add(summary.conv);
      for (const message of messages ?? []) this.accept(message, false);
      if (summary.more) this._wanted.add(summary.conv);
      summaries.push(summary);
    }
    pending.resolve(summaries);
    this._options.onSync(summaries, pending.convs);
    // The answer gave everything after each cursor that this connection had not received live,
    // so a gap that remains in a conversation it covered cannot close on this connection.
    for (const conv of this._cursors.gapped()) {
      if (this._wanted.has(conv)) continue;
      if (listed.has(conv)) {
        this._options.onError('gap', `conversation ${conv} has a gap after sync`);
        return this._connection.replace('gap after sync');
      }
      this._wanted.add(conv);
    }
    this._pump();
  }

  /** @param {HistoryPage} page */
  onHistoryAnswer(page) {
    const pending = this._take('history');
    if (pending) pending.resolve({conv: page.conv, messages: page.messages, more: page.more});
  }

  /** @param {ThreadPage} page */
  onThreadAnswer(page) {
    const pending = this._take('thread');
    if (pending) {
      pending.resolve({
        conv: page.conv,
        root: page.root,
        read_seq: page.read_seq ?? 0,
        unread: page.unread ?? 0,
        messages: page.messages,
        more: page.more
      });
    }
  }

  /**
   * An error frame without a cid of the outbox: whether it stood for an answer (and was taken
   * care of here). @param {string} code @param {string} message
   */
  takeError(code, message) {
    const head = this._answers.head();
    if (!head) return false;
    // The SDK sends watermarks and typing only for conversations it knows the user is in, so a
    // `forbidden` while a history answer is due is that history's; a request names the other
    // refusals that stand for its answer (a thread's `not_found`: no such root).
    if (head.refusals.includes(code)) {
      this._answers.take(head.kind);
      head.reject(new RingcastError(message, {code}));
      if (head.kind === 'sync') {
        this._inFlight = false;
        for (const conv of head.convs) this._wanted.add(conv);
        this._retryTimer = setTimeout(() => this._pump(), 1000);
      }
      return true;
    }
    if (code === 'rate_limited') {
      this._options.onError(code, message);
      this._connection.replace('request dropped by the rate limit');
      return true;
    }
    return false;
  }

  /** @param {number[]} convs */
  _request(convs) {
    for (const conv of convs) this._wanted.add(conv);
    this._pump();
  }

  _pump() {
    if (!this._connection.ready || this._inFlight) return;
    const convs = [...this._wanted].filter((conv) => this._options.isMember(conv));
    this._wanted.clear();
    if (convs.length === 0) {
      if (this._resuming) {
        this._resuming = false;
        this._options.onSynced();
      }
      return;
    }
    /** @type {Record<string, number>} */
    const asks = {};
    for (const conv of convs) asks[String(conv)] = this._cursors.cursor(conv);
    this._inFlight = true;
    this.counters.syncRequests += 1;
    this._ask({type: 'sync', convs: asks}, 'sync', convs, ['unavailable'],
              this._options.syncTimeoutMs)
        .catch(() => {});
  }

  /**
   * @param {Record<string, unknown>} request @param {string} kind @param {number[]} convs
   * @param {string[]} refusals @param {number} timeoutMs @returns {Promise<any>}
   */
  _ask(request, kind, convs, refusals, timeoutMs) {
    if (!this._connection.send(request)) {
      return Promise.reject(new RingcastError('not connected', {code: 'disconnected'}));
    }
    return this._answers.expect(kind, convs, refusals, timeoutMs);
  }

  /** @param {string} kind */
  _take(kind) {
    const pending = this._answers.take(kind);
    if (!pending) {
      this._options.onError('protocol', `unexpected ${kind} answer`);
      this._connection.replace(`unexpected ${kind} answer`);
    }
    return pending;
  }
}
