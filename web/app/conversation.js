// The open conversation: the header (conv_header.js), the messages (their rows: message_rows.js)
// with older pages loaded while scrolling up (the SDK's historyPager), "typing…", and the
// composer (composer.js). Opened with unread messages it starts at the "Unread messages"
// divider; the jump button shows once the newest message is more than a screen below. Marks
// messages read once they are on screen while the page is visible. The message menu's actions
// are here (a thread opens beside: thread.js; a star is the user's own: stars.js), and `jumpTo`
// scrolls to any message.

import {ImageViewer} from './attachments.js';
import {Composer} from './composer.js';
import {ConversationHeader} from './conv_header.js';
import {byId, h, reconcile, setText} from './dom.js';
import {joinNames, reason} from './format.js';
import {MessageRows} from './message_rows.js';
import {reactionPicker} from './reactions.js';

const PAGE = 30;
// How long a refused star's reason stays under its message.
const STAR_ERROR_MS = 6000;

/**
 * The app's parts a view of the conversation works with (its header, rows and composer too).
 * @typedef {{client: import('/sdk/index.js').RingcastClient, store: import('./store.js').Store,
 *     names: import('./names.js').Names}} ViewParts
 */

export class ConversationView {
  /**
   * @param {{client: import('/sdk/index.js').RingcastClient, store: import('./store.js').Store,
   *          names: import('./names.js').Names, list: import('./conv_list.js').ConversationList,
   *          blocks: import('./settings.js').Blocks, stars: import('./stars.js').Stars,
   *          onBack: () => void,
   *          onThread: (conv: number, root: number, from: HTMLElement) => void}} parts
   *     `onThread` opens the thread of root message `root` (`from`: what gets the focus back)
   */
  constructor({client, store, names, list, blocks, stars, onBack, onThread}) {
    this._onThread = onThread;
    this._stars = stars;
    this._client = client;
    this._store = store;
    this._names = names;
    /** @type {number | null} */
    this.current = null;
    this._el = {
      placeholder: byId('conv-placeholder'),
      messages: byId('messages'),
      typing: byId('typing'),
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
    this._viewer = new ImageViewer(client);
    const current = () => this.current;
    const parts = {client, store, names};
    this._composer = new Composer({
      ...parts,
      current,
      onSent: () => {
        this._stickToBottom = true;
        this.render();
      },
    });
    this._header = new ConversationHeader({
      ...parts,
      list,
      blocks,
      composer: this._composer,
      current,
      jumpTo: (seq) => this.jumpTo(seq),
    });
    this._rows = new MessageRows({
      ...parts,
      sentinel: this._sentinel,
      older: this._older,
      seen: this._seen,
      stars,
      actions: {
        reply: (seq) => this._composer.startReply(seq),
        thread: (seq, from) => this._openThread(seq, from),
        react: (li, seq, button) => this._openPicker(li, seq, button),
        pin: (seq) => this._togglePin(seq),
        star: (seq, li) => this._toggleStar(seq, li),
        edit: (seq) => this._composer.startEdit(seq),
        delete: (seq) => this._delete(seq),
        parent: (li) => this._jumpToParent(li),
        viewImage: (a) => this._viewer.open(a),
      },
    });
    byId('conversation').addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
      if (event.key === 'Escape' && !event.defaultPrevented) onBack();
    });
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
    const open = id !== null;
    this._composer.reset(open);
    this._stickToBottom = true;
    this._el.placeholder.hidden = open;
    this._el.messages.hidden = !open;
    this._header.reset(open);
    this._el.jump.hidden = true;
    const conv = open ? this._store.conv(id) : null;
    this._unreadFrom = conv && this._store.unread(conv) > 0 ? conv.myRead : null;
    this._scrollToDivider = this._unreadFrom !== null;
    if (!open) {
      setText(this._el.typing, '');
      return;
    }
    this._pager = this._client.historyPager(id, {limit: PAGE});
    this.render();
    this.loadOlder();
  }

  focusComposer() {
    this._composer.focus();
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
    this._header.render(conv);
    const typing = [...conv.typing].map((u) => this._names.name(u));
    setText(
        this._el.typing,
        typing.length === 0 ? '' :
            conv.group      ? `${joinNames(typing)} ${typing.length > 1 ? 'are' : 'is'     } typing…` :
                              'typing…');

    const list = this._el.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    const rows =
        this._rows.rows(conv, {historyDone: this._historyDone, unreadFrom: this._unreadFrom});
    reconcile(
        list, rows, (row) => row.key, (row) => this._rows.create(row),
        (el, row) => this._rows.update(el, row, conv));
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

  /**
   * Stars message `seq`, or unstars it when starred (the button off meanwhile); a refusal (not
   * connected, the message deleted meanwhile) shows under the message for a while.
   * @param {number} seq @param {HTMLElement} li
   */
  async _toggleStar(seq, li) {
    const id = this.current;
    if (id === null) return;
    const message = this._store.conv(id).messages.get(seq);
    if (!message || message.deleted) return;
    const button = /** @type {HTMLButtonElement} */ (li.querySelector('.star-message'));
    const on = !this._stars.has(id, seq);
    li.querySelector('.star-error')?.remove();
    button.disabled = true;
    try {
      await this._stars.set(id, seq, on);
    } catch (error) {
      const shown = h('span', {
        class: 'send-error star-error',
        role: 'status',
        text: `Could not ${on ? 'star' : 'unstar'}: ${reason(error)}`,
      });
      li.append(shown);
      setTimeout(() => shown.remove(), STAR_ERROR_MS);
    } finally {
      button.disabled = false;
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
}
