// Calls' signalling (PROTOCOL.md, "Calls: signalling"): the layer of the SDK's calls that runs
// where there is no RTCPeerConnection (Node, the tests): call requests with a cid matched to
// their `call_ack` or `error`, the call events routed to their Call (calls.js) by id, the rings
// a new connection's `hello` lists, and `call_rejoin` after the SDK reconnected.

import {Call} from './calls.js';
import {RingcastError} from './errors.js';

/** @typedef {import('./types.js').CallKind} CallKind */
/** @typedef {import('./types.js').CallAck} CallAck */
/** @typedef {import('./types.js').CallOptions} CallOptions */
/** @typedef {import('./types.js').IceServers} IceServers */

// The call events of PROTOCOL.md: routed to their Call, and raised raw as `call_event`.
export const CALL_EVENTS = new Set([
  'call_ring', 'call_ringing', 'call_stop_ringing', 'call_joined', 'call_declined', 'call_left',
  'call_ended', 'call_signal'
]);

/**
 * What the SDK needs of the client: its connection, its device, the ICE servers.
 * @typedef {object} CallHost
 * @property {(frame: Record<string, unknown>) => boolean} send false when not connected
 * @property {() => number | null} device this connection's device id (`hello`'s)
 * @property {() => number | null} user
 * @property {() => Promise<IceServers>} iceServers
 * @property {(name: string, event: any) => void} emit on the client
 * @property {() => string} newCid
 */

export class CallSignalling {
  /**
   * @param {CallHost} host
   * @param {{requestTimeoutMs: number, calls?: CallOptions}} options
   */
  constructor(host, options) {
    this._host = host;
    this._timeoutMs = options.requestTimeoutMs;
    /** @type {CallOptions} */
    this.options = options.calls ?? {};
    /**
     * @type {Map<string, {resolve: (ack: CallAck) => void, reject: (e: RingcastError) => void,
     *     timer: ReturnType<typeof setTimeout>}>}
     */
    this._waiters = new Map();
    /** @type {Map<string, Call>} the calls this device rings for or is in */
    this.calls = new Map();
    // Events of a call whose invite is not acked yet (its id unknown until then).
    /** @type {any[]} */
    this._early = [];
    this._inviting = 0;
    /** @type {number | null} the device of the previous connection */
    this._lastDevice = null;
  }

  /**
   * Sends call request `frame` with a fresh cid; resolves with its `call_ack`, rejects with
   * the server's error (code, and `call` for a `busy` that names one), or `disconnected`.
   * @param {Record<string, unknown>} frame
   * @returns {Promise<CallAck>}
   */
  request(frame) {
    const cid = this._host.newCid();
    return new Promise((resolve, reject) => {
      if (!this._host.send({...frame, cid})) {
        reject(new RingcastError('not connected', {code: 'disconnected'}));
        return;
      }
      const timer = setTimeout(() => {
        this._waiters.delete(cid);
        reject(new RingcastError(`no answer to ${frame.type}`, {code: 'timeout', cid}));
      }, this._timeoutMs);
      this._waiters.set(cid, {resolve, reject, timer});
    });
  }

  /**
   * An error frame: true when it answered a call request.
   * @param {{code: string, message: string, cid?: string, call?: string}} error
   */
  takeError(error) {
    const waiter = error.cid === undefined ? undefined : this._waiters.get(String(error.cid));
    if (!waiter) return false;
    this._waiters.delete(String(error.cid));
    clearTimeout(waiter.timer);
    const failure = new RingcastError(error.message, {code: error.code, cid: String(error.cid)});
    if (error.call !== undefined) /** @type {any} */
      (failure).call = error.call;
    waiter.reject(failure);
    return true;
  }

  /** A `call_ack` or a call event from the server. @param {any} frame */
  onFrame(frame) {
    if (frame.type === 'call_ack') {
      const waiter = this._waiters.get(String(frame.cid));
      if (!waiter) return;
      this._waiters.delete(String(frame.cid));
      clearTimeout(waiter.timer);
      waiter.resolve(frame);
      return;
    }
    this._host.emit('call_event', frame);
    const call = this.calls.get(frame.call);
    if (frame.type === 'call_ring') {
      if (call) return;
      const ringing = new Call(this, {
        id: frame.call,
        conv: frame.conv,
        kind: frame.call_kind,
        group: frame.group === true,
        caller: frame.from,
        outgoing: false,
      });
      this.calls.set(ringing.id, ringing);
      this._host.emit('call', ringing);
      return;
    }
    if (call) {
      call._onFrame(frame);
    } else if (this._inviting > 0) {
      this._early.push(frame);
    }
  }

  /**
   * Starts a call in `conv` from this device (`call_invite`).
   * @param {number} conv
   * @param {{kind?: CallKind, stream?: MediaStream | null} & CallOptions} [options]
   * @returns {Promise<Call>}
   */
  async start(conv, options = {}) {
    const kind = options.kind ?? 'audio';
    // Fetched first: the callee's answer may come at once, and its offer needs them.
    const ice = await this.fetchIceServers();
    this._inviting += 1;
    let ack;
    try {
      ack = await this.request({type: 'call_invite', conv, call_kind: kind});
    } finally {
      this._inviting -= 1;
    }
    const call = new Call(this, {
      id: /** @type {string} */ (ack.call),
      conv,
      kind,
      group: false,
      caller: this._host.user() ?? 0,
      outgoing: true,
      options,
    });
    call._ice = ice;
    call.localStream = options.stream ?? null;
    call.joined = true;
    this.calls.set(call.id, call);
    const early = this._early.filter((f) => f.call === call.id);
    this._early = this._inviting > 0 ? this._early.filter((f) => f.call !== call.id) : [];
    // After the app has the Call and its listeners on it (a macrotask, as a frame would be).
    if (early.length > 0) setTimeout(() => early.forEach((frame) => call._onFrame(frame)), 0);
    return call;
  }

  /**
   * Joins a group call that is going on without ringing this device (`call_accept`: the
   * `busy` error of an invite in that conversation names it).
   * @param {string} id @param {number} conv
   * @param {{kind?: CallKind, stream?: MediaStream | null} & CallOptions} [options]
   */
  async join(id, conv, options = {}) {
    let call = this.calls.get(id);
    if (!call) {
      call = new Call(this, {
        id,
        conv,
        kind: options.kind ?? 'audio',
        group: true,
        caller: 0,
        outgoing: false,
        options,
      });
      this.calls.set(id, call);
    }
    await call.accept(options.stream ?? null);
    return call;
  }

  /** @returns {Promise<IceServers>} */
  async fetchIceServers() {
    try {
      return await this._host.iceServers();
    } catch {
      // Host candidates only: a call between peers that reach each other still connects.
      return {ice_servers: [], expires_at: null};
    }
  }

  /** The call this device is in (not one that only rings). */
  get current() {
    for (const call of this.calls.values())
      if (call.joined && call.state !== 'ended') return call;
    return null;
  }

  /**
   * A new connection is ready (`hello`): a call this device was in goes on from the new
   * device (`call_rejoin`, within the server's `--call-rejoin-grace`); the calls ringing for
   * the user now (`ringing`) ring here, and one that rang before and is no longer listed
   * stopped meanwhile.
   * @param {any[]} ringing hello's `call_ring` events
   */
  onHello(ringing) {
    const device = this._host.device();
    const previous = this._lastDevice;
    this._lastDevice = device;
    const listed = new Set(ringing.map((ring) => ring.call));
    for (const call of [...this.calls.values()]) {
      if (call.state === 'ended') continue;
      if (call.joined) {
        if (previous !== null && previous !== device) call._rejoin();
      } else if (!call.outgoing && !listed.has(call.id)) {
        call._end(null, 'stopped_ringing');
      }
    }
    for (const ring of ringing) this.onFrame(ring);
  }

  /** Another user (or none) from now on: this user's calls end here, unsignalled. */
  reset() {
    for (const call of [...this.calls.values()]) call._end(null, 'lost');
    this._early = [];
    this._lastDevice = null;
  }

  /** @param {Call} call */
  _forget(call) {
    this.calls.delete(call.id);
  }

  /** @param {Record<string, unknown>} frame */
  _send(frame) {
    return this._host.send(frame);
  }
}
