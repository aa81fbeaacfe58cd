// The chat over plain HTTP, for networks that refuse WebSocket upgrades (PROTOCOL.md,
// "SSE and long polling"): the server's events as Server-Sent Events on a streamed
// GET /sse (`sse`), or as answers to long polls, GET /sse/poll (`poll`: for proxies that buffer
// streams); the client's requests as POST /sse/send. Both are built on fetch (a browser's, or
// Node's), not EventSource: fetch sends the token as a header, and the stream's reconnect is
// ours to time.
//
// An HttpSocket looks like a WebSocket to connection.js (readyState, send, close, onopen,
// onmessage, onclose), so that everything above the socket (hello, pings, the outbox, sync)
// is the same on every transport:
// - open: the server named the session (the stream's `session` event, the first poll's answer);
// - message: one chat event's JSON, in order;
// - close: the server's `close` event (its code and reason, as a /ws close), or 1006 when the
//   session is lost (the stream and one resume failed, a poll or POST failed, the session is
//   gone). A dropped stream is resumed once at once with Last-Event-ID (the same session, no gap
//   and no duplicate); when the server answers with a new session instead, its `hello` follows
//   and connection.js treats it as a new connection.
// - requests go out one POST at a time, in order; those queued meanwhile go in the next POST,
//   one per line.

const textDecoder = new TextDecoder();

/**
 * @typedef {object} HttpSocketOptions
 * @property {'sse' | 'poll'} kind
 * @property {string} baseUrl the server's HTTP root
 * @property {(input: string, init?: any) => Promise<any>} fetch
 * @property {() => string | null} token the access token to send now
 * @property {number} [pollTimeoutMs] longest a poll may take (server's --sse-poll-timeout plus
 *   a margin; default 60000)
 */

export class HttpSocket {
  /** @param {HttpSocketOptions} options */
  constructor(options) {
    this._options = options;
    this.kind = options.kind;
    /** 0 connecting, 1 open (session known), 3 closed: the WebSocket's numbers. */
    this.readyState = 0;
    /** @type {string | null} */
    this.session = null;
    /** @type {string | null} the newest event's id (`<session>:<n>`) */
    this.lastEventId = null;
    this._after = 0;  // Polls: the newest event's number.
    /** @type {string[]} */
    this._queue = [];
    this._posting = false;
    this._abort = new AbortController();
    /** @type {(() => void) | null} */
    this.onopen = null;
    /** @type {((event: {data: string}) => void) | null} */
    this.onmessage = null;
    /** @type {((event: {code: number, reason: string}) => void) | null} */
    this.onclose = null;
    /** @type {(() => void) | null} */
    this.onerror = null;
    queueMicrotask(() => (this.kind === 'poll' ? this._pollLoop() : this._streamLoop()));
  }

  /** @param {string} text one request of the chat protocol */
  send(text) {
    if (this.readyState === 3) return;
    this._queue.push(text);
    this._pump();
  }

  /** Ends it from this side: no close event follows (as connection.js expects of a socket). */
  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this._abort.abort();
  }

  /** @param {string} path */
  _url(path) {
    return `${this._options.baseUrl}${path}`;
  }

  _headers() {
    const token = this._options.token();
    /** @type {Record<string, string>} */
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  /**
   * The server's session ended, or this side lost it. @param {number} code @param {string} reason
   */
  _finish(code, reason) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this._abort.abort();
    this.onclose?.({code, reason});
  }

  /** @param {string | null} session */
  _opened(session) {
    if (!session) return;
    this.session = session;
    if (this.readyState === 0) {
      this.readyState = 1;
      this.onopen?.();
    }
  }

  /** @param {string} id @param {string} data */
  _event(id, data) {
    if (this.readyState === 3) return;
    if (id) this.lastEventId = id;
    /** @type {any} */
    let parsed = null;
    try {
      parsed = JSON.parse(data);
    } catch {
      // Handed on as it is: connection.js reports what is not JSON.
    }
    if (parsed?.type === 'close') {
      return this._finish(Number(parsed.code) || 1006, String(parsed.reason ?? ''));
    }
    this.onmessage?.({data});
  }

  // --- SSE ----------------------------------------------------------------------------------

  async _streamLoop() {
    let resumes = 0;
    while (this.readyState !== 3) {
      const resuming = this.lastEventId !== null;
      const ok = await this._stream();
      if (this.readyState === 3) return;
      // A stream that delivered something may be resumed again later; one that failed at
      // once after a resume means the session is beyond reach.
      resumes = ok ? 0 : resumes + 1;
      if (!resuming && !ok) return this._finish(1006, 'stream refused');
      if (resumes > 1) return this._finish(1006, 'stream lost');
      await sleep(resumes === 0 ? 0 : 500);
    }
  }

  /** One GET /sse, read to its end; whether it delivered the session event. */
  async _stream() {
    /** @type {Record<string, string>} */
    const headers = {...this._headers(), Accept: 'text/event-stream'};
    if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
    let delivered = false;
    try {
      const response = await this._options.fetch(
          this._url('/sse'), {headers, cache: 'no-store', signal: this._abort.signal});
      if (!response.ok || !response.body) return false;
      const reader = response.body.getReader();
      let buffer = '';
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += textDecoder.decode(value, {stream: true}).replace(/\r\n?/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (this._block(block)) delivered = true;
          if (this.readyState === 3) return delivered;
        }
      }
    } catch {
      // A network error, or our own abort: the caller decides.
    }
    return delivered;
  }

  /** One event block of the stream; whether it was the session event. @param {string} block */
  _block(block) {
    let event = 'message';
    let id = '';
    /** @type {string[]} */
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;  // A keep-alive.
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      if (field === 'id') id = value;
      if (field === 'data') data.push(value);
    }
    if (data.length === 0) return false;
    if (event === 'session') {
      /** @type {any} */
      let parsed = {};
      try {
        parsed = JSON.parse(data.join('\n'));
      } catch {
        return false;
      }
      this._opened(typeof parsed.session === 'string' ? parsed.session : null);
      return true;
    }
    this._event(id, data.join('\n'));
    return false;
  }

  // --- Long polling -------------------------------------------------------------------------

  async _pollLoop() {
    let failures = 0;
    while (this.readyState !== 3) {
      const query = this.session === null ?
          '' :
          `?session=${encodeURIComponent(this.session)}&after=${this._after}`;
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(), this._options.pollTimeoutMs ?? 60000);
      const stop = () => timeout.abort();
      this._abort.signal.addEventListener('abort', stop);
      try {
        const response = await this._options.fetch(
            this._url(`/sse/poll${query}`),
            {headers: this._headers(), cache: 'no-store', signal: timeout.signal});
        if (response.status === 404 || response.status === 410 || response.status === 421 ||
            response.status === 401 || response.status === 403) {
          return this._finish(1006, `poll answered ${response.status}`);
        }
        if (!response.ok) throw new Error(`poll answered ${response.status}`);
        /** @type {any} */
        const answer = await response.json();
        failures = 0;
        this._opened(typeof answer?.session === 'string' ? answer.session : null);
        for (const event of answer?.events ?? []) {
          if (this.readyState === 3) return;
          this._after = Math.max(this._after, Number(event.id) || 0);
          this._event(`${this.session}:${event.id}`, JSON.stringify(event.data));
        }
      } catch {
        if (this.readyState === 3) return;
        // One failure may be a proxy's hiccup: the same poll again (the events it would have
        // answered are still there); two in a row lose the session.
        if (++failures > 1 || this.session === null) return this._finish(1006, 'poll failed');
        await sleep(500);
      } finally {
        clearTimeout(timer);
        this._abort.signal.removeEventListener('abort', stop);
      }
    }
  }

  // --- Requests -----------------------------------------------------------------------------

  async _pump() {
    if (this._posting || this.session === null || this._queue.length === 0) return;
    this._posting = true;
    const body = this._queue.join('\n');
    this._queue = [];
    try {
      const response = await this._options.fetch(
          this._url(`/sse/send?session=${encodeURIComponent(this.session)}`), {
            method: 'POST',
            headers: {...this._headers(), 'Content-Type': 'application/x-ndjson'},
            body,
            signal: this._abort.signal,
          });
      if (response.status !== 202) {
        return this._finish(1006, `requests answered ${response.status}`);
      }
    } catch {
      // Lost on the way: what it carried is resent as after any lost connection (the outbox by
      // cid, a sync from the last seq).
      return this._finish(1006, 'requests lost');
    } finally {
      this._posting = false;
    }
    this._pump();
  }
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
