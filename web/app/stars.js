// Stars (PROTOCOL.md, "Stars"): the messages the user marked to find again, a mark of their own
// that no other member sees or hears of. `Stars` is the set of the user's starred messages as
// this page knows it; `StarsView` is the "Starred" dialog, each message opening its conversation
// at that message.
//
// The set is read at each connection (the SDK's `stars` pages, newest first, up to MAX_PAGES of
// LOAD_LIMIT), not per message: history carries no star, so a row can only show its mark when
// the page already knows the set, and a user's stars are few (each one a deliberate act), so
// this is one request for almost everyone. Reading it again at each connection (a reload, a
// reconnect) is when the stars made on the user's other devices show here: the server tells
// only the device that asked (its `starred` answer). The user's own stars and unstars here
// change the set at their answer; one made while a read is under way is kept over what that
// read brought, and a read that a newer one (or a sign-out) overtook is dropped.

import {h} from './dom.js';
import {MessageListDialog} from './message_list.js';
import {excerpt} from './message_rows.js';

// The `stars` pages read at a connection: 10 × 200, the most of one page (PROTOCOL.md). Stars
// past the 2000 newest show no mark here (the dialog lists them all).
const LOAD_LIMIT = 200;
const MAX_PAGES = 10;
// The dialog's pages.
const PAGE = 30;

/** @param {number} conv @param {number} seq */
const starKey = (conv, seq) => `${conv}:${seq}`;

export class Stars {
  /** @param {import('/sdk/index.js').RingcastClient} client */
  constructor(client) {
    this._client = client;
    /** @type {Set<string>} `conv:seq` of each starred message */
    this._keys = new Set();
    /** @type {Map<string, boolean>} the user's stars (true) and unstars since the read began */
    this._changed = new Map();
    /** Each read's number: an overtaken read's answer is dropped. */
    this._reads = 0;
    this.onChange = () => {};
    client.on('state', ({state}) => {
      if (state === 'connected') this.load();
    });
  }

  /** Whether the user starred message `seq` of `conv`. @param {number} conv @param {number} seq */
  has(conv, seq) {
    return this._keys.has(starKey(conv, seq));
  }

  /** Signed out, or another user signed in: nothing is known. */
  clear() {
    this._reads += 1;
    this._keys.clear();
    this._changed.clear();
    this.onChange();
  }

  /** Reads the user's stars from the server (at each connection). */
  async load() {
    const read = ++this._reads;
    this._changed.clear();
    /** @type {Set<string>} */
    const keys = new Set();
    let before = 0;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        const {messages, more} = await this._client.stars({before, limit: LOAD_LIMIT});
        if (read !== this._reads) return;
        for (const m of messages) keys.add(starKey(m.conv, m.seq));
        if (!more || messages.length === 0) break;
        before = messages[messages.length - 1].id;
      }
    } catch {
      return;  // The connection went: read again at the next one.
    }
    if (read !== this._reads) return;
    for (const [key, on] of this._changed) {
      if (on)
        keys.add(key);
      else
        keys.delete(key);
    }
    this._keys = keys;
    this.onChange();
  }

  /**
   * Stars message `seq` of `conv` (`on` false: unstars it); the set changes at the server's
   * answer. Rejects as the SDK's `star` does (`disconnected`, `gone`, `not_found`, `forbidden`).
   * @param {number} conv @param {number} seq @param {boolean} on
   */
  async set(conv, seq, on) {
    const answer = await this._client.star(conv, seq, on);
    const key = starKey(answer.conv, answer.seq);
    this._changed.set(key, answer.on);
    if (answer.on)
      this._keys.add(key);
    else
      this._keys.delete(key);
    this.onChange();
  }
}

export class StarsView extends MessageListDialog {
  /** @param {import('./message_list.js').ListParts} parts */
  constructor(parts) {
    super('starred', parts, {
      asking: 'Loading…',
      none: 'You have not starred any message.',
      failed: 'Could not load the starred messages',
    });
  }

  open() {
    this._dialog.showModal();
    this._showPage(true);
  }

  /** @param {number | null} before the id of the oldest message listed */
  async _load(before) {
    const {messages, more} = await this._client.stars({before: before ?? 0, limit: PAGE});
    return {
      messages,
      next: more && messages.length > 0 ? messages[messages.length - 1].id : null,
    };
  }

  /** @param {import('/sdk/types.js').Message} m */
  _row(m) {
    return this._item(
        m, 'starred-item', 'starred-where', h('span', {class: 'starred-body', text: excerpt(m)}));
  }
}
