// A minimal typed event emitter, the same in browsers and Node (Node's EventEmitter throws on an
// unheard 'error'; EventTarget cannot be typed per event in JSDoc).

/** @template {Record<string, any>} Events */
export class Emitter {
  constructor() {
    /** @type {Map<keyof Events, Set<(event: any) => void>>} */
    this._listeners = new Map();
  }

  /**
   * Calls `listener` for every `name` event; returns a function that removes it.
   * @template {keyof Events} K
   * @param {K} name
   * @param {(event: Events[K]) => void} listener
   * @returns {() => void}
   */
  on(name, listener) {
    let set = this._listeners.get(name);
    if (!set) this._listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => this.off(name, listener);
  }

  /**
   * @template {keyof Events} K
   * @param {K} name
   * @param {(event: Events[K]) => void} listener
   */
  off(name, listener) {
    this._listeners.get(name)?.delete(listener);
  }

  /**
   * Calls `listener` for the next `name` event only.
   * @template {keyof Events} K
   * @param {K} name
   * @param {(event: Events[K]) => void} listener
   * @returns {() => void}
   */
  once(name, listener) {
    const off = this.on(name, (event) => {
      off();
      listener(event);
    });
    return off;
  }

  /**
   * A listener that throws must not leave the SDK's state half-updated (it emits from inside
   * its message handling), so the exception is rethrown from a fresh task: it still reaches
   * the console or the process's uncaught-exception handler.
   * @template {keyof Events} K
   * @param {K} name
   * @param {Events[K]} event
   */
  emit(name, event) {
    const set = this._listeners.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch (error) {
        setTimeout(() => {
          throw error;
        }, 0);
      }
    }
  }
}
