// Typing indicators. Outgoing: an app calls `typing(conv)` on every keystroke; at most one
// `start` goes out per `refreshMs` while the user keeps typing (so the other side's indicator
// stays on), and a `stop` after `idleMs` without a keystroke, on a send, or on `stopTyping`.
// Incoming: a `start` that is neither refreshed nor stopped within `expireMs` (the sender
// closed the tab, its `stop` was dropped: the server drops typing first for a slow reader) is
// ended with a made-up `stop` (`expired: true`), as is the indicator of a user whose message
// arrives.

/** @typedef {import('./types.js').Typing} Typing */

export class TypingThrottle {
  /**
   * @param {{refreshMs: number, idleMs: number,
   *           send: (conv: number, state: 'start' | 'stop') => boolean}} options
   *   `send` transmits and says whether it could (false while disconnected)
   */
  constructor(options) {
    this.refreshMs = options.refreshMs;
    this.idleMs = options.idleMs;
    this._send = options.send;
    /** @type {Map<number, {sentAt: number, idle: ReturnType<typeof setTimeout>}>} */
    this._active = new Map();
  }

  /** A keystroke in `conv`. @param {number} conv @param {number} nowMs */
  typing(conv, nowMs) {
    const active = this._active.get(conv);
    if (active) clearTimeout(active.idle);
    let sentAt = active?.sentAt ?? -Infinity;
    if (nowMs - sentAt >= this.refreshMs) {
      if (!this._send(conv, 'start')) {
        this._active.delete(conv);
        return;
      }
      sentAt = nowMs;
    }
    const idle = setTimeout(() => this.stop(conv), this.idleMs);
    this._active.set(conv, {sentAt, idle});
  }

  /** Sends `stop` if a `start` is standing. @param {number} conv */
  stop(conv) {
    const active = this._active.get(conv);
    if (!active) return;
    clearTimeout(active.idle);
    this._active.delete(conv);
    this._send(conv, 'stop');
  }

  /** The connection is gone: the server ended the indicators for us; send nothing. */
  reset() {
    for (const active of this._active.values()) clearTimeout(active.idle);
    this._active.clear();
  }
}

export class RemoteTyping {
  /** @param {{expireMs: number, emit: (event: Typing) => void}} options */
  constructor(options) {
    this.expireMs = options.expireMs;
    this._emit = options.emit;
    /** @type {Map<string, ReturnType<typeof setTimeout>>} key `conv:user` */
    this._timers = new Map();
  }

  /** A `typing` event from the server. @param {Typing} event */
  received(event) {
    const key = `${event.conv}:${event.user}`;
    clearTimeout(this._timers.get(key));
    this._timers.delete(key);
    if (event.state === 'start') {
      const end = () => this._end(key, event.conv, event.user);
      this._timers.set(key, setTimeout(end, this.expireMs));
    }
    this._emit(event);
  }

  /** A message from `user` ends their indicator. @param {number} conv @param {number} user */
  messageFrom(conv, user) {
    const key = `${conv}:${user}`;
    if (this._timers.has(key)) this._end(key, conv, user);
  }

  /** @param {string} key @param {number} conv @param {number} user */
  _end(key, conv, user) {
    clearTimeout(this._timers.get(key));
    this._timers.delete(key);
    this._emit({conv, user, state: 'stop', expired: true});
  }

  /** Forgets every indicator without events (logout, close). */
  clear() {
    for (const timer of this._timers.values()) clearTimeout(timer);
    this._timers.clear();
  }
}
