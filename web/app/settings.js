// The user's own account: the "Profile and settings" dialog (display name, status and avatar —
// an upload, previewed before it is saved; password change; the signed-in devices, each with
// "Sign out"; the blocked people, each with "Unblock"; account deletion with the password),
// and the blocks as the app knows them (Blocks: also the 1:1 header's Block button).
// Everything goes through the SDK (proto/PROTOCOL.md, "Profiles", "Account control").

import {byId, dialogById, h, reconcile, setText} from './dom.js';
import {clock, dayLabel, reason} from './format.js';
import {avatarElement, showAvatar} from './names.js';

/** The users the signed-in user blocks (GET /api/blocks), kept as they change here. */
export class Blocks {
  /** @param {import('/sdk/index.js').RingcastClient} client */
  constructor(client) {
    this._client = client;
    /** @type {Set<number>} */
    this.ids = new Set();
    /** @type {() => void} */
    this.onChange = () => {};
  }

  async load() {
    try {
      this.ids = new Set((await this._client.blocks()).map((u) => u.id));
    } catch {
      // Offline: none shown blocked until the next load; the server still enforces them.
    }
    this.onChange();
  }

  clear() {
    this.ids = new Set();
  }

  /** @param {number} user */
  has(user) {
    return this.ids.has(user);
  }

  /** @param {number} user @param {boolean} blocked */
  async set(user, blocked) {
    if (blocked)
      await this._client.block(user);
    else
      await this._client.unblock(user);
    if (blocked)
      this.ids.add(user);
    else
      this.ids.delete(user);
    this.onChange();
  }
}

/** "today at 14:05", "on Monday 3 November at 09:12". @param {number} ms */
function when(ms) {
  const day = dayLabel(ms);
  return `${day === 'Today' || day === 'Yesterday' ? day.toLowerCase() : `on ${day}`} at ${
      clock(ms)}`;
}

export class SettingsDialog {
  /**
   * @param {{client: import('/sdk/index.js').RingcastClient,
   *          names: import('./names.js').Names, blocks: Blocks,
   *          onDeleted: (user: number) => void}} parts `onDeleted`: the account `user` is
   *   gone (the SDK forgot the session)
   */
  constructor({client, names, blocks, onDeleted}) {
    this._client = client;
    this._names = names;
    this._blocks = blocks;
    this._onDeleted = onDeleted;
    this._dialog = dialogById('settings');
    this._el = {
      avatar: byId('profile-avatar'),
      avatarInput: /** @type {HTMLInputElement} */ (byId('avatar-input')),
      avatarRemove: /** @type {HTMLButtonElement} */ (byId('avatar-remove')),
      progress: /** @type {HTMLProgressElement} */ (byId('avatar-progress')),
      displayName: /** @type {HTMLInputElement} */ (byId('profile-display-name')),
      status: /** @type {HTMLInputElement} */ (byId('profile-status')),
      profileMessage: byId('profile-message'),
      profileSave: /** @type {HTMLButtonElement} */ (byId('profile-save')),
      current: /** @type {HTMLInputElement} */ (byId('password-current')),
      next: /** @type {HTMLInputElement} */ (byId('password-new')),
      passwordMessage: byId('password-message'),
      sessions: byId('sessions-list'),
      sessionsMessage: byId('sessions-message'),
      blocked: byId('blocked-list'),
      blockedEmpty: byId('blocked-empty'),
      blockedMessage: byId('blocked-message'),
      deletePassword: /** @type {HTMLInputElement} */ (byId('delete-password')),
      deleteMessage: byId('delete-message'),
    };
    /** @type {File | null | undefined} the avatar picked (null: removed; undefined: kept) */
    this._avatar = undefined;
    /** @type {string | null} the preview's object URL */
    this._preview = null;
    this._dialog.addEventListener('close', () => this._dropPreview());
    this._el.avatarInput.addEventListener('change', () => this._pickAvatar());
    this._el.avatarRemove.addEventListener('click', () => {
      this._avatar = null;
      this._el.avatarInput.value = '';
      this._dropPreview();
      showAvatar(this._el.avatar, this._myName(), undefined);
    });
    this._onSubmit('profile-form', () => this._saveProfile());
    this._onSubmit('password-form', () => this._changePassword());
    this._onSubmit('delete-form', () => this._deleteAccount());
  }

  /** @param {string} id @param {() => Promise<void>} action */
  _onSubmit(id, action) {
    const form = /** @type {HTMLFormElement} */ (byId(id));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const buttons =
          /** @type {NodeListOf<HTMLButtonElement>} */ (form.querySelectorAll('button'));
      buttons.forEach((b) => (b.disabled = true));
      try {
        await action();
      } finally {
        buttons.forEach((b) => (b.disabled = false));
      }
    });
  }

  async open() {
    const me = this._client.cachedProfile(this._client.userId ?? 0);
    this._avatar = undefined;
    this._el.avatarInput.value = '';
    this._el.progress.hidden = true;
    this._el.displayName.value = me?.display_name ?? '';
    this._el.status.value = me?.status ?? '';
    this._el.displayName.placeholder = me?.username ?? '';
    for (const el of [this._el.profileMessage, this._el.passwordMessage, this._el.deleteMessage]) {
      setText(el, '');
    }
    this._el.current.value = '';
    this._el.next.value = '';
    this._el.deletePassword.value = '';
    this.render();
    this._dialog.showModal();
    this._el.displayName.focus();
    await Promise.all([this._loadSessions(), this._blocks.load()]);
  }

  get isOpen() {
    return this._dialog.open;
  }

  _myName() {
    return this._names.name(this._client.userId ?? 0);
  }

  /** What may change while it is open: the avatar (a profile event), the blocked people. */
  render() {
    if (this._avatar === undefined) {
      showAvatar(this._el.avatar, this._myName(), this._names.avatar(this._client.userId ?? 0));
    }
    const blocked = [...this._blocks.ids];
    this._el.blockedEmpty.hidden = blocked.length > 0;
    reconcile(
        this._el.blocked, blocked, String,
        (user) =>
            h('li', {class: 'person-row', dataset: {user: String(user)}},
              [
                avatarElement(),
                h('span', {class: 'person-name'}),
                h('button', {
                  type: 'button',
                  class: 'unblock',
                  text: 'Unblock',
                  on: {click: () => this._unblock(user)},
                }),
              ]),
        (li, user) => {
          const name = this._names.name(user);
          showAvatar(
              /** @type {HTMLElement} */ (li.querySelector('.avatar')), name,
              this._names.avatar(user));
          setText(/** @type {HTMLElement} */ (li.querySelector('.person-name')), name);
          li.querySelector('.unblock')?.setAttribute('aria-label', `Unblock ${name}`);
        });
  }

  /** A file picked: previewed at once, uploaded at Save. */
  _pickAvatar() {
    const file = this._el.avatarInput.files?.[0];
    if (!file) return;
    this._avatar = file;
    this._dropPreview();
    this._preview = URL.createObjectURL(file);
    showAvatar(this._el.avatar, this._myName(), this._preview);
    setText(this._el.profileMessage, 'Save to use this picture.');
  }

  _dropPreview() {
    if (this._preview) URL.revokeObjectURL(this._preview);
    this._preview = null;
  }

  async _saveProfile() {
    const me = this._client.cachedProfile(this._client.userId ?? 0);
    /** @type {{display_name?: string | null, status?: string | null, avatar?: null}} */
    const fields = {};
    const displayName = this._el.displayName.value.trim() || null;
    const status = this._el.status.value.trim() || null;
    if (displayName !== (me?.display_name ?? null)) fields.display_name = displayName;
    if (status !== (me?.status ?? null)) fields.status = status;
    if (this._avatar === null) fields.avatar = null;
    const file = this._avatar;
    if (!file && Object.keys(fields).length === 0) {
      setText(this._el.profileMessage, 'Nothing to save.');
      return;
    }
    try {
      if (file) {
        setText(this._el.profileMessage, 'Uploading the picture…');
        this._el.progress.hidden = false;
        this._el.progress.value = 0;
        await this._client
            .uploadAvatar(file, {
              onProgress: ({loaded, total}) =>
                  (this._el.progress.value = total ? loaded / total : 0),
            })
            .done;
      }
      if (Object.keys(fields).length > 0) await this._client.updateProfile(fields);
      this._avatar = undefined;
      this._el.avatarInput.value = '';
      this._dropPreview();
      setText(this._el.profileMessage, 'Profile saved.');
      this._names.changed();
      this.render();
    } catch (error) {
      setText(this._el.profileMessage, `Not saved: ${reason(error)}`);
    } finally {
      this._el.progress.hidden = true;
    }
  }

  async _changePassword() {
    try {
      const {sessions_ended: ended} =
          await this._client.changePassword(this._el.current.value, this._el.next.value);
      this._el.current.value = '';
      this._el.next.value = '';
      setText(
          this._el.passwordMessage,
          `Password changed. ${
              ended === 1 ? 'One other device was' : `${ended} other devices were`} signed out.`);
      await this._loadSessions();
    } catch (error) {
      setText(this._el.passwordMessage, `Not changed: ${reason(error)}`);
    }
  }

  async _loadSessions() {
    let sessions;
    try {
      sessions = await this._client.sessions();
    } catch (error) {
      setText(this._el.sessionsMessage, `Could not list the devices: ${reason(error)}`);
      return;
    }
    setText(this._el.sessionsMessage, '');
    reconcile(
        this._el.sessions, sessions, (s) => s.id,
        (s) =>
            h('li', {class: 'session', dataset: {session: s.id, current: String(s.current)}},
              [
                h('span', {class: 'session-agent', text: s.user_agent || 'Unknown browser'}),
                h('span', {class: 'session-meta muted'}),
                s.current ?
                    h('strong', {class: 'session-current', text: 'This device'}) :
                    h('button', {
                      type: 'button',
                      class: 'session-end',
                      text: 'Sign out',
                      'aria-label': `Sign out ${s.user_agent || 'this device'} (${s.address})`,
                      on: {click: () => this._endSession(s.id)},
                    }),
              ]),
        (li, s) => setText(
            /** @type {HTMLElement} */ (li.querySelector('.session-meta')),
            `${s.address} · last used ${when(s.last_used_at)}`));
  }

  /** @param {string} id */
  async _endSession(id) {
    try {
      await this._client.endSession(id);
      setText(this._el.sessionsMessage, 'Signed out.');
    } catch (error) {
      setText(this._el.sessionsMessage, `Not signed out: ${reason(error)}`);
    }
    await this._loadSessions();
  }

  /** @param {number} user */
  async _unblock(user) {
    try {
      await this._blocks.set(user, false);
    } catch (error) {
      setText(this._el.blockedMessage, `Not unblocked: ${reason(error)}`);
    }
  }

  async _deleteAccount() {
    const user = this._client.userId ?? 0;
    try {
      await this._client.deleteAccount(this._el.deletePassword.value);
    } catch (error) {
      setText(this._el.deleteMessage, `Not deleted: ${reason(error)}`);
      return;
    }
    this._dialog.close();
    this._onDeleted(user);
  }
}
