// Message search (GET /api/search through the SDK's `search`): a dialog with a query field; each
// hit shows who wrote it where and when, and its snippet with the matched words marked (the
// server's segments, each put in as text: a body's markup is never markup here). "More" asks
// for the next page. Choosing a hit opens its conversation at that message.

import {byId, h} from './dom.js';
import {MessageListDialog} from './message_list.js';

// Typing pauses this long before the query goes out.
const DEBOUNCE_MS = 250;

export class SearchView extends MessageListDialog {
  /** @param {import('./message_list.js').ListParts} parts */
  constructor(parts) {
    super('search', parts, {asking: 'Searching…', failed: 'Could not search'});
    this._input = /** @type {HTMLInputElement} */ (byId('search-input'));
    /** The query listed: More goes on with it. */
    this._query = '';
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._timer = undefined;
    byId('search-form').addEventListener('submit', (event) => {
      event.preventDefault();
      clearTimeout(this._timer);
      this._run();
    });
    this._input.addEventListener('input', () => {
      clearTimeout(this._timer);
      this._timer = setTimeout(() => this._run(), DEBOUNCE_MS);
    });
  }

  open() {
    this._dialog.showModal();
    this._input.select();
  }

  /** Lists the first page of the field's query. */
  _run() {
    this._query = this._input.value.trim();
    if (this._query) {
      this._showPage(true);
    } else {
      this._clear();
    }
  }

  /** @param {string | null} cursor */
  async _load(cursor) {
    const page = await this._client.search(this._query, cursor ? {cursor} : {});
    return {messages: page.results, next: page.next_cursor};
  }

  _none() {
    return `No messages found for “${this._query}”.`;
  }

  /** @param {import('/sdk/types.js').SearchHit} hit */
  _row(hit) {
    const snippet = hit.snippet.map(
        (part) => part.match ? h('mark', {text: part.text}) : document.createTextNode(part.text));
    return this._item(
        hit, 'search-hit', 'search-where', h('span', {class: 'search-snippet'}, snippet));
  }
}
