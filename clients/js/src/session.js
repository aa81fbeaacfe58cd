// SessionKeeper: keeps the login session's tokens alive and stored. It writes the session to
// the storage (`<prefix>session`) with each new pair and reads it back for `restoreSession()`;
// it trades the refresh token for a new pair before the access token expires, and clients that
// share one storage (tabs) take turns at it, a later one adopting the pair the first stored: a
// refresh token used twice would end the login for both. The client (core.js) owns the session
// and decides what a new one means (another user: a clean state), through `adopt`; a refused
// refresh token comes back to it as `expired`.

import {RingcastError} from './errors.js';

/** @typedef {import('./types.js').Session} Session */

/**
 * What the keeper needs: the storage and the HTTP API, and the client's session and hooks.
 * @typedef {object} SessionHost
 * @property {import('./storage.js').StorageLike} storage
 * @property {string} prefix of the storage keys
 * @property {boolean} persist whether the session is stored (`persistSession`)
 * @property {import('./http.js').HttpApi} http
 * @property {() => Session | null} current the client's session
 * @property {(session: Session, store: boolean) => Promise<void>} adopt
 * @property {(token: string) => void} renewed a new access token, for the open connection
 * @property {(reason: string) => void} expired the refresh token was refused
 * @property {(message: string) => void} onStorageError
 */

export class SessionKeeper {
  /** @param {SessionHost} host */
  constructor(host) {
    this._host = host;
    /** @type {Promise<Session> | null} the refresh on its way */
    this._refreshing = null;
    /** @type {ReturnType<typeof setTimeout> | null} the next automatic refresh */
    this._refreshTimer = null;
  }

  /** The storage key of the session. */
  get key() {
    return `${this._host.prefix}session`;
  }

  /**
   * Trades the current session's refresh token for a new pair and adopts it; concurrent calls
   * share one request. A refusal (401) of the session still current is `expired`.
   * @returns {Promise<Session>}
   */
  refresh() {
    if (this._refreshing) return this._refreshing;
    const host = this._host;
    const session = host.current();
    if (!session?.refresh_token) {
      return Promise.reject(new RingcastError('no refresh token', {code: 'auth_expired'}));
    }
    this._refreshing = (async () => {
      try {
        // Tabs sharing the stored session take turns, and one that comes second adopts what
        // the first stored: a refresh token used twice would end the login for both.
        return await withRefreshLock(host.storage, `${host.prefix}refresh`, async () => {
          const next = (await this._renewedElsewhere(session)) ??
              sessionFrom(await host.http.request(
                              'POST', '/api/token/refresh', {refresh_token: session.refresh_token},
                              {auth: false}),
                          session.username);
          if (host.current() !== session) return /** @type {Session} */ (host.current());
          await host.adopt(next, true);
          host.renewed(next.token);
          return next;
        });
      } catch (error) {
        if (/** @type {RingcastError} */ (error).status === 401 && host.current() === session) {
          host.expired(/** @type {RingcastError} */ (error).message);
        }
        throw error;
      } finally {
        this._refreshing = null;
      }
    })();
    return this._refreshing;
  }

  /**
   * The stored session, adopted (renewed first when only its refresh token is alive); null when
   * there is none or it has expired.
   * @returns {Promise<Session | null>}
   */
  async restore() {
    let raw = null;
    try {
      raw = await this._host.storage.getItem(this.key);
    } catch (error) {
      this._host.onStorageError(`storage read failed: ${error}`);
    }
    /** @type {any} */
    let stored = null;
    try {
      stored = raw ? JSON.parse(raw) : null;
    } catch {
      // A corrupted entry is no session.
    }
    if (!stored || typeof stored.token !== 'string' || !Number.isSafeInteger(stored.user_id)) {
      return null;
    }
    const refreshable =
        typeof stored.refresh_token === 'string' && stored.refresh_expires_at > Date.now();
    if (!(stored.expires_at > Date.now()) && !refreshable) {
      await this.unstore();
      return null;
    }
    const session =
        sessionFrom(stored, typeof stored.username === 'string' ? stored.username : undefined);
    await this._host.adopt(session, false);
    if (session.expires_at > Date.now()) return session;
    try {
      return await this.refresh();
    } catch {
      return null;
    }
  }

  /**
   * The stored session, when another client on the same storage (another tab) has renewed
   * `session`'s tokens since; else null.
   * @param {Session} session @returns {Promise<Session | null>}
   */
  async _renewedElsewhere(session) {
    if (!this._host.persist) return null;
    let stored = null;
    try {
      stored = JSON.parse((await this._host.storage.getItem(this.key)) ?? 'null');
    } catch {
      return null;
    }
    if (stored?.user_id !== session.user_id || typeof stored.refresh_token !== 'string' ||
        stored.refresh_token === session.refresh_token || !(stored.expires_at > Date.now())) {
      return null;
    }
    const renewed = sessionFrom(stored, session.username);
    return bindingOf(renewed) === bindingOf(session) ? renewed : null;
  }

  /** Renews the tokens a while before the access token expires (a tenth of its life, <= 60 s). */
  schedule() {
    if (this._refreshTimer) clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
    const session = this._host.current();
    if (!session?.refresh_token) return;
    const left = session.expires_at - Date.now();
    const margin = Math.min(60000, Math.max(500, left / 2));
    this._refreshTimer = setTimeout(() => {
      this._refreshTimer = null;
      if (this._host.current() === session) this.refresh().catch(() => {});
    }, Math.max(0, left - margin));
    /** @type {any} */ (this._refreshTimer).unref?.();  // Node: no process kept alive for it
  }

  /** Writes `session` to the storage, unless `persistSession` is off. @param {Session} session */
  async store(session) {
    if (!this._host.persist) return;
    try {
      await this._host.storage.setItem(this.key, JSON.stringify(session));
    } catch (error) {
      this._host.onStorageError(`storage write failed: ${error}`);
    }
  }

  /** Removes the stored session. */
  async unstore() {
    try {
      await this._host.storage.removeItem(this.key);
    } catch (error) {
      this._host.onStorageError(`storage write failed: ${error}`);
    }
  }
}

/** @type {WeakMap<object, Promise<unknown>>} the refreshes under way, per storage */
const refreshChains = new WeakMap();

/**
 * Runs `fn` alone among the clients of one storage: across tabs with the Web Locks API where
 * there is one (browsers), else among the clients of this process on the same storage object.
 * @template T @param {object} storage @param {string} name @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
function withRefreshLock(storage, name, fn) {
  const locks = /** @type {any} */ (globalThis.navigator)?.locks;
  if (locks?.request) return locks.request(name, fn);
  const previous = refreshChains.get(storage) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  refreshChains.set(storage, run.catch(() => {}));
  return run;
}

/**
 * The session a login or refresh answer (or a stored session) describes.
 * @param {any} answer @param {string | undefined} username @returns {Session}
 */
export function sessionFrom(answer, username) {
  /** @type {Session} */
  const session = {
    token: answer.token,
    user_id: answer.user_id,
    expires_at: answer.expires_at,
    username,
  };
  if (typeof answer.refresh_token === 'string') {
    session.refresh_token = answer.refresh_token;
    session.refresh_expires_at = answer.refresh_expires_at;
  }
  if (typeof answer.instance === 'string') {
    session.instance = answer.instance;
    session.user_created_at = answer.user_created_at;
  }
  return session;
}

/**
 * What a stored outbox is bound to: the account, on one server database; null for a server
 * that names no instance.
 * @param {Session | null} session @returns {string | null}
 */
export function bindingOf(session) {
  if (!session?.instance) return null;
  return `${session.instance}/${session.user_id}/${session.user_created_at}`;
}
