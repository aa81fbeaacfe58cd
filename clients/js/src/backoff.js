// When to reconnect after a WebSocket closes. Pure logic (the clock and the random source are
// passed in) so that it is unit-tested without a server (test/unit.test.js).
//
// - Failures: exponential backoff with full jitter (a delay drawn uniformly from
//   [0, min(maxDelayMs, baseDelayMs * 2^attempt))), so that clients cut off together do not
//   come back together.
// - A connection that stayed up for `stableAfterMs` resets the attempt count: the next drop
//   reconnects quickly again, while a server that accepts and then drops at once is backed off.
// - The server's drain hint `{"type":"reconnect","after_ms":N}` (PROTOCOL.md, "reconnect"):
//   the next reconnect waits N ms counted from the hint, not from the close. It is a planned
//   move, so it does not count as a failure.
// - A close 1012 (service restart) without the hint: a random delay in [0, restartJitterMs), as
//   the protocol asks, also not counted as a failure.

/**
 * @typedef {object} BackoffOptions
 * @property {number} [baseDelayMs] first ceiling of the random delay (default 500)
 * @property {number} [maxDelayMs] largest ceiling (default 30000)
 * @property {number} [stableAfterMs] a connection up this long resets the backoff (default 10000)
 * @property {number} [restartJitterMs] delay range after a close 1012 without a hint (default 2000)
 * @property {() => number} [random] uniform in [0, 1) (default Math.random)
 */

export class ReconnectPolicy {
  /** @param {BackoffOptions} [options] */
  constructor(options = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 30000;
    this.stableAfterMs = options.stableAfterMs ?? 10000;
    this.restartJitterMs = options.restartJitterMs ?? 2000;
    this.random = options.random ?? Math.random;
    /** failures since the last stable connection */
    this.attempts = 0;
    /** @type {number | null} when the current connection became usable (hello) */
    this._upSince = null;
    /** @type {{afterMs: number, atMs: number} | null} */
    this._hint = null;
  }

  /** The connection is usable (the server's hello arrived). @param {number} nowMs */
  connected(nowMs) {
    this._upSince = nowMs;
  }

  /** The server's `reconnect` event. @param {number} afterMs @param {number} nowMs */
  hint(afterMs, nowMs) {
    this._hint = {afterMs: Math.max(0, afterMs), atMs: nowMs};
  }

  /** Forgets the failures (a fresh login, an explicit connect). */
  reset() {
    this.attempts = 0;
    this._upSince = null;
    this._hint = null;
  }

  /**
   * The connection (or the attempt) ended: how long to wait before the next attempt.
   * @param {{code?: number, nowMs: number}} closed `code`: the WebSocket close code, if any
   * @returns {{delayMs: number, reason: 'hint' | 'restart' | 'backoff'}}
   */
  next(closed) {
    const {code, nowMs} = closed;
    if (this._upSince !== null && nowMs - this._upSince >= this.stableAfterMs) this.attempts = 0;
    this._upSince = null;
    const hint = this._hint;
    this._hint = null;
    if (hint) {
      return {delayMs: Math.max(0, hint.afterMs - (nowMs - hint.atMs)), reason: 'hint'};
    }
    if (code === 1012) {
      return {delayMs: Math.floor(this.random() * this.restartJitterMs), reason: 'restart'};
    }
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(this.attempts, 30));
    this.attempts += 1;
    return {delayMs: Math.floor(this.random() * ceiling), reason: 'backoff'};
  }
}
