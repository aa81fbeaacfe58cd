// Per conversation, the last seq handed to the app (the cursor) and the messages that arrived
// ahead of it. Messages reach the client on two paths, the live stream and `sync` answers, and a
// live message may arrive before the sync answer holding the ones just below it; this is where
// they are put back in seq order, so that the app sees each conversation as 1, 2, 3, ... with
// no gap and no duplicate. A message at or below the cursor, or already held, is a duplicate
// and dropped.
//
// Bound: at most `maxBuffered` messages held ahead of the cursor per conversation (a gap that
// never closes would otherwise grow it without limit); past it `accept` reports an overflow and
// the client reconnects, which resumes with `sync` from the cursor.

/** @typedef {import('./types.js').Message} Message */

export class ConversationCursors {
  /** @param {number} maxBuffered */
  constructor(maxBuffered) {
    this.maxBuffered = maxBuffered;
    /** @type {Map<number, {cursor: number, newest: number, ahead: Map<number, Message>}>} */
    this._convs = new Map();
  }

  /** @param {number} conv */
  has(conv) {
    return this._convs.has(conv);
  }

  /** The last seq handed to the app (0: none yet). @param {number} conv */
  cursor(conv) {
    return this._convs.get(conv)?.cursor ?? 0;
  }

  /**
   * The newest seq received, held ahead of the cursor or not (0: none yet).
   * @param {number} conv
   */
  newest(conv) {
    return this._convs.get(conv)?.newest ?? 0;
  }

  /**
   * Starts following `conv` after `cursor`, unless it is followed already.
   * @param {number} conv @param {number} cursor @returns {boolean} it was not followed before
   */
  follow(conv, cursor) {
    if (this._convs.has(conv)) return false;
    this._convs.set(conv, {cursor, newest: cursor, ahead: new Map()});
    return true;
  }

  /** @returns {number[]} */
  ids() {
    return [...this._convs.keys()];
  }

  /** Conversations holding messages beyond a gap. @returns {number[]} */
  gapped() {
    const out = [];
    for (const [conv, state] of this._convs)
      if (state.ahead.size > 0) out.push(conv);
    return out;
  }

  clear() {
    this._convs.clear();
  }

  /**
   * Takes a message; returns the ones now due to the app, in seq order.
   * @param {Message} message
   * @returns {{due: Message[], gap: boolean, overflow: boolean}}
   */
  accept(message) {
    let state = this._convs.get(message.conv);
    if (!state) {
      state = {cursor: 0, newest: 0, ahead: new Map()};
      this._convs.set(message.conv, state);
    }
    state.newest = Math.max(state.newest, message.seq);
    /** @type {Message[]} */
    const due = [];
    if (message.seq <= state.cursor || state.ahead.has(message.seq)) {
      return {due, gap: state.ahead.size > 0, overflow: false};
    }
    state.ahead.set(message.seq, message);
    for (;;) {
      const next = state.ahead.get(state.cursor + 1);
      if (!next) break;
      state.ahead.delete(next.seq);
      state.cursor = next.seq;
      due.push(next);
    }
    return {due, gap: state.ahead.size > 0, overflow: state.ahead.size > this.maxBuffered};
  }
}
