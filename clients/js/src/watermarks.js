// Delivered/read watermarks this client asked for (`markRead`, `markDelivered`, and the
// automatic `delivered` of messages handed to the app), and what the server is known to have,
// so that each goes out once, and again on a later connection only if the server lacks it
// (`sync` answers list every member's watermarks). Watermarks only move forward
// (PROTOCOL.md, "Receipts"); `read` moves `delivered` too.

export class Watermarks {
  /**
   * @param {{send: (conv: number, kind: 'read' | 'delivered', seq: number) => boolean,
   *           batchMs: number}} options `send` transmits and says whether it could
   */
  constructor(options) {
    this._send = options.send;
    this.batchMs = options.batchMs;
    /**
     * Asked for, and known to have gone out (`sent*`), per conversation.
     * @type {Map<number, {read: number, delivered: number, sentRead: number,
     *                     sentDelivered: number}>}
     */
    this._convs = new Map();
    /** @type {Map<number, number>} automatic `delivered`, batched per conversation */
    this._due = new Map();
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._timer = null;
  }

  /** @param {number} conv @param {'read' | 'delivered'} kind @param {number} seq */
  move(conv, kind, seq) {
    if (!Number.isSafeInteger(seq) || seq <= 0) return;
    let w = this._convs.get(conv);
    if (!w) this._convs.set(conv, (w = {read: 0, delivered: 0, sentRead: 0, sentDelivered: 0}));
    if (seq <= w[kind]) return;
    w[kind] = seq;
    if (kind === 'read') w.delivered = Math.max(w.delivered, seq);
    this.flush(conv);
  }

  /**
   * Marks `seq` delivered a moment later, with the rest of a burst.
   * @param {number} conv @param {number} seq
   */
  deliveredSoon(conv, seq) {
    this._due.set(conv, Math.max(seq, this._due.get(conv) ?? 0));
    if (this._timer) return;
    this._timer = setTimeout(() => {
      this._timer = null;
      const due = [...this._due];
      this._due.clear();
      for (const [c, s] of due) this.move(c, 'delivered', s);
    }, this.batchMs);
  }

  /** Sends what the server lacks of `conv`'s watermarks (when `send` can). @param {number} conv */
  flush(conv) {
    const w = this._convs.get(conv);
    if (!w) return;
    if (w.read > w.sentRead && this._send(conv, 'read', w.read)) {
      w.sentRead = w.read;
      w.sentDelivered = Math.max(w.sentDelivered, w.read);
    }
    if (w.delivered > w.sentDelivered && this._send(conv, 'delivered', w.delivered)) {
      w.sentDelivered = w.delivered;
    }
  }

  /** A new connection: what went out on the last one may not have arrived. */
  forgetSent() {
    for (const w of this._convs.values()) w.sentRead = w.sentDelivered = 0;
  }

  /**
   * The server's watermarks of this user (a `sync` answer): send what it lacks.
   * @param {number} conv @param {{read: number, delivered: number}} server
   */
  confirm(conv, server) {
    const w = this._convs.get(conv);
    if (!w) return;
    w.sentRead = server.read;
    w.sentDelivered = server.delivered;
    this.flush(conv);
  }

  clear() {
    this._convs.clear();
    this._due.clear();
    if (this._timer) clearTimeout(this._timer);
    this._timer = null;
  }
}

/**
 * The thread watermarks this client asked for (`threadRead`; PROTOCOL.md, "Replies and threads"):
 * each goes out once per connection, and again on the next one until the server's `thread_read`
 * answer (or a `thread` page's `read_seq`) shows it has it. Forward only, as on the server.
 */
export class ThreadWatermarks {
  /**
   * @param {{send: (conv: number, root: number, seq: number) => boolean}} options `send`
   *     transmits and says whether it could
   */
  constructor(options) {
    this._send = options.send;
    /**
     * Per thread (`conv:root`): asked for, gone out on this connection, known to the server.
     * @type {Map<string, {conv: number, root: number, want: number, sent: number,
     *                     known: number}>}
     */
    this._threads = new Map();
  }

  /** @param {number} conv @param {number} root @param {number} seq */
  move(conv, root, seq) {
    if (!Number.isSafeInteger(seq) || seq <= 0) return;
    const t = this._entry(conv, root);
    if (seq <= Math.max(t.want, t.known)) return;
    t.want = seq;
    this._flushOne(t);
  }

  /** What the server has (an answer's `read_seq`). @param {number} conv @param {number} root */
  confirm(conv, root, /** @type {number} */ readSeq) {
    const t = this._entry(conv, root);
    t.known = Math.max(t.known, readSeq);
  }

  /** Sends what the server may lack (a new connection, or a conversation now known). */
  flush() {
    for (const t of this._threads.values()) this._flushOne(t);
  }

  /** A new connection: what went out on the last one may not have arrived. */
  forgetSent() {
    for (const t of this._threads.values()) t.sent = 0;
  }

  clear() {
    this._threads.clear();
  }

  /** @param {number} conv @param {number} root */
  _entry(conv, root) {
    const key = `${conv}:${root}`;
    let t = this._threads.get(key);
    if (!t) this._threads.set(key, (t = {conv, root, want: 0, sent: 0, known: 0}));
    return t;
  }

  /** @param {{conv: number, root: number, want: number, sent: number, known: number}} t */
  _flushOne(t) {
    if (t.want > Math.max(t.sent, t.known) && this._send(t.conv, t.root, t.want)) t.sent = t.want;
  }
}
