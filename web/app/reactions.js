// Reactions and pins on a message (PROTOCOL.md, "Changes to messages"): the chips under a
// message (emoji, count, who in the tooltip; one's own pressed, a click toggles it), the picker
// the message menu opens (a quick row and a field for any other emoji), the "pinned" mark, and
// the conversation's pins dialog.

import {h, reconcile, setText} from './dom.js';
import {clock} from './format.js';

/** The picker's quick row. Any other single emoji can be typed or pasted into its field. */
const QUICK_EMOJI = ['👍', '❤️', '😂', '😮', '😢', '🎉', '🙏', '👀'];

const graphemes = new Intl.Segmenter(undefined, {granularity: 'grapheme'});

/**
 * `text` trimmed when it is one grapheme cluster (the server's rule: chat/reactions.h), else
 * null. @param {string} text
 */
function oneGrapheme(text) {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const [first, second] = graphemes.segment(trimmed);
  return second === undefined && first.segment === trimmed ? trimmed : null;
}

/**
 * Makes `el`'s chips those of `message.reactions`: one button per emoji, pressed when `me`
 * reacted with it; `onToggle(emoji, on)` adds or takes away the user's reaction.
 * @param {HTMLElement} el
 * @param {import('/sdk/types.js').Message} message
 * @param {number} me
 * @param {(user: number) => string} nameOf
 * @param {(emoji: string, on: boolean) => void} onToggle
 */
export function showReactions(el, message, me, nameOf, onToggle) {
  const reactions = message.deleted ? [] : message.reactions ?? [];
  el.hidden = reactions.length === 0;
  reconcile(
      el, reactions, (r) => r.emoji,
      (r) => h('button', {
        type: 'button',
        class: 'reaction',
        on: {
          click: (/** @type {Event} */ e) => {
            const button = /** @type {HTMLElement} */ (e.currentTarget);
            onToggle(r.emoji, button.getAttribute('aria-pressed') !== 'true');
          },
        },
      }),
      (button, r) => {
        const mine = r.users.includes(me);
        const who = r.users.map((u) => (u === me ? 'You' : nameOf(u)));
        setText(button, `${r.emoji} ${r.count}`);
        button.setAttribute('aria-pressed', String(mine));
        button.title = `${who.join(', ')} reacted with ${r.emoji}`;
        button.setAttribute(
            'aria-label',
            `${r.emoji} ${r.count}: ${who.join(', ')}${mine ? '. Click to take yours away' : ''}`);
      });
}

/**
 * The picker under a message: the quick row and a field for any one emoji (Enter adds it).
 * Escape or a pick closes it; focus goes back to `returnTo`.
 * @param {(emoji: string) => void} onPick
 * @param {HTMLElement} returnTo
 */
export function reactionPicker(onPick, returnTo) {
  const close = () => {
    picker.remove();
    returnTo.focus();
  };
  const pick = (/** @type {string} */ emoji) => {
    close();
    onPick(emoji);
  };
  const other = /** @type {HTMLInputElement} */ (h('input', {
    class: 'react-other',
    type: 'text',
    maxlength: '32',
    placeholder: 'Other',
    'aria-label': 'Any other emoji: type or paste one, then Enter',
  }));
  other.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    const emoji = oneGrapheme(other.value);
    if (emoji) {
      pick(emoji);
    } else {
      other.setCustomValidity('One emoji');
      other.reportValidity();
    }
  });
  other.addEventListener('input', () => other.setCustomValidity(''));
  const picker = h('div', {class: 'react-picker', role: 'group', 'aria-label': 'Add a reaction'}, [
    ...QUICK_EMOJI.map((emoji) => h('button', {
                         type: 'button',
                         class: 'react-quick',
                         text: emoji,
                         'aria-label': `React with ${emoji}`,
                         on: {click: () => pick(emoji)},
                       })),
    other,
  ]);
  picker.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      close();
    }
  });
  return picker;
}

/**
 * The pins dialog's list: each pinned message with its sender and time; a click on one calls
 * `onOpen(seq)`. @param {HTMLElement} list
 * @param {import('/sdk/types.js').Message[]} pins
 * @param {(user: number) => string} nameOf
 * @param {(seq: number) => void} onOpen
 */
export function showPins(list, pins, nameOf, onOpen) {
  reconcile(
      list, pins, (m) => String(m.seq), (m) => h('li', {}, [h('button', {
                                                   type: 'button',
                                                   class: 'pin-item',
                                                   on: {click: () => onOpen(m.seq)},
                                                 })]),
      (li, m) => {
        const files = m.attachments?.length ?? 0;
        const text = m.body || (files ? `${files} file${files > 1 ? 's' : ''}` : '');
        setText(
            /** @type {HTMLElement} */ (li.firstElementChild),
            `${nameOf(m.from)}, ${clock(m.ts)}: ${text}`);
      });
}
