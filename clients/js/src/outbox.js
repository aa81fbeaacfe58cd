// The sends not yet acknowledged, in creation order, persisted per user in the storage
// (storage.js) under `<prefix>outbox:<user_id>` so that they survive a page reload. The stored
// outbox is bound to the account it was written for (the server's instance id, the user id and
// the account's creation time): after a database reset the same user id may be someone else,
// so an outbox whose binding differs is handed back by `open` (and erased), never sent. Each entry
// keeps its `cid` for life: resending it after a reconnect or a reload is answered by the
// server with the original ack, never stored twice (PROTOCOL.md, "send").
//
// Runtime state that must not survive a reload (which connection an entry went out on, when it
// may be retried) lives beside the entries, in `meta`.
//
// Writes are whole snapshots, chained so that an asynchronous storage applies them in order;
// an entry counts as `stored` once a snapshot holding it is written, and the client sends an
// entry only once it is stored, so a send that left the SDK is also on disk.

/** @typedef {import('./types.js').OutboxEntry} OutboxEntry */
/** @typedef {import('./storage.js').StorageLike} StorageLike */
/**
 * @typedef {object} EntryMeta
 * @property {boolean} stored a written snapshot holds the entry
 * @property {number} sentOn the connection number it last went out on (0: none)
 * @property {boolean} everSent it went out before (on an earlier connection or before a reload)
 * @property {number} retryAt not before this time (ms), after `rate_limited` / `unavailable`
 * @property {number} retries consecutive `unavailable` answers, for the retry's backoff
 */

/**
 * A token bucket: `rate` sends per second, bursts of as many. The server drops requests past
 * `--msg-rate` (`rate_limited`); an outbox resent whole after a reconnect would hit that.
 */
export class SendPacer {
  /** @param {number} rate */
  constructor(rate) {
    this.rate = rate;
    this._tokens = rate;
    this._at = -Infinity;
  }

  /** 0 when a send may go now, else the ms until one may. @param {number} nowMs */
  wait(nowMs) {
    this._tokens = Math.min(this.rate, this._tokens + ((nowMs - this._at) * this.rate) / 1000);
    this._at = nowMs;
    return this._tokens >= 1 ? 0 : Math.ceil(((1 - this._tokens) * 1000) / this.rate);
  }

  take() {
    this._tokens -= 1;
  }
}

export class Outbox {
  /**
   * @param {{storage: StorageLike, sendsPerSecond: number,
   *           onStorageError: (error: unknown) => void}} options
   */
  constructor(options) {
    this.storage = options.storage;
    this._pacer = new SendPacer(options.sendsPerSecond);
    this._onStorageError = options.onStorageError;
    /** @type {string | null} */
    this.key = null;
    /** @type {string | null} the account the entries are for (session.js, bindingOf) */
    this.binding = null;
    /** @type {OutboxEntry[]} */
    this.entries = [];
    /** @type {Map<string, EntryMeta>} */
    this.meta = new Map();
    /** @type {Promise<void>} */
    this._chain = Promise.resolve();
  }

  /**
   * Switches to the outbox stored under `key` (a user's), for the account `binding`. Entries
   * read back went out before the reload, as far as we know: they count as sent once. Returns
   * the stored entries of another binding (or of a version that stored none): erased, not
   * loaded.
   * @param {string} key @param {string | null} binding
   * @returns {Promise<OutboxEntry[]>}
   */
  async open(key, binding) {
    this.key = key;
    this.binding = binding;
    this.entries = [];
    this.meta.clear();
    let raw = null;
    try {
      raw = await this.storage.getItem(key);
    } catch (error) {
      this._onStorageError(error);
    }
    if (this.key !== key) return [];  // switched again meanwhile
    const stored = parseStored(raw);
    if (stored.entries.length > 0 && (binding === null || stored.binding !== binding)) {
      const storage = this.storage;
      this._chain = this._chain.then(() => storage.removeItem(key)).catch(this._onStorageError);
      await this._chain;
      return stored.entries;
    }
    for (const entry of stored.entries) {
      this.entries.push(entry);
      this.meta.set(entry.cid, {stored: true, sentOn: 0, everSent: true, retryAt: 0, retries: 0});
    }
    return [];
  }

  /**
   * Forgets the entries in memory and, with `erase`, in the storage too.
   * @param {{erase?: boolean}} [options]
   */
  async close(options = {}) {
    const key = this.key;
    this.key = null;
    this.entries = [];
    this.meta.clear();
    if (options.erase && key !== null) {
      const storage = this.storage;
      this._chain = this._chain.then(() => storage.removeItem(key)).catch(this._onStorageError);
      await this._chain;
    }
  }

  /** @param {string} cid */
  get(cid) {
    return this.entries.find((entry) => entry.cid === cid);
  }

  /** @param {OutboxEntry} entry */
  add(entry) {
    this.entries.push(entry);
    this.meta.set(entry.cid, {stored: false, sentOn: 0, everSent: false, retryAt: 0, retries: 0});
  }

  /** @param {string} cid @returns {OutboxEntry | undefined} */
  remove(cid) {
    const index = this.entries.findIndex((entry) => entry.cid === cid);
    if (index < 0) return undefined;
    const [entry] = this.entries.splice(index, 1);
    this.meta.delete(cid);
    return entry;
  }

  /**
   * What to send next on connection `connNo`: the oldest pending entry not sent on it yet, or
   * how long to wait (a retry pause, the pacing), or null (nothing; or an entry not written
   * yet, whose write completing calls for another look). In creation order: an entry that
   * waits holds back the ones behind it, so a conversation's messages keep their order.
   * @param {number} connNo @param {number} nowMs
   * @returns {{entry: OutboxEntry} | {waitMs: number} | null}
   */
  next(connNo, nowMs) {
    for (const entry of this.entries) {
      const meta = this.meta.get(entry.cid);
      if (entry.state !== 'pending' || !meta || meta.sentOn === connNo) continue;
      if (!meta.stored) return null;
      const waitMs = Math.max(meta.retryAt - nowMs, this._pacer.wait(nowMs));
      return waitMs > 0 ? {waitMs} : {entry};
    }
    return null;
  }

  /**
   * `cid` went out on connection `connNo`; returns whether it had gone out before (a resend).
   * @param {string} cid @param {number} connNo
   */
  sent(cid, connNo) {
    this._pacer.take();
    const meta = this.meta.get(cid);
    if (!meta) return false;
    const resend = meta.everSent;
    meta.sentOn = connNo;
    meta.everSent = true;
    return resend;
  }

  /**
   * The server dropped (`rate_limited`) or could not store (`unavailable`) `cid`: send it
   * again, same cid, after a pause (doubling while the store stays unavailable, up to 30 s).
   * @param {string} cid @param {string} code @param {number} nowMs
   */
  retryLater(cid, code, nowMs) {
    const meta = this.meta.get(cid);
    if (!meta) return;
    if (code === 'unavailable') meta.retries += 1;
    meta.retryAt = nowMs + Math.min(30000, 1000 * 2 ** Math.min(meta.retries, 5));
    meta.sentOn = 0;
  }

  /**
   * Back to pending (a `failed` entry retried by the app); false if `cid` is not failed.
   * @param {string} cid
   */
  revive(cid) {
    const entry = this.get(cid);
    const meta = this.meta.get(cid);
    if (!entry || !meta || entry.state !== 'failed') return false;
    entry.state = 'pending';
    delete entry.error;
    Object.assign(meta, {sentOn: 0, retryAt: 0, retries: 0});
    return true;
  }

  /**
   * Writes the current entries; resolves once written (or once the failure was reported: the
   * entries are then still sent, they only would not survive a reload).
   * @returns {Promise<void>}
   */
  save() {
    const key = this.key;
    if (key === null) return this._chain;
    const binding = this.binding;
    const snapshot = this.entries.map((entry) => ({...entry}));
    const storage = this.storage;
    const write = async () => {
      try {
        if (snapshot.length === 0)
          await storage.removeItem(key);
        else
          await storage.setItem(key, JSON.stringify({binding, entries: snapshot}));
      } catch (error) {
        this._onStorageError(error);
      }
      if (this.key !== key) return;
      for (const {cid} of snapshot) {
        const meta = this.meta.get(cid);
        if (meta) meta.stored = true;
      }
    };
    this._chain = this._chain.then(write);
    return this._chain;
  }
}

/**
 * A stored outbox: `{binding, entries}`; a bare array (a version without bindings) has none.
 * @param {string | null | undefined} raw
 * @returns {{binding: string | null, entries: OutboxEntry[]}}
 */
function parseStored(raw) {
  let parsed = null;
  try {
    parsed = raw ? JSON.parse(raw) : null;
  } catch {
    // A corrupted write holds nothing to send.
  }
  if (Array.isArray(parsed)) return {binding: null, entries: parseEntries(parsed)};
  return {
    binding: typeof parsed?.binding === 'string' ? parsed.binding : null,
    entries: parseEntries(parsed?.entries),
  };
}

/**
 * The valid entries of a stored outbox (anything else, from another version or a corrupted
 * write, is skipped rather than sent).
 * @param {unknown} parsed
 * @returns {OutboxEntry[]}
 */
function parseEntries(parsed) {
  if (!Array.isArray(parsed)) return [];
  /** @type {OutboxEntry[]} */
  const out = [];
  const seen = new Set();
  for (const e of parsed) {
    if (!e || typeof e.cid !== 'string' || seen.has(e.cid) || !Number.isSafeInteger(e.conv) ||
        typeof e.body !== 'string' || typeof e.kind !== 'string') {
      continue;
    }
    seen.add(e.cid);
    /** @type {OutboxEntry} */
    const entry = {
      cid: e.cid,
      conv: e.conv,
      kind: e.kind,
      body: e.body,
      created_ms: Number.isFinite(e.created_ms) ? e.created_ms : 0,
      state: e.state === 'failed' ? 'failed' : 'pending',
    };
    if (entry.state === 'failed' && e.error && typeof e.error.code === 'string') {
      entry.error = {code: e.error.code, message: String(e.error.message ?? '')};
    }
    // A send with files or mentions must go out with them after a reload too.
    if (Array.isArray(e.attachments) &&
        e.attachments.every((/** @type {unknown} */ id) => typeof id === 'string')) {
      entry.attachments = e.attachments;
    }
    if (Array.isArray(e.mentions) && e.mentions.every(Number.isSafeInteger)) {
      entry.mentions = e.mentions;
    }
    // A reply stays one after a reload.
    if (Number.isSafeInteger(e.reply_to) && e.reply_to > 0) {
      entry.reply_to = e.reply_to;
      if (e.thread === true) entry.thread = true;
    }
    // A change to a message goes out as the same change after a reload.
    if (['edit', 'delete', 'react', 'pin', 'unpin'].includes(e.change) &&
        Number.isSafeInteger(e.target)) {
      entry.change = e.change;
      entry.target = e.target;
      if (typeof e.on === 'boolean') entry.on = e.on;
    }
    out.push(entry);
  }
  return out;
}
