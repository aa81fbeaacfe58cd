// Audio and video calls (PROTOCOL.md, "Calls: signalling" and "Calls: ICE servers"): WebRTC
// between the clients, signalling on the chat connection (call_signalling.js, which runs where
// there is no RTCPeerConnection too).
//
// Call: one call as this device sees it, and its media: a mesh of RTCPeerConnections, one per
// other device in the call. Who offers follows the protocol: a device already in the call
//   offers to each device that joins (`call_joined`); the joiner answers. The offering side of a
//   peer also does the ICE restarts (a network change), so two offers never cross.
//
// The app owns the MediaStream it passes in: the SDK adds its tracks to each peer connection and
// never stops them unless asked (`hangUp({stopTracks: true})`). Mute and camera off are the
// app's: `track.enabled = false` on its own tracks.

import {Emitter} from './emitter.js';
import {entryOf} from './entries.js';
import {RingcastError} from './errors.js';

/** @typedef {import('./call_signalling.js').CallSignalling} CallSignalling */
/** @typedef {import('./types.js').CallKind} CallKind */
/** @typedef {import('./types.js').CallRecord} CallRecord */
/** @typedef {import('./types.js').CallEvents} CallEvents */
/** @typedef {import('./types.js').CallState} CallState */
/** @typedef {import('./types.js').CallOptions} CallOptions */
/** @typedef {import('./types.js').IceServers} IceServers */

/**
 * The body of a message of kind `call` (PROTOCOL.md, "Records"), parsed; null for any other
 * message or a body that is not such an object.
 * @param {import('./types.js').Message} message
 * @returns {CallRecord | null}
 */
export function callEntry(message) {
  const entry = entryOf(message, 'call', 'outcome');
  return entry === null ? null : {participants: [], duration_ms: 0, ...entry};
}

/** "0:07", "12:04", "1:02:03": a call's duration. @param {number} ms */
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/**
 * One other device of the call and the peer connection to it.
 * @typedef {object} Peer
 * @property {number} user
 * @property {number} device
 * @property {RTCPeerConnection} pc
 * @property {boolean} offerer this side sends the offers (it was in the call first)
 * @property {MediaStream | null} stream what it sends
 * @property {RTCIceCandidateInit[]} pending candidates that came before its description
 * @property {ReturnType<typeof setTimeout> | null} restartTimer
 * @property {number} restarts ICE restarts done in a row
 */

/** @extends {Emitter<CallEvents>} */
export class Call extends Emitter {
  /**
   * @param {CallSignalling} signalling
   * @param {{id: string, conv: number, kind: CallKind, group: boolean, caller: number,
   *          outgoing: boolean, options?: CallOptions}} init
   */
  constructor(signalling, init) {
    super();
    this._signalling = signalling;
    /** @type {string} the server's id; only ever echoed */
    this.id = init.id;
    this.conv = init.conv;
    /** @type {CallKind} */
    this.kind = init.kind;
    this.group = init.group;
    /** @type {number} the user who called (0 when unknown: a group call joined late) */
    this.caller = init.caller;
    /** @type {boolean} started on this device */
    this.outgoing = init.outgoing;
    /** @type {CallState} */
    this.state = 'ringing';
    /** @type {string | null} the server's outcome once ended (null: not known here) */
    this.outcome = null;
    /** @type {number} from the answer to the end, as the server counted it where it said */
    this.durationMs = 0;
    /** @type {number | null} when this device saw the call answered (ms) */
    this.answeredAt = null;
    /** @type {boolean} this device is in the call (the caller's from its invite) */
    this.joined = false;
    /** @type {Array<{user: number, device: number}>} in the call when this device joined */
    this.participants = [];
    /** @type {MediaStream | null} the app's media, sent to every peer */
    this.localStream = null;
    /** @type {Map<string, Peer>} by `user:device` */
    this.peers = new Map();
    /** @type {IceServers | null} */
    this._ice = null;
    const defaults = signalling.options;
    /** @type {CallOptions} */
    this._options = {...defaults, ...init.options};
    /** @type {Promise<void>} signals handled one at a time, in order */
    this._chain = Promise.resolve();
    /** @type {((value?: unknown) => void) | null} */
    this._endedWaiter = null;
  }

  /**
   * Answers a ringing call with `stream` (the app's getUserMedia; null: receive only). The
   * other devices of the user stop ringing; the devices in the call offer to this one.
   * @param {MediaStream | null} [stream]
   */
  async accept(stream = null) {
    if (this.state !== 'ringing' || this.outgoing) {
      throw new RingcastError('not a ringing call', {code: 'bad_state'});
    }
    this.localStream = stream;
    this._setState('connecting');
    this._ice = await this._signalling.fetchIceServers();
    // Joined before the answer: the first offer may come right behind the ack.
    this.joined = true;
    try {
      const ack = await this._signalling.request({type: 'call_accept', call: this.id});
      this.participants = ack.participants ?? [];
    } catch (error) {
      this.joined = false;
      this._end(null, 'failed');
      throw error;
    }
    this.answeredAt ??= Date.now();
  }

  /** Declines a ringing call; this user's other devices stop ringing too. */
  async decline() {
    if (this.state === 'ended') return;
    const request = this._signalling.request({type: 'call_decline', call: this.id});
    this._end(null, 'declined');
    await request.catch(notFoundIsDone);
  }

  /** The caller, before anyone answered. */
  async cancel() {
    if (this.state === 'ended') return;
    this._closePeers();
    const ack =
        await this._signalling.request({type: 'call_cancel', call: this.id}).catch(notFoundIsDone);
    await this._endedByServer(ack, 'cancelled');
  }

  /**
   * Leaves the call (a ringing incoming call: declines it; an outgoing one not answered yet:
   * cancels it). The peer connections close at once; the app's tracks are stopped only with
   * `stopTracks`.
   * @param {{stopTracks?: boolean}} [options]
   */
  async hangUp(options = {}) {
    if (options.stopTracks) {
      for (const track of this.localStream?.getTracks() ?? []) track.stop();
    }
    if (this.state === 'ended') return;
    if (!this.joined) return this.decline();
    this._closePeers();
    const ack =
        await this._signalling.request({type: 'call_hangup', call: this.id}).catch(notFoundIsDone);
    await this._endedByServer(ack, 'left');
  }

  /**
   * The ack of a hang-up or a cancel says whether the call is over (`ended`): then its
   * `call_ended` comes right behind it, with the outcome; otherwise (a group call that goes on,
   * or no ack: the call was over already) it ends here with `reason`.
   * @param {any} ack @param {import('./types.js').CallEndReason} reason
   */
  async _endedByServer(ack, reason) {
    if (this.state === 'ended') return;
    if (ack?.ended !== true) return this._end(null, reason);
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 5000);
      this._endedWaiter = () => {
        clearTimeout(timer);
        resolve(undefined);
      };
    });
    if (/** @type {CallState} */ (this.state) !== 'ended') this._end(null, reason);
  }

  /** The remote streams, one per other device that sends media. */
  get streams() {
    return [...this.peers.values()]
        .filter((p) => p.stream)
        .map(
            (p) =>
                ({user: p.user, device: p.device, stream: /** @type {MediaStream} */ (p.stream)}));
  }

  /** @param {any} frame */
  _onFrame(frame) {
    if (this.state === 'ended') return;
    switch (frame.type) {
      case 'call_ringing':
        return this.emit('ringing', {user: frame.user});
      case 'call_stop_ringing':
        if (!this.joined) this._end(null, 'stopped_ringing', frame.reason ?? null);
        return;
      case 'call_joined':
        return this._onJoined(frame.user, frame.device);
      case 'call_declined':
        return this.emit('declined', {user: frame.user});
      case 'call_left':
        this._closePeer(frame.user, frame.device);
        return this.emit('left', {user: frame.user, device: frame.device});
      case 'call_ended':
        this.durationMs = frame.duration_ms ?? 0;
        return this._end(frame.outcome ?? null, 'ended');
      case 'call_signal':
        this._chain = this._chain.then(() => this._onSignal(frame)).catch((error) => {
          this.emit('error', {code: 'webrtc', message: String(error?.message ?? error)});
        });
        return;
      default:
        return undefined;
    }
  }

  /** @param {number} user @param {number} device */
  _onJoined(user, device) {
    if (device === this._signalling._host.device()) return;
    this.answeredAt ??= Date.now();
    if (this.state === 'ringing') this._setState('connecting');
    this.emit('joined', {user, device});
    if (!this.joined) return;
    // A device already in the call offers to the one that joins (PROTOCOL.md, "Who offers").
    this._closePeer(user, device);
    const peer = this._peer(user, device, true);
    if (!peer) return;
    this._chain = this._chain.then(() => this._offer(peer, false)).catch((error) => {
      this.emit('error', {code: 'webrtc', message: String(error?.message ?? error)});
    });
  }

  /** @param {any} frame */
  async _onSignal(frame) {
    if (this.state === 'ended') return;
    const {user, device} = frame.from;
    const key = `${user}:${device}`;
    if (frame.sdp) {
      /** @type {RTCSessionDescriptionInit} */
      const description = frame.sdp;
      if (description.type === 'offer') {
        const peer = this.peers.get(key) ?? this._peer(user, device, false);
        if (!peer) return;
        await peer.pc.setRemoteDescription(description);
        await this._flushCandidates(peer);
        const answer = await peer.pc.createAnswer();
        await peer.pc.setLocalDescription(answer);
        const local = peer.pc.localDescription ?? answer;
        this._signal(peer, {sdp: {type: local.type, sdp: local.sdp}});
      } else if (description.type === 'answer') {
        const peer = this.peers.get(key);
        if (!peer || peer.pc.signalingState !== 'have-local-offer') return;
        await peer.pc.setRemoteDescription(description);
        await this._flushCandidates(peer);
      }
    } else if (frame.candidate) {
      const peer = this.peers.get(key);
      if (!peer) return;
      if (peer.pc.remoteDescription) {
        await peer.pc.addIceCandidate(frame.candidate);
      } else {
        peer.pending.push(frame.candidate);
      }
    }
  }

  /** @param {Peer} peer */
  async _flushCandidates(peer) {
    const pending = peer.pending.splice(0);
    for (const candidate of pending) await peer.pc.addIceCandidate(candidate);
  }

  /** @param {Peer} peer @param {boolean} iceRestart */
  async _offer(peer, iceRestart) {
    if (this.state === 'ended' || this.peers.get(`${peer.user}:${peer.device}`) !== peer) return;
    const offer = await peer.pc.createOffer(iceRestart ? {iceRestart: true} : undefined);
    await peer.pc.setLocalDescription(offer);
    const local = peer.pc.localDescription ?? offer;
    this._signal(peer, {sdp: {type: local.type, sdp: local.sdp}});
  }

  /** @param {Peer} peer @param {Record<string, unknown>} payload */
  _signal(peer, payload) {
    // Lost while the connection is down: an ICE restart (or the rejoin) negotiates again. The
    // server relays only a request with a cid (its ack is of no use here).
    this._signalling
        .request({
          type: 'call_signal',
          call: this.id,
          to: {user: peer.user, device: peer.device},
          ...payload
        })
        .catch((/** @type {RingcastError} */ error) => {
          if (error.code === 'disconnected' || this.state === 'ended') return;
          this.emit('error', {code: error.code, message: error.message});
        });
  }

  _rtcConfig() {
    /** @type {RTCConfiguration} */
    const config = {iceServers: this._ice?.ice_servers ?? []};
    if (this._options.iceTransportPolicy)
      config.iceTransportPolicy = this._options.iceTransportPolicy;
    return config;
  }

  /**
   * The peer connection to `user`'s `device`, with the app's tracks on it.
   * @param {number} user @param {number} device @param {boolean} offerer
   * @returns {Peer | null} null where there is no RTCPeerConnection (signalling only)
   */
  _peer(user, device, offerer) {
    const RTC = this._options.RTCPeerConnection ?? globalThis.RTCPeerConnection;
    if (!RTC) return null;
    /** @type {RTCPeerConnection} */
    const pc = new RTC(this._rtcConfig());
    /** @type {Peer} */
    const peer =
        {user, device, pc, offerer, stream: null, pending: [], restartTimer: null, restarts: 0};
    this.peers.set(`${user}:${device}`, peer);
    const stream = this.localStream;
    const kinds = new Set(stream?.getTracks().map((t) => t.kind) ?? []);
    if (stream)
      for (const track of stream.getTracks()) pc.addTrack(track, stream);
    // What the app does not send (no camera, or none allowed) it may still receive.
    if (offerer) {
      for (const kind of this.kind === 'video' ? ['audio', 'video'] : ['audio']) {
        if (!kinds.has(kind)) pc.addTransceiver(kind, {direction: 'recvonly'});
      }
    }
    pc.onicecandidate = (event) => {
      if (event.candidate) this._signal(peer, {candidate: event.candidate.toJSON()});
    };
    pc.ontrack = (event) => {
      const remote = event.streams[0] ?? peer.stream ?? new MediaStream();
      if (!event.streams[0]) remote.addTrack(event.track);
      peer.stream = remote;
      this.emit('stream', {user, device, stream: remote});
    };
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      this.emit('peer_state', {user, device, state});
      if (state === 'connected') {
        peer.restarts = 0;
        if (this.state === 'connecting' || this.state === 'ringing') this._setState('connected');
      }
    };
    pc.oniceconnectionstatechange = () => this._watchIce(peer);
    return peer;
  }

  /**
   * A network change shows as ICE `disconnected` (for a while) or `failed`: the offering side
   * fetches fresh ICE servers (the TURN credential may have expired) and offers with
   * `iceRestart`; the answering side waits for that offer.
   * @param {Peer} peer
   */
  _watchIce(peer) {
    const state = peer.pc.iceConnectionState;
    if (state === 'connected' || state === 'completed' || state === 'closed') {
      if (peer.restartTimer) clearTimeout(peer.restartTimer);
      peer.restartTimer = null;
      return;
    }
    if (!peer.offerer || (state !== 'disconnected' && state !== 'failed')) return;
    if (peer.restartTimer) return;
    const wait = state === 'failed' ? 0 : this._options.restartAfterMs ?? 3000;
    peer.restartTimer = setTimeout(() => {
      peer.restartTimer = null;
      this._restartIce(peer).catch((error) => {
        this.emit('error', {code: 'webrtc', message: String(error?.message ?? error)});
      });
    }, wait);
  }

  /** @param {Peer} peer */
  async _restartIce(peer) {
    if (this.state === 'ended' || this.peers.get(`${peer.user}:${peer.device}`) !== peer) return;
    const state = peer.pc.iceConnectionState;
    if (state !== 'disconnected' && state !== 'failed') return;
    peer.restarts += 1;
    if (peer.restarts > (this._options.maxIceRestarts ?? 5)) return;
    this._ice = await this._signalling.fetchIceServers();
    peer.pc.setConfiguration(this._rtcConfig());
    this.emit('ice_restart', {user: peer.user, device: peer.device});
    this._chain = this._chain.then(() => this._offer(peer, true));
    await this._chain;
    // Still down after a while: try again (each attempt refetches the servers).
    peer.restartTimer = setTimeout(() => {
      peer.restartTimer = null;
      this._watchIce(peer);
    }, this._options.restartAfterMs ?? 3000);
  }

  /**
   * The SDK reconnected: this device is a new one for the server. Its peer connections were to
   * the old one; the devices in the call offer to the new one once it has rejoined.
   */
  async _rejoin() {
    this._closePeers();
    this._setState('connecting');
    try {
      await this._signalling.request({type: 'call_rejoin', call: this.id});
    } catch (error) {
      // Over meanwhile, or past the grace period.
      if (/** @type {RingcastError} */ (error).code === 'disconnected') return;
      this._end(null, 'lost');
    }
  }

  /** @param {number} user @param {number} device */
  _closePeer(user, device) {
    const key = `${user}:${device}`;
    const peer = this.peers.get(key);
    if (!peer) return;
    this.peers.delete(key);
    if (peer.restartTimer) clearTimeout(peer.restartTimer);
    peer.pc.close();
  }

  _closePeers() {
    for (const peer of [...this.peers.values()]) this._closePeer(peer.user, peer.device);
  }

  /** @param {CallState} state */
  _setState(state) {
    const previous = this.state;
    if (previous === state) return;
    this.state = state;
    this.emit('state', {state, previous});
  }

  /**
   * @param {string | null} outcome the server's, when it said
   * @param {import('./types.js').CallEndReason} reason
   * @param {string | null} [stopped] why the ring stopped (`call_stop_ringing`'s reason)
   */
  _end(outcome, reason, stopped = null) {
    if (this.state === 'ended') return;
    this._closePeers();
    this.outcome = outcome;
    if (reason !== 'ended' && this.answeredAt !== null) {
      this.durationMs = Date.now() - this.answeredAt;
    }
    this._signalling._forget(this);
    this._setState('ended');
    this.emit('ended', {outcome, reason, duration_ms: this.durationMs, stopped});
    this._endedWaiter?.();
  }
}

/** A call already over when asked to end it is ended: not an error. @param {unknown} error */
function notFoundIsDone(error) {
  const code = /** @type {RingcastError} */ (error).code;
  if (code !== 'not_found' && code !== 'disconnected' && code !== 'timeout') throw error;
}
