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
 * @property {number[]} [mentions] the members it mentions (sorted ids; absent when none)
 * @property {Attachment[]} [attachments] the files it carries, in the sender's order
 * @property {number} [target] a change (kind `edit`, `delete`, `reaction`, `pin`, `unpin`):
 *   the seq of the message it changes (PROTOCOL.md, "Changes to messages")
 * @property {boolean} [on] a `reaction` change: added (true) or taken away
 * @property {number} [edited_at] when it was last edited
 * @property {true} [deleted] a deleted message (its tombstone: no body, files or mentions)
 * @property {number} [deleted_by] @property {number} [deleted_at]
 * @property {{emoji: string, count: number, users: number[]}[]} [reactions] its reactions now
 * @property {number} [pinned_at] @property {number} [pinned_by] while pinned
 * @property {number} [reply_to] a reply: the seq of the message it answers (PROTOCOL.md,
 *   "Replies and threads")
 * @property {Quote} [quote] a reply: its parent as it is now
 * @property {number} [thread_root] a thread reply: the seq of its thread's root
 * @property {number} [reply_count] a thread's root: its replies so far
 * @property {number} [last_reply_seq] @property {number} [last_reply_at] a root's newest reply
 */

/**
 * A reply's parent as it is now: its author and the first 100 characters of its body, or
 * `deleted` (no body) once it is deleted.
 * @typedef {object} Quote
 * @property {number} from
 * @property {string} [body]
 * @property {true} [deleted]
 */

/**
 * A file a message carries (PROTOCOL.md, "Files"); `thumb_url`, `width` and `height` for the
 * images the server made a thumbnail of. URLs need the token: uploads.js `attachmentUrl`.
 * @typedef {object} Attachment
 * @property {string} id @property {string} name @property {number} size
 * @property {string} type @property {string} sha256 @property {string} url
 * @property {string} [thumb_url] @property {number} [width] @property {number} [height]
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
 * @property {string | null} topic
 * @property {string | null} [avatar] a group's avatar's URL (`/files/{id}`), null without one
 * @property {string | null} [avatar_thumb] its thumbnail's URL
 * @property {boolean} group
 * @property {number[]} members
 * @property {Role[]} roles parallel to `members` (PROTOCOL.md, "Groups")
 */

/** @typedef {'owner' | 'admin' | 'member'} Role */

/**
 * A group as the membership routes answer it (PROTOCOL.md, "Groups").
 * @typedef {object} Group
 * @property {number} id
 * @property {string | null} name
 * @property {string | null} topic
 * @property {string | null} [avatar] the group's avatar's URL (`/files/{id}`), null without one
 * @property {string | null} [avatar_thumb] its thumbnail's URL
 * @property {number[]} members
 * @property {Role[]} roles parallel to `members`
 */

/**
 * The parsed body of a message of kind `system` (systemEntry(), PROTOCOL.md "Groups").
 * @typedef {object} SystemEntry
 * @property {'added' | 'removed' | 'left' | 'role' | 'transferred' | 'updated' | string} action
 * @property {number} actor
 * @property {number[]} users
 * @property {'admin' | 'member'} [role]
 * @property {string} [name]
 * @property {string} [topic]
 * @property {string} [avatar] the new avatar's upload id ('': removed)
 */

/**
 * A user's profile, as `GET /api/users` and `GET /api/blocks` answer it and the `profile` event
 * carries it (proto/PROTOCOL.md "Profiles").
 * @typedef {object} UserSummary
 * @property {number} id
 * @property {string} username
 * @property {string|null} display_name shown where the username would be; null: show the username
 * @property {string|null} avatar the avatar's URL (`/files/{id}`), null without one
 * @property {string|null} avatar_thumb its thumbnail's URL
 * @property {string|null} status
 * @property {boolean} [deleted] a deleted account (username "")
 */

/**
 * The caller's own profile and email (`GET /api/me`, `PATCH /api/me`).
 * @typedef {UserSummary & {email: string | null}} Me
 */

/**
 * One login of the user (`GET /api/me/sessions`; PROTOCOL.md "Account control").
 * @typedef {object} LoginSession
 * @property {string} id
 * @property {number} created_at the login (ms)
 * @property {number} last_used_at its last token refresh (ms)
 * @property {string} user_agent the login request's `User-Agent` ("" when none)
 * @property {string} address the client address the login came from
 * @property {boolean} current this client's own login
 */

/**
 * `GET /api/calls/ice-servers` (PROTOCOL.md, "Calls: ICE servers"): `ice_servers` is an
 * `RTCIceServer[]` as `RTCPeerConnection` takes it.
 * @typedef {object} IceServers
 * @property {Array<{urls: string[], username?: string, credential?: string}>} ice_servers
 * @property {number | null} expires_at when the TURN credential stops being valid (ms), null
 *   without one
 */

/** @typedef {'audio' | 'video'} CallKind */

/**
 * A call's state on this device: `ringing` (an incoming call not answered here; an outgoing one
 * nobody answered yet), `connecting` (answered: media being negotiated), `connected` (media
 * flows with at least one other device), `ended`.
 * @typedef {'ringing' | 'connecting' | 'connected' | 'ended'} CallState
 */

/**
 * Why a call ended on this device: `ended` (the server's `call_ended`: `outcome` says how),
 * `left` (this device hung up and the call went on without it), `declined` (declined here),
 * `stopped_ringing` (answered on another device, declined, cancelled or missed: the call's
 * record says which), `cancelled` (cancelled here), `failed` (the accept was refused), `lost`
 * (the rejoin after a reconnect was refused: over meanwhile, or past the grace period).
 * @typedef {'ended' | 'left' | 'declined' | 'stopped_ringing' | 'cancelled' | 'failed' |
 *     'lost'} CallEndReason
 */

/**
 * Options of the call API (client option `calls`, and per call in `startCall`).
 * @typedef {object} CallOptions
 * @property {RTCIceTransportPolicy} [iceTransportPolicy] `relay`: media only through the TURN
 *   servers (tests; privacy: hides the peers' addresses from each other)
 * @property {any} [RTCPeerConnection] the class to use (default the global one)
 * @property {number} [restartAfterMs] ICE `disconnected` this long: an ICE restart (3000)
 * @property {number} [maxIceRestarts] in a row, without connecting between (5)
 */

/**
 * `call_ack`, the answer to a call request (PROTOCOL.md, "Calls: signalling").
 * @typedef {object} CallAck
 * @property {'call_ack'} type
 * @property {string} cid
 * @property {string} call
 * @property {Array<{user: number, device: number}>} [participants] `call_accept`,
 *   `call_rejoin`: the devices already in the call
 */

/**
 * A call event as the server sent it (`call_ring`, `call_ringing`, `call_stop_ringing`,
 * `call_joined`, `call_declined`, `call_left`, `call_ended`, `call_signal`).
 * @typedef {{type: string, call: string} & Record<string, any>} CallFrame
 */

/**
 * The body of a message of kind `call` (callEntry(); PROTOCOL.md "Records"); times in Unix ms.
 * @typedef {object} CallRecord
 * @property {string} call
 * @property {CallKind} call_kind
 * @property {'completed' | 'missed' | 'declined' | 'cancelled' | 'failed' | string} outcome
 * @property {number} started_at
 * @property {number} [answered_at]
 * @property {number} ended_at
 * @property {number} duration_ms
 * @property {number[]} participants the users who were in the call
 */

/**
 * A Call's events (calls.js).
 * @typedef {object} CallEvents
 * @property {{state: CallState, previous: CallState}} state
 * @property {{user: number}} ringing a device of `user` rings (the caller's side)
 * @property {{user: number}} declined
 * @property {{user: number, device: number}} joined a device joined the call
 * @property {{user: number, device: number}} left a device left (its stream is gone)
 * @property {{user: number, device: number, stream: MediaStream}} stream what that device
 *   sends (again for each of its tracks)
 * @property {{user: number, device: number, state: RTCPeerConnectionState}} peer_state
 * @property {{user: number, device: number}} ice_restart an ICE restart offered to that device
 * @property {{outcome: string | null, reason: CallEndReason, duration_ms: number,
 *     stopped: string | null}} ended `stopped`: why a ring stopped (`call_stop_ringing`'s
 *     `reason`: `answered` or `declined` on another device, `timeout`, `removed` from the group,
 *     `blocked`, or the outcome)
 * @property {{code: string, message: string}} error a WebRTC step failed
 */

/**
 * An entry of `GET /api/conversations`.
 * @typedef {object} Conversation
 * @property {number} id
 * @property {string | null} name
 * @property {string | null} topic
 * @property {string | null} [avatar] a group's avatar's URL (`/files/{id}`), null without one
 * @property {string | null} [avatar_thumb] its thumbnail's URL
 * @property {boolean} group
 * @property {number[]} members
 * @property {Role[]} roles parallel to `members`
 * @property {Message | null} last_message
 * @property {number} last_seq
 * @property {number} unread
 * @property {number} read_seq
 * @property {number} unread_mentions messages above `read_seq` that mention this user
 * @property {number | 'forever' | null} muted_until while muted: the end (ms) or `'forever'`
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
 * A page of a thread's replies, newest first.
 * @typedef {object} ThreadPage
 * @property {number} conv
 * @property {number} root the seq of the thread's root
 * @property {number} read_seq the user's thread watermark (replies up to it are read)
 * @property {number} unread the replies by others above `read_seq`
 * @property {Message[]} messages
 * @property {boolean} more older replies exist
 */

/**
 * The user's thread watermark after a `thread_read` (PROTOCOL.md, "Replies and threads").
 * @typedef {object} ThreadRead
 * @property {number} conv
 * @property {number} root
 * @property {number} read_seq
 */

/**
 * What the SDK keeps of a login (and persists, unless `persistSession` is false).
 * @typedef {object} SearchHit
 * One message `search` found (PROTOCOL.md, "Search"): `conv` and `seq` name it.
 * @property {number} conv
 * @property {number} seq
 * @property {number} id
 * @property {number} from
 * @property {string} kind
 * @property {number} ts
 * @property {number} [edited_at]
 * @property {{text: string, match: boolean}[]} snippet a passage of the body in segments:
 *     render each `text` as plain text, highlighting those with `match`
 */

/**
 * @typedef {object} SearchPage
 * @property {SearchHit[]} results best first
 * @property {string | null} next_cursor the `cursor` of the next page; null: no more
 */

/**
 * @typedef {object} Session
 * @property {string} token
 * @property {number} user_id
 * @property {number} expires_at ms since the epoch
 * @property {string} [username]
 * @property {string} [refresh_token] taken once by `POST /api/token/refresh` (rotated)
 * @property {number} [refresh_expires_at] ms since the epoch
 * @property {string} [instance] the server database's instance id
 * @property {number} [user_created_at] the account's creation (ms): with `instance` and
 *   `user_id`, what the stored outbox is bound to
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
 * @property {string[]} [attachments] upload ids
 * @property {number[]} [mentions] member ids
 * @property {'edit' | 'delete' | 'react' | 'pin' | 'unpin'} [change] a change to message
 *   `target` (PROTOCOL.md, "Changes to messages"): `kind` is the server's, `body` the new body
 *   (edit) or the emoji (react)
 * @property {number} [target] the seq of the message changed
 * @property {boolean} [on] react: add (true) or take away the emoji
 * @property {number} [reply_to] a reply: the seq of the message answered
 * @property {true} [thread] a reply in that message's thread
 */

/**
 * @typedef {'stopped' | 'connecting' | 'connected' | 'waiting'} ConnectionState
 */

/**
 * How the events reach the client (PROTOCOL.md, "Chat transports"): a WebSocket, Server-Sent Events
 * with POSTs, or long polls with POSTs.
 * @typedef {'websocket' | 'sse' | 'poll'} Transport
 */

/**
 * @typedef {object} StateChange
 * @property {ConnectionState} state
 * @property {ConnectionState} previous
 * @property {number} [retry_in_ms] with `waiting`: when the next attempt starts
 * @property {number} [code] the close code that ended the connection, if any
 * @property {string} [reason] why: the close reason, `auth_expired`, `closed`, ...
 * @property {Transport} [transport] with `connected`: the transport in use; with
 *   `connecting`: the one tried next after a fallback
 */

/**
 * @typedef {object} ErrorInfo
 * @property {string} code a protocol code (`bad_request`, `forbidden`, `rate_limited`,
 *   `unavailable`) or an SDK one (`storage`, `protocol`, `no_websocket`, `gap`, ...)
 * @property {string} message
 * @property {string} [cid]
 */

/** @typedef {import('./storage.js').StorageLike} StorageLike */
/** @typedef {import('./backoff.js').BackoffOptions} BackoffOptions */
/** @typedef {import('./http.js').FetchLike} FetchLike */

/**
 * @typedef {object} ClientOptions
 * @property {string} [baseUrl] the server's HTTP root, `https://chat.example.com` (in a browser,
 *   default: the page's origin)
 * @property {string} [wsUrl] default: `baseUrl` with `ws:`/`wss:` and the path `/ws`
 * @property {any} [WebSocket] a WebSocket class; default the global one, else (Node 18–21) the
 *   `ws` package, imported when first needed
 * @property {FetchLike} [fetch] default the global fetch
 * @property {StorageLike} [storage] where the session and the outbox survive a reload; default
 *   localStorage, else in memory
 * @property {string} [storagePrefix] prefix of the storage keys (default `ringcast:`)
 * @property {boolean} [persistSession] keep the token in the storage (default true)
 * @property {BackoffOptions} [reconnect] backoff and hint settings (backoff.js)
 * @property {number} [pingIntervalMs] a `ping` this often; also the presence heartbeat (25000)
 * @property {number} [pongTimeoutMs] no frame for a ping interval plus this: the connection is
 *   taken as dead and replaced (10000)
 * @property {number} [helloTimeoutMs] no `hello` this long after opening: replaced (10000)
 * @property {'auto' | Transport} [transport] `auto` (default): WebSocket, falling back by itself
 *   to SSE and then to long polling when the upgrade fails or nothing arrives (README.md,
 *   "Transports"); or one transport only
 * @property {number} [fallbackMs] `auto`: how long a transport may take to bring `hello` (SSE:
 *   its first event) before the next one is tried (4000)
 * @property {number} [requestTimeoutMs] HTTP requests and `history` answers (15000)
 * @property {number} [syncTimeoutMs] one `sync` answer (60000)
 * @property {{refreshMs?: number, idleMs?: number, expireMs?: number}} [typing] typing.js
 *   (3000, 5000, 8000)
 * @property {boolean} [autoDelivered] send `delivered` for others' messages handed to the app
 *   (default true)
 * @property {number} [maxOutbox] sends waiting for their ack at most; `send` throws
 *   `outbox_full` past it (1000)
 * @property {number} [sendsPerSecond] outbox pacing, half the server's default `--msg-rate`
 *   (50; bursts of as many)
 * @property {number} [maxBufferedPerConversation] messages held ahead of a gap (10000)
 * @property {number} [maxProfiles] users' profiles cached at most (`cachedProfile`; 2000)
 * @property {CallOptions} [calls] the call API's defaults (calls.js)
 */

/**
 * @typedef {object} OutboxChange
 * @property {'added' | 'acked' | 'failed' | 'retried' | 'discarded'} change
 * @property {OutboxEntry} entry
 */

/**
 * @typedef {object} ClientEvents
 * @property {StateChange} state
 * @property {{user: number, presence: Presence[]}} hello
 * @property {{expires_at: number}} token_expiring
 * @property {{entries: OutboxEntry[], reason: string}} outbox_rejected
 * @property {Message} message
 * @property {Ack} ack
 * @property {Receipt} receipt
 * @property {Typing} typing
 * @property {Presence} presence
 * @property {UserSummary} profile a cached user's profile changed (the server's `profile`
 *   event, or a newer one read after a reconnect)
 * @property {Members} members
 * @property {Message} mention a message that mentions this user (after its `message`)
 * @property {ThreadRead} thread_read the server moved the user's thread watermark (the answer
 *   to `threadRead`, on this client only)
 * @property {{convs: SyncSummary[]}} sync
 * @property {{}} synced
 * @property {{conversations: Conversation[]}} conversations
 * @property {OutboxChange} outbox
 * @property {{after_ms: number}} reconnect_hint
 * @property {{reason: string}} auth_expired
 * @property {ErrorInfo} error
 * @property {import('./calls.js').Call} call an incoming call rings on this device
 * @property {CallFrame} call_event a call event as the server sent it (raw signalling)
 */

export {};
