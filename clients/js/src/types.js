// The wire types of proto/PROTOCOL.md ("The chat service"), as JSDoc typedefs. Field names are
// the protocol's own (snake_case): the SDK passes the server's objects through, minus `type`.

/**
 * A chat message, the same everywhere (HTTP, `message`, `sync`, `history`).
 * @typedef {object} Message
 * @property {number} id global id
 * @property {number} conv conversation id
 * @property {number} seq position in the conversation: 1, 2, 3, ... without gaps
 * @property {number} from sender's user id
 * @property {string} kind chosen by the sender (`"text"` by default)
 * @property {string} body
 * @property {number} ts when the server accepted it (ms since the epoch)
 */

/**
 * The server's answer to a send, once the message is committed.
 * @typedef {object} Ack
 * @property {string} cid
 * @property {number} conv
 * @property {number} id
 * @property {number} seq
 * @property {number} ts
 */

/**
 * A member's delivered/read watermark moved (cumulative: everything up to it).
 * @typedef {object} Receipt
 * @property {number} conv
 * @property {number} user
 * @property {number} [delivered]
 * @property {number} [read]
 */

/**
 * @typedef {object} Typing
 * @property {number} conv
 * @property {number} user
 * @property {'start' | 'stop'} state
 * @property {boolean} [expired] set on a `stop` the SDK made up because no `stop` (or refresh)
 *   came in time, or because the user's message arrived
 */

/**
 * @typedef {object} Presence
 * @property {number} user
 * @property {'online' | 'offline'} status
 * @property {number | null} last_online
 */

/**
 * @typedef {object} Members
 * @property {number} conv
 * @property {string | null} name
 * @property {boolean} group
 * @property {number[]} members
 */

/**
 * An entry of `GET /api/conversations`.
 * @typedef {object} Conversation
 * @property {number} id
 * @property {string | null} name
 * @property {boolean} group
 * @property {number[]} members
 * @property {Message | null} last_message
 * @property {number} last_seq
 * @property {number} unread
 * @property {number} read_seq
 */

/**
 * A conversation of a `sync` answer, without its messages (those come as `message` events).
 * @typedef {object} SyncSummary
 * @property {number} conv
 * @property {number} last_seq
 * @property {number} unread
 * @property {number} read_seq
 * @property {{user: number, delivered: number, read: number}[]} members
 * @property {boolean} more
 */

/**
 * A page of history, newest first.
 * @typedef {object} HistoryPage
 * @property {number} conv
 * @property {Message[]} messages
 * @property {boolean} more older messages exist
 */

/**
 * What the SDK keeps of a login (and persists, unless `persistSession` is false).
 * @typedef {object} Session
 * @property {string} token
 * @property {number} user_id
 * @property {number} expires_at ms since the epoch
 * @property {string} [username]
 */

/**
 * A send not yet acknowledged. `pending`: it goes out (again) whenever connected; `failed`: the
 * server refused it for good (`error` says why) and it waits for `retry(cid)` or `discard(cid)`.
 * @typedef {object} OutboxEntry
 * @property {string} cid
 * @property {number} conv
 * @property {string} kind
 * @property {string} body
 * @property {number} created_ms
 * @property {'pending' | 'failed'} state
 * @property {{code: string, message: string}} [error]
 */

/**
 * @typedef {'stopped' | 'connecting' | 'connected' | 'waiting'} ConnectionState
 */

/**
 * @typedef {object} StateChange
 * @property {ConnectionState} state
 * @property {ConnectionState} previous
 * @property {number} [retry_in_ms] with `waiting`: when the next attempt starts
 * @property {number} [code] the close code that ended the connection, if any
 * @property {string} [reason] why: the close reason, `auth_expired`, `closed`, ...
 */

/**
 * @typedef {object} ErrorInfo
 * @property {string} code a protocol code (`bad_request`, `forbidden`, `rate_limited`,
 *   `unavailable`) or an SDK one (`storage`, `protocol`, `no_websocket`, `gap`, ...)
 * @property {string} message
 * @property {string} [cid]
 */

export {};
