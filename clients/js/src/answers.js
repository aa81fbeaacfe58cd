// The requests waiting for their answers (`sync`, `history`, `thread` and every other request the
// server answers in turn: PROTOCOL.md, "Pacing"). Answers carry no request id: the server answers
// these one at a time, in request order, so they are matched by order. An answer that never comes (its request dropped) would shift every later
// match, so a timeout is reported to the client, which replaces the connection rather than
// waiting on.

import {RingcastError} from './errors.js';

/**
 * @typedef {object} PendingAnswer
 * @property {string} kind the answer's type
 * @property {number[]} convs for sync: the conversations asked for; for history: the one
 * @property {string[]} refusals the codes of an error without a cid that stands for this answer
 * @property {(value: any) => void} resolve
 * @property {(error: RingcastError) => void} reject
 * @property {ReturnType<typeof setTimeout>} timer
 */

export class AnswerQueue {
  /** @param {{onTimeout: (kind: string) => void}} options */
  constructor(options) {
    this._onTimeout = options.onTimeout;
    /** @type {PendingAnswer[]} */
    this._pending = [];
  }

  get size() {
    return this._pending.length;
  }

  /** @returns {PendingAnswer | undefined} the oldest */
  head() {
    return this._pending[0];
  }

  /**
   * Waits for the answer to a request just sent.
   * @param {string} kind @param {number[]} convs @param {string[]} refusals
   * @param {number} timeoutMs
   * @returns {Promise<any>}
   */
  expect(kind, convs, refusals, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new RingcastError(`no ${kind} answer within ${timeoutMs} ms`, {code: 'timeout'}));
        this._onTimeout(kind);
      }, timeoutMs);
      this._pending.push({kind, convs, refusals, resolve, reject, timer});
    });
  }

  /**
   * Takes the oldest, which must be of `kind` (else undefined: the matching is lost).
   * @param {string} kind @returns {PendingAnswer | undefined}
   */
  take(kind) {
    const head = this._pending[0];
    if (!head || head.kind !== kind) return undefined;
    this._pending.shift();
    clearTimeout(head.timer);
    return head;
  }

  /** Whether a sync on its way covers `conv`. @param {number} conv */
  syncing(conv) {
    return this._pending.some((a) => a.kind === 'sync' && a.convs.includes(conv));
  }

  /** The connection is gone: no answer will come. @param {RingcastError} error */
  rejectAll(error) {
    const pending = this._pending;
    this._pending = [];
    for (const answer of pending) {
      clearTimeout(answer.timer);
      answer.reject(error);
    }
  }
}
