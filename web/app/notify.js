// Browser notifications for messages that arrive while the page is hidden, once the user has
// allowed them (the bell button asks: browsers only ask in answer to a click).

import {byId} from './dom.js';

export class Notifier {
  /**
   * @param {{title: (conv: number) => string, sender: (user: number) => string,
   *          onOpen: (conv: number) => void}} parts
   */
  constructor({title, sender, onOpen}) {
    this._title = title;
    this._sender = sender;
    this._onOpen = onOpen;
    this._button = /** @type {HTMLButtonElement} */ (byId('notify-button'));
    this._button.addEventListener('click', async () => {
      await Notification.requestPermission();
      this._showButton();
    });
    this._showButton();
  }

  get _supported() {
    return typeof Notification !== 'undefined';
  }

  _showButton() {
    this._button.hidden = !this._supported || Notification.permission !== 'default';
  }

  /** @param {import('/sdk/types.js').Message} message */
  notify(message) {
    if (!this._supported || Notification.permission !== 'granted') return;
    if (document.visibilityState !== 'hidden') return;
    const title = this._title(message.conv);
    const sender = this._sender(message.from);
    const body = title === sender ? message.body : `${sender}: ${message.body}`;
    const notification = new Notification(title, {body, tag: `conv-${message.conv}`});
    notification.addEventListener('click', () => {
      window.focus();
      this._onOpen(message.conv);
      notification.close();
    });
  }
}
