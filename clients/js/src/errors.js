// Errors the SDK throws or rejects with. `code` is machine-readable: an HTTP-level failure
// carries the status, a WebSocket error frame its protocol code (PROTOCOL.md, "Errors"), and the
// SDK's own failures one of the codes listed in the README.

export class RingcastError extends Error {
  /**
   * @param {string} message human-readable reason (the server's `error`/`message` when it gave one)
   * @param {{code?: string, status?: number, retryAfterS?: number, cid?: string}} [details]
   */
  constructor(message, details = {}) {
    super(message);
    this.name = 'RingcastError';
    /** @type {string} `http` for HTTP errors, a protocol code (`forbidden`, ...) or an SDK code */
    this.code = details.code ?? (details.status !== undefined ? 'http' : 'error');
    /** @type {number | undefined} HTTP status, for errors of the HTTP API */
    this.status = details.status;
    /** @type {number | undefined} seconds, from `Retry-After` (login rate limit) */
    this.retryAfterS = details.retryAfterS;
    /** @type {string | undefined} the send this error is about */
    this.cid = details.cid;
  }
}
