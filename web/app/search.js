// Message search (GET /api/search through the SDK's `search`): a dialog with a query field; each
// hit shows who wrote it where and when, and its snippet with the matched words marked (the
// server's segments, each put in as text: a body's markup is never markup here). "More" asks
// for the next page. Choosing a hit opens its conversation at that message.

import {byId, h, setText} from './dom.js';
import {reason} from './format.js';
import {MessageListDialog} from './message_list.js';

// Typing pauses this long before the query goes out.
const DEBOUNCE_MS = 250;

export class SearchView extends MessageListDialog {
  /**
   * @param {{client: import('/sdk/index.js').RingcastClient,
   *          names: import('./names.js').Names, title: (conv: number) => string,
   *          onOpen: (conv: number, seq: number) => void}} parts
   */
  constructor({client, names, title, onOpen}) {
    super('search', {names, title});
    this._client = client;
    this._onOpen = onOpen;
    this._input = /** @type {HTMLInputElement} */ (byId('search-input'));
    this._more = /** @type {HTMLButtonElement} */ (byId('search-more'));
    /** Each query's number: an answer to an older one is dropped. */
    this._asked = 0;
    /** @type {string | null} */
    this._cursor = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._timer = undefined;
    byId('search-form').addEventListener('submit', (event) => {
      event.preventDefault();
      clearTimeout(this._timer);
      this._run(false);
    });
    this._input.addEventListener('input', () => {
      clearTimeout(this._timer);
      this._timer = setTimeout(() => this._run(false), DEBOUNCE_MS);
    });
    this._more.addEventListener('click', () => this._run(true));
  }

  open() {
    this._dialog.showModal();
    this._input.select();
  }

  /**
   * Asks for the first page of the field's query, or (`more`) the next page. @param {boolean} more
   */
  async _run(more) {
    const query = this._input.value.trim();
    const asked = ++this._asked;
    if (!more) {
      this._list.replaceChildren();
      this._cursor = null;
    }
    this._more.hidden = true;
    if (!query) return setText(this._status, '');
    setText(this._status, 'Searching…');
    try {
      const page =
          await this._client.search(query, more && this._cursor ? {cursor: this._cursor} : {});
      await this._names.resolve(page.results.map((hit) => hit.from));
      if (asked !== this._asked) return;
      this._cursor = page.next_cursor;
      this._more.hidden = page.next_cursor === null;
      this._list.append(...page.results.map((hit) => this._hit(hit)));
      setText(
          this._status, this._list.childElementCount ? '' : `No messages found for “${query}”.`);
    } catch (error) {
      if (asked !== this._asked) return;
      setText(this._status, `Could not search: ${reason(error)}`);
    }
  }

  /** @param {import('/sdk/types.js').SearchHit} hit */
  _hit(hit) {
    const snippet = hit.snippet.map(
        (part) => part.match ? h('mark', {text: part.text}) : document.createTextNode(part.text));
    return this._item(
        hit, 'search-hit', 'search-where', h('span', {class: 'search-snippet'}, snippet),
        () => this._onOpen(hit.conv, hit.seq));
  }
}
