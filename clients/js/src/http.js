// The HTTP half of the API (PROTOCOL.md, "HTTP API"): JSON in, JSON out, errors as
// RingcastError with the status and the server's `{"error": reason}`. A 401 on an
// authenticated call means the token is expired or revoked: `onUnauthorized` tells the client,
// which raises `auth_expired`.

import {RingcastError} from './errors.js';

/** @typedef {(input: string, init?: any) => Promise<any>} FetchLike */

export class HttpApi {
  /**
   * @param {{baseUrl: string, fetch: FetchLike | undefined, timeoutMs: number,
   *           token: () => string | null,
   *           onUnauthorized: (reason: string, token: string) => void}} options
   */
  constructor(options) {
    this.baseUrl = options.baseUrl;
    this._fetch = options.fetch;
    this.timeoutMs = options.timeoutMs;
    this._token = options.token;
    this._onUnauthorized = options.onUnauthorized;
  }

  /**
   * @param {'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} method
   * @param {string} path from the server's root: `/api/...`
   * @param {unknown} [body] sent as JSON
   * @param {{auth?: boolean}} [options] `auth` (default true): send the token, and take a 401 as
   *   an expired session
   * @returns {Promise<any>} the parsed body
   */
  async request(method, path, body, options = {}) {
    return (await this.requestWithStatus(method, path, body, options)).body;
  }

  /**
   * `request`, with the status of a successful answer (201 created / 200 existed).
   * @param {'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} method
   * @param {string} path @param {unknown} [body]
   * @param {{auth?: boolean}} [options]
   * @returns {Promise<{status: number, body: any}>}
   */
  async requestWithStatus(method, path, body, options = {}) {
    const auth = options.auth ?? true;
    if (!this._fetch) {
      throw new RingcastError('no fetch: pass options.fetch', {code: 'no_fetch'});
    }
    /** @type {Record<string, string>} */
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const token = auth ? this._token() : null;
    if (auth) {
      if (!token) throw new RingcastError('not logged in', {code: 'not_logged_in'});
      headers.Authorization = `Bearer ${token}`;
    }
    /** @type {any} */
    let response;
    try {
      response = await this._fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const timedOut = /** @type {any} */ (error)?.name === 'TimeoutError';
      throw new RingcastError(
          timedOut ? `no answer within ${this.timeoutMs} ms` : `cannot reach the server: ${error}`,
          {code: timedOut ? 'timeout' : 'network'});
    }
    const text = await response.text();
    /** @type {any} */
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON (a proxy's error page): reported with the status below.
    }
    if (response.ok) return {status: response.status, body: parsed};
    const reason = typeof parsed?.error === 'string' ? parsed.error : `HTTP ${response.status}`;
    const retryAfter = Number(response.headers.get('Retry-After'));
    const error = new RingcastError(reason, {
      status: response.status,
      retryAfterS: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    });
    if (response.status === 401 && token) this._onUnauthorized(reason, token);
    throw error;
  }
}
