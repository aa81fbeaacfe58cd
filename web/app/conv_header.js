// The open conversation's header: its name, a group's topic, the status line (a 1:1's presence
// and status, "Blocked"; a group's members and how many are online), and its buttons: mute, a
// 1:1's Block (which turns the composer off), a group's Members (its dialog: group.js) and the
// pins dialog. A button's request that fails says why in the status line.

import {isMuted} from '/sdk/index.js';

import {byId, dialogById, setText} from './dom.js';
import {presenceText, reason} from './format.js';
import {GroupDialog} from './group.js';
import {showPins} from './reactions.js';

/** @typedef {import('./store.js').Conv} Conv */

/**
 * What the header needs of the conversation view.
 * @typedef {import('./conversation.js').ViewParts & {
 *     list: import('./conv_list.js').ConversationList, blocks: import('./settings.js').Blocks,
 *     composer: import('./composer.js').Composer, current: () => number | null,
 *     jumpTo: (seq: number) => void}} HeaderHost `current`: the open conversation; `jumpTo`:
 *   shows one of its messages (a pin's)
 */

export class ConversationHeader {
  /** @param {HeaderHost} host */
  constructor(host) {
    this._host = host;
    this._mute = byId('mute-button');
    this._mute.addEventListener('click', () => this._toggleMute());
    this._block = /** @type {HTMLButtonElement} */ (byId('block-button'));
    this._block.addEventListener('click', () => this._toggleBlock());
    this._membersButton = byId('members-button');
    this._group = new GroupDialog(host);
    this._membersButton.addEventListener('click', () => {
      const id = host.current();
      if (id !== null) this._group.open(id);
    });
    this._pinsButton = byId('pins-button');
    this._pinsDialog = dialogById('pins');
    this._pinsButton.addEventListener('click', () => this._openPins());
    this._el = {
      name: byId('conv-name'),
      topic: byId('conv-topic'),
      topicText: byId('conv-topic-text'),
      status: byId('conv-status'),
    };
  }

  /** Another conversation opened (none: the header empties). @param {boolean} open */
  reset(open) {
    this._mute.hidden = !open;
    this._block.hidden = true;
    this._membersButton.hidden = true;
    this._group.close();
    this._pinsButton.hidden = !open;
    if (this._pinsDialog.open) this._pinsDialog.close();
    if (!open) {
      setText(this._el.name, '');
      this._el.topic.hidden = true;
      setText(this._el.status, '');
    }
  }

  /** @param {Conv} conv the open conversation */
  render(conv) {
    setText(this._el.name, this._host.list.title(conv));
    this._el.name.dataset.openConv = String(conv.id);
    const topic = conv.group ? conv.topic ?? '' : '';
    setText(this._el.topicText, topic);
    this._el.topic.hidden = !topic;
    this._el.topic.title = topic;
    setText(this._el.status, this._statusText(conv));
    this._showBlock(conv);
    this._membersButton.hidden = !conv.group;
    this._group.render();
    const muted = isMuted(conv.mutedUntil);
    this._mute.setAttribute('aria-pressed', String(muted));
    this._mute.setAttribute('aria-label', muted ? 'Unmute notifications' : 'Mute notifications');
  }

  async _toggleMute() {
    const id = this._host.current();
    if (id === null) return;
    const mute = !isMuted(this._host.store.conv(id).mutedUntil);
    await this._headerAction(
        this._mute, mute ? 'mute' : 'unmute', () => this._host.store.setMuted(id, mute));
  }

  /**
   * A header button's request, the button off meanwhile; a refusal shows in the status line.
   * @param {HTMLButtonElement} button @param {string} what @param {() => Promise<unknown>} action
   */
  async _headerAction(button, what, action) {
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      setText(this._el.status, `Could not ${what}: ${reason(error)}`);
    } finally {
      button.disabled = false;
    }
  }

  /** A 1:1's Block button; while the other is blocked the composer is off. @param {Conv} conv */
  _showBlock(conv) {
    const peer = this._host.list.peer(conv);
    this._block.hidden = peer === null;
    const blocked = peer !== null && this._host.blocks.has(peer);
    const name = peer === null ? '' : this._host.names.name(peer);
    setText(this._block, blocked ? 'Unblock' : 'Block');
    this._block.setAttribute('aria-pressed', String(blocked));
    this._block.setAttribute('aria-label', `${blocked ? 'Unblock' : 'Block'} ${name}`);
    this._host.composer.setBlocked(blocked, name);
  }

  async _toggleBlock() {
    const id = this._host.current();
    const peer = id === null ? null : this._host.list.peer(this._host.store.conv(id));
    if (peer === null) return;
    const block = !this._host.blocks.has(peer);
    await this._headerAction(
        this._block, block ? 'block' : 'unblock', () => this._host.blocks.set(peer, block));
  }

  /** @param {Conv} conv */
  _statusText(conv) {
    const peer = this._host.list.peer(conv);
    const presence = this._host.client.presence;
    if (peer !== null) {
      if (this._host.blocks.has(peer)) return 'Blocked';
      const status = this._host.names.profile(peer)?.status;
      const seen = presenceText(presence.get(peer));
      return status ? `${seen ? `${seen} · ` : ''}${status}` : seen;
    }
    const online =
        conv.members
            .filter((u) => u !== this._host.store.me && presence.get(u)?.status === 'online')
            .length;
    return `${conv.members.length} members${online ? `, ${online} online` : ''}`;
  }

  /** The pins dialog: the conversation's pinned messages, read from the server. */
  async _openPins() {
    const id = this._host.current();
    if (id === null) return;
    const status = byId('pins-status');
    const list = byId('pins-list');
    list.replaceChildren();
    setText(status, 'Loading…');
    this._pinsDialog.showModal();
    try {
      const pins = await this._host.client.pins(id);
      if (this._host.current() !== id) return;
      setText(status, pins.length === 0 ? 'No pinned messages.' : '');
      showPins(list, pins, (u) => this._host.names.name(u), (seq) => {
        this._pinsDialog.close();
        this._host.jumpTo(seq);
      });
    } catch (error) {
      setText(status, `Could not load the pins: ${reason(error)}`);
    }
  }
}
