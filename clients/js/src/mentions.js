// Mentions as the server reads them (proto/PROTOCOL.md, "Mentions"): `@username` in a text
// message, ASCII case ignored, not right after a username character (`bob@example.com` is no
// mention), a trailing `.` not part of the name. These helpers let an app complete a mention
// while it is typed and mark mentions in a message with the same rule.

const NAME_CHAR = /[A-Za-z0-9_.\-]/;

/**
 * The mention being typed at `caret`: `{start, prefix}` (`start` the index of the `@`,
 * `prefix` what follows it up to the caret), or null when the caret is not in one.
 * @param {string} text @param {number} caret
 * @returns {{start: number, prefix: string} | null}
 */
export function mentionAt(text, caret) {
  let i = caret;
  while (i > 0 && NAME_CHAR.test(text[i - 1])) i -= 1;
  if (i === 0 || text[i - 1] !== '@') return null;
  const start = i - 1;
  if (start > 0 && NAME_CHAR.test(text[start - 1])) return null;
  return {start, prefix: text.slice(i, caret)};
}

/**
 * `text` with the mention typed at `caret` completed as `@username ` (a space after it).
 * @param {string} text @param {number} caret @param {string} username
 * @returns {{text: string, caret: number}} unchanged when the caret is in no mention
 */
export function completeMention(text, caret, username) {
  const at = mentionAt(text, caret);
  if (!at) return {text, caret};
  let end = caret;
  while (end < text.length && NAME_CHAR.test(text[end])) end += 1;
  const inserted = `@${username} `;
  const rest = text.slice(end).replace(/^ /, '');
  return {text: text.slice(0, at.start) + inserted + rest, caret: at.start + inserted.length};
}

/**
 * The `@name`s of `body`, in order, as `{start, end, name}` (`end` exclusive; `name` without
 * the `@`). Which of them mention someone is the server's to say (`message.mentions`, ids):
 * a name that is no member's mentions nobody.
 * @param {string} body @returns {{start: number, end: number, name: string}[]}
 */
export function mentionSpans(body) {
  const spans = [];
  const re = /@([A-Za-z0-9_.\-]+)/g;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    if (m.index > 0 && NAME_CHAR.test(body[m.index - 1])) continue;
    const name = m[1].replace(/\.+$/, '');
    if (name === '') continue;
    spans.push({start: m.index, end: m.index + 1 + name.length, name});
  }
  return spans;
}

/**
 * Whether `message` mentions `user`. @param {{mentions?: number[]}} message @param {number} user
 */
export function mentions(message, user) {
  return Array.isArray(message.mentions) && message.mentions.includes(user);
}

/**
 * Whether a conversation's mute (its `muted_until` in `conversations()`) is on at `nowMs`.
 * @param {number | 'forever' | null | undefined} mutedUntil @param {number} [nowMs]
 */
export function isMuted(mutedUntil, nowMs = Date.now()) {
  return mutedUntil === 'forever' || (typeof mutedUntil === 'number' && mutedUntil > nowMs);
}
