// Messages the server writes itself carry a JSON object as their body: a group's change (kind
// `system`, PROTOCOL.md "Groups") and a call's record (kind `call`, "Records"). Reading one
// never throws: an older or newer server's body that is not such an object reads as null, and
// the app shows the message generically.

/**
 * The body of `message` parsed, when the message is of `kind` and its body an object with a
 * string `key`; else null.
 * @param {import('./types.js').Message} message @param {string} kind @param {string} key
 * @returns {any} the object (its type is the caller's to state), or null
 */
export function entryOf(message, kind, key) {
  if (message.kind !== kind || typeof message.body !== 'string') return null;
  try {
    const entry = JSON.parse(message.body);
    if (entry === null || typeof entry !== 'object' || typeof entry[key] !== 'string') return null;
    return entry;
  } catch {
    return null;
  }
}
