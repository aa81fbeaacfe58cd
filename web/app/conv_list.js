// The conversation list: one button per conversation, most recently active first, with its
// name, last message (or who is typing), time, unread badge and, for a 1:1, an online dot.

import {callEntry, isMuted} from '/sdk/index.js';

import {h, reconcile, setText} from './dom.js';
import {callText, listTime} from './format.js';
import {avatarElement, showAvatar} from './names.js';

/** A message in one line: its text, or its files. @param {import('/sdk/types.js').Message} m */
function summary(m) {
  if (m.body !== '' || !m.attachments?.length) return m.body;
  return `${m.attachments.length > 1 ? 'Files' : 'File'}: ${
      m.attachments.map((a) => a.name).join(', ')}`;
}

export class ConversationList {
  /**
   * @param {{list: HTMLElement, empty: HTMLElement, store: import('./store.js').Store,
   *          names: import('./names.js').Names, presence: () => Map<number, any>,
   *          onOpen: (id: number) => void}} parts
   */
  constructor({list, empty, store, names, presence, onOpen}) {
    this._list = list;
    this._empty = empty;
    this._store = store;
    this._names = names;
    this._presence = presence;
    this._onOpen = onOpen;
    /** @type {number | null} */
    this.current = null;
  }

  /** The name shown for a conversation. @param {import('./store.js').Conv} conv */
  title(conv) {
    const me = this._store.me;
    if (conv.group) {
      if (conv.name) return conv.name;
      return conv.members.filter((u) => u !== me).map((u) => this._names.name(u)).join(', ') ||
          'Group';
    }
    const other = conv.members.find((u) => u !== me);
    return other === undefined ? 'Chat' : this._names.name(other);
  }

  /** The other member of a 1:1 (null for groups). @param {import('./store.js').Conv} conv */
  peer(conv) {
    if (conv.group) return null;
    return conv.members.find((u) => u !== this._store.me) ?? null;
  }

  /** @param {import('./store.js').Conv} conv */
  preview(conv) {
    if (conv.typing.size > 0) {
      const who = [...conv.typing].map((u) => this._names.name(u));
      return {text: conv.group ? `${who.join(', ')} typing…` : 'typing…', typing: true};
    }
    const pending = [...conv.pending.values()].at(-1);
    const last = conv.lastMessage;
    if (pending && (!last || pending.created_ms >= last.ts)) {
      return {text: `You: ${pending.body}`, typing: false};
    }
    if (!last) return {text: 'No messages yet', typing: false};
    const call = callEntry(last);
    // A call's record speaks for itself: "Missed audio call", not "Alice: {…}".
    if (call) return {text: callText(call, last.from, this._store.me), typing: false};
    const who = last.from === this._store.me ? 'You: ' :
        conv.group                           ? `${this._names.name(last.from)}: ` :
                                               '';
    return {text: who + summary(last), typing: false};
  }

  render() {
    const convs = this._store.sorted();
    this._empty.hidden = convs.length > 0;
    reconcile(
        this._list, convs, (c) => String(c.id), (c) => this._create(c),
        (el, c) => this._update(el, c));
  }

  /** @param {import('./store.js').Conv} conv */
  _create(conv) {
    const button = h('button', {
      type: 'button',
      class: 'conv-item',
      dataset: {conv: String(conv.id)},
      on: {click: () => this._onOpen(conv.id)},
    }, [
      avatarElement(h('span', {class: 'dot'})),
      h('span', {class: 'conv-main'}, [
        h('span', {class: 'conv-top'}, [h('span', {class: 'conv-name'}), h('time', {class: 'conv-time'})]),
        h('span', {class: 'conv-bottom'}, [
          h('span', {class: 'conv-preview'}),
          h('span', {class: 'muted-icon', text: 'muted'}),
          h('span', {class: 'mention-badge', text: '@', title: 'You were mentioned'}),
          h('span', {class: 'badge'}),
        ]),
      ]),
    ]);
    return h('li', {}, [button]);
  }

  /** @param {HTMLElement} li @param {import('./store.js').Conv} conv */
  _update(li, conv) {
    const button = /** @type {HTMLElement} */ (li.firstElementChild);
    const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (button.querySelector(s));
    const title = this.title(conv);
    const unread = this._store.unread(conv);
    const peer = this.peer(conv);
    const online = peer !== null && this._presence().get(peer)?.status === 'online';
    const preview = this.preview(conv);
    showAvatar(
        q('.avatar'), title,
        conv.group        ? this._names.groupAvatar(conv) :
            peer === null ? undefined :
                            this._names.avatar(peer));
    q('.dot').hidden = !online;
    setText(q('.conv-name'), title);
    const ts = conv.lastMessage?.ts;
    setText(q('.conv-time'), ts ? listTime(ts) : '');
    setText(q('.conv-preview'), preview.text);
    q('.conv-preview').classList.toggle('is-typing', preview.typing);
    setText(q('.badge'), unread > 0 ? String(unread) : '');
    q('.badge').hidden = unread === 0;
    const muted = isMuted(conv.mutedUntil);
    const mentioned = unread > 0 && conv.unreadMentions > 0;
    q('.muted-icon').hidden = !muted;
    q('.mention-badge').hidden = !mentioned;
    button.classList.toggle('is-muted', muted);
    button.dataset.unread = String(unread);
    button.dataset.mentions = String(mentioned ? conv.unreadMentions : 0);
    button.classList.toggle('has-unread', unread > 0);
    const parts = [
      title, online ? 'online' : '', muted ? 'muted' : '', unread ? `${unread} unread` : '',
      mentioned ? 'mentions you' : '', preview.text
    ];
    button.setAttribute('aria-label', parts.filter(Boolean).join(', '));
    if (this.current === conv.id)
      button.setAttribute('aria-current', 'true');
    else
      button.removeAttribute('aria-current');
  }

  /** Focus on the button of `id` (back from a conversation by keyboard). @param {number} id */
  focus(id) {
    /** @type {HTMLElement | null} */ (this._list.querySelector(`[data-conv="${id}"]`))?.focus();
  }
}
