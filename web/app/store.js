// Store: what the app knows of the user's conversations, kept from the SDK's events, and told
// to the views through one `onChange` callback. The SDK delivers each conversation's messages
// once and in order; the store keeps them by seq, so history pages and live messages merge
// without duplicates.
//
// Unread counts follow the protocol's definition, the messages above the user's read watermark
// that are no changes to others (PROTOCOL.md, "Changes to messages"): last_seq − the watermark,
// less the change entries above it (those seen live, and those the server's list counted out).
// The watermark moves with the user's own messages, their `read`s on any device, and every list
// or sync the server sends, so no event is counted twice.
//
// A conversation the user is no longer in (a `members` event without them: removed, or left on
// some device; or absent from the server's list) is forgotten, and `onDropped` says so.
//
// Every member and sender it hears of is named at once (names.js asks the server in batches),
// so the list, the conversation and a notification show names rather than ids.
//
// Threads (PROTOCOL.md, "Replies and threads"): a root's `reply_count`, `last_reply_seq` and
// `last_reply_at` are the server's when the root is read (history, a page of a thread), and
// each thread reply's `message` event newer than `last_reply_seq` counts on the store's copy of
// its root. The user's thread watermarks are known from `thread` pages (`read_seq`), the
// `thread_read` answers and the user's own thread replies; one a root on screen needs is asked
// for once (`learnThreadRead`: a `thread` page of one reply).

import {systemEntry} from '/sdk/index.js';

/**
 * @typedef {import('/sdk/types.js').Message} Message
 * @typedef {import('/sdk/types.js').OutboxEntry} OutboxEntry
 *
 * @typedef {object} Conv
 * @property {number} id
 * @property {string | null} name
 * @property {string | null} topic a group's topic (null or '': none)
 * @property {string | null} avatar a group's avatar's URL (null: none)
 * @property {string | null} avatarThumb its thumbnail's URL
 * @property {boolean} group
 * @property {number[]} members
 * @property {string[]} roles a group's roles, parallel to `members` (PROTOCOL.md, "Groups")
 * @property {number} lastSeq
 * @property {number} myRead the user's read watermark
 * @property {Message | null} lastMessage
 * @property {Map<number, Message>} messages by seq (what was seen live or paged in)
 * @property {Map<string, OutboxEntry>} pending own sends not acked yet, by cid
 * @property {Set<string>} shownAsMessage cids whose message is on screen before their ack
 * @property {Set<number>} claimedBy ids of own messages that stand for a pending send
 * @property {Map<number, {delivered: number, read: number}>} marks other members' watermarks
 * @property {Set<number>} typing members typing now
 * @property {number} unreadMentions unread messages that mention the user
 * @property {number | 'forever' | null} mutedUntil
 * @property {Set<number>} changeSeqs seqs of change entries seen above the read watermark
 * @property {{readSeq: number, lastSeq: number, count: number} | null} listedChanges the change
 *     entries the server's list counted out of `unread`, in (readSeq, lastSeq]
 * @property {Map<number, Message>} threadMessages by seq: messages of a thread (its replies
 *     from `thread` pages, a root read for it) that `messages` does not hold: outside the
 *     timeline, kept current by changes as `messages` is
 * @property {Map<number, number>} threadReads the user's thread watermark per root, as far as
 *     this page knows
 * @property {Set<number>} threadAsked roots whose watermark was asked for (learnThreadRead)
 */

/** The fields that place a message among replies, kept by its tombstone. */
const THREAD_FIELDS = [
  'reply_to',
  'quote',
  'thread_root',
  'reply_count',
  'last_reply_seq',
  'last_reply_at',
];

/** A conversation's fields that a snapshot keeps as they are (besides marks and messages). */
const SNAPSHOT_FIELDS = [
  'name', 'topic', 'avatar', 'avatarThumb', 'group', 'members', 'roles', 'lastSeq', 'myRead',
  'lastMessage', 'unreadMentions', 'mutedUntil',
];

export class Store {
  /**
   * @param {import('/sdk/index.js').RingcastClient} client @param {import('./names.js').Names}
   *     names
   */
  constructor(client, names) {
    this._client = client;
    this._names = names;
    /** @type {Map<number, Conv>} */
    this.convs = new Map();
    /** @type {(what: {list?: boolean, conv?: number, presence?: boolean}) => void} */
    this.onChange = () => {};
    /** @type {(message: Message) => void} a message from someone else arrived */
    this.onIncoming = () => {};
    /**
     * The user is no longer in conversation `conv`, which is gone from the store: `live`, a
     * `members` event without the user (removed, left); else the server's list lacks it (a
     * reconnect). `entry`: the system entry that took the user out, when it came live
     * (PROTOCOL.md, "Groups": just before that event), else null.
     * @type {(conv: Conv, entry: import('/sdk/types.js').SystemEntry | null, live: boolean)
     *     => void}
     */
    this.onDropped = () => {};
    this._refreshTimer = 0;
    this._wire();
  }

  get me() {
    return this._client.userId ?? 0;
  }

  clear() {
    this.convs.clear();
    this.onChange({list: true});
  }

  /** @param {number} id @returns {Conv} */
  conv(id) {
    let conv = this.convs.get(id);
    if (!conv) {
      conv = {
        id,
        name: null,
        topic: null,
        avatar: null,
        avatarThumb: null,
        group: false,
        members: [],
        roles: [],
        lastSeq: 0,
        myRead: 0,
        lastMessage: null,
        messages: new Map(),
        pending: new Map(),
        shownAsMessage: new Set(),
        claimedBy: new Set(),
        marks: new Map(),
        typing: new Set(),
        unreadMentions: 0,
        mutedUntil: null,
        changeSeqs: new Set(),
        listedChanges: null,
        threadMessages: new Map(),
        threadReads: new Map(),
        threadAsked: new Set(),
      };
      this.convs.set(id, conv);
    }
    return conv;
  }

  /** @param {Conv} conv */
  unread(conv) {
    const listed = conv.listedChanges?.readSeq === conv.myRead ? conv.listedChanges : null;
    let changes = listed?.count ?? 0;
    for (const seq of conv.changeSeqs) {
      if (seq > conv.myRead && seq > (listed?.lastSeq ?? 0)) changes += 1;
    }
    return Math.max(0, conv.lastSeq - conv.myRead - changes);
  }

  /** Conversations, most recently active first. @returns {Conv[]} */
  sorted() {
    const when = (/** @type {Conv} */ c) => {
      let ts = c.lastMessage?.ts ?? 0;
      for (const entry of c.pending.values()) ts = Math.max(ts, entry.created_ms);
      return ts;
    };
    return [...this.convs.values()].sort((a, b) => when(b) - when(a) || b.id - a.id);
  }

  /** Everything up to `seq` of `conv` is on screen and the page visible. */
  markRead(/** @type {number} */ id, /** @type {number} */ seq) {
    const conv = this.conv(id);
    if (seq <= conv.myRead) return;
    conv.myRead = seq;
    for (const change of conv.changeSeqs) {
      if (change <= seq) conv.changeSeqs.delete(change);
    }
    // The server counts the mentions above the watermark; read to the end, none are left.
    if (seq >= conv.lastSeq) conv.unreadMentions = 0;
    this._client.markRead(id, seq);
    this.onChange({list: true});
  }

  /**
   * The state of the user's own message `seq`: 'seen' once every other member read it,
   * 'delivered' once it reached all of them, else 'sent'.
   * @param {Conv} conv @param {number} seq
   */
  tick(conv, seq) {
    const others = conv.members.filter((user) => user !== this.me);
    if (others.length === 0) return 'sent';
    const marks = others.map((user) => conv.marks.get(user) ?? {delivered: 0, read: 0});
    if (marks.every((m) => m.read >= seq)) return 'seen';
    if (marks.every((m) => m.delivered >= seq)) return 'delivered';
    return 'sent';
  }

  /**
   * Mutes `id` for the user (no notification but mentions), or unmutes it.
   * @param {number} id @param {boolean} mute
   */
  async setMuted(id, mute) {
    const answer = mute ? await this._client.mute(id) : await this._client.unmute(id);
    this.conv(id).mutedUntil = answer.muted_until;
    this.onChange({list: true, conv: id});
  }

  /** @param {Message} message @returns {boolean} a message of the store that is an own one */
  mine(message) {
    return message.from === this.me;
  }

  /**
   * Message `seq` of `conv` where the store has it: the timeline, or a thread read apart.
   * @param {Conv} conv @param {number} seq @returns {Message | undefined}
   */
  held(conv, seq) {
    return conv.messages.get(seq) ?? conv.threadMessages.get(seq);
  }

  /**
   * The replies the store holds in `root`'s thread, oldest first.
   * @param {Conv} conv @param {number} root @returns {Message[]}
   */
  threadReplies(conv, root) {
    /** @type {Map<number, Message>} */
    const replies = new Map();
    for (const map of [conv.threadMessages, conv.messages]) {
      for (const m of map.values()) {
        if (m.thread_root === root && !m.target) replies.set(m.seq, m);
      }
    }
    return [...replies.values()].sort((a, b) => a.seq - b.seq);
  }

  /**
   * A page of `root`'s thread (`thread`) or the root itself, read from the server: kept
   * outside the timeline where the timeline lacks them, in their current state.
   * @param {number} id @param {Message[]} messages @param {number} [readSeq] the page's
   *     `read_seq`
   * @param {number} [root]
   */
  addThreadPage(id, messages, readSeq, root) {
    const conv = this.conv(id);
    for (const message of messages) {
      if (message.target) continue;
      if (conv.messages.has(message.seq)) {
        this._takeCounts(conv, message);
      } else {
        conv.threadMessages.set(message.seq, message);
      }
    }
    this._names.resolve(messages.map((m) => m.from));
    if (root !== undefined && readSeq !== undefined) this._knowThreadRead(conv, root, readSeq);
    this.onChange({conv: id});
  }

  /**
   * The user read `root`'s thread up to reply `seq` (on screen, page visible): the server is
   * told (the SDK's threadRead), forward only.
   * @param {number} id @param {number} root @param {number} seq
   */
  threadRead(id, root, seq) {
    const conv = this.conv(id);
    if (seq <= (conv.threadReads.get(root) ?? 0)) return;
    conv.threadReads.set(root, seq);
    this._client.threadRead(id, root, seq);
    this.onChange({conv: id});
  }

  /**
   * Whether `root` has replies by others the user has not read: null while the user's
   * watermark is not known (learnThreadRead asks for it).
   * @param {Conv} conv @param {Message} root @returns {boolean | null}
   */
  threadUnread(conv, root) {
    const last = root.last_reply_seq ?? 0;
    if (last === 0) return false;
    const lastReply = this.held(conv, last);
    // A thread reply moves its sender's watermark to it: nothing before it is unread.
    if (lastReply && this.mine(lastReply)) return false;
    const read = conv.threadReads.get(root.seq);
    return read === undefined ? null : last > read;
  }

  /**
   * Asks the server, once, for the user's watermark in `root`'s thread (a `thread` page of one
   * reply carries it), when it is not known: the unread mark of a root on screen.
   * @param {number} id @param {number} root
   */
  learnThreadRead(id, root) {
    const conv = this.conv(id);
    if (conv.threadReads.has(root) || conv.threadAsked.has(root)) return;
    if (this._client.state !== 'connected') return;
    conv.threadAsked.add(root);
    this._client.thread(id, root, {limit: 1})
        .then(
            (page) => this.addThreadPage(id, page.messages, page.read_seq, root),
            () => conv.threadAsked.delete(root));  // Offline: asked again when shown again.
  }

  /** @param {Conv} conv @param {number} root @param {number} seq */
  _knowThreadRead(conv, root, seq) {
    conv.threadReads.set(root, Math.max(conv.threadReads.get(root) ?? 0, seq));
  }

  /**
   * A root read from the server has the server's counts: they replace older ones of the copy
   * the store holds. @param {Conv} conv @param {Message} read
   */
  _takeCounts(conv, read) {
    const held = this.held(conv, read.seq);
    if (!held || (read.last_reply_seq ?? 0) <= (held.last_reply_seq ?? 0)) return;
    this._replace(conv, {
      ...held,
      reply_count: read.reply_count,
      last_reply_seq: read.last_reply_seq,
      last_reply_at: read.last_reply_at,
    });
  }

  /**
   * A thread reply's `message` event counts it on the store's copy of its root (unless that
   * copy was read after it: its `last_reply_seq` is this reply or newer).
   * @param {Conv} conv @param {Message} reply
   */
  _countReply(conv, reply) {
    const rootSeq = /** @type {number} */ (reply.thread_root);
    if (this.mine(reply)) this._knowThreadRead(conv, rootSeq, reply.seq);
    const root = this.held(conv, rootSeq);
    if (!root || (root.last_reply_seq ?? 0) >= reply.seq) return;
    this._replace(conv, {
      ...root,
      reply_count: (root.reply_count ?? 0) + 1,
      last_reply_seq: reply.seq,
      last_reply_at: reply.ts,
    });
  }

  /** Puts `next` where the store holds its message. @param {Conv} conv @param {Message} next */
  _replace(conv, next) {
    const seq = next.seq;
    if (conv.messages.has(seq)) conv.messages.set(seq, next);
    if (conv.threadMessages.has(seq)) conv.threadMessages.set(seq, next);
    if (conv.lastMessage?.seq === seq) conv.lastMessage = next;
  }

  /**
   * A conversation's name, topic, avatar, kind, members and roles as the server's listing or a
   * `members` event states them; the members' names are asked for.
   * @param {Conv} conv
   * @param {import('/sdk/types.js').Conversation | import('/sdk/types.js').Members} c
   */
  _describe(conv, c) {
    Object.assign(conv, {
      name: c.name,
      topic: c.topic ?? null,
      avatar: c.avatar ?? null,
      avatarThumb: c.avatar_thumb ?? null,
      group: c.group,
      members: c.members,
      roles: c.roles ?? [],
    });
    this._names.resolve(c.members);
  }

  _wire() {
    const client = this._client;
    client.on('conversations', ({conversations}) => {
      const listed = new Set();
      for (const c of conversations) {
        listed.add(c.id);
        const conv = this.conv(c.id);
        this._describe(conv, c);
        conv.lastSeq = Math.max(conv.lastSeq, c.last_seq);
        conv.myRead = Math.max(conv.myRead, c.read_seq);
        conv.unreadMentions = c.unread_mentions ?? 0;
        conv.listedChanges = {
          readSeq: c.read_seq,
          lastSeq: c.last_seq,
          count: Math.max(0, c.last_seq - c.read_seq - c.unread),
        };
        conv.mutedUntil = c.muted_until ?? null;
        if (c.last_message && (conv.lastMessage?.seq ?? 0) < c.last_message.seq) {
          conv.lastMessage = c.last_message;
        }
      }
      for (const id of [...this.convs.keys()]) {
        if (!listed.has(id) && this.convs.get(id)?.pending.size === 0) this._drop(id, false);
      }
      this.onChange({list: true});
    });
    client.on('sync', ({convs}) => {
      for (const s of convs) {
        const conv = this.conv(s.conv);
        conv.lastSeq = Math.max(conv.lastSeq, s.last_seq);
        conv.myRead = Math.max(conv.myRead, s.read_seq);
        if (s.unread_mentions !== undefined) conv.unreadMentions = s.unread_mentions;
        for (const m of s.members ?? []) {
          if (m.user !== this.me) this._mark(conv, m.user, m.delivered, m.read);
        }
        this.onChange({conv: conv.id});
      }
      this.onChange({list: true});
    });
    client.on('members', (event) => {
      if (!event.members.includes(this.me)) {
        this._drop(event.conv, true);
      } else {
        this._describe(this.conv(event.conv), event);
      }
      this.onChange({list: true, conv: event.conv});
    });
    client.on('message', (message) => this._onMessage(message));
    client.on('mention', (message) => {
      const conv = this.conv(message.conv);
      if (message.seq > conv.myRead) conv.unreadMentions += 1;
      this.onChange({list: true});
    });
    client.on('ack', (ack) => {
      const conv = this.conv(ack.conv);
      conv.pending.delete(ack.cid);
      conv.shownAsMessage.delete(ack.cid);
      this.onChange({conv: ack.conv, list: true});
    });
    client.on('outbox', ({change, entry}) => {
      if (entry.change) return;  // A change to a message is no bubble of its own.
      const conv = this.conv(entry.conv);
      if (change === 'acked' || change === 'discarded') {
        conv.pending.delete(entry.cid);
      } else {
        conv.pending.set(entry.cid, entry);
      }
      this.onChange({conv: entry.conv, list: true});
    });
    client.on('receipt', ({conv: id, user, delivered, read}) => {
      const conv = this.conv(id);
      if (user === this.me) {
        conv.myRead = Math.max(conv.myRead, read ?? 0);
      } else {
        this._mark(conv, user, delivered ?? 0, read ?? 0);
      }
      this.onChange({conv: id, list: true});
    });
    client.on('typing', ({conv: id, user, state}) => {
      const conv = this.conv(id);
      if (state === 'start')
        conv.typing.add(user);
      else
        conv.typing.delete(user);
      this.onChange({conv: id, list: true});
    });
    client.on('thread_read', ({conv: id, root, read_seq}) => {
      this._knowThreadRead(this.conv(id), root, read_seq);
      this.onChange({conv: id});
    });
    client.on('presence', () => this.onChange({presence: true}));
    client.on('hello', () => this.onChange({presence: true}));
  }

  /**
   * What a reload without the server shows (the offline shell, web/sw.js): each conversation's
   * summary, the other members' watermarks (ticks) and its newest messages, as JSON.
   * @param {number} perConv messages kept per conversation
   */
  snapshot(perConv = 50) {
    const convs = this.sorted().map(
        (c) => ({
          id: c.id,
          ...Object.fromEntries(SNAPSHOT_FIELDS.map((field) => [field, c[field]])),
          marks: [...c.marks],
          threadReads: [...c.threadReads],
          messages: [...c.messages.values()].sort((a, b) => a.seq - b.seq).slice(-perConv),
        }));
    return JSON.stringify({version: 1, convs});
  }

  /**
   * Takes back a snapshot (before connecting: the server's answers then move it forward).
   * A snapshot that does not parse is ignored. @param {string | null} json
   */
  restore(json) {
    /** @type {any} */
    let data = null;
    try {
      data = json ? JSON.parse(json) : null;
    } catch {
      return;
    }
    if (data?.version !== 1 || !Array.isArray(data.convs)) return;
    for (const c of data.convs) {
      const conv = this.conv(c.id);
      for (const field of SNAPSHOT_FIELDS) conv[field] = c[field];
      conv.unreadMentions ??= 0;  // A snapshot written before mentions were kept.
      conv.mutedUntil ??= null;
      conv.topic ??= null;  // A snapshot written before topics were kept.
      conv.avatar ??= null;  // Or before group avatars were.
      conv.avatarThumb ??= null;
      for (const [user, mark] of c.marks ?? []) this._mark(conv, user, mark.delivered, mark.read);
      for (const [root, seq] of c.threadReads ?? []) this._knowThreadRead(conv, root, seq);
      for (const m of c.messages ?? []) conv.messages.set(m.seq, m);
      this._names.resolve(c.members);
    }
    this.onChange({list: true});
  }

  /**
   * Forgets conversation `id`, which the user is no longer in, and tells `onDropped`.
   * @param {number} id @param {boolean} live the `members` event said so (not a list)
   */
  _drop(id, live) {
    const conv = this.convs.get(id);
    if (!conv) return;
    this.convs.delete(id);
    this.onDropped(conv, live ? this._exitEntry(conv) : null, live);
  }

  /**
   * The system entry that took the user out of `conv`, where it is the newest message held (a
   * removed member gets it last, just before the `members` event), else null. @param {Conv} conv
   */
  _exitEntry(conv) {
    const me = this.me;
    const newest = conv.messages.get(Math.max(0, ...conv.messages.keys()));
    const entry = newest ? systemEntry(newest) : null;
    const out = (entry?.action === 'removed' && entry.users.includes(me)) ||
        (entry?.action === 'left' && entry.actor === me);
    return out ? entry : null;
  }

  /** After a reload: the outbox's sends are pending bubbles again. */
  loadOutbox() {
    for (const entry of this._client.outbox()) {
      if (!entry.change) this.conv(entry.conv).pending.set(entry.cid, entry);
    }
    this.onChange({list: true});
  }

  /** @param {Conv} conv @param {number} user @param {number} delivered @param {number} read */
  _mark(conv, user, delivered, read) {
    const mark = conv.marks.get(user) ?? {delivered: 0, read: 0};
    mark.read = Math.max(mark.read, read);
    mark.delivered = Math.max(mark.delivered, delivered, mark.read);
    conv.marks.set(user, mark);
  }

  /** @param {Message} message */
  _onMessage(message) {
    const conv = this.conv(message.conv);
    if (message.target) {
      // A change to an earlier message (PROTOCOL.md, "Changes to messages"): applied to it,
      // never shown as a message of its own.
      conv.lastSeq = Math.max(conv.lastSeq, message.seq);
      if (this.mine(message)) conv.myRead = Math.max(conv.myRead, message.seq);
      if (message.seq > conv.myRead) conv.changeSeqs.add(message.seq);
      this._applyChange(conv, message);
      this.onChange({conv: conv.id, list: true});
      return;
    }
    conv.messages.set(message.seq, message);
    conv.threadMessages.delete(message.seq);
    conv.lastSeq = Math.max(conv.lastSeq, message.seq);
    if (message.thread_root) this._countReply(conv, message);
    if (message.kind === 'system') {
      // A group's change (PROTOCOL.md, "Groups"): shown in place, never unread, never the
      // conversation's last message, no notification.
      if (message.seq > conv.myRead) conv.changeSeqs.add(message.seq);
      this._names.resolve([message.from, ...(systemEntry(message)?.users ?? [])]);
      this.onChange({conv: conv.id, list: true});
      return;
    }
    if ((conv.lastMessage?.seq ?? 0) <= message.seq) conv.lastMessage = message;
    conv.typing.delete(message.from);
    this._names.resolve([message.from]);
    if (this.mine(message)) {
      conv.myRead = Math.max(conv.myRead, message.seq);
      this._claimPending(conv, message);
    } else {
      this.onIncoming(message);
    }
    if (conv.members.length === 0) this._refreshSoon();  // A conversation not listed yet.
    this.onChange({conv: conv.id, list: true});
  }

  /**
   * Applies change `change` to the message it names, where the store has it (a history page
   * loaded later has it in its current state already).
   * @param {Conv} conv @param {Message} change
   */
  _applyChange(conv, change) {
    const seq = /** @type {number} */ (change.target);
    const target =
        this.held(conv, seq) ?? (conv.lastMessage?.seq === seq ? conv.lastMessage : undefined);
    if (!target) return;
    /** @type {Message} */
    let next = {...target};
    switch (change.kind) {
      case 'edit':
        next = {...target, body: change.body, edited_at: change.ts};
        if (change.mentions) next.mentions = change.mentions;
        break;
      case 'delete':
        next = {
          id: target.id,
          conv: target.conv,
          seq: target.seq,
          from: target.from,
          kind: target.kind,
          body: '',
          ts: target.ts,
          deleted: true,
          deleted_by: change.from,
          deleted_at: change.ts,
        };
        // A tombstone keeps its place among replies (PROTOCOL.md, "Replies and threads").
        for (const field of THREAD_FIELDS) {
          const value = /** @type {any} */ (target)[field];
          if (value !== undefined) Object.assign(next, {[field]: value});
        }
        break;
      case 'reaction': {
        const reactions = (target.reactions ?? []).map((r) => ({...r, users: [...r.users]}));
        let entry = reactions.find((r) => r.emoji === change.body);
        if (!entry) {
          entry = {emoji: change.body, count: 0, users: []};
          reactions.push(entry);
        }
        entry.users = entry.users.filter((u) => u !== change.from);
        if (change.on) entry.users.push(change.from);
        entry.count = entry.users.length;
        next.reactions = reactions.filter((r) => r.count > 0);
        break;
      }
      case 'pin':
        if (!next.pinned_at) Object.assign(next, {pinned_at: change.ts, pinned_by: change.from});
        break;
      case 'unpin':
        delete next.pinned_at;
        delete next.pinned_by;
        break;
      default:
        return;
    }
    this._replace(conv, next);
  }

  /** History pages: older messages, merged by seq. @param {Message[]} messages */
  addHistory(messages) {
    for (const message of [...messages].sort((a, b) => a.seq - b.seq)) {
      const conv = this.conv(message.conv);
      if (message.target) continue;  // A change: the page has its target as it is now.
      if (conv.messages.has(message.seq)) {
        this._takeCounts(conv, message);  // A root's counts as the server has them now.
        continue;
      }
      conv.messages.set(message.seq, message);
      conv.threadMessages.delete(message.seq);
      this._names.resolve([message.from]);
      if (this.mine(message)) this._claimPending(conv, message);
    }
  }

  /**
   * An own message can be on screen before its send is acked: it arrives before its ack, or
   * the ack was lost (a reload) and the resend's ack is still to come. Messages carry no cid,
   * so the pending bubble it stands for is found by content: the oldest unclaimed one with the
   * same kind and body, created before the server's timestamp (sends go out in order; 5 s for
   * clocks that disagree). That bubble is hidden now and removed at the ack.
   * @param {Conv} conv @param {Message} message
   */
  _claimPending(conv, message) {
    if (conv.claimedBy.has(message.id)) return;
    for (const entry of conv.pending.values()) {
      if (conv.shownAsMessage.has(entry.cid) || entry.body !== message.body ||
          entry.kind !== message.kind || entry.created_ms > message.ts + 5000) {
        continue;
      }
      conv.shownAsMessage.add(entry.cid);
      conv.claimedBy.add(message.id);
      return;
    }
  }

  _refreshSoon() {
    if (this._refreshTimer) return;
    this._refreshTimer = setTimeout(() => {
      this._refreshTimer = 0;
      this._client.conversations().catch(() => {});
    }, 200);
  }
}
