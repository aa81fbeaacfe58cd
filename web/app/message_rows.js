// The open conversation's list, row by row: what rows it has (the "Loading…" sentinel while
// older history exists, day separators, the "Unread messages" divider, a group's change or a
// call's record as a centered notice, messages and the sends still pending) and each row's
// element, created once and then updated in place (reconcile, dom.js): the sender of a group
// message, a reply's quote of its parent, the body, reactions, the pin and star marks, "edited",
// the time and ticks, a refused send's reason with Retry and Discard, a thread root's reply line,
// and the message menu. What the menu and the quote do is the view's (conversation.js).

import {callEntry, systemEntry} from '/sdk/index.js';

import {renderAttachments} from './attachments.js';
import {h, setText} from './dom.js';
import {callText, clock, dayKey, dayLabel, replyCountText, systemText} from './format.js';
import {avatarElement, showAvatar} from './names.js';
import {showReactions} from './reactions.js';
import {renderBody} from './rich.js';

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


/**
 * What a message's buttons do (the view's): its menu, its quote and its thread line.
 * @typedef {object} MessageActions
 * @property {(seq: number) => void} reply
 * @property {(seq: number, from: HTMLElement) => void} thread opens the thread `seq` is in
 * @property {(li: HTMLElement, seq: number, button: HTMLElement) => void} react the picker
 * @property {(seq: number) => void} pin pins, or unpins
 * @property {(seq: number, li: HTMLElement) => void} star stars, or unstars (stars.js)
 * @property {(seq: number) => void} edit
 * @property {(seq: number) => void} delete
 * @property {(li: HTMLElement) => void} parent shows the message a reply answers
 * @property {(a: import('/sdk/types.js').Attachment) => void} viewImage
 */

/**
 * What the rows need of the conversation view: its parts, its actions, the sentinel, and the
 * observers that watch the sentinel (`older`: older pages to load) and the messages (`seen`:
 * read marking); the user's stars (the star mark).
 * @typedef {import('./conversation.js').ViewParts & {actions: MessageActions,
 *     sentinel: HTMLElement, older: IntersectionObserver, seen: IntersectionObserver,
 *     stars: import('./stars.js').Stars}} RowsHost
 */

export class MessageRows {
  /** @param {RowsHost} host */
  constructor(host) {
    this._host = host;
  }

  /**
   * @param {Conv} conv @param {{historyDone: boolean, unreadFrom: number | null}} view
   *     `unreadFrom`: the read watermark when the conversation was opened (the divider)
   * @returns {(Row | {type: 'sentinel', key: string})[]}
   */
  rows(conv, {historyDone, unreadFrom}) {
    /** @type {any[]} */
    const rows = [];
    if (!historyDone) rows.push({type: 'sentinel', key: 'sentinel'});
    let day = '';
    const addDay = (/** @type {number} */ ts) => {
      const key = dayKey(ts);
      if (key !== day) rows.push({type: 'day', key: `day-${key}`, ts});
      day = key;
    };
    let divided = unreadFrom === null;
    for (const seq of [...conv.messages.keys()].sort((a, b) => a - b)) {
      const message = /** @type {any} */ (conv.messages.get(seq));
      addDay(message.ts);
      if (!divided && seq > /** @type {number} */ (unreadFrom) &&
          message.from !== this._host.store.me) {
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
  create(row) {
    if (row.type === 'sentinel') {
      this._host.older.observe(this._host.sentinel);
      return this._host.sentinel;
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
      this._host.seen.observe(li);
      return li;
    }
    const attachments = row.type === 'message' ? row.message.attachments : null;
    const li = h('li', {class: 'msg'}, [
      h('span', {class: 'sender'}, [avatarElement(), h('span', {class: 'sender-name'})]),
      h('button', {
        type: 'button',
        class: 'quote',
        hidden: true,
        on: {click: () => this._host.actions.parent(li)},
      }),
      attachments?.length ?
          renderAttachments(
              this._host.client, attachments, (a) => this._host.actions.viewImage(a)) :
          null,
      row.type === 'pending' ? pendingFiles(row.entry) : null,
      h('span', {class: 'body'}),
      h('span', {class: 'reactions', hidden: true}),
      h('span', {class: 'meta'},
        [
          h('span', {class: 'pinned-mark', text: '📌 pinned', hidden: true}),
          h('span', {class: 'starred-mark', text: '★ starred', hidden: true}),
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
      summary.addEventListener('click', () => this._host.actions.thread(seq, summary));
      li.append(summary);
      // The message menu: shown on hover or focus (style.css); Edit and Delete on one's own.
      const react = h('button', {
        type: 'button',
        class: 'react-message',
        text: 'React',
        'aria-label': 'Add a reaction',
        on: {click: () => this._host.actions.react(li, seq, react)},
      });
      li.append(h('span', {class: 'msg-actions'}, [
        h('button', {
          type: 'button',
          class: 'reply-message',
          text: 'Reply',
          'aria-label': 'Reply to this message',
          on: {click: () => this._host.actions.reply(seq)},
        }),
        h('button', {
          type: 'button',
          class: 'thread-message',
          text: 'Reply in thread',
          'aria-label': 'Reply in this message\'s thread',
          on: {
            click: (/** @type {Event} */ e) =>
                this._host.actions.thread(seq, /** @type {HTMLElement} */ (e.currentTarget))
          },
        }),
        react,
        h('button', {
          type: 'button',
          class: 'pin-message',
          on: {click: () => this._host.actions.pin(seq)},
        }),
        h('button', {
          type: 'button',
          class: 'star-message',
          on: {click: () => this._host.actions.star(seq, li)},
        }),
        h('button', {
          type: 'button',
          class: 'edit-message',
          text: 'Edit',
          'aria-label': 'Edit this message',
          on: {click: () => this._host.actions.edit(seq)},
        }),
        h('button', {
          type: 'button',
          class: 'delete-message',
          text: 'Delete',
          'aria-label': 'Delete this message for everyone',
          on: {click: () => this._host.actions.delete(seq)},
        }),
      ]));
      li.dataset.seq = String(row.message.seq);
      this._host.seen.observe(li);
    }
    return li;
  }

  /** @param {HTMLElement} li @param {any} row @param {Conv} conv */
  update(li, row, conv) {
    if (row.type === 'sentinel' || row.type === 'day' || row.type === 'unread') return;
    if (row.type === 'system') {
      setText(li, systemText(row.entry, (user) => this._host.names.name(user)));
      return;
    }
    if (row.type === 'call') {
      const {call, message} = row;
      li.dataset.outcome = call.outcome;
      li.dataset.callKind = call.call_kind;
      li.classList.toggle(
          'missed', call.outcome !== 'completed' && message.from !== this._host.store.me);
      setText(
          /** @type {HTMLElement} */ (li.querySelector('.call-icon')),
          call.call_kind === 'video' ? '🎥' : '📞');
      setText(
          /** @type {HTMLElement} */ (li.querySelector('.call-text')),
          callText(call, message.from, this._host.store.me));
      setText(/** @type {HTMLElement} */ (li.querySelector('.time')), clock(message.ts));
      return;
    }
    const me = this._host.store.me;
    const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (li.querySelector(s));
    const own = row.type === 'pending' || row.message.from === me;
    const deleted = row.type === 'message' && row.message.deleted === true;
    const body = row.type === 'pending' ? row.entry.body :
        deleted                         ? 'This message was deleted' :
                                          row.message.body;
    const ts = row.type === 'pending' ? row.entry.created_ms : row.message.ts;
    const state = row.type === 'pending' ? row.entry.state :
        own                              ? this._host.store.tick(conv, row.message.seq) :
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
      // The user's own mark: no other member sees it (PROTOCOL.md, "Stars").
      const starred = !deleted && this._host.stars.has(conv.id, seq);
      const star = q('.star-message');
      setText(star, starred ? 'Unstar' : 'Star');
      star.setAttribute('aria-label', starred ? 'Unstar this message' : 'Star this message');
      q('.starred-mark').hidden = !starred;
      showReactions(
          q('.reactions'), row.message, me, (u) => this._host.names.name(u),
          (emoji, on) => this._host.client.react(conv.id, seq, emoji, {on}));
    }
    q('.edited').hidden = row.type === 'pending' || deleted || !row.message.edited_at;
    if (row.type === 'message') this._showThreadSummary(q('.thread-summary'), row.message, conv);
    this._showQuote(li, q('.quote'), row.type === 'message' ? row.message : null, conv);
    li.dataset.state = state;
    if (row.type === 'pending') li.dataset.cid = row.entry.cid;
    const from = row.type === 'message' ? row.message.from : me;
    const sender = !own && conv.group ? this._host.names.name(from) : '';
    setText(q('.sender-name'), sender);
    if (sender)
      showAvatar(q('.sender .avatar'), sender, this._host.names.avatar(from), {initial: false});
    q('.sender').hidden = !sender;
    showBody(
        q('.body'), body, row.type === 'message' ? row.message.mentions : undefined,
        this._host.names, this._host.store.me);
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
        on: {click: () => this._host.client.retry(cid)},
      }),
      h('button', {
        type: 'button',
        class: 'discard',
        text: 'Discard',
        'aria-label': 'Discard this message',
        on: {click: () => this._host.client.discard(cid)},
      }),
    ]));
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
    const name = from === undefined ? '' : this._host.names.name(from);
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
    const unread = this._host.store.threadUnread(conv, message);
    if (unread === null) this._host.store.learnThreadRead(conv.id, message.seq);
    const text = replyCountText(count, message.last_reply_at ?? message.ts);
    setText(/** @type {HTMLElement} */ (el.querySelector('.thread-text')), text);
    if (unread)
      el.dataset.unread = '';
    else
      delete el.dataset.unread;
    el.setAttribute('aria-label', `${text}${unread ? ', unread replies' : ''}. Open the thread`);
  }
}
