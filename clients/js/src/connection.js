// One WebSocket to the chat service (`/ws`), reopened after every loss until stopped. It knows
// the transport and the protocol's connection-level frames, nothing of chat state:
//
// - an attempt first runs the client's `prepare` (an HTTP call that checks the token and reads
//   the conversation list; a browser's WebSocket hides why an upgrade was refused), then opens
//   the socket. The connection is `ready` once the server's `hello` arrives: requests go out
//   only then (the server would queue them, but a client that waits knows where it stands).
// - losses: a close from the server, no `hello` within `helloTimeoutMs`, or no frame for a
//   ping interval plus `pongTimeoutMs` (a `ping` goes out every `pingIntervalMs`, which is
//   also the presence heartbeat: the server closes connections silent for
//   `--presence-timeout`). When to try again is the ReconnectPolicy's (backoff.js); the server's
//   `reconnect` hint feeds it, and stops requests on the draining connection.
// - attempts are numbered: an asynchronous step (prepare, the import of `ws`) that finds the
//   number moved was overtaken by a stop or a newer attempt, and gives up.
// - transports (PROTOCOL.md, "Chat transports"): with `transport: 'auto'` each connection first
//   tries WebSocket; when its upgrade fails (closed 1006 before hello) or no `hello` comes
//   within `fallbackMs`, the same attempt goes on at once over SSE + POST (http_transport.js),
//   and when the stream delivers nothing within `fallbackMs` either (a proxy that buffers it),
//   over long polling. The next connection (after any loss) starts with WebSocket again, so a
//   network that lets it through again gets it back. 'websocket', 'sse' and 'poll' use one
//   transport only.

/** @typedef {import('./types.js').ConnectionState} ConnectionState */
/** @typedef {import('./types.js').StateChange} StateChange */
/** @typedef {import('./backoff.js').ReconnectPolicy} ReconnectPolicy */
/** @typedef {import('./types.js').Transport} Transport */

import {HttpSocket} from './http_transport.js';

/** The order `auto` tries them in. @type {Transport[]} */
const LADDER = ['websocket', 'sse', 'poll'];

const textDecoder = new TextDecoder();

/**
 * @typedef {object} ConnectionOptions
 * @property {any} WebSocket the class, or undefined: the global one, else the `ws` package
 * @property {ReconnectPolicy} policy
 * @property {number} pingIntervalMs
 * @property {number} pongTimeoutMs
 * @property {number} helloTimeoutMs
 * @property {() => Promise<string | null>} prepare before each attempt: the URL to open, or
 *   null to stop (no usable token); throws to try again later
 * @property {(change: StateChange) => void} onState
 * @property {(hello: any) => void} onHello the connection is ready
 * @property {(event: any) => void} onEvent every other frame, parsed
 * @property {() => void} onDown the connection in use is gone, whatever the reason
 * @property {(code: number, reason: string) => boolean} onClose the server closed it: return
 *   false to stop reconnecting
 * @property {(afterMs: number) => void} onHint the server's `reconnect` event
 * @property {(code: string, message: string) => void} onError
 * @property {'auto' | Transport} [transport] default 'auto'
 * @property {number} [fallbackMs] auto: how long a transport may take to bring `hello` (the
 *   stream: its first event) before the next one is tried (default 4000)
 * @property {string} [baseUrl] the HTTP root, for SSE and polling
 * @property {(input: string, init?: any) => Promise<any>} [fetch] for SSE and polling
 * @property {() => string | null} [token] the access token now, for SSE and polling
 */

export class Connection {
  /** @param {ConnectionOptions} options */
  constructor(options) {
    this._options = options;
    this._WebSocket = options.WebSocket;
    this._policy = options.policy;
    /** @type {ConnectionState} */
    this.state = 'stopped';
    /** Sockets opened so far; the number of the current one. */
    this.number = 0;
    /** Requests may go out: `hello` received, no `reconnect` hint since. */
    this.ready = false;
    this._running = false;
    this._attemptId = 0;
    /** @type {any} */
    this._socket = null;
    this._lastFrameAt = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._retryTimer = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._helloTimer = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this._pingTimer = null;
    this._mode = options.transport ?? 'auto';
    /** @type {Transport} the transport of the current (or next) socket */
    this.transport = this._mode === 'auto' ? 'websocket' : this._mode;
  }

  /** Connects now and keeps reconnecting until `stop`. */
  start() {
    if (this._running) return;
    this._running = true;
    this._policy.reset();
    this._attemptNow();
  }

  /** Closes the socket and stops reconnecting. @param {string} reason for the `state` event */
  stop(reason) {
    this._running = false;
    ++this._attemptId;
    this._clearRetry();
    this._drop(1000, 'client closed');
    this._setState('stopped', {reason});
  }

  /** Drops the socket (if any) and tries again at once. */
  reconnectNow() {
    if (!this._running) return;
    this._drop(4001, 'client reconnecting');
    this._attemptNow();
  }

  /** Gives up on a socket that looks broken; reconnects after the backoff. @param {string} why */
  replace(why) {
    if (!this._socket) return;
    this._drop(4000, why);
    this._scheduleRetry(undefined, why);
  }

  /** Sends a request; false (nothing sent) unless ready. @param {Record<string, unknown>} frame */
  send(frame) {
    const socket = this._socket;
    if (!this.ready || !socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  _attemptNow() {
    this._clearRetry();
    this._attempt();
  }

  _clearRetry() {
    if (this._retryTimer) clearTimeout(this._retryTimer);
    this._retryTimer = null;
  }

  async _attempt() {
    const attempt = ++this._attemptId;
    if (!this._running) return;
    // Every connection starts with WebSocket: a network that refused it may take it now.
    this.transport = this._mode === 'auto' ? 'websocket' : this._mode;
    this._setState('connecting');
    /** @type {string | null} */
    let url;
    try {
      url = await this._options.prepare();
    } catch (error) {
      if (attempt === this._attemptId) this._scheduleRetry(undefined, errorText(error));
      return;
    }
    if (attempt !== this._attemptId) return;
    if (url === null) return this.stop('no usable token');
    this._open(url, attempt);
  }

  /** Opens a socket of `this.transport`. @param {string} url @param {number} attempt */
  async _open(url, attempt) {
    /** @type {any} */
    let socket;
    if (this.transport === 'websocket') {
      let WebSocketClass;
      try {
        WebSocketClass = await this._webSocketClass();
      } catch (error) {
        if (this._mode === 'auto') return this._fallBack(url, attempt, errorText(error));
        this._options.onError('no_websocket', errorText(error));
        return this.stop('no WebSocket');
      }
      if (attempt !== this._attemptId) return;
      try {
        socket = new WebSocketClass(url);
      } catch (error) {
        return this._scheduleRetry(undefined, errorText(error));
      }
    } else {
      const {baseUrl, fetch, token} = this._options;
      if (!baseUrl || !fetch || !token) {
        this._options.onError('no_transport', `no baseUrl or fetch for ${this.transport}`);
        return this.stop(`no ${this.transport}`);
      }
      socket = new HttpSocket({kind: this.transport, baseUrl, fetch, token});
    }
    this._socket = socket;
    this.number += 1;
    this._lastFrameAt = Date.now();
    // An error is always followed by a close. The handler stays set for good: the `ws` package
    // throws an error event that nobody listens to.
    socket.onerror = () => {};
    socket.onmessage = (/** @type {{data: any}} */ event) => {
      if (this._socket === socket) this._onFrame(event.data);
    };
    socket.onclose = (/** @type {{code: number, reason: string}} */ event) => {
      if (this._socket !== socket) return;
      // Refused before hello (a proxy that takes no upgrade, a stream it will not pass): the
      // next transport, at once. A close the server chose (a code of its own) is not that.
      if (!this.ready && event.code === 1006 && this._canFallBack()) {
        return this._fallBack(url, attempt, `${this.transport} failed`);
      }
      this._onClose(event.code, String(event.reason ?? ''));
    };
    if (this._canFallBack()) {
      const fallbackMs = this._options.fallbackMs ?? 4000;
      this._helloTimer = setTimeout(
          () => this._fallBack(url, attempt, `no hello over ${this.transport}`), fallbackMs);
    } else {
      this._helloTimer =
          setTimeout(() => this.replace('no hello from the server'), this._options.helloTimeoutMs);
    }
  }

  _canFallBack() {
    return this._mode === 'auto' && this.transport !== LADDER[LADDER.length - 1];
  }

  /**
   * Gives up on the current transport for this attempt and opens the next one.
   * @param {string} url @param {number} attempt @param {string} why
   */
  _fallBack(url, attempt, why) {
    if (attempt !== this._attemptId || !this._running) return;
    const next = LADDER[LADDER.indexOf(this.transport) + 1];
    this._drop(4000, why);
    this.transport = next;
    this._setState('connecting', {reason: why, transport: next});
    this._open(url, attempt);
  }

  async _webSocketClass() {
    if (this._WebSocket) return this._WebSocket;
    this._WebSocket = /** @type {any} */ (globalThis).WebSocket;
    if (this._WebSocket) return this._WebSocket;
    // Node before 22 has no global WebSocket: the `ws` package, if the app has it. The
    // specifier is a variable so that browser bundlers do not try to resolve it.
    const specifier = 'ws';
    try {
      const module = await import(specifier);
      this._WebSocket = module.WebSocket ?? module.default;
    } catch {
      // Reported below.
    }
    if (!this._WebSocket) {
      throw new Error('no WebSocket class: pass options.WebSocket (in Node: the ws package)');
    }
    return this._WebSocket;
  }

  /** @param {string | ArrayBuffer | Uint8Array} data */
  _onFrame(data) {
    this._lastFrameAt = Date.now();
    /** @type {any} */
    let event;
    try {
      event = JSON.parse(typeof data === 'string' ? data : textDecoder.decode(data));
    } catch {
      return this._options.onError('protocol', 'a frame from the server is not JSON');
    }
    if (event?.type === 'hello') return this._onHello(event);
    if (event?.type === 'reconnect') {
      // The node is draining: it handles nothing more on this connection and closes it with
      // 1012 after what it queued. Requests wait for the next connection.
      const afterMs = Number(event.after_ms) || 0;
      this._policy.hint(afterMs, Date.now());
      this.ready = false;
      return this._options.onHint(afterMs);
    }
    if (event?.type === 'pong') return undefined;
    return this._options.onEvent(event);
  }

  /** @param {any} hello */
  _onHello(hello) {
    if (this._helloTimer) clearTimeout(this._helloTimer);
    this._helloTimer = null;
    if (this.ready) {
      // A second hello on one socket: an HTTP transport that could not resume its session got
      // a new one. For the client, the old connection is gone and a new one is up.
      if (this._pingTimer) clearInterval(this._pingTimer);
      this._options.onDown();
    }
    this.ready = true;
    this._policy.connected(Date.now());
    this._pingTimer = setInterval(() => this._ping(), this._options.pingIntervalMs);
    this._setState('connected', {transport: this.transport});
    this._options.onHello(hello);
  }

  _ping() {
    const {pingIntervalMs, pongTimeoutMs} = this._options;
    if (Date.now() - this._lastFrameAt > pingIntervalMs + pongTimeoutMs) {
      return this.replace('no answer to ping');
    }
    this.send({type: 'ping'});
  }

  /** @param {number} code @param {string} reason */
  _onClose(code, reason) {
    this._drop();
    if (!this._options.onClose(code, reason)) {
      if (this._running) this.stop(reason);
      return;
    }
    this._scheduleRetry(code, reason);
  }

  /** @param {number | undefined} code @param {string} reason */
  _scheduleRetry(code, reason) {
    if (!this._running) return this._setState('stopped', {code, reason});
    const {delayMs} = this._policy.next({code, nowMs: Date.now()});
    this._setState('waiting', {retry_in_ms: delayMs, code, reason});
    this._clearRetry();
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      this._attempt();
    }, delayMs);
  }

  /**
   * Forgets the socket, closing it with `code` when given (not when the server closed it), and
   * tells the client. @param {number} [code] @param {string} [reason]
   */
  _drop(code, reason) {
    const socket = this._socket;
    this._socket = null;
    const wasUp = socket !== null;
    this.ready = false;
    if (this._helloTimer) clearTimeout(this._helloTimer);
    if (this._pingTimer) clearInterval(this._pingTimer);
    this._helloTimer = this._pingTimer = null;
    if (socket && code !== undefined) {
      socket.onmessage = null;
      socket.onclose = null;
      try {
        if (socket.readyState < 2) socket.close(code, reason);
      } catch {
        // Closing a socket that is still connecting throws in some implementations.
      }
    }
    if (wasUp) this._options.onDown();
  }

  /** @param {ConnectionState} state @param {Partial<StateChange>} [details] */
  _setState(state, details = {}) {
    const previous = this.state;
    if (previous === state && state !== 'waiting' && !details.transport) return;
    this.state = state;
    this._options.onState({...details, state, previous});
  }
}

/** @param {unknown} error */
function errorText(error) {
  return String(/** @type {any} */ (error)?.message ?? error);
}
