// Roster messages: how the members of a new conversation learn each other's names. The app that
// creates a conversation (or adds members) sends one message of kind "roster" whose body is
// {"event": "created" | "added", "names": {"<id>": "<username>"}}; other apps show it as a line
// ("alice started the chat") and confirm its names with the user search (names.js) before using
// them. Nothing else in ringcast reads it: another client sees a message of an unknown kind.

export const ROSTER_KIND = 'roster';

/**
 * @param {'created' | 'added'} event
 * @param {Map<number, string>} names the members named (the sender included)
 * @returns {string} the body
 */
export function rosterBody(event, names) {
  return JSON.stringify({event, names: Object.fromEntries(names)});
}

/**
 * @param {string} body
 * @returns {{event: string, names: Map<number, string>} | null} null: not a roster body
 */
export function parseRoster(body) {
  try {
    const value = JSON.parse(body);
    if (typeof value?.event !== 'string' || typeof value.names !== 'object') return null;
    const names = new Map();
    for (const [id, name] of Object.entries(value.names ?? {})) {
      if (Number.isSafeInteger(Number(id)) && typeof name === 'string') names.set(Number(id), name);
    }
    return {event: value.event, names};
  } catch {
    return null;
  }
}

/**
 * The line shown for a roster message.
 * @param {{from: number, body: string}} message
 * @param {(id: number) => string} nameOf
 * @param {number} me
 */
export function rosterText(message, nameOf, me) {
  const roster = parseRoster(message.body);
  const who = message.from === me ? 'You' : nameOf(message.from);
  if (!roster) return `${who} changed the conversation`;
  const others = [...roster.names.keys()].filter((id) => id !== message.from);
  const list = others.map((id) => (id === me ? 'you' : nameOf(id))).join(', ');
  if (roster.event === 'added') return `${who} added ${list}`;
  return others.length > 1 ? `${who} created the group with ${list}` : `${who} started the chat`;
}
