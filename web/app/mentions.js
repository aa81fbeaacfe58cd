// Mentions in the app: the `@` completion of the composer (the conversation's members whose
// username, or a word of whose display name, starts with what follows the `@`; shown with
// their display name and avatar, completed with the username the server reads; arrows, Enter
// or Tab, Escape), and the "Mentions" dialog: the messages that mention the user (GET
// /api/mentions), each opening its conversation.

import {completeMention, mentionAt} from '/sdk/index.js';

import {h} from './dom.js';
import {MessageListDialog} from './message_list.js';
import {avatarElement, matchesQuery, showAvatar} from './names.js';

const MAX_CHOICES = 6;

export class MentionPicker {
  /**
   * @param {{input: HTMLTextAreaElement, list: HTMLElement, members: () => number[],
   *          names: import('./names.js').Names}} parts `members`: of the open conversation,
   *   without the user
   */
  constructor({input, list, members, names}) {
    this._input = input;
    this._list = list;
    this._members = members;
    this._names = names;
    /** @type {import('/sdk/types.js').UserSummary[]} */
    this._choices = [];
    this._active = 0;
    input.addEventListener('input', () => this.update());
    input.addEventListener('click', () => this.update());
    input.addEventListener('blur', () => this.close());
    // Before the composer's own keys: Enter picks a name here instead of sending.
    input.addEventListener('keydown', (event) => this._key(event), {capture: true});
  }

  get open() {
    return this._choices.length > 0;
  }

  update() {
    const at = mentionAt(this._input.value, this._input.selectionStart ?? 0);
    if (!at) return this.close();
    const prefix = at.prefix.toLowerCase();
    this._choices =
        this._members()
            .map((u) => this._names.profile(u))
            .filter(
                (p) => p !== undefined && !p.deleted && (prefix === '' || matchesQuery(p, prefix)))
            .sort((a, b) => Number(a.username > b.username) - Number(a.username < b.username))
            .slice(0, MAX_CHOICES);
    this._active = Math.min(this._active, Math.max(0, this._choices.length - 1));
    this._render();
  }

  close() {
    this._choices = [];
    this._active = 0;
    this._render();
  }

  /** @param {KeyboardEvent} event */
  _key(event) {
    if (!this.open) return;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      const step = event.key === 'ArrowDown' ? 1 : -1;
      this._active = (this._active + step + this._choices.length) % this._choices.length;
      this._render();
    } else if (event.key === 'Enter' || event.key === 'Tab') {
      this._pick(this._choices[this._active].username);
    } else if (event.key === 'Escape') {
      this.close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  }

  /** @param {string} name the username */
  _pick(name) {
    const {text, caret} = completeMention(this._input.value, this._input.selectionStart ?? 0, name);
    this._input.value = text;
    this._input.setSelectionRange(caret, caret);
    this.close();
    this._input.dispatchEvent(new Event('input'));
  }

  _render() {
    this._list.hidden = !this.open;
    this._input.setAttribute('aria-expanded', String(this.open));
    this._list.replaceChildren(...this._choices.map((profile, i) => {
      const picture = avatarElement();
      showAvatar(
          picture, this._names.name(profile.id), this._names.avatar(profile.id), {initial: false});
      const li =
          h('li', {
            role: 'option',
            id: `mention-${i}`,
            class: 'mention-choice',
            'aria-selected': String(i === this._active),
            // mousedown: before the textarea's blur closes the list.
            on: {
              mousedown: (/** @type {Event} */ e) => {
                e.preventDefault();
                this._pick(profile.username);
              }
            },
          },
            [
              picture,
              profile.display_name ? h('span', {class: 'person-name', text: profile.display_name}) :
                                     null,
              h('span', {class: 'person-username', text: `@${profile.username}`}),
            ]);
      return li;
    }));
    if (this.open)
      this._input.setAttribute('aria-activedescendant', `mention-${this._active}`);
    else
      this._input.removeAttribute('aria-activedescendant');
  }
}

export class MentionsView extends MessageListDialog {
  /** @param {import('./message_list.js').ListParts} parts */
  constructor(parts) {
    super('mentions', parts, {
      asking: 'Loading…',
      none: 'Nobody has mentioned you yet.',
      failed: 'Could not load the mentions',
    });
  }

  open() {
    this._dialog.showModal();
    this._showPage(true);
  }

  /** The newest 50, one page. */
  async _load() {
    const {mentions} = await this._client.mentions({limit: 50});
    return {messages: mentions, next: null};
  }

  /** @param {import('/sdk/types.js').Message} m */
  _row(m) {
    return this._item(
        m, 'mention-item', 'mention-where', h('span', {class: 'mention-body', text: m.body}));
  }
}
