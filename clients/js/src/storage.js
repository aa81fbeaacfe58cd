// Where the SDK keeps what must survive a page reload: the session (token) and each user's
// outbox. Any object with localStorage's three methods will do, synchronous or returning
// promises (an IndexedDB wrapper, React Native's AsyncStorage):
//
//   getItem(key) → string | null      setItem(key, value)      removeItem(key)
//
// Values are JSON strings written whole; the SDK serialises its writes, so an asynchronous
// storage sees them in order.

/** @template T @typedef {T | Promise<T>} MaybePromise */

/**
 * @typedef {object} StorageLike
 * @property {(key: string) => MaybePromise<string | null | undefined>} getItem
 * @property {(key: string, value: string) => void | Promise<void>} setItem
 * @property {(key: string) => void | Promise<void>} removeItem
 */

/** Keeps everything in memory: survives a new client instance, not a new process. */
export class MemoryStorage {
  constructor() {
    /** @type {Map<string, string>} */
    this.map = new Map();
  }

  /** @param {string} key */
  getItem(key) {
    return this.map.get(key) ?? null;
  }

  /** @param {string} key @param {string} value */
  setItem(key, value) {
    this.map.set(key, String(value));
  }

  /** @param {string} key */
  removeItem(key) {
    this.map.delete(key);
  }
}

/**
 * The browser's localStorage where there is one (and it works: Safari's private mode and
 * sandboxed frames throw on access), else a MemoryStorage.
 * @returns {StorageLike}
 */
export function defaultStorage() {
  try {
    const local = /** @type {any} */ (globalThis).localStorage;
    if (local) {
      const probe = '__ringcast_probe__';
      local.setItem(probe, '1');
      local.removeItem(probe);
      return local;
    }
  } catch {
    // Fall through: no usable localStorage.
  }
  return new MemoryStorage();
}
