// The open conversation: header (name, a group's topic, presence or members; Block for a 1:1,
// a group's dialog of members and settings: group.js), messages with day separators and ticks,
// older pages loaded while scrolling up (the SDK's historyPager), "typing…", and the composer.
// Marks messages read once they are on screen while the page is visible. A thread's root shows
// its reply count and last reply under its body; the thread itself opens beside (thread.js).

import {callEntry, isMuted, systemEntry} from '/sdk/index.js';

import {ImageViewer, renderAttachments, UploadTray} from './attachments.js';
import {byId, dialogById, h, reconcile, setText} from './dom.js';
import {callText, clock, dayKey, dayLabel, joinNames, presenceText, reason, replyCountText, systemText} from './format.js';
import {GroupDialog} from './group.js';
import {MentionPicker} from './mentions.js';
import {avatarElement, showAvatar} from './names.js';
import {reactionPicker, showPins, showReactions} from './reactions.js';
import {renderBody} from './rich.js';

const PAGE = 30;
/** The server's --max-chat-body (UTF-8 bytes), as index.html's meta tag states it. */
export const MAX_BODY_BYTES =
    Number(
        document.querySelector('meta[name="ringcast-max-chat-body"]')?.getAttribute('content')) ||
    65536;
const utf8 = new TextEncoder();

/**
 * The server counts a body in UTF-8 bytes (an 'é' is two, an emoji four), not in the UTF-16
 * units of a textarea's maxlength: what a composer holding `text` says when it is over the
 * limit, else null.
 * @param {string} text
 * @returns {string | null}
 */
export function tooLongText(text) {
  const bytes = utf8.encode(text.trim()).length;
  return bytes > MAX_BODY_BYTES ? `${bytes} / ${MAX_BODY_BYTES} bytes: too long` : null;
}

const TICKS = {
  pending: '◴',
  sent: '✓',
  delivered: '✓✓',
  seen: '✓✓',
  failed: '!'
};
const TICK_LABELS = {
  pending: 'sending',
  sent: 'sent',
  delivered: 'delivered',
  seen: 'seen',
  failed: 'not sent',
};

/**
 * What stands for the files of a send not acked yet (their cards come with the message).
 * @param {import('/sdk/types.js').OutboxEntry} entry
 */
function pendingFiles(entry) {
  const n = entry.attachments?.length ?? 0;
  return n === 0 ? null : h('span', {class: 'att-pending', text: `+ ${n} file${n > 1 ? 's' : ''}`});
}

/**
 * A message's first 100 characters (as the server's quote has them), or what it carries.
 * @param {import('/sdk/types.js').Message} message
 */
export function excerpt(message) {
  const text = [...(message.body ?? '')].slice(0, 100).join('');
  const files = message.attachments?.length ?? 0;
  return text || (files ? `${files} file${files > 1 ? 's' : ''}` : '');
}

/**
 * Renders `body` (rich.js) into a bubble's `el` once per body and set of mentioned names (here
 * and in the thread panel).
 * @param {HTMLElement} el @param {string} body @param {number[] | undefined} mentions
 * @param {import('./names.js').Names} names @param {number} me the signed-in user
 */
export function showBody(el, body, mentions, names, me) {
  // A mention is written with the username, whatever the display name.
  const mentioned = (mentions ?? []).map((u) => (names.username(u) ?? '').toLowerCase());
  const key = `${mentioned.join(',')}\n${body}`;
  if (el.dataset.rendered === key) return;
  el.dataset.rendered = key;
  el.replaceChildren(renderBody(body, {
    mentioned: new Set(mentioned),
    me: (names.username(me) ?? '').toLowerCase(),
  }));
}

/**
 * @typedef {import('./store.js').Conv} Conv
 * @typedef {{type: 'day', key: string, ts: number}
 *   | {type: 'message', key: string, message: import('/sdk/types.js').Message}
 *   | {type: 'pending', key: string, entry: import('/sdk/types.js').OutboxEntry}} Row
 */

export class ConversationView {
  /**
   * @param {{client: import('/sdk/index.js').RingcastClient, store: import('./store.js').Store,
   *          names: import('./names.js').Names, list: import('./conv_list.js').ConversationList,
   *          blocks: import('./settings.js').Blocks, onBack: () => void,
   *          onThread: (conv: number, root: number, from: HTMLElement) => void}} parts
   *     `onThread` opens the thread of root message `root` (`from`: what gets the focus back)
   */
  constructor({client, store, names, list, blocks, onBack, onThread}) {
    this._onThread = onThread;
    this._blocks = blocks;
    this._client = client;
    this._store = store;
    this._names = names;
    this._list = list;
    this._onBack = onBack;
    /** @type {number | null} */
    this.current = null;
    this._el = {
      name: byId('conv-name'),
      topic: byId('conv-topic'),
      topicText: byId('conv-topic-text'),
      status: byId('conv-status'),
      placeholder: byId('conv-placeholder'),
      messages: byId('messages'),
      typing: byId('typing'),
      composer: byId('composer'),
      input: /** @type {HTMLTextAreaElement} */ (byId('composer-input')),
      sendButton: /** @type {HTMLButtonElement} */ (byId('send-button')),
      count: byId('composer-count'),
      jump: byId('jump-button'),
    };
    /** @type {number | null} the read watermark when the conversation was opened (the divider) */
    this._unreadFrom = null;
    this._scrollToDivider = false;
    this._el.jump.addEventListener('click', () => {
      this._el.messages.scrollTop = this._el.messages.scrollHeight;
      this.focusComposer();
    });
    this._el.messages.addEventListener('scroll', () => this._showJump(), {passive: true});
    /** @type {{next: () => Promise<any>} | null} */
    this._pager = null;
    this._loading = false;
    this._historyDone = false;
    this._sentinel = h('li', {class: 'sentinel', 'aria-hidden': 'true', text: 'Loading…'});
    this._sentinel.dataset.key = 'sentinel';
    /** @type {Set<number>} seqs of messages on screen now */
    this._onScreen = new Set();
    this._older = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.loadOlder();
    }, {root: this._el.messages, rootMargin: '200px 0px 0px 0px'});
    this._seen = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const seq = Number(/** @type {HTMLElement} */ (e.target).dataset.seq);
        if (e.isIntersecting)
          this._onScreen.add(seq);
        else
          this._onScreen.delete(seq);
      }
      this._markRead();
    }, {root: this._el.messages, threshold: 0.5});
    this._tray = new UploadTray({
      client,
      list: byId('uploads'),
      onChange: () => this._checkLength(),
    });
    this._viewer = new ImageViewer(client);
    /** @type {{conv: number, seq: number} | null} the own message the composer edits now */
    this._editing = null;
    /** @type {number | null} the seq the next send answers (reply_to) */
    this._replyingTo = null;
    byId('reply-cancel').addEventListener('click', () => {
      this._stopReply();
      this.focusComposer();
    });
    /** @type {number} a send waiting for its uploads (so that a second Enter does not double it) */
    this._waitingSend = 0;
    this._sendTicket = 0;
    this._picker = new MentionPicker({
      input: this._el.input,
      list: byId('mention-list'),
      members: () => this.current === null ?
          [] :
          this._store.conv(this.current).members.filter((u) => u !== this._store.me),
      names,
    });
    this._mute = byId('mute-button');
    this._mute.addEventListener('click', () => this._toggleMute());
    this._block = /** @type {HTMLButtonElement} */ (byId('block-button'));
    this._block.addEventListener('click', () => this._toggleBlock());
    this._membersButton = byId('members-button');
    this._group = new GroupDialog({client, store, names, list});
    this._membersButton.addEventListener('click', () => {
      if (this.current !== null) this._group.open(this.current);
    });
    this._pinsButton = byId('pins-button');
    this._pinsDialog = dialogById('pins');
    this._pinsButton.addEventListener('click', () => this._openPins());
    this._wireComposer();
    this._wireFiles();
    document.addEventListener('visibilitychange', () => this._markRead());
  }

  /** Shows conversation `id` (null: none). @param {number | null} id */
  open(id) {
    if (id === this.current) return;
    if (this.current !== null) this._client.stopTyping(this.current);
    this.current = id;
    this._pager = null;
    this._historyDone = false;
    this._onScreen.clear();
    this._seen.disconnect();
    this._el.messages.replaceChildren();
    this._el.input.value = '';
    this._editing = null;
    this._el.composer.classList.remove('editing');
    this._stopReply();
    this._tray.clear({cancel: true});
    this._waitingSend = 0;
    this._checkLength();
    this._stickToBottom = true;
    const open = id !== null;
    this._el.placeholder.hidden = open;
    this._el.messages.hidden = !open;
    this._el.composer.hidden = !open;
    this._mute.hidden = !open;
    this._block.hidden = true;
    this._membersButton.hidden = true;
    this._group.close();
    this._pinsButton.hidden = !open;
    if (this._pinsDialog.open) this._pinsDialog.close();
    this._el.jump.hidden = true;
    this._picker.close();
    const conv = open ? this._store.conv(id) : null;
    this._unreadFrom = conv && this._store.unread(conv) > 0 ? conv.myRead : null;
    this._scrollToDivider = this._unreadFrom !== null;
    if (!open) {
      setText(this._el.name, '');
      this._el.topic.hidden = true;
      setText(this._el.status, '');
      setText(this._el.typing, '');
      return;
    }
    this._pager = this._client.historyPager(id, {limit: PAGE});
    this.render();
    this.loadOlder();
  }

  focusComposer() {
    this._el.input.focus();
  }

  /** Loads the next older page, keeping what is on screen in place. */
  async loadOlder() {
    const id = this.current;
    const pager = this._pager;
    if (id === null || !pager || this._loading || this._historyDone) return;
    this._loading = true;
    try {
      const page = await pager.next();
      if (this.current !== id || this._pager !== pager) return;
      if (!page || !page.more) this._historyDone = true;
      if (page) this._store.addHistory(page.messages);
      const list = this._el.messages;
      const fromBottom = list.scrollHeight - list.scrollTop;
      this.render();
      if (!this._stickToBottom) list.scrollTop = list.scrollHeight - fromBottom;
    } catch {
      // Offline and no WebSocket: tried again when the sentinel shows again or the view opens.
    } finally {
      this._loading = false;
    }
    // The first pages may not fill the view: the sentinel is still visible, so go on.
    if (this.current === id && !this._historyDone && this._sentinelVisible()) this.loadOlder();
  }

  _sentinelVisible() {
    const list = this._el.messages;
    return this._sentinel.isConnected && list.scrollTop < 200;
  }

  render() {
    const id = this.current;
    if (id === null) return;
    const conv = this._store.conv(id);
    setText(this._el.name, this._list.title(conv));
    this._el.name.dataset.openConv = String(id);
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
    const typing = [...conv.typing].map((u) => this._names.name(u));
    setText(
        this._el.typing,
        typing.length === 0 ? '' :
            conv.group      ? `${joinNames(typing)} ${typing.length > 1 ? 'are' : 'is'     } typing…` :
                              'typing…');

    const list = this._el.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    reconcile(
        list, this._rows(conv), (row) => row.key, (row) => this._create(row),
        (el, row) => this._update(el, row, conv));
    const divider = this._scrollToDivider ? list.querySelector('.unread-divider') : null;
    if (divider) {
      // Opened with unread messages: start at the first of them, not past them all.
      divider.scrollIntoView({block: 'start'});
      this._scrollToDivider = false;
    } else if (atBottom || this._stickToBottom) {
      list.scrollTop = list.scrollHeight;
    }
    this._stickToBottom = false;
    this._showJump();
    this._markRead();
  }

  /** @param {Conv} conv @returns {(Row | {type: 'sentinel', key: string})[]} */
  _rows(conv) {
    /** @type {any[]} */
    const rows = [];
    if (!this._historyDone) rows.push({type: 'sentinel', key: 'sentinel'});
    let day = '';
    const addDay = (/** @type {number} */ ts) => {
      const key = dayKey(ts);
      if (key !== day) rows.push({type: 'day', key: `day-${key}`, ts});
      day = key;
    };
    let divided = this._unreadFrom === null;
    for (const seq of [...conv.messages.keys()].sort((a, b) => a - b)) {
      const message = /** @type {any} */ (conv.messages.get(seq));
      addDay(message.ts);
      if (!divided && seq > /** @type {number} */ (this._unreadFrom) &&
          message.from !== this._store.me) {
        rows.push({type: 'unread', key: 'unread'});
        divided = true;
      }
      const entry = systemEntry(message);
      const call = entry ? null : callEntry(message);
      // A group's change (PROTOCOL.md, "Groups") and a call's record ("Records"): a centered
      // notice, not a bubble.
      rows.push(
          entry ? {type: 'system', key: `s${seq}`, entry} :
              call? {type: 'call', key: `c${seq}`, call, message} :
                  {type: 'message', key: `m${seq}`, message});
    }
    for (const entry of conv.pending.values()) {
      if (conv.shownAsMessage.has(entry.cid)) continue;
      addDay(entry.created_ms);
      rows.push({type: 'pending', key: `p${entry.cid}`, entry});
    }
    return rows;
  }

  /** @param {any} row */
  _create(row) {
    if (row.type === 'sentinel') {
      this._older.observe(this._sentinel);
      return this._sentinel;
    }
    if (row.type === 'day') {
      return h('li', {class: 'day', role: 'separator'}, [h('span', {text: dayLabel(row.ts)})]);
    }
    if (row.type === 'unread') {
      return h('li', {class: 'unread-divider', role: 'separator', text: 'Unread messages'});
    }
    if (row.type === 'system') return h('li', {class: 'system-notice', role: 'note'});
    if (row.type === 'call') {
      const li = h('li', {class: 'system-notice call-record', role: 'note'}, [
        h('span', {class: 'call-icon', 'aria-hidden': 'true'}),
        h('span', {class: 'call-text'}),
        h('time', {class: 'time'}),
      ]);
      li.dataset.seq = String(row.message.seq);
      // On screen counts as read, as a message does (the record is unread for the others).
      this._seen.observe(li);
      return li;
    }
    const attachments = row.type === 'message' ? row.message.attachments : null;
    const li = h('li', {class: 'msg'}, [
      h('span', {class: 'sender'}, [avatarElement(), h('span', {class: 'sender-name'})]),
      h('button', {
        type: 'button',
        class: 'quote',
        hidden: true,
        on: {click: () => this._jumpToParent(li)},
      }),
      attachments?.length ?
          renderAttachments(this._client, attachments, (a) => this._viewer.open(a)) :
          null,
      row.type === 'pending' ? pendingFiles(row.entry) : null,
      h('span', {class: 'body'}),
      h('span', {class: 'reactions', hidden: true}),
      h('span', {class: 'meta'},
        [
          h('span', {class: 'pinned-mark', text: '📌 pinned', hidden: true}),
          h('span', {class: 'edited', text: 'edited'}),
          h('time', {class: 'time'}),
          h('span', {class: 'tick'}),
        ]),
    ]);
    if (row.type === 'message') {
      const seq = row.message.seq;
      // A thread's root: "2 replies · last reply 14:05" (and its unread mark) opens the thread.
      const summary = h('button', {type: 'button', class: 'thread-summary', hidden: true}, [
        h('span', {class: 'thread-dot', 'aria-hidden': 'true'}),
        h('span', {class: 'thread-text'}),
      ]);
      summary.addEventListener('click', () => this._openThread(seq, summary));
      li.append(summary);
      // The message menu: shown on hover or focus (style.css); Edit and Delete on one's own.
      const react = h('button', {
        type: 'button',
        class: 'react-message',
        text: 'React',
        'aria-label': 'Add a reaction',
        on: {click: () => this._openPicker(li, seq, react)},
      });
      li.append(h('span', {class: 'msg-actions'}, [
        h('button', {
          type: 'button',
          class: 'reply-message',
          text: 'Reply',
          'aria-label': 'Reply to this message',
          on: {click: () => this._startReply(seq)},
        }),
        h('button', {
          type: 'button',
          class: 'thread-message',
          text: 'Reply in thread',
          'aria-label': 'Reply in this message\'s thread',
          on: {
            click: (/** @type {Event} */ e) =>
                this._openThread(seq, /** @type {HTMLElement} */ (e.currentTarget))
          },
        }),
        react,
        h('button', {
          type: 'button',
          class: 'pin-message',
          on: {click: () => this._togglePin(seq)},
        }),
        h('button', {
          type: 'button',
          class: 'edit-message',
          text: 'Edit',
          'aria-label': 'Edit this message',
          on: {click: () => this._startEdit(seq)},
        }),
        h('button', {
          type: 'button',
          class: 'delete-message',
          text: 'Delete',
          'aria-label': 'Delete this message for everyone',
          on: {click: () => this._delete(seq)},
        }),
      ]));
      li.dataset.seq = String(row.message.seq);
      this._seen.observe(li);
    }
    return li;
  }

  /** @param {HTMLElement} li @param {any} row @param {Conv} conv */
  _update(li, row, conv) {
    if (row.type === 'sentinel' || row.type === 'day' || row.type === 'unread') return;
    if (row.type === 'system') {
      setText(li, systemText(row.entry, (user) => this._names.name(user)));
      return;
    }
    if (row.type === 'call') {
      const {call, message} = row;
      li.dataset.outcome = call.outcome;
      li.dataset.callKind = call.call_kind;
      li.classList.toggle(
          'missed', call.outcome !== 'completed' && message.from !== this._store.me);
      setText(
          /** @type {HTMLElement} */ (li.querySelector('.call-icon')),
          call.call_kind === 'video' ? '🎥' : '📞');
      setText(
          /** @type {HTMLElement} */ (li.querySelector('.call-text')),
          callText(call, message.from, this._store.me));
      setText(/** @type {HTMLElement} */ (li.querySelector('.time')), clock(message.ts));
      return;
    }
    const me = this._store.me;
    const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (li.querySelector(s));
    const own = row.type === 'pending' || row.message.from === me;
    const deleted = row.type === 'message' && row.message.deleted === true;
    const body = row.type === 'pending' ? row.entry.body :
        deleted                         ? 'This message was deleted' :
                                          row.message.body;
    const ts = row.type === 'pending' ? row.entry.created_ms : row.message.ts;
    const state = row.type === 'pending' ? row.entry.state :
        own                              ? this._store.tick(conv, row.message.seq) :
                                           '';
    li.className = `msg ${own ? 'own' : 'other'}${deleted ? ' deleted' : ''}`;
    const actions = /** @type {HTMLElement | null} */ (li.querySelector('.msg-actions'));
    if (actions && row.type === 'message') {
      actions.hidden = deleted;
      q('.edit-message').hidden = !own;
      q('.delete-message').hidden = !own;
      const pinned = Boolean(row.message.pinned_at);
      const pin = q('.pin-message');
      setText(pin, pinned ? 'Unpin' : 'Pin');
      pin.setAttribute('aria-label', pinned ? 'Unpin this message' : 'Pin this message');
      q('.pinned-mark').hidden = !pinned;
      const seq = row.message.seq;
      showReactions(
          q('.reactions'), row.message, me, (u) => this._names.name(u),
          (emoji, on) => this._client.react(conv.id, seq, emoji, {on}));
    }
    q('.edited').hidden = row.type === 'pending' || deleted || !row.message.edited_at;
    if (row.type === 'message') this._showThreadSummary(q('.thread-summary'), row.message, conv);
    this._showQuote(li, q('.quote'), row.type === 'message' ? row.message : null, conv);
    li.dataset.state = state;
    if (row.type === 'pending') li.dataset.cid = row.entry.cid;
    const from = row.type === 'message' ? row.message.from : me;
    const sender = !own && conv.group ? this._names.name(from) : '';
    setText(q('.sender-name'), sender);
    if (sender)
      showAvatar(q('.sender .avatar'), sender, this._names.avatar(from), {initial: false});
    q('.sender').hidden = !sender;
    showBody(
        q('.body'), body, row.type === 'message' ? row.message.mentions : undefined, this._names,
        this._store.me);
    setText(q('.time'), clock(ts));
    q('.time').setAttribute('datetime', new Date(ts).toISOString());
    const tick = q('.tick');
    setText(tick, own ? TICKS[/** @type {keyof TICKS} */ (state)] ?? '' : '');
    tick.className = `tick ${state}`;
    if (own)
      tick.setAttribute('aria-label', TICK_LABELS[/** @type {keyof TICKS} */ (state)]);
    else
      tick.removeAttribute('aria-label');
    this._showFailure(li, state === 'failed' ? row.entry : null);
  }

  /**
   * A send the server refused: its reason, Retry (the same cid) and Discard.
   * @param {HTMLElement} li @param {import('/sdk/types.js').OutboxEntry | null} entry
   */
  _showFailure(li, entry) {
    const shown = li.querySelector('.failure');
    if (!entry) {
      shown?.remove();
      return;
    }
    const reason = `Not sent: ${entry.error?.message ?? 'refused by the server'}`;
    if (shown) {
      setText(/** @type {HTMLElement} */ (shown.firstElementChild), reason);
      return;
    }
    const cid = entry.cid;
    li.append(h('span', {class: 'failure'}, [
      h('span', {class: 'send-error', text: reason}),
      h('button', {
        type: 'button',
        class: 'retry',
        text: 'Retry',
        'aria-label': 'Retry sending this message',
        on: {click: () => this._client.retry(cid)},
      }),
      h('button', {
        type: 'button',
        class: 'discard',
        text: 'Discard',
        'aria-label': 'Discard this message',
        on: {click: () => this._client.discard(cid)},
      }),
    ]));
  }

  async _toggleMute() {
    const id = this.current;
    if (id === null) return;
    const mute = !isMuted(this._store.conv(id).mutedUntil);
    await this._headerAction(
        this._mute, mute ? 'mute' : 'unmute', () => this._store.setMuted(id, mute));
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

  /**
   * A 1:1's Block button; while the other is blocked the composer is off (the server would
   * refuse the send: PROTOCOL.md "Blocks"). @param {Conv} conv
   */
  _showBlock(conv) {
    const peer = this._list.peer(conv);
    this._block.hidden = peer === null;
    const blocked = peer !== null && this._blocks.has(peer);
    const name = peer === null ? '' : this._names.name(peer);
    setText(this._block, blocked ? 'Unblock' : 'Block');
    this._block.setAttribute('aria-pressed', String(blocked));
    this._block.setAttribute('aria-label', `${blocked ? 'Unblock' : 'Block'} ${name}`);
    this._el.input.disabled = blocked;
    this._el.input.placeholder = blocked ? `You blocked ${name}: unblock to write` : 'Message';
  }

  async _toggleBlock() {
    const id = this.current;
    const peer = id === null ? null : this._list.peer(this._store.conv(id));
    if (peer === null) return;
    const block = !this._blocks.has(peer);
    await this._headerAction(
        this._block, block ? 'block' : 'unblock', () => this._blocks.set(peer, block));
  }

  /** @param {Conv} conv */
  _statusText(conv) {
    const peer = this._list.peer(conv);
    const presence = this._client.presence;
    if (peer !== null) {
      if (this._blocks.has(peer)) return 'Blocked';
      const status = this._names.profile(peer)?.status;
      const seen = presenceText(presence.get(peer));
      return status ? `${seen ? `${seen} · ` : ''}${status}` : seen;
    }
    const online =
        conv.members.filter((u) => u !== this._store.me && presence.get(u)?.status === 'online')
            .length;
    return `${conv.members.length} members${online ? `, ${online} online` : ''}`;
  }

  /** The jump button shows once the newest message is more than a screen below. */
  _showJump() {
    const list = this._el.messages;
    this._el.jump.hidden = this.current === null ||
        list.scrollHeight - list.scrollTop - list.clientHeight < list.clientHeight;
  }

  /** Everything on screen is read, while the page is visible. */
  _markRead() {
    if (this.current === null || document.visibilityState !== 'visible') return;
    if (this._onScreen.size === 0) return;
    this._store.markRead(this.current, Math.max(...this._onScreen));
  }

  _wireComposer() {
    const input = this._el.input;
    this._el.composer.addEventListener('submit', (event) => {
      event.preventDefault();
      this._send();
    });
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this._send();
      } else if (event.key === 'ArrowUp' && input.value === '' && this.current !== null) {
        // ↑ in an empty composer edits the user's last message, as in Slack and Telegram (a
        // call's record, the server's words, is nobody's to edit).
        const conv = this._store.conv(this.current);
        const last = [...conv.messages.values()]
                         .filter((m) => this._store.mine(m) && !m.deleted && m.kind !== 'call')
                         .sort((a, b) => b.seq - a.seq)[0];
        if (last) {
          event.preventDefault();
          this._startEdit(last.seq);
        }
      } else if (event.key === 'Escape' && this._editing) {
        event.preventDefault();  // Cancels the edit; the conversation stays open.
        this._stopEdit();
      } else if (event.key === 'Escape' && this._replyingTo !== null) {
        event.preventDefault();  // Cancels the reply; the text and the conversation stay.
        this._stopReply();
      }
    });
    input.addEventListener('input', () => {
      if (this.current === null) return;
      if (input.value === '')
        this._client.stopTyping(this.current);
      else
        this._client.typing(this.current);
      input.style.height = 'auto';
      input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
      this._checkLength();
    });
    byId('conversation').addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
      if (event.key === 'Escape' && !event.defaultPrevented) this._onBack();
    });
  }

  /**
   * Over the limit (tooLongText), the count shows and Send is off.
   * @returns {boolean} within the limit
   */
  _checkLength() {
    const tooLong = tooLongText(this._el.input.value);
    const over = tooLong !== null;
    const waiting = this._waitingSend !== 0;
    setText(
        this._el.count,
        tooLong ??
            (waiting                ? 'Sending once the files are uploaded…' :
                 this._tray?.failed ? 'Remove the files that were not uploaded to send.' :
                 this._editing      ? 'Editing your message: Enter saves, Escape cancels' :
                                      ''));
    this._el.sendButton.disabled = over || waiting || Boolean(this._tray?.failed);
    return !over;
  }

  /** @param {Iterable<File>} files */
  _addFiles(files) {
    if (this.current === null) return;
    this._tray.add(files);
  }

  _wireFiles() {
    const input = /** @type {HTMLInputElement} */ (byId('file-input'));
    byId('attach-button').addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      this._addFiles([...(input.files ?? [])]);
      input.value = '';
    });
    const pane = byId('conversation');
    const hasFiles = (/** @type {DragEvent} */ e) => e.dataTransfer?.types.includes('Files');
    pane.addEventListener('dragover', (/** @type {DragEvent} */ e) => {
      if (!hasFiles(e) || this.current === null) return;
      e.preventDefault();
      pane.classList.add('dropping');
    });
    pane.addEventListener('dragleave', () => pane.classList.remove('dropping'));
    pane.addEventListener('drop', (/** @type {DragEvent} */ e) => {
      pane.classList.remove('dropping');
      if (!hasFiles(e)) return;
      e.preventDefault();
      this._addFiles([...(e.dataTransfer?.files ?? [])]);
    });
    this._el.input.addEventListener('paste', (/** @type {ClipboardEvent} */ e) => {
      const images = [...(e.clipboardData?.files ?? [])].filter((f) => f.type.startsWith('image/'));
      if (images.length === 0) return;
      e.preventDefault();
      this._addFiles(images);
    });
  }

  /**
   * Sends the composer's text with the tray's files; while files are still going up, the send
   * waits for them (the text and the tray stay, Send is off).
   */
  /** Puts the user's message `seq` into the composer, to be saved by Enter. @param {number} seq */
  _startEdit(seq) {
    if (this.current === null) return;
    const message = this._store.conv(this.current).messages.get(seq);
    if (!message || !this._store.mine(message) || message.deleted) return;
    this._editing = {conv: this.current, seq};
    this._el.input.value = message.body;
    this._el.composer.classList.add('editing');
    this._checkLength();
    this._el.input.focus();
  }

  _stopEdit() {
    this._editing = null;
    this._el.input.value = '';
    this._el.composer.classList.remove('editing');
    this._checkLength();
  }

  /** Makes the next send a reply to message `seq`: the bar above the composer says to what. */
  _startReply(/** @type {number} */ seq) {
    if (this.current === null) return;
    const message = this._store.conv(this.current).messages.get(seq);
    if (!message || message.deleted) return;
    if (this._editing) this._stopEdit();
    this._replyingTo = seq;
    const who = this._store.mine(message) ? 'yourself' : this._names.name(message.from);
    setText(byId('reply-to-text'), `Replying to ${who}: ${excerpt(message)}`);
    byId('reply-bar').hidden = false;
    this.focusComposer();
  }

  _stopReply() {
    this._replyingTo = null;
    byId('reply-bar').hidden = true;
  }

  /**
   * A reply's quote of its parent (the server's `quote`: its current state when read; a parent
   * this page holds is shown as it holds it, so later edits show at once).
   * @param {HTMLElement} li @param {HTMLElement} el
   * @param {import('/sdk/types.js').Message | null} message @param {Conv} conv
   */
  _showQuote(li, el, message, conv) {
    const parentSeq = message && !message.deleted ? message.reply_to : undefined;
    el.hidden = !parentSeq;
    if (!parentSeq || !message) return;
    li.dataset.replyTo = String(parentSeq);
    const held = conv.messages.get(parentSeq);
    const quote = message.quote;
    const from = held?.from ?? quote?.from;
    const gone = held ? held.deleted : quote?.deleted;
    const name = from === undefined ? '' : this._names.name(from);
    const text = gone ? 'Deleted message' : held ? excerpt(held) : quote?.body ?? '';
    setText(el, name ? `${name}: ${text}` : text);
    el.classList.toggle('gone', Boolean(gone));
    el.setAttribute('aria-label', `Replying to ${name}: ${text}. Show that message`);
  }

  /**
   * A root's line under its body: its reply count, when the last reply came, and a mark while
   * the thread has replies by others the user has not read (PROTOCOL.md, "Replies and
   * threads"). @param {HTMLElement} el @param {import('/sdk/types.js').Message} message
   * @param {Conv} conv
   */
  _showThreadSummary(el, message, conv) {
    const count = message.reply_count ?? 0;
    el.hidden = count === 0;
    if (count === 0) return;
    const unread = this._store.threadUnread(conv, message);
    if (unread === null) this._store.learnThreadRead(conv.id, message.seq);
    const text = replyCountText(count, message.last_reply_at ?? message.ts);
    setText(/** @type {HTMLElement} */ (el.querySelector('.thread-text')), text);
    if (unread)
      el.dataset.unread = '';
    else
      delete el.dataset.unread;
    el.setAttribute('aria-label', `${text}${unread ? ', unread replies' : ''}. Open the thread`);
  }

  /**
   * Opens the thread message `seq` is in: its own, or its root's when it is a thread reply.
   * @param {number} seq @param {HTMLElement} from
   */
  _openThread(seq, from) {
    if (this.current === null) return;
    const message = this._store.conv(this.current).messages.get(seq);
    if (!message) return;
    this._onThread(this.current, message.thread_root ?? seq, from);
  }

  /** An image full size (the thread's bubbles use the conversation's viewer). */
  viewImage(/** @type {import('/sdk/types.js').Attachment} */ attachment) {
    this._viewer.open(attachment);
  }

  /** Scrolls to the message a reply answers. @param {HTMLElement} li */
  _jumpToParent(li) {
    const seq = Number(li.dataset.replyTo);
    if (seq > 0) this.jumpTo(seq);
  }

  /** Deletes the user's message `seq` for everyone, once confirmed. @param {number} seq */
  _delete(seq) {
    if (this.current === null) return;
    if (!window.confirm('Delete this message for everyone?')) return;
    this._client.deleteMessage(this.current, seq);
  }

  /**
   * Opens the reaction picker under message `seq` (one at a time).
   * @param {HTMLElement} li @param {number} seq @param {HTMLElement} button
   */
  _openPicker(li, seq, button) {
    this._el.messages.querySelector('.react-picker')?.remove();
    const conv = this.current;
    if (conv === null) return;
    const picker = reactionPicker((emoji) => {
      const message = this._store.conv(conv).messages.get(seq);
      const mine =
          message?.reactions?.find((r) => r.emoji === emoji)?.users.includes(this._store.me);
      // Picking one's own reaction again leaves it, as a chip's click would not.
      if (!mine) this._client.react(conv, seq, emoji);
    }, button);
    li.append(picker);
    /** @type {HTMLElement} */ (picker.firstElementChild).focus();
  }

  /** Pins message `seq`, or unpins it when pinned. @param {number} seq */
  _togglePin(seq) {
    if (this.current === null) return;
    const message = this._store.conv(this.current).messages.get(seq);
    if (!message || message.deleted) return;
    this._client.pin(this.current, seq, {on: !message.pinned_at});
  }

  /** The pins dialog: the conversation's pinned messages, read from the server. */
  async _openPins() {
    const id = this.current;
    if (id === null) return;
    const status = byId('pins-status');
    const list = byId('pins-list');
    list.replaceChildren();
    setText(status, 'Loading…');
    this._pinsDialog.showModal();
    try {
      const pins = await this._client.pins(id);
      if (this.current !== id) return;
      setText(status, pins.length === 0 ? 'No pinned messages.' : '');
      showPins(list, pins, (u) => this._names.name(u), (seq) => {
        this._pinsDialog.close();
        this.jumpTo(seq);
      });
    } catch (error) {
      setText(status, `Could not load the pins: ${reason(error)}`);
    }
  }

  /**
   * Scrolls to message `seq` of the open conversation and flashes it, loading older pages until
   * it is there (or history ends). @param {number} seq
   */
  async jumpTo(seq) {
    const id = this.current;
    if (id === null) return;
    const find = () => /** @type {HTMLElement | null} */ (
        this._el.messages.querySelector(`.msg[data-seq="${seq}"]`));
    while (!find() && !this._historyDone && this.current === id) {
      if (this._loading) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      } else {
        await this.loadOlder();
      }
    }
    const li = find();
    if (!li || this.current !== id) return;
    li.scrollIntoView({block: 'center'});
    // An attribute, not a class: a render rewrites the class list. Removed when it has played,
    // so that the same message can be jumped to again.
    li.dataset.flash = '';
    li.addEventListener('animationend', () => delete li.dataset.flash, {once: true});
  }

  async _send() {
    const conv = this.current;
    const editing = this._editing;
    if (editing && editing.conv === conv) {
      const text = this._el.input.value.trim();
      if (text === '' || !this._checkLength()) return;
      this._client.edit(conv, editing.seq, text);
      this._stopEdit();
      return;
    }
    if (conv === null || this._waitingSend !== 0 || this._tray.failed) return;
    if (!this._checkLength() || (this._el.input.value.trim() === '' && this._tray.empty)) return;
    if (this._tray.busy) {
      const waiting = ++this._sendTicket;
      this._waitingSend = waiting;
      this._checkLength();
      await this._tray.settled();
      if (this._waitingSend !== waiting) return;  // another conversation was opened meanwhile
      this._waitingSend = 0;
      if (this.current !== conv || this._tray.failed) {
        this._checkLength();
        return;
      }
    }
    // The text as it is now: it stayed editable while the files went up.
    const text = this._el.input.value.trim();
    const attachments = this._tray.ids();
    if (!this._checkLength() || (text === '' && attachments.length === 0)) return;
    const replyTo = this._replyingTo ?? undefined;
    this._client.send(conv, text, {attachments, replyTo});
    this._stopReply();
    this._tray.clear();
    this._el.input.value = '';
    this._el.input.style.height = 'auto';
    this._checkLength();
    this._stickToBottom = true;
    this.render();
  }
}
