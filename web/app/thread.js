// The thread panel (PROTOCOL.md, "Replies and threads"): a root message and the replies in its
// thread, beside the open conversation (over it on narrower screens). The replies come from the
// SDK's `thread` pages (newest first; "Older replies" asks for the page before the oldest one
// shown) and, live, from the store: every thread reply is a message of the conversation too,
// shown there as any reply is. The composer sends with `replyTo` the root and `thread: true`.
// While it shows replies and the page is visible, the user's thread watermark follows the
// newest one (`thread_read`). Escape or × closes it; the focus goes back to what opened it.

import {renderAttachments} from './attachments.js';
import {tooLongText, wireInput} from './composer.js';
import {byId, h, reconcile, setText} from './dom.js';
import {clock, dayKey, dayLabel, reason} from './format.js';
import {excerpt, showBody} from './message_rows.js';
import {avatarElement, showAvatar} from './names.js';
import {showReactions} from './reactions.js';

const PAGE = 30;

/**
 * @typedef {import('/sdk/types.js').Message} Message
 * @typedef {import('./store.js').Conv} Conv
 * @typedef {{type: 'root' | 'reply', key: string, message: Message}
 *   | {type: 'pending', key: string, entry: import('/sdk/types.js').OutboxEntry}
 *   | {type: 'count' | 'older' | 'status', key: string, text: string}} Row
 */

/** A time with its day when that is not today. @param {number} ms */
function stamp(ms) {
  return dayKey(ms) === dayKey(Date.now()) ? clock(ms) : `${dayLabel(ms)} ${clock(ms)}`;
}

export class ThreadPanel {
  /**
   * @param {{client: import('/sdk/index.js').RingcastClient, store: import('./store.js').Store,
   *          names: import('./names.js').Names, title: (conv: number) => string,
   *          viewImage: (a: import('/sdk/types.js').Attachment) => void}} parts
   */
  constructor({client, store, names, title, viewImage}) {
    this._client = client;
    this._store = store;
    this._names = names;
    this._title = title;
    this._viewImage = viewImage;
    this._el = {
      panel: byId('thread'),
      where: byId('thread-where'),
      list: byId('thread-messages'),
      composer: byId('thread-composer'),
      input: /** @type {HTMLTextAreaElement} */ (byId('thread-input')),
      send: /** @type {HTMLButtonElement} */ (byId('thread-send')),
      count: byId('thread-count'),
    };
    /** @type {number | null} the conversation of the thread shown */
    this.conv = null;
    /** @type {number | null} the seq of its root */
    this.root = null;
    /** @type {HTMLElement | null} what opened it: the focus goes back there */
    this._opener = null;
    this._loaded = false;  // a page came back: the root is one, older pages follow it
    this._loading = false;
    this._more = false;  // replies older than `_floor` exist
    this._floor = 0;     // the oldest reply the pages gave
    this._status = '';
    this._stick = false;  // keep the newest reply in view at the next render
    this._ticket = 0;     // each open's number: an answer for an earlier one is dropped
    byId('thread-close').addEventListener('click', () => this.close());
    this._el.panel.addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
      if (event.key === 'Escape' && !event.defaultPrevented) {
        event.preventDefault();
        this.close();
      }
    });
    this._el.composer.addEventListener('submit', (event) => {
      event.preventDefault();
      this._send();
    });
    wireInput(this._el.input, {
      client,
      conv: () => this.conv,
      send: () => this._send(),
      changed: () => this._checkLength(),
    });
    document.addEventListener('visibilitychange', () => this._markRead());
    // Opened offline: the first page comes once connected.
    client.on('hello', () => {
      if (this.conv !== null && !this._loaded) this._load();
    });
  }

  /**
   * Shows the thread of root message `root` of `conv`.
   * @param {number} conv @param {number} root @param {HTMLElement} [from] gets the focus back
   */
  open(conv, root, from) {
    if (this.conv !== conv || this.root !== root) {
      this.close({focus: false});
      this.conv = conv;
      this.root = root;
      this._opener = from ?? null;
      this._loaded = false;
      this._more = false;
      this._floor = 0;
      this._status = '';
      this._stick = true;
      this._el.input.value = '';
      this._el.input.style.height = 'auto';
      this._checkLength();
      this._el.panel.hidden = false;
      document.body.classList.add('thread-open');
      this.render();
      this._load();
    }
    this._el.input.focus();
  }

  /**
   * Hides the panel. @param {{focus?: boolean}} [options] `focus` false: it stays where it is
   * (another conversation opened, say)
   */
  close({focus = true} = {}) {
    if (this.conv === null) return;
    this._client.stopTyping(this.conv);
    this.conv = null;
    this.root = null;
    this._ticket += 1;
    this._loading = false;
    this._el.panel.hidden = true;
    this._el.list.replaceChildren();
    document.body.classList.remove('thread-open');
    const opener = this._opener;
    this._opener = null;
    if (!focus) return;
    if (opener?.isConnected)
      opener.focus();
    else
      byId('composer-input').focus();
  }

  /**
   * The root if the store lacks it (a reply's root older than the pages read), then the next
   * page of replies: the newest, then each older one.
   */
  async _load() {
    const id = this.conv;
    const root = this.root;
    const ticket = this._ticket;
    if (id === null || root === null || this._loading) return;
    this._loading = true;
    this._status = this._loaded ? '' : 'Loading the thread…';
    this.render();
    try {
      if (!this._store.held(this._store.conv(id), root)) {
        const page = await this._client.history(id, {before: root + 1, limit: 1});
        if (ticket !== this._ticket) return;
        this._store.addThreadPage(id, page.messages.filter((m) => m.seq === root));
      }
      const older = this._loaded;
      const page =
          await this._client.thread(id, root, {before: older ? this._floor : 0, limit: PAGE});
      if (ticket !== this._ticket) return;
      const list = this._el.list;
      const fromBottom = list.scrollHeight - list.scrollTop;
      this._loaded = true;
      this._more = page.more;
      const oldest = page.messages[page.messages.length - 1];
      if (oldest) this._floor = oldest.seq;
      this._status = '';
      this._loading = false;
      this._store.addThreadPage(id, page.messages, page.read_seq, root);
      this.render();
      if (older) list.scrollTop = list.scrollHeight - fromBottom;  // What was shown stays put.
    } catch (error) {
      if (ticket !== this._ticket) return;
      const code = /** @type {any} */ (error).code;
      this._status = code === 'disconnected' || code === 'timeout' ?
          'Offline: the thread loads once the connection is back.' :
          `Could not load the thread: ${reason(error)}`;
    } finally {
      if (ticket === this._ticket) {
        this._loading = false;
        this.render();
      }
    }
  }

  render() {
    const id = this.conv;
    const rootSeq = this.root;
    if (id === null || rootSeq === null) return;
    if (!this._store.convs.has(id)) return this.close({focus: false});  // The user left it.
    const conv = this._store.conv(id);
    setText(this._el.where, `in ${this._title(id)}`);
    const list = this._el.list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    const rows = this._rows(conv, rootSeq);
    reconcile(
        list, rows, (row) => row.key, (row) => this._create(row),
        (el, row) => this._update(el, row, conv));
    if (atBottom || this._stick) list.scrollTop = list.scrollHeight;
    this._stick = false;
    this._markRead();
  }

  /**
   * The replies shown: once a page came back, none older than the pages' oldest while older
   * ones exist (so that no hole shows between a reply the timeline holds and the pages).
   * @param {Conv} conv @param {number} rootSeq @returns {Message[]}
   */
  _replies(conv, rootSeq) {
    const floor = this._loaded && this._more ? this._floor : 0;
    return this._store.threadReplies(conv, rootSeq).filter((m) => m.seq >= floor);
  }

  /** @param {Conv} conv @param {number} rootSeq @returns {Row[]} */
  _rows(conv, rootSeq) {
    /** @type {Row[]} */
    const rows = [];
    const root = this._store.held(conv, rootSeq);
    if (root) rows.push({type: 'root', key: 'root', message: root});
    const replies = this._replies(conv, rootSeq);
    const count = Math.max(root?.reply_count ?? 0, replies.length);
    if (root) {
      rows.push({
        type: 'count',
        key: 'count',
        text: count === 0 ? 'No replies yet' : `${count} ${count === 1 ? 'reply' : 'replies'}`,
      });
    }
    if (this._status) rows.push({type: 'status', key: 'status', text: this._status});
    if (this._loaded && this._more) rows.push({type: 'older', key: 'older', text: 'Older replies'});
    for (const message of replies) rows.push({type: 'reply', key: `m${message.seq}`, message});
    for (const entry of conv.pending.values()) {
      if (conv.shownAsMessage.has(entry.cid) || !entry.thread || entry.reply_to !== rootSeq) {
        continue;
      }
      rows.push({type: 'pending', key: `p${entry.cid}`, entry});
    }
    return rows;
  }

  /** @param {Row} row */
  _create(row) {
    if (row.type === 'count') return h('li', {class: 'thread-count', role: 'separator'});
    if (row.type === 'status') return h('li', {class: 'thread-status', role: 'status'});
    if (row.type === 'older') {
      return h('li', {class: 'thread-older'}, [h('button', {
                 type: 'button',
                 class: 'thread-older-button',
                 text: row.text,
                 on: {click: () => this._load()},
               })]);
    }
    const attachments = row.type === 'pending' ? null : row.message.attachments;
    return h('li', {class: 'msg'}, [
      h('span', {class: 'sender'}, [avatarElement(), h('span', {class: 'sender-name'})]),
      h('span', {class: 'quote', hidden: true}),
      attachments?.length ?
          renderAttachments(this._client, attachments, (a) => this._viewImage(a)) :
          null,
      h('span', {class: 'body'}),
      h('span', {class: 'reactions', hidden: true}),
      h('span', {class: 'meta'},
        [
          h('span', {class: 'edited', text: 'edited', hidden: true}),
          h('time', {class: 'time'}),
          h('span', {class: 'tick'}),
        ]),
    ]);
  }

  /** @param {HTMLElement} li @param {Row} row @param {Conv} conv */
  _update(li, row, conv) {
    if (row.type === 'count' || row.type === 'status') return setText(li, row.text);
    if (row.type === 'older') {
      /** @type {HTMLButtonElement} */ (li.firstElementChild).disabled = this._loading;
      return;
    }
    const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (li.querySelector(s));
    const me = this._store.me;
    const message = row.type === 'pending' ? null : row.message;
    const from = message ? message.from : me;
    const deleted = message?.deleted === true;
    li.className = `msg ${from === me ? 'own' : 'other'}${deleted ? ' deleted' : ''}${
        row.type === 'root' ? ' thread-root' : ''}`;
    if (message) li.dataset.seq = String(message.seq);
    const name = this._names.name(from);
    setText(q('.sender-name'), name);
    showAvatar(q('.sender .avatar'), name, this._names.avatar(from), {initial: false});
    this._showQuote(q('.quote'), row.type === 'reply' ? row.message : null, conv);
    const attachments = /** @type {HTMLElement | null} */ (li.querySelector('.attachments'));
    if (attachments) attachments.hidden = deleted;
    const body = message === null ? row.type === 'pending' ? row.entry.body : '' :
        deleted                   ? 'This message was deleted' :
                                    message.body;
    showBody(q('.body'), body, message?.mentions, this._names, this._store.me);
    if (message) {
      showReactions(
          q('.reactions'), message, me, (u) => this._names.name(u),
          (emoji, on) => this._client.react(conv.id, message.seq, emoji, {on}));
    }
    q('.edited').hidden = !message || deleted || !message.edited_at;
    const ts = message ? message.ts : row.type === 'pending' ? row.entry.created_ms : 0;
    setText(q('.time'), stamp(ts));
    q('.time').setAttribute('datetime', new Date(ts).toISOString());
    const tick = q('.tick');
    const state = row.type === 'pending' ? row.entry.state : '';
    li.dataset.state = state;
    setText(tick, state === 'pending' ? '◴' : state === 'failed' ? '!' : '');
    tick.className = `tick ${state}`;
    if (state)
      tick.setAttribute('aria-label', state === 'pending' ? 'sending' : 'not sent');
    else
      tick.removeAttribute('aria-label');
    tick.title = row.type === 'pending' && row.entry.error ? row.entry.error.message : '';
  }

  /**
   * A reply that answers another reply of the thread (not the root) quotes it, as the
   * conversation does. @param {HTMLElement} el @param {Message | null} message @param {Conv} conv
   */
  _showQuote(el, message, conv) {
    const parentSeq = message && !message.deleted ? message.reply_to : undefined;
    el.hidden = !parentSeq || parentSeq === this.root;
    if (el.hidden || !message || !parentSeq) return;
    const held = this._store.held(conv, parentSeq);
    const from = held?.from ?? message.quote?.from;
    const gone = held ? held.deleted : message.quote?.deleted;
    const text = gone ? 'Deleted message' : held ? excerpt(held) : message.quote?.body ?? '';
    setText(el, from === undefined ? text : `${this._names.name(from)}: ${text}`);
    el.classList.toggle('gone', Boolean(gone));
  }

  /** The replies shown are read up to the newest, while the page is visible. */
  _markRead() {
    const id = this.conv;
    const root = this.root;
    if (id === null || root === null || !this._loaded) return;
    if (document.visibilityState !== 'visible') return;
    const replies = this._replies(this._store.conv(id), root);
    const newest = replies[replies.length - 1];
    if (newest) this._store.threadRead(id, root, newest.seq);
  }

  /**
   * The server's limit in UTF-8 bytes, as the conversation's composer counts it.
   * @returns {boolean} within the limit
   */
  _checkLength() {
    const tooLong = tooLongText(this._el.input.value);
    setText(this._el.count, tooLong ?? '');
    this._el.send.disabled = tooLong !== null;
    return tooLong === null;
  }

  _send() {
    const id = this.conv;
    const root = this.root;
    const text = this._el.input.value.trim();
    if (id === null || root === null || text === '' || !this._checkLength()) return;
    this._client.send(id, text, {replyTo: root, thread: true});
    this._el.input.value = '';
    this._el.input.style.height = 'auto';
    this._checkLength();
    this._stick = true;
    this.render();
  }
}
