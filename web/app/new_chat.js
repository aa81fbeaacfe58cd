// The "New chat" dialog: find people by the start of their username or of a word of their
// display name (GET /api/users?q=; each shown with display name, username and avatar), pick
// one for a 1:1 or several for a group (with a name), and start it. The others learn the members'
// names from the server (names.js), so starting a conversation sends nothing into it. The
// search and picking (UserPicker) serve the group dialog's "Add people" too (group.js).

import {byId, h, reconcile, setText} from './dom.js';
import {joinNames, reason} from './format.js';
import {avatarElement, matchesQuery, showAvatar} from './names.js';

/**
 * Finding people by the start of their username or of a word of their display name and picking
 * some: a search field (debounced; an older query's answer dropped, and results it no longer
 * matches removed at once) and its list of results, each a toggle button.
 */
export class UserPicker {
  /**
   * @param {{client: import('/sdk/index.js').RingcastClient, names: import('./names.js').Names,
   *          input: HTMLInputElement, results: HTMLElement, onChange: () => void,
   *          onError: (text: string) => void, exclude?: () => Set<number>}} parts
   *     `onChange`: the picks changed; `onError`: a failed search's reason ('' once one works);
   *     `exclude`: users not offered (besides oneself: a group's members, say)
   */
  constructor({client, names, input, results, onChange, onError, exclude = () => new Set()}) {
    this._client = client;
    this._names = names;
    this._input = input;
    this._results = results;
    this._onChange = onChange;
    this._onError = onError;
    this._exclude = exclude;
    /** @type {Map<number, string>} the picked users and their names */
    this.chosen = new Map();
    this._searchTimer = 0;
    this._query = '';
    input.addEventListener('input', () => {
      clearTimeout(this._searchTimer);
      this._dropStale();
      this._searchTimer = setTimeout(() => this._find(), 150);
    });
  }

  /** Nobody picked, no query, no results. */
  clear() {
    clearTimeout(this._searchTimer);
    this.chosen.clear();
    this._input.value = '';
    this._query = '';
    this._results.replaceChildren();
    this._onChange();
  }

  /**
   * Results that the query being typed no longer matches go at once, not when the server
   * answers the new search (which may be slow, or fail).
   */
  _dropStale() {
    const query = this._input.value.trim().toLowerCase();
    for (const button of this._results.querySelectorAll('button.user-pick')) {
      const user = Number(/** @type {HTMLElement} */ (button).dataset.user);
      if (!matchesQuery(this._client.cachedProfile(user), query)) {
        button.parentElement?.remove();
      }
    }
    this._results.querySelector('.muted')?.remove();
  }

  async _find() {
    const query = this._input.value.trim();
    this._query = query;
    if (query === '') {
      this._results.replaceChildren();
      return;
    }
    let users = [];
    try {
      users = await this._client.searchUsers(query, 10);
    } catch (error) {
      if (this._query !== query) return;
      this._results.replaceChildren();
      this._onError(`Search failed: ${reason(error)}`);
      return;
    }
    if (this._query !== query) return;  // A newer search is on its way.
    this._onError('');
    this._names.changed();  // the SDK's cache has the profiles found: stored for a reload
    const excluded = this._exclude();
    const others = users.filter((u) => u.id !== this._client.userId && !excluded.has(u.id));
    if (others.length === 0) {
      this._results.replaceChildren(h('li', {class: 'muted', text: 'Nobody by that name'}));
      return;
    }
    this._results.querySelector('.muted')?.remove();
    reconcile(
        this._results, others, (u) => String(u.id),
        (u) =>
            h('li', {},
              [
                h('button', {
                  type: 'button',
                  class: 'user-pick',
                  dataset: {user: String(u.id)},
                  on: {click: () => this._toggle(u.id)},
                },
                  [
                    h('span', {class: 'check', 'aria-hidden': 'true'}),
                    avatarElement(),
                    h('span', {class: 'person-name'}),
                    h('span', {class: 'person-username'}),
                  ]),
              ]),
        (li, u) => this._showPick(/** @type {HTMLElement} */ (li.firstElementChild), u.id));
  }

  /**
   * A result: the display name (else the username), the username beside a display name, and
   * whether it is picked. @param {HTMLElement} button @param {number} id
   */
  _showPick(button, id) {
    const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (button.querySelector(s));
    const profile = this._names.profile(id);
    const name = this._names.name(id);
    const picked = this.chosen.has(id);
    setText(q('.check'), picked ? '✓ ' : '');
    showAvatar(q('.avatar'), name, this._names.avatar(id), {initial: false});
    setText(q('.person-name'), name);
    const username = profile?.display_name ? `@${profile.username}` : '';
    setText(q('.person-username'), username);
    q('.person-username').hidden = !username;
    button.setAttribute('aria-pressed', String(picked));
  }

  /** @param {number} id */
  _toggle(id) {
    if (this.chosen.has(id))
      this.chosen.delete(id);
    else
      this.chosen.set(id, this._names.name(id));
    for (const button of this._results.querySelectorAll('button.user-pick')) {
      this._showPick(
          /** @type {HTMLElement} */ (button),
          Number(/** @type {HTMLElement} */ (button).dataset.user));
    }
    this._onChange();
  }
}

export class NewChatDialog {
  /**
   * @param {{client: import('/sdk/index.js').RingcastClient, names: import('./names.js').Names,
   *          onStarted: (conv: number) => void}} parts
   */
  constructor({client, names, onStarted}) {
    this._client = client;
    this._onStarted = onStarted;
    this._dialog = /** @type {HTMLDialogElement} */ (byId('new-chat'));
    this._search = /** @type {HTMLInputElement} */ (byId('user-search'));
    this._picked = byId('picked');
    this._groupRow = byId('group-name-row');
    this._groupName = /** @type {HTMLInputElement} */ (byId('group-name'));
    this._error = byId('new-chat-error');
    this._start = /** @type {HTMLButtonElement} */ (byId('new-chat-start'));
    this._picker = new UserPicker({
      client,
      names,
      input: this._search,
      results: byId('user-results'),
      onChange: () => this._renderChosen(),
      onError: (text) => setText(this._error, text),
    });
    /** @type {Map<number, string>} */
    this._chosen = this._picker.chosen;
    byId('new-chat-form').addEventListener('submit', (/** @type {SubmitEvent} */ event) => {
      const submitter = /** @type {HTMLButtonElement | null} */ (event.submitter);
      if (submitter?.value !== 'start') return;  // Cancel: the dialog closes itself.
      event.preventDefault();
      this._startChat();
    });
  }

  open() {
    this._picker.clear();
    this._groupName.value = '';
    setText(this._error, '');
    this._dialog.showModal();
    this._search.focus();
  }

  _renderChosen() {
    const names = [...this._chosen.values()];
    setText(this._picked, names.length ? joinNames(names) : 'nobody yet');
    this._groupRow.hidden = names.length < 2;
    this._start.disabled = names.length === 0;
    setText(this._start, names.length > 1 ? 'Create group' : 'Start chat');
  }

  async _startChat() {
    const members = [...this._chosen.keys()];
    if (members.length === 0) return;
    const group = members.length > 1;
    const name = this._groupName.value.trim();
    this._start.disabled = true;
    try {
      const spec = group ? {members, group, name: name || undefined} : {members, group};
      const {id} = await this._client.createConversation(spec);
      this._dialog.close();
      this._onStarted(id);
    } catch (error) {
      setText(this._error, `Could not start the chat: ${reason(error)}`);
    } finally {
      this._start.disabled = this._chosen.size === 0;
    }
  }
}
