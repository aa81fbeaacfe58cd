// The dialogs that list messages (Search messages, Mentions, Starred): each item says who wrote
// the message where and when, then shows its body, and choosing it closes the dialog and opens
// the message. The list comes in pages (More, where the dialog has it), each page's authors
// named before it shows.

import {byId, dialogById, h, setText} from './dom.js';
import {clock, dayLabel, reason} from './format.js';

/**
 * @typedef {{client: import('/sdk/index.js').RingcastClient,
 *            names: import('./names.js').Names, title: (conv: number) => string,
 *            onOpen: (conv: number, seq: number) => void}} ListParts
 *   `onOpen`: what choosing a message does, once the dialog has closed
 */

/**
 * A subclass says how its pages load and what an item shows:
 * `async _load(next)`: the page that starts at `next` (null: the first), as `{messages, next}`
 * with where the page after it starts (null: there is none);
 * `_row(message)`: the message's item, made with `_item`.
 * @template {{conv: number, seq: number, from: number, ts: number}} M
 */
export class MessageListDialog {
  /**
   * @param {string} id the dialog's; its list, status line and More button (if it has one) are
   *     `${id}-list`, `${id}-status`, `${id}-more`
   * @param {ListParts} parts
   * @param {{asking: string, none?: string, failed: string}} texts the status line while a page
   *     loads, when the list is empty (or a subclass's `_none()`), and before the reason a page
   *     failed
   */
  constructor(id, {client, names, title, onOpen}, texts) {
    this._client = client;
    this._names = names;
    this._title = title;
    this._onOpen = onOpen;
    this._texts = texts;
    this._dialog = dialogById(id);
    this._list = byId(`${id}-list`);
    this._status = byId(`${id}-status`);
    this._more = /** @type {HTMLButtonElement | null} */ (document.getElementById(`${id}-more`));
    this._more?.addEventListener('click', () => this._showPage(false));
    /** Each page asked for: an answer overtaken by a newer page or a clear is dropped. */
    this._asked = 0;
    /** @type {unknown} what `_load` said the next page starts at */
    this._next = null;
  }

  /** The status line of an empty list. */
  _none() {
    return this._texts.none ?? '';
  }

  /** Empties the list; the answers still awaited are dropped. */
  _clear() {
    ++this._asked;
    this._list.replaceChildren();
    this._next = null;
    if (this._more) this._more.hidden = true;
    setText(this._status, '');
  }

  /** Shows the first page (`first`: the list emptied first) or the next one. */
  async _showPage(/** @type {boolean} */ first) {
    if (first) this._clear();
    const asked = ++this._asked;
    if (this._more) this._more.hidden = true;
    setText(this._status, this._texts.asking);
    try {
      const {messages, next} = await this._load(first ? null : this._next);
      await this._names.resolve(messages.map((m) => m.from));
      if (asked !== this._asked) return;
      this._next = next;
      if (this._more) this._more.hidden = next === null;
      this._list.append(...messages.map((m) => this._row(m)));
      setText(this._status, this._list.childElementCount ? '' : this._none());
    } catch (error) {
      if (asked !== this._asked) return;
      setText(this._status, `${this._texts.failed}: ${reason(error)}`);
    }
  }

  /**
   * A message's item: a button with `className`, its who-where line in `whereClass`, then `body`.
   * @param {M} message
   * @param {string} className
   * @param {string} whereClass
   * @param {HTMLElement} body
   */
  _item(message, className, whereClass, body) {
    return h(
        'li', {},
        [h('button', {
          type: 'button',
          class: className,
          dataset: {conv: String(message.conv), seq: String(message.seq)},
          on: {
            click: () => {
              this._dialog.close();
              this._onOpen(message.conv, message.seq);
            }
          },
        },
           [
             h('span', {
               class: whereClass,
               text: `${this._names.name(message.from)} in ${this._title(message.conv)}`
             }),
             h('time', {class: 'conv-time', text: `${dayLabel(message.ts)} ${clock(message.ts)}`}),
             body,
           ])]);
  }
}
