// A group's dialog (the header's Members button; PROTOCOL.md, "Groups"): its picture, name and
// topic, which admins and the owner change (a picture is uploaded as soon as it is picked); its
// members with their roles and what the user's role allows on each (admins remove members; the
// owner also removes admins, makes or removes admins and passes ownership on); Add people
// (admins and the owner, with the New chat dialog's user search); Leave group, for everyone (the
// owner is refused until ownership is passed on: the server's reason is shown and the transfer
// offered).
//
// The controls follow the roles the store holds, but the rules are the server's
// (storage/group_rules.h): every refusal (403, 409, 400) shows the server's reason here.
// Nothing changes on the page at a request's answer: every change comes back to every member's
// devices, this one included, as the `members` event and a system entry, and the dialog is drawn
// again from the store (ConversationView.render). Text is set as text, never as HTML.

import {byId, h, reconcile, setText} from './dom.js';
import {joinNames, presenceText, reason} from './format.js';
import {avatarElement, showAvatar} from './names.js';
import {UserPicker} from './new_chat.js';

/** Members are listed owner first, then admins, then the others (each in the server's order). */
const RANK = {owner: 0, admin: 1, member: 2};

/** @param {import('./store.js').Conv} conv @param {number} user @returns {string} */
export function roleOf(conv, user) {
  return conv.roles?.[conv.members.indexOf(user)] ?? 'member';
}

export class GroupDialog {
  /**
   * @param {{client: import('/sdk/index.js').RingcastClient, store: import('./store.js').Store,
   *          names: import('./names.js').Names, list: import('./conv_list.js').ConversationList}}
   *     parts
   */
  constructor({client, store, names, list}) {
    this._client = client;
    this._store = store;
    this._names = names;
    this._list = list;
    this._dialog = /** @type {HTMLDialogElement} */ (byId('members'));
    this._el = {
      avatar: byId('group-avatar'),
      avatarControls: byId('group-avatar-controls'),
      avatarInput: /** @type {HTMLInputElement} */ (byId('group-avatar-input')),
      avatarRemove: /** @type {HTMLButtonElement} */ (byId('group-avatar-remove')),
      avatarProgress: /** @type {HTMLProgressElement} */ (byId('group-avatar-progress')),
      avatarMessage: byId('group-avatar-message'),
      form: byId('group-form'),
      name: /** @type {HTMLInputElement} */ (byId('group-name-input')),
      topic: /** @type {HTMLInputElement} */ (byId('group-topic-input')),
      save: /** @type {HTMLButtonElement} */ (byId('group-save')),
      clearTopic: /** @type {HTMLButtonElement} */ (byId('group-clear-topic')),
      formMessage: byId('group-form-message'),
      view: byId('group-view'),
      viewName: byId('group-view-name'),
      viewTopic: byId('group-view-topic'),
      members: byId('members-list'),
      membersHeading: byId('members-heading'),
      add: byId('group-add'),
      addPicked: byId('group-add-picked'),
      addButton: /** @type {HTMLButtonElement} */ (byId('group-add-button')),
      addMessage: byId('group-add-message'),
      message: byId('group-message'),
      offer: byId('group-transfer-offer'),
      offerTo: /** @type {HTMLSelectElement} */ (byId('group-transfer-to')),
      offerButton: /** @type {HTMLButtonElement} */ (byId('group-transfer')),
      leave: /** @type {HTMLButtonElement} */ (byId('group-leave')),
    };
    /** @type {number | null} the group shown */
    this.conv = null;
    /** What the name and topic fields were last filled with: a field edited since keeps its text. */
    this._filled = {name: '', topic: ''};
    this._picker = new UserPicker({
      client,
      names,
      input: /** @type {HTMLInputElement} */ (byId('group-add-search')),
      results: byId('group-add-results'),
      onChange: () => this._showPicked(),
      onError: (text) => this._say(this._el.addMessage, text, true),
      exclude: () => new Set(this._group()?.members ?? []),
    });
    this._el.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this._save();
    });
    this._el.clearTopic.addEventListener('click', () => this._save({topic: ''}));
    this._el.avatarInput.addEventListener('change', () => this._uploadAvatar());
    this._el.avatarRemove.addEventListener('click', () => this._removeAvatar());
    for (const input of [this._el.name, this._el.topic]) {
      input.addEventListener('input', () => this._say(this._el.formMessage, ''));
    }
    this._el.addButton.addEventListener('click', () => this._add());
    this._el.leave.addEventListener('click', () => this._leave());
    this._el.offerButton.addEventListener('click', () => {
      const user = Number(this._el.offerTo.value);
      if (user > 0) this._transfer(user, this._el.offerButton);
    });
    byId('members-close').addEventListener('click', () => this.close());
    this._dialog.addEventListener('close', () => {
      this.conv = null;
    });
  }

  /** Opens the dialog on group `id`. @param {number} id */
  open(id) {
    const conv = this._store.convs.get(id);
    if (!conv?.group) return;
    this.conv = id;
    this._filled = {name: conv.name ?? '', topic: conv.topic ?? ''};
    this._el.name.value = this._filled.name;
    this._el.topic.value = this._filled.topic;
    for (const el of
         [this._el.formMessage, this._el.addMessage, this._el.message, this._el.avatarMessage]) {
      this._say(el, '');
    }
    this._el.offer.hidden = true;
    this._picker.clear();
    this._dialog.showModal();
    this.render();
  }

  close() {
    if (this._dialog.open) this._dialog.close();
    this.conv = null;
  }

  /** The group shown, as the store holds it (undefined: none, or the user is out of it). */
  _group() {
    return this.conv === null ? undefined : this._store.convs.get(this.conv);
  }

  /** Draws the dialog from the store (after every change it hears of). */
  render() {
    if (!this._dialog.open) return;
    const conv = this._group();
    if (!conv) {
      this.close();  // The user left, or was removed: the app says so (main.js).
      return;
    }
    const me = this._store.me;
    const mine = roleOf(conv, me);
    const manage = mine === 'owner' || mine === 'admin';
    const title = this._list.title(conv);
    showAvatar(this._el.avatar, title, this._names.groupAvatar(conv));
    this._el.avatarControls.hidden = !manage;
    this._el.avatarRemove.hidden = !conv.avatar;

    this._el.form.hidden = !manage;
    this._el.view.hidden = manage;
    this._refill(this._el.name, 'name', conv.name ?? '');
    this._refill(this._el.topic, 'topic', conv.topic ?? '');
    this._el.name.placeholder = title;
    this._el.clearTopic.hidden = !conv.topic;
    setText(this._el.viewName, title);
    setText(this._el.viewTopic, conv.topic || 'No topic');

    setText(this._el.membersHeading, `Members (${conv.members.length})`);
    const order = new Map(conv.members.map((user, i) => [user, i]));
    const rank = (/** @type {number} */ user) =>
        RANK[/** @type {keyof RANK} */ (roleOf(conv, user))] ?? RANK.member;
    const members = [...conv.members].sort(
        (a, b) => rank(a) - rank(b) || (order.get(a) ?? 0) - (order.get(b) ?? 0));
    reconcile(
        this._el.members, members, String, (user) => this._createRow(user),
        (li, user) => this._showRow(li, user, conv, mine));

    this._el.add.hidden = !manage;
    if (!this._el.offer.hidden) this._showOffer(conv);
  }

  /**
   * Puts `value` (the group's, changed live) into a field unless the user has edited it since
   * it was last filled. @param {HTMLInputElement} input @param {'name' | 'topic'} key
   * @param {string} value
   */
  _refill(input, key, value) {
    if (input.value === this._filled[key]) input.value = value;
    this._filled[key] = value;
  }

  /** Uploads the picture just picked and makes it the group's (it shows when `members` comes). */
  async _uploadAvatar() {
    const conv = this._group();
    const file = this._el.avatarInput.files?.[0];
    if (!conv || !file) return;
    const progress = this._el.avatarProgress;
    this._el.avatarInput.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    this._say(this._el.avatarMessage, 'Uploading the picture…');
    try {
      await this._client
          .uploadGroupAvatar(conv.id, file, {
            onProgress: ({loaded, total}) => (progress.value = total ? loaded / total : 0),
          })
          .done;
      this._say(this._el.avatarMessage, 'Picture changed.');
    } catch (error) {
      this._say(this._el.avatarMessage, `Not changed: ${reason(error)}`, true);
    } finally {
      progress.hidden = true;
      this._el.avatarInput.disabled = false;
      this._el.avatarInput.value = '';
    }
  }

  async _removeAvatar() {
    const conv = this._group();
    if (!conv) return;
    this._say(this._el.avatarMessage, '');
    const done = await this._request(
        this._el.avatarRemove, 'remove the picture',
        () => this._client.updateGroup(conv.id, {avatar: null}));
    if (done) this._say(this._el.avatarMessage, 'Picture removed.');
  }

  /** A member's row: avatar, name, role, `@username` and presence, and the actions. */
  _createRow(/** @type {number} */ user) {
    const button = (/** @type {string} */ cls) => h('button', {type: 'button', class: cls});
    const role = button('role-toggle');
    const owner = button('make-owner');
    const remove = button('remove-member');
    role.addEventListener('click', () => this._toggleAdmin(user, role));
    owner.addEventListener('click', () => this._transfer(user, owner));
    remove.addEventListener('click', () => this._remove(user, remove));
    return h('li', {class: 'person-row', dataset: {user: String(user)}}, [
      avatarElement(),
      h('span', {class: 'person-name'}),
      h('span', {class: 'person-role'}),
      h('span', {class: 'person-about'}),
      h('span', {class: 'person-actions'}, [role, owner, remove]),
    ]);
  }

  /**
   * @param {HTMLElement} li @param {number} user @param {import('./store.js').Conv} conv
   * @param {string} mine the user's own role
   */
  _showRow(li, user, conv, mine) {
    const q = (/** @type {string} */ s) => /** @type {HTMLElement} */ (li.querySelector(s));
    const me = this._store.me;
    const self = user === me;
    const name = this._names.name(user);
    const profile = this._names.profile(user);
    showAvatar(q('.avatar'), name, this._names.avatar(user));
    setText(q('.person-name'), self ? `${name} (you)` : name);
    const role = roleOf(conv, user);
    setText(q('.person-role'), role === 'owner' || role === 'admin' ? role : '');
    const about = [
      profile?.username ? `@${profile.username}` : '',
      self ? '' : presenceText(this._client.presence.get(user)),
      profile?.status ?? '',
    ];
    setText(q('.person-about'), about.filter(Boolean).join(' · '));

    // What the server would allow (PROTOCOL.md, "Groups"): the owner acts on anyone else, an
    // admin removes members.
    const owner = mine === 'owner' && !self;
    const toggle = q('.role-toggle');
    toggle.hidden = !owner;
    setText(toggle, role === 'admin' ? 'Remove admin' : 'Make admin');
    toggle.setAttribute(
        'aria-label', role === 'admin' ? `Make ${name} a member, not an admin` :
                                         `Make ${name} an admin`);
    const transfer = q('.make-owner');
    transfer.hidden = !owner;
    setText(transfer, 'Make owner');
    transfer.setAttribute('aria-label', `Make ${name} the owner`);
    const remove = q('.remove-member');
    remove.hidden = !(owner || (mine === 'admin' && role === 'member' && !self));
    setText(remove, 'Remove');
    remove.setAttribute('aria-label', `Remove ${name} from the group`);
    q('.person-actions').hidden = toggle.hidden && transfer.hidden && remove.hidden;
  }

  /**
   * Runs a request with `button` off meanwhile; a refusal shows the server's reason.
   * @param {HTMLButtonElement | HTMLElement} button @param {string} what "remove Carol"
   * @param {() => Promise<unknown>} action @returns {Promise<boolean>} it succeeded
   */
  async _request(button, what, action) {
    /** @type {HTMLButtonElement} */ (button).disabled = true;
    this._say(this._el.message, '');
    try {
      await action();
      return true;
    } catch (error) {
      this._say(this._el.message, `Could not ${what}: ${reason(error)}.`, true);
      return false;
    } finally {
      /** @type {HTMLButtonElement} */ (button).disabled = false;
    }
  }

  /** @param {number} user @param {HTMLElement} button */
  async _toggleAdmin(user, button) {
    const conv = this._group();
    if (!conv) return;
    const admin = roleOf(conv, user) === 'admin';
    const name = this._names.name(user);
    await this._request(
        button, admin ? `make ${name} a member` : `make ${name} an admin`,
        () => this._client.setRole(conv.id, user, admin ? 'member' : 'admin'));
  }

  /** @param {number} user @param {HTMLElement} button */
  async _remove(user, button) {
    const conv = this._group();
    if (!conv) return;
    const name = this._names.name(user);
    if (!window.confirm(`Remove ${name} from “${this._list.title(conv)}”?`)) return;
    await this._request(
        button, `remove ${name}`, () => this._client.removeMember(conv.id, user));
  }

  /** Passes ownership to `user`, once confirmed. @param {number} user @param {HTMLElement} button */
  async _transfer(user, button) {
    const conv = this._group();
    if (!conv) return;
    const name = this._names.name(user);
    const title = this._list.title(conv);
    if (!window.confirm(`Make ${name} the owner of “${title}”? You will be an admin.`)) return;
    const done = await this._request(
        button, `make ${name} the owner`, () => this._client.transferOwnership(conv.id, user));
    if (done && !this._el.offer.hidden) {
      this._el.offer.hidden = true;
      this._say(this._el.message, `${name} is the owner now: you can leave the group.`);
    }
  }

  /** Leaves the group, once confirmed; the owner is refused and offered the transfer. */
  async _leave() {
    const conv = this._group();
    if (!conv) return;
    if (!window.confirm(`Leave “${this._list.title(conv)}”? Its messages stop coming.`)) return;
    this._el.leave.disabled = true;
    this._say(this._el.message, '');
    try {
      // Out of the group, the `members` event drops it from the store: main.js closes it.
      await this._client.leaveGroup(conv.id);
    } catch (error) {
      this._say(this._el.message, `Could not leave the group: ${reason(error)}.`, true);
      if (/** @type {any} */ (error).status === 409) {
        this._el.offer.hidden = false;
        this._showOffer(conv);
        this._el.offerTo.focus();
      }
    } finally {
      this._el.leave.disabled = false;
    }
  }

  /**
   * The transfer offered to an owner refused leaving: the other members, admins first.
   * @param {import('./store.js').Conv} conv
   */
  _showOffer(conv) {
    const others = conv.members.filter((u) => u !== this._store.me);
    others.sort((a, b) => Number(roleOf(conv, b) === 'admin') - Number(roleOf(conv, a) === 'admin'));
    const picked = this._el.offerTo.value;
    reconcile(
        this._el.offerTo, others, String, (user) => h('option', {value: String(user)}),
        (option, user) => setText(option, this._names.name(user)));
    if (others.some((u) => String(u) === picked)) this._el.offerTo.value = picked;
    this._el.offerButton.disabled = others.length === 0;
  }

  /** Saves the name and topic fields (or `settings`): only what differs from the group's. */
  async _save(/** @type {{name?: string, topic?: string} | undefined} */ settings) {
    const conv = this._group();
    if (!conv) return;
    const message = this._el.formMessage;
    /** @type {{name?: string, topic?: string}} */
    let change = settings ?? {};
    if (!settings) {
      const name = this._el.name.value.trim();
      const topic = this._el.topic.value.trim();
      if (name !== (conv.name ?? '')) change.name = name;
      if (topic !== (conv.topic ?? '')) change.topic = topic;
    }
    if (Object.keys(change).length === 0) {
      this._say(message, 'Nothing to save.');
      return;
    }
    const buttons = [this._el.save, this._el.clearTopic];
    for (const b of buttons) b.disabled = true;
    this._say(message, '');
    try {
      await this._client.updateGroup(conv.id, change);
      // The fields show what was saved (the `members` event brings the same).
      if (change.name !== undefined) this._el.name.value = this._filled.name = change.name;
      if (change.topic !== undefined) this._el.topic.value = this._filled.topic = change.topic;
      this._say(message, change.topic === '' && settings ? 'Topic cleared.' : 'Saved.');
    } catch (error) {
      this._say(message, `Could not save: ${reason(error)}.`, true);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  _showPicked() {
    const names = [...this._picker.chosen.values()];
    setText(this._el.addPicked, names.length ? joinNames(names) : 'nobody yet');
    this._el.addButton.disabled = names.length === 0;
  }

  /** Adds the people picked. */
  async _add() {
    const conv = this._group();
    const users = [...this._picker.chosen.keys()];
    if (!conv || users.length === 0) return;
    const names = joinNames([...this._picker.chosen.values()]);
    this._el.addButton.disabled = true;
    this._say(this._el.addMessage, '');
    try {
      await this._client.addMembers(conv.id, users);
      this._picker.clear();
      this._say(this._el.addMessage, `Added ${names}.`);
    } catch (error) {
      this._say(this._el.addMessage, `Could not add ${names}: ${reason(error)}.`, true);
      this._showPicked();
    }
  }

  /**
   * A message line: what happened, or a refusal (in the error colour).
   * @param {HTMLElement} el @param {string} text @param {boolean} [error]
   */
  _say(el, text, error = false) {
    setText(el, text);
    el.classList.toggle('error', error && text !== '');
  }
}
