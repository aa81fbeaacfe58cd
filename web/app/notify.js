// Browser notifications for messages that arrive while the page is hidden, once the user has
// allowed them (the bell button asks: browsers only ask in answer to a click); with that
// permission the browser is also subscribed to the server's Web Push (web/sw.js shows those
// notifications with no tab open), and unsubscribed at sign-out.

import {callEntry, subscribePush, unsubscribePush} from '/sdk/index.js';

import {byId} from './dom.js';
import {callText, reason} from './format.js';

export class Notifier {
  /**
   * @param {{client: import('/sdk/index.js').RingcastClient,
   *          worker: Promise<ServiceWorkerRegistration | null>,
   *          title: (conv: number) => string, sender: (user: number) => string,
   *          onOpen: (conv: number) => void}} parts
   */
  constructor({client, worker, title, sender, onOpen}) {
    this._client = client;
    this._worker = worker;
    this._title = title;
    this._sender = sender;
    this._onOpen = onOpen;
    this._button = /** @type {HTMLButtonElement} */ (byId('notify-button'));
    this._button.addEventListener('click', async () => {
      await Notification.requestPermission();
      this._showButton();
      this.subscribe();
    });
    this._showButton();
  }

  /** The service worker's registration, where push is supported. */
  async _registration() {
    if (typeof PushManager === 'undefined') return null;
    return this._worker;
  }

  /**
   * With the permission: the browser's push subscription, stored for the signed-in user (again
   * at every sign-in: the browser belongs to whoever subscribed it last). A browser without a
   * push service (some headless ones) keeps the page's own notifications; body's `data-push`
   * says how it went.
   */
  async subscribe() {
    if (!this._supported || Notification.permission !== 'granted') return;
    const registration = await this._registration();
    if (!registration) return;
    try {
      await subscribePush(this._client, registration);
      document.body.dataset.push = 'subscribed';
    } catch (error) {
      document.body.dataset.push = `failed: ${reason(error)}`;
    }
  }

  /** At sign-out, while the token is still good. */
  async unsubscribe() {
    const registration = await this._registration();
    if (!registration) return;
    await unsubscribePush(this._client, registration).catch(() => {});
    delete document.body.dataset.push;
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
    const call = callEntry(message);
    const text = call ? callText(call, message.from, this._client.userId) : message.body;
    const body = title === sender || call ? text : `${sender}: ${text}`;
    const notification = new Notification(title, {body, tag: `conv-${message.conv}`});
    notification.addEventListener('click', () => {
      window.focus();
      this._onOpen(message.conv);
      notification.close();
    });
  }
}
