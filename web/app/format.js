// Dates and times as people read them: "14:05", "Today", "Yesterday", "3 Nov", "last seen ...".

import {formatDuration} from '/sdk/index.js';

const timeFormat = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit'});
const dayFormat =
    new Intl.DateTimeFormat(undefined, {weekday: 'long', day: 'numeric', month: 'long'});
const dayWithYearFormat =
    new Intl.DateTimeFormat(undefined, {day: 'numeric', month: 'long', year: 'numeric'});
const shortDayFormat = new Intl.DateTimeFormat(undefined, {day: 'numeric', month: 'short'});

/** @param {number} ms @returns {string} "14:05" */
export function clock(ms) {
  return timeFormat.format(ms);
}

/** The local calendar day of `ms`, as a key ("2026-11-22"). @param {number} ms */
export function dayKey(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-` +
      String(d.getDate()).padStart(2, '0');
}

/** @param {number} ms @param {number} [now] @returns {string} "Today", "Yesterday", a date */
export function dayLabel(ms, now = Date.now()) {
  if (dayKey(ms) === dayKey(now)) return 'Today';
  if (dayKey(ms) === dayKey(now - 86400000)) return 'Yesterday';
  if (new Date(ms).getFullYear() === new Date(now).getFullYear()) return dayFormat.format(ms);
  return dayWithYearFormat.format(ms);
}

/** A conversation list's time: the clock today, else the day. @param {number} ms */
export function listTime(ms, now = Date.now()) {
  if (dayKey(ms) === dayKey(now)) return clock(ms);
  if (dayKey(ms) === dayKey(now - 86400000)) return 'Yesterday';
  return shortDayFormat.format(ms);
}

/**
 * A thread's root line: "1 reply · last reply 14:05", "3 replies · last reply yesterday".
 * @param {number} count @param {number} lastMs @param {number} [now]
 */
export function replyCountText(count, lastMs, now = Date.now()) {
  const when = listTime(lastMs, now);
  return `${count} ${count === 1 ? 'reply' : 'replies'} · last reply ${
      when === 'Yesterday' ? 'yesterday' : when}`;
}

/**
 * @param {{status: string, last_online: number | null} | undefined} presence
 * @returns {string} "online", "last seen today at 14:05", "offline"
 */
export function presenceText(presence, now = Date.now()) {
  if (!presence) return '';
  if (presence.status === 'online') return 'online';
  const last = presence.last_online;
  if (!last) return 'offline';
  const day = dayLabel(last, now);
  const when = day === 'Today' || day === 'Yesterday' ? day.toLowerCase() : `on ${day}`;
  return `last seen ${when} at ${clock(last)}`;
}

/** "alice", "alice and bob", "alice, bob and carol" @param {string[]} names */
export function joinNames(names) {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/**
 * A group's system entry as a sentence ("Alice added Bob"; PROTOCOL.md, "Groups").
 * @param {import('/sdk/types.js').SystemEntry} entry
 * @param {(user: number) => string} name a user's display name
 * @returns {string}
 */
export function systemText(entry, name) {
  const actor = name(entry.actor);
  const users = joinNames(entry.users.map(name));
  switch (entry.action) {
    case 'added':
      return `${actor} added ${users}`;
    case 'removed':
      return `${actor} removed ${users}`;
    case 'left':
      return `${actor} left`;
    case 'role':
      return entry.role === 'admin' ? `${actor} made ${users} an admin` :
                                      `${actor} made ${users} a member`;
    case 'transferred':
      return `${actor} made ${users} the owner`;
    case 'updated': {
      const parts = [];
      if (entry.name !== undefined) parts.push(`renamed the group to “${entry.name}”`);
      if (entry.topic !== undefined) {
        parts.push(entry.topic ? `set the topic to “${entry.topic}”` : 'cleared the topic');
      }
      if (entry.avatar !== undefined) {
        parts.push(entry.avatar ? 'changed the group picture' : 'removed the group picture');
      }
      return `${actor} ${parts.join(' and ')}`;
    }
    default:
      return `${actor} changed the group`;
  }
}

/**
 * A call's record as a line ("Missed audio call", "Video call, 12:04"; PROTOCOL.md "Records"),
 * as user `me` sees it: the caller's unanswered call is "no answer", a callee's "missed".
 * @param {import('/sdk/types.js').CallRecord} entry
 * @param {number} caller the record's sender (the server writes it from the caller)
 * @param {number | null} me
 * @returns {string}
 */
export function callText(entry, caller, me) {
  const kind = entry.call_kind === 'video' ? 'video call' : 'audio call';
  const Kind = kind[0].toUpperCase() + kind.slice(1);
  switch (entry.outcome) {
    case 'completed':
      return `${Kind}, ${formatDuration(entry.duration_ms)}`;
    case 'missed':
      return caller === me ? `${Kind}, no answer` : `Missed ${kind}`;
    case 'declined':
      return `Declined ${kind}`;
    case 'cancelled':
      return `Cancelled ${kind}`;
    case 'failed':
      return `${Kind} failed`;
    default:
      return Kind;
  }
}

/** What an error says (the server's refusal, a network failure), for a message line. */
export function reason(/** @type {unknown} */ error) {
  return /** @type {Error} */ (error).message;
}
