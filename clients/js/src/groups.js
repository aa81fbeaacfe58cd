// Groups (PROTOCOL.md, "Groups"): reading a `system` entry and the roles of a member list.

/**
 * The body of a message of kind `system`, parsed; null for any other message or a body that
 * is not such an object (an older or newer server's entry is shown generically).
 * @param {import('./types.js').Message} message
 * @returns {import('./types.js').SystemEntry | null}
 */
export function systemEntry(message) {
  if (message.kind !== 'system' || typeof message.body !== 'string') return null;
  try {
    const entry = JSON.parse(message.body);
    if (entry === null || typeof entry !== 'object' || typeof entry.action !== 'string') {
      return null;
    }
    return {users: [], ...entry};
  } catch {
    return null;
  }
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
