// Groups (PROTOCOL.md, "Groups"): reading a `system` entry and the roles of a member list.

import {entryOf} from './entries.js';

/**
 * The body of a message of kind `system`, parsed; null for any other message or a body that
 * is not such an object (an older or newer server's entry is shown generically).
 * @param {import('./types.js').Message} message
 * @returns {import('./types.js').SystemEntry | null}
 */
export function systemEntry(message) {
  const entry = entryOf(message, 'system', 'action');
  return entry === null ? null : {users: [], ...entry};
}

/**
 * Each member's role, from a `members` event, a conversation listing or a group answer
 * (`roles` parallel to `members`; a server before roles: everyone a member).
 * @param {{members: number[], roles?: string[]}} group
 * @returns {Map<number, import('./types.js').Role>}
 */
export function rolesOf(group) {
  const roles = new Map();
  group.members.forEach((user, i) => {
    roles.set(user, /** @type {import('./types.js').Role} */ (group.roles?.[i] ?? 'member'));
  });
  return roles;
}
