// The open conversation's composer: the text field (Enter sends, Shift+Enter a new line, ↑ in an
// empty field edits the user's last message, Escape cancels an edit or a reply), the byte count
// against the server's limit, the files of the send (the upload tray, fed by the clip button,
// drops on the conversation and pasted images), the bar of the message a reply answers, the `@`
// completion, and the send itself, which waits for uploads still going. Also what the thread
// panel's composer shares with it: the limit's check and the field's typing and Enter.

import {UploadTray} from './attachments.js';
import {byId, setText} from './dom.js';
import {MentionPicker} from './mentions.js';
import {excerpt} from './message_rows.js';

/** The server's --max-chat-body (UTF-8 bytes), as index.html's meta tag states it. */
export const MAX_BODY_BYTES =
    Number(
        document.querySelector('meta[name="ringcast-max-chat-body"]')?.getAttribute('content')) ||
    65536;
const utf8 = new TextEncoder();

/**
 * The server counts a body in UTF-8 bytes (an 'é' is two, an emoji four), not in the UTF-16
 * units of a textarea's maxlength: what a composer holding `text` says when it is over the
 * limit, else null.
 * @param {string} text
 * @returns {string | null}
 */
export function tooLongText(text) {
  const bytes = utf8.encode(text.trim()).length;
  return bytes > MAX_BODY_BYTES ? `${bytes} / ${MAX_BODY_BYTES} bytes: too long` : null;
}

/**
 * A composer's field as the user types (here and in the thread panel): Enter sends (not with
 * Shift, not while an input method composes); the SDK is told the user types, or stopped once
 * the field is empty; the field grows with its text up to 160 px; `changed` checks it again.
 * @param {HTMLTextAreaElement} input
 * @param {{client: import('/sdk/index.js').RingcastClient, conv: () => number | null,
 *     send: () => void, changed: () => void}} parts `conv`: the conversation written to
 */
export function wireInput(input, {client, conv, send, changed}) {
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  input.addEventListener('input', () => {
    const id = conv();
    if (id === null) return;
    if (input.value === '')
      client.stopTyping(id);
    else
      client.typing(id);
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
    changed();
  });
}

/**
 * What the composer needs of the conversation view.
 * @typedef {import('./conversation.js').ViewParts & {current: () => number | null,
 *     onSent: () => void}} ComposerHost `current`: the open conversation; `onSent`: a message
 *   was queued (the view shows it)
 */

export class Composer {
  /** @param {ComposerHost} host */
  constructor(host) {
    this._host = host;
    this._el = {
      composer: byId('composer'),
      input: /** @type {HTMLTextAreaElement} */ (byId('composer-input')),
      sendButton: /** @type {HTMLButtonElement} */ (byId('send-button')),
      count: byId('composer-count'),
    };
    this._tray = new UploadTray({
      client: host.client,
      list: byId('uploads'),
      onChange: () => this._checkLength(),
    });
    /** @type {{conv: number, seq: number} | null} the own message the composer edits now */
    this._editing = null;
    /** @type {number | null} the seq the next send answers (reply_to) */
    this._replyingTo = null;
    byId('reply-cancel').addEventListener('click', () => {
      this.stopReply();
      this.focus();
    });
    /** @type {number} a send waiting for its uploads (so that a second Enter does not double it) */
    this._waitingSend = 0;
    this._sendTicket = 0;
    this._picker = new MentionPicker({
      input: this._el.input,
      list: byId('mention-list'),
      members: () => {
        const id = host.current();
        return id === null ? [] : host.store.conv(id).members.filter((u) => u !== host.store.me);
      },
      names: host.names,
    });
    this._wireKeys();
    this._wireFiles();
  }

  /**
   * Empties it for the conversation opened (none: hidden): no text, edit, reply or files.
   * @param {boolean} open
   */
  reset(open) {
    this._el.input.value = '';
    this._editing = null;
    this._el.composer.classList.remove('editing');
    this.stopReply();
    this._tray.clear({cancel: true});
    this._waitingSend = 0;
    this._checkLength();
    this._el.composer.hidden = !open;
    this._picker.close();
  }

  focus() {
    this._el.input.focus();
  }

  /**
   * Off while the 1:1's other member is blocked (the server would refuse the send: PROTOCOL.md
   * "Blocks"). @param {boolean} blocked @param {string} name the other member's
   */
  setBlocked(blocked, name) {
    this._el.input.disabled = blocked;
    this._el.input.placeholder = blocked ? `You blocked ${name}: unblock to write` : 'Message';
  }

  _wireKeys() {
    const input = this._el.input;
    this._el.composer.addEventListener('submit', (event) => {
      event.preventDefault();
      this._send();
    });
    wireInput(input, {
      client: this._host.client,
      conv: this._host.current,
      send: () => this._send(),
      changed: () => this._checkLength(),
    });
    input.addEventListener('keydown', (event) => {
      const id = this._host.current();
      if (event.key === 'ArrowUp' && input.value === '' && id !== null) {
        // ↑ in an empty composer edits the user's last message, as in Slack and Telegram (a
        // call's record, the server's words, is nobody's to edit).
        const conv = this._host.store.conv(id);
        const last = [...conv.messages.values()]
                         .filter((m) => this._host.store.mine(m) && !m.deleted && m.kind !== 'call')
                         .sort((a, b) => b.seq - a.seq)[0];
        if (last) {
          event.preventDefault();
          this.startEdit(last.seq);
        }
      } else if (event.key === 'Escape' && this._editing) {
        event.preventDefault();  // Cancels the edit; the conversation stays open.
        this._stopEdit();
      } else if (event.key === 'Escape' && this._replyingTo !== null) {
        event.preventDefault();  // Cancels the reply; the text and the conversation stay.
        this.stopReply();
      }
    });
  }

  /**
   * Over the limit (tooLongText), the count shows and Send is off.
   * @returns {boolean} within the limit
   */
  _checkLength() {
    const tooLong = tooLongText(this._el.input.value);
    const over = tooLong !== null;
    const waiting = this._waitingSend !== 0;
    setText(
        this._el.count,
        tooLong ??
            (waiting                ? 'Sending once the files are uploaded…' :
                 this._tray?.failed ? 'Remove the files that were not uploaded to send.' :
                 this._editing      ? 'Editing your message: Enter saves, Escape cancels' :
                                      ''));
    this._el.sendButton.disabled = over || waiting || Boolean(this._tray?.failed);
    return !over;
  }

  /** @param {Iterable<File>} files */
  _addFiles(files) {
    if (this._host.current() === null) return;
    this._tray.add(files);
  }

  _wireFiles() {
    const input = /** @type {HTMLInputElement} */ (byId('file-input'));
    byId('attach-button').addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      this._addFiles([...(input.files ?? [])]);
      input.value = '';
    });
    const pane = byId('conversation');
    const hasFiles = (/** @type {DragEvent} */ e) => e.dataTransfer?.types.includes('Files');
    pane.addEventListener('dragover', (/** @type {DragEvent} */ e) => {
      if (!hasFiles(e) || this._host.current() === null) return;
      e.preventDefault();
      pane.classList.add('dropping');
    });
    pane.addEventListener('dragleave', () => pane.classList.remove('dropping'));
    pane.addEventListener('drop', (/** @type {DragEvent} */ e) => {
      pane.classList.remove('dropping');
      if (!hasFiles(e)) return;
      e.preventDefault();
      this._addFiles([...(e.dataTransfer?.files ?? [])]);
    });
    this._el.input.addEventListener('paste', (/** @type {ClipboardEvent} */ e) => {
      const images = [...(e.clipboardData?.files ?? [])].filter((f) => f.type.startsWith('image/'));
      if (images.length === 0) return;
      e.preventDefault();
      this._addFiles(images);
    });
  }

  /** Puts the user's message `seq` into the composer, to be saved by Enter. @param {number} seq */
  startEdit(seq) {
    const id = this._host.current();
    if (id === null) return;
    const message = this._host.store.conv(id).messages.get(seq);
    if (!message || !this._host.store.mine(message) || message.deleted) return;
    this._editing = {conv: id, seq};
    this._el.input.value = message.body;
    this._el.composer.classList.add('editing');
    this._checkLength();
    this._el.input.focus();
  }

  _stopEdit() {
    this._editing = null;
    this._el.input.value = '';
    this._el.composer.classList.remove('editing');
    this._checkLength();
  }

  /** Makes the next send a reply to message `seq`: the bar above the composer says to what. */
  startReply(/** @type {number} */ seq) {
    const id = this._host.current();
    if (id === null) return;
    const message = this._host.store.conv(id).messages.get(seq);
    if (!message || message.deleted) return;
    if (this._editing) this._stopEdit();
    this._replyingTo = seq;
    const who = this._host.store.mine(message) ? 'yourself' : this._host.names.name(message.from);
    setText(byId('reply-to-text'), `Replying to ${who}: ${excerpt(message)}`);
    byId('reply-bar').hidden = false;
    this.focus();
  }

  stopReply() {
    this._replyingTo = null;
    byId('reply-bar').hidden = true;
  }

  /**
   * Sends the composer's text with the tray's files; while files are still going up, the send
   * waits for them (the text and the tray stay, Send is off).
   */
  async _send() {
    const conv = this._host.current();
    const editing = this._editing;
    if (editing && editing.conv === conv) {
      const text = this._el.input.value.trim();
      if (text === '' || !this._checkLength()) return;
      this._host.client.edit(conv, editing.seq, text);
      this._stopEdit();
      return;
    }
    if (conv === null || this._waitingSend !== 0 || this._tray.failed) return;
    if (!this._checkLength() || (this._el.input.value.trim() === '' && this._tray.empty)) return;
    if (this._tray.busy) {
      const waiting = ++this._sendTicket;
      this._waitingSend = waiting;
      this._checkLength();
      await this._tray.settled();
      if (this._waitingSend !== waiting) return;  // another conversation was opened meanwhile
      this._waitingSend = 0;
      if (this._host.current() !== conv || this._tray.failed) {
        this._checkLength();
        return;
      }
    }
    // The text as it is now: it stayed editable while the files went up.
    const text = this._el.input.value.trim();
    const attachments = this._tray.ids();
    if (!this._checkLength() || (text === '' && attachments.length === 0)) return;
    const replyTo = this._replyingTo ?? undefined;
    this._host.client.send(conv, text, {attachments, replyTo});
    this.stopReply();
    this._tray.clear();
    this._el.input.value = '';
    this._el.input.style.height = 'auto';
    this._checkLength();
    this._host.onSent();
  }
}
