// The dialogs that list messages (Search messages, Mentions, Starred): each item says who wrote
// the message where and when, then shows its body, and choosing it closes the dialog and opens
// the message.

import {byId, dialogById, h} from './dom.js';
import {clock, dayLabel} from './format.js';

export class MessageListDialog {
  /**
   * @param {string} id the dialog's; its list and status line are `${id}-list`, `${id}-status`
   * @param {{names: import('./names.js').Names, title: (conv: number) => string}} parts
   */
  constructor(id, {names, title}) {
    this._names = names;
    this._title = title;
    this._dialog = dialogById(id);
    this._list = byId(`${id}-list`);
    this._status = byId(`${id}-status`);
  }

  /**
   * A message's item: a button with `className`, its who-where line in `whereClass`, then `body`.
   * @param {{conv: number, seq: number, from: number, ts: number}} message
   * @param {string} className
   * @param {string} whereClass
   * @param {HTMLElement} body
   * @param {() => void} open called once the dialog has closed
   */
  _item(message, className, whereClass, body, open) {
    return h(
        'li', {},
        [h('button', {
          type: 'button',
          class: className,
          dataset: {conv: String(message.conv), seq: String(message.seq)},
          on: {
            click: () => {
              this._dialog.close();
              open();
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
