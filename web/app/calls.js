// Audio and video calls (the SDK's call API, clients/js/src/calls.js): the header's call
// buttons, the incoming-call screen (on every device of the user: the others stop ringing when
// one answers), and the in-call screen: the other devices' video, or for audio their names with
// a level meter (WebAudio AnalyserNode on the remote stream); the local preview; mute, camera
// off, hang up; the running duration. The media is the app's: getUserMedia here, its tracks
// stopped here when the call ends.

import {formatDuration} from '/sdk/index.js';

import {byId, h, reconcile, setText} from './dom.js';
import {reason} from './format.js';

/** @typedef {import('/sdk/calls.js').Call} Call */

// How long the ended screen says how the call ended before it closes.
const ENDED_SHOWN_MS = 1500;

export class CallUI {
  /**
   * @param {{client: import('/sdk/index.js').RingcastClient, store: import('./store.js').Store,
   *          names: import('./names.js').Names, title: (conv: number) => string,
   *          current: () => number | null, isGroup: (conv: number) => boolean}} parts
   */
  constructor({client, store, names, title, current, isGroup}) {
    this._client = client;
    this._store = store;
    this._names = names;
    this._title = title;
    this._current = current;
    this._isGroup = isGroup;
    /** @type {Call | null} the call on the call screen */
    this.call = null;
    /** @type {Call | null} the call the incoming screen shows */
    this._ringing = null;
    /** @type {MediaStream | null} this device's camera and microphone, while in a call */
    this._local = null;
    /** @type {Map<string, {user: number, device: number, stream: MediaStream}>} */
    this._remotes = new Map();
    /** @type {Map<string, {context: AudioContext, analyser: AnalyserNode, meter: HTMLElement}>} */
    this._meters = new Map();
    this._timer = 0;
    this._status = '';
    this._el = {
      audioButton: byId('call-audio-button'),
      videoButton: byId('call-video-button'),
      incoming: byId('call-incoming'),
      incomingTitle: byId('call-incoming-title'),
      incomingKind: byId('call-incoming-kind'),
      screen: byId('call-screen'),
      title: byId('call-title'),
      status: byId('call-status'),
      remotes: byId('call-remotes'),
      local: /** @type {HTMLVideoElement} */ (byId('call-local')),
      mute: byId('call-mute'),
      camera: byId('call-camera'),
      hangup: byId('call-hangup'),
    };
    this._el.audioButton.addEventListener('click', () => this.start('audio'));
    this._el.videoButton.addEventListener('click', () => this.start('video'));
    byId('call-accept').addEventListener('click', () => this._accept());
    byId('call-decline').addEventListener('click', () => this._decline());
    this._el.mute.addEventListener('click', () => this._toggle('audio', this._el.mute));
    this._el.camera.addEventListener('click', () => this._toggle('video', this._el.camera));
    this._el.hangup.addEventListener('click', () => this.call?.hangUp());
    client.on('call', (call) => this._onIncoming(call));
    this.render();
  }

  /** The header's buttons: shown with a conversation open, off while a call is on. */
  render() {
    const open = this._current() !== null;
    const busy = this.call !== null;
    for (const button of [this._el.audioButton, this._el.videoButton]) {
      button.hidden = !open;
      /** @type {HTMLButtonElement} */ (button).disabled = busy;
    }
    if (this.call) this._renderScreen();
    if (this._ringing) this._renderIncoming();
  }

  /**
   * Calls the open conversation. In a group with a call going on, the server's `busy` names it,
   * and the button joins it instead.
   * @param {'audio' | 'video'} kind
   */
  async start(kind) {
    const conv = this._current();
    if (conv === null || this.call) return;
    /** @type {Call | null} */
    let call = null;
    this._showScreen(conv, kind, 'Starting…');
    try {
      this._local = await media(kind);
      this._showLocal();
      try {
        call = await this._client.startCall(conv, {kind, stream: this._local});
      } catch (error) {
        const going = /** @type {any} */ (error).call;
        if (/** @type {any} */ (error).code !== 'busy' || !going) throw error;
        call = await this._client.joinCall(going, conv, {kind, stream: this._local});
      }
    } catch (error) {
      this._failed(
          /** @type {any} */ (error).code === 'busy' ? 'Busy: already in a call' :
                                                       `Call failed: ${reason(error)}`);
      return;
    }
    this._attach(call);
  }

  /** @param {Call} call */
  _onIncoming(call) {
    if (this.call || this._ringing) return;  // in a call: the server says busy to a 1:1
    this._ringing = call;
    call.on('ended', () => {
      if (this._ringing !== call) return;
      this._ringing = null;
      this._el.incoming.hidden = true;
      document.body.dataset.ringing = 'false';
    });
    this._el.incoming.hidden = false;
    this._el.incoming.dataset.kind = call.kind;
    document.body.dataset.ringing = 'true';
    this._names.resolve([call.caller]).then(() => this._renderIncoming());
    this._renderIncoming();
    byId('call-accept').focus();
  }

  _renderIncoming() {
    const call = this._ringing;
    if (!call) return;
    const caller = this._names.name(call.caller);
    setText(this._el.incomingTitle, caller);
    const what = call.kind === 'video' ? 'Incoming video call' : 'Incoming audio call';
    setText(this._el.incomingKind, call.group ? `${what} · ${this._title(call.conv)}` : what);
  }

  async _accept() {
    const call = this._ringing;
    if (!call) return;
    this._ringing = null;
    this._el.incoming.hidden = true;
    document.body.dataset.ringing = 'false';
    this._showScreen(call.conv, call.kind, 'Connecting…');
    try {
      this._local = await media(call.kind);
      this._showLocal();
      this._attach(call);
      await call.accept(this._local);
    } catch (error) {
      this._failed(`Could not answer: ${reason(error)}`);
    }
  }

  async _decline() {
    const call = this._ringing;
    this._ringing = null;
    this._el.incoming.hidden = true;
    document.body.dataset.ringing = 'false';
    await call?.decline();
  }

  /** @param {number} conv @param {'audio' | 'video'} kind @param {string} status */
  _showScreen(conv, kind, status) {
    this._conv = conv;
    this._kind = kind;
    this._status = status;
    this._el.screen.hidden = false;
    this._el.screen.dataset.kind = kind;
    this._el.screen.dataset.state = 'starting';
    this._el.camera.hidden = kind !== 'video';
    for (const button of [this._el.mute, this._el.camera]) {
      button.setAttribute('aria-pressed', 'false');
    }
    setText(this._el.mute, 'Mute');
    setText(this._el.camera, 'Camera off');
    this._el.remotes.replaceChildren();
    this._renderScreen();
    this.render();
    this._el.hangup.focus();
  }

  /** @param {Call} call */
  _attach(call) {
    this.call = call;
    // A debugging hook (the DevTools console, the browser tests' getStats()).
    /** @type {any} */ (window).ringcastCall = call;
    this._remotes.clear();
    call.on('state', () => this._renderScreen());
    call.on('ringing', () => {
      this._status = 'Ringing…';
      this._renderScreen();
    });
    call.on('declined', ({user}) => {
      if (call.group) this._flash(`${this._names.name(user)} declined`);
    });
    call.on('stream', ({user, device, stream}) => {
      this._remotes.set(`${user}:${device}`, {user, device, stream});
      this._names.resolve([user]).then(() => this._renderScreen());
      this._renderScreen();
    });
    call.on('left', ({user, device}) => {
      this._remotes.delete(`${user}:${device}`);
      this._renderScreen();
    });
    call.on('ended', (ended) => this._onEnded(call, ended));
    clearInterval(this._timer);
    this._timer = window.setInterval(() => this._renderScreen(), 1000);
    this.render();
  }

  /** @param {string} text a line under the title for a moment */
  _flash(text) {
    this._status = text;
    this._renderScreen();
  }

  _renderScreen() {
    const call = this.call;
    const conv = call?.conv ?? this._conv;
    if (conv === undefined) return;
    setText(this._el.title, this._title(conv));
    const state = call?.state ?? 'starting';
    this._el.screen.dataset.state = state;
    document.body.dataset.call = state;
    let status = this._status;
    if (state === 'connected' && call?.answeredAt) {
      status = formatDuration(Date.now() - call.answeredAt);
    } else if (state === 'connecting') {
      status = 'Connecting…';
    } else if (state === 'ringing' && call?.outgoing && status !== 'Ringing…') {
      status = 'Calling…';
    }
    setText(this._el.status, status);
    const video = (call?.kind ?? this._kind) === 'video';
    reconcile(
        this._el.remotes, [...this._remotes.values()], (r) => `${r.user}:${r.device}`,
        (r) => this._tile(r, video), (el, r) => {
          setText(
              /** @type {HTMLElement} */ (el.querySelector('.call-name')),
              this._names.name(r.user));
          const media = /** @type {HTMLMediaElement} */ (el.querySelector('video, audio'));
          if (media.srcObject !== r.stream) media.srcObject = r.stream;
        });
    for (const key of [...this._meters.keys()]) {
      if (!this._remotes.has(key)) this._stopMeter(key);
    }
  }

  /**
   * One other device: its video with its name, or (audio) its name and a level meter.
   * @param {{user: number, device: number, stream: MediaStream}} remote @param {boolean} video
   */
  _tile(remote, video) {
    const key = `${remote.user}:${remote.device}`;
    if (video) {
      return h('div', {class: 'call-tile', dataset: {peer: key}}, [
        h('video', {autoplay: true, playsinline: true, 'aria-label': 'Video of the other party'}),
        h('span', {class: 'call-name'}),
      ]);
    }
    const meter =
        h('span', {
          class: 'call-level',
          role: 'meter',
          'aria-label': 'Audio level',
          'aria-valuemin': '0',
          'aria-valuemax': '100',
          'aria-valuenow': '0'
        },
          [h('span', {class: 'call-level-bar'})]);
    const tile = h('div', {class: 'call-tile audio', dataset: {peer: key}}, [
      h('span', {class: 'call-name'}),
      meter,
      h('audio', {autoplay: true}),
    ]);
    this._startMeter(key, remote.stream, meter);
    return tile;
  }

  /**
   * The other party's audio level, from an AnalyserNode on their stream: the RMS of each
   * frame of samples, ten times a second (a hidden tab throttles animation frames).
   * @param {string} key @param {MediaStream} stream @param {HTMLElement} meter
   */
  _startMeter(key, stream, meter) {
    this._stopMeter(key);
    if (stream.getAudioTracks().length === 0 || typeof AudioContext === 'undefined') return;
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Uint8Array(analyser.fftSize);
    const bar = /** @type {HTMLElement} */ (meter.firstElementChild);
    const timer = window.setInterval(() => {
      analyser.getByteTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += ((s - 128) / 128) ** 2;
      const level = Math.min(100, Math.round(Math.sqrt(sum / samples.length) * 300));
      meter.setAttribute('aria-valuenow', String(level));
      meter.dataset.level = String(level);
      bar.style.width = `${level}%`;
    }, 100);
    this._meters.set(key, {context, analyser, meter, timer});
  }

  /** @param {string} key */
  _stopMeter(key) {
    const meter = /** @type {any} */ (this._meters.get(key));
    if (!meter) return;
    clearInterval(meter.timer);
    meter.context.close();
    this._meters.delete(key);
  }

  _showLocal() {
    const local = this._el.local;
    const video = this._local?.getVideoTracks().length ?? 0;
    local.hidden = video === 0;
    if (video > 0) local.srcObject = this._local;
  }

  /**
   * Mute (audio) or camera off (video): the tracks stay, disabled, so the peers get silence
   * or black and nothing is negotiated again.
   * @param {'audio' | 'video'} kind @param {HTMLElement} button
   */
  _toggle(kind, button) {
    const off = button.getAttribute('aria-pressed') !== 'true';
    for (const track of this._local?.getTracks() ?? []) {
      if (track.kind === kind) track.enabled = !off;
    }
    button.setAttribute('aria-pressed', String(off));
    if (kind === 'audio') setText(button, off ? 'Unmute' : 'Mute');
    if (kind === 'video') setText(button, off ? 'Camera on' : 'Camera off');
  }

  /**
   * @param {Call} call
   * @param {{outcome: string | null, reason: string, duration_ms: number}} ended
   */
  _onEnded(call, ended) {
    if (this.call !== call) return;
    const text = ended.outcome === 'completed' || (ended.reason === 'left' && call.answeredAt) ?
        `Call ended, ${formatDuration(ended.duration_ms)}` :
        ended.outcome === 'declined'  ? 'Declined' :
        ended.outcome === 'missed'    ? 'No answer' :
        ended.outcome === 'cancelled' ? 'Cancelled' :
        ended.outcome === 'failed'    ? 'Call failed' :
                                        'Call ended';
    this._finish(text);
  }

  /** @param {string} text why there is no call */
  _failed(text) {
    this.call?.hangUp().catch(() => {});
    this._finish(text);
  }

  /** Ends the call on screen: the app's tracks stopped, "Call ended, 0:42" shown a moment. */
  _finish(/** @type {string} */ text) {
    clearInterval(this._timer);
    for (const key of [...this._meters.keys()]) this._stopMeter(key);
    for (const track of this._local?.getTracks() ?? []) track.stop();
    this._local = null;
    this._el.local.srcObject = null;
    this.call = null;
    this._remotes.clear();
    this._status = text;
    setText(this._el.status, text);
    this._el.screen.dataset.state = 'ended';
    document.body.dataset.call = 'ended';
    this._el.remotes.replaceChildren();
    this.render();
    setTimeout(() => {
      if (this.call) return;  // another call started meanwhile
      this._el.screen.hidden = true;
    }, ENDED_SHOWN_MS);
  }
}

/**
 * The microphone, and the camera for a video call.
 * @param {'audio' | 'video'} kind @returns {Promise<MediaStream>}
 */
function media(kind) {
  return navigator.mediaDevices.getUserMedia({audio: true, video: kind === 'video'});
}
