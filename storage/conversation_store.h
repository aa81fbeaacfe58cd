// ConversationStore: conversations, their members, messages, watermarks, history and sync, and
// what a cluster node reads to fill a gap. Replies as store_types.h says.
//
// Ordering contract: the replies to writes for one conversation (Append, AddMembers,
// RemoveMember, UpdateWatermarks) are called in the order those writes were submitted, so the
// conversation's owner receives its appends' replies in seq order and can publish without
// holes. SQLite has one writer; PostgreSQL sends a conversation's writes to one connection
// (storage/README.md). A backend with several connections must keep this, or reorder.
//
// Called from shards (conversation owners, sessions, the HTTP API). Backends: SqliteChatStore
// (sqlite_chat_store.cc) and PgChatStore (pg_chat_store.cc).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/group_rules.h"
#include "storage/store_types.h"

namespace ringcast::storage {

struct NewMessage {
  int64_t conv = 0;
  int64_t sender = 0;
  std::string cid;  // Unique per sender.
  std::string kind;
  std::string body;
  int64_t ts = 0;
  // Explicit mentions (`mentions` on send): kept only for members other than the sender;
  // `@username` in a text body adds the members so named (storage/mentions.h).
  std::vector<int64_t> mentions;
  std::string attachments;                  // Message::attachments.
  std::vector<std::string> attachment_ids;  // The same uploads' ids, in order.
  // A change (kind edit or delete, storage/message_changes.h): the seq of the message it
  // changes in `conv`; 0 for an ordinary message.
  int64_t target = 0;
  int64_t edit_window_ms = 0;  // --edit-window: an edit later than this after the message is
                               // refused (kTooLate); 0: no limit.
  // A reaction (kind reaction, the emoji as its body): adds it (true) or takes it away.
  bool reaction_on = true;
  // --max-reactions: distinct emoji one message may carry (a new one past it: kTooMany).
  uint32_t max_reactions = 0;
  // --max-pins: pinned messages one conversation may hold (a pin past it: kTooManyPins).
  uint32_t max_pins = 0;
  // A reply (ordinary messages only): the seq of an earlier ordinary message of `conv` (one
  // that is no change; else kNotFound); `thread` puts it in the thread of that message's root
  // (the parent itself, or the root of the thread the parent is in).
  int64_t reply_to = 0;
  bool thread = false;

  // What an Append of this message stores, under the id and seq the store gave it; the rest
  // (mentions, a reply's quote and thread root) is the store's to fill in.
  Message Stored(int64_t id, int64_t seq) const {
    return Message{.id = id,
                   .conv = conv,
                   .seq = seq,
                   .from = sender,
                   .kind = kind,
                   .body = body,
                   .ts = ts,
                   .attachments = attachments};
  }
};

struct AppendOutcome {
  // kForbidden: the sender is not a member (or no such conv); for a change (target set) also
  // kNotFound, kNotAuthor, kTooLate, kGone, kTooMany; for a reply kNotFound (no such parent).
  Denial denial = Denial::kNone;
  bool duplicate = false;  // The sender used this cid before: `message` is the original.
  Message message;
};

struct MemberState {
  int64_t user = 0;
  int64_t delivered = 0;
  int64_t read = 0;
  std::string role = std::string(kMemberRole);  // group_rules.h: owner, admin or member.
};

// A conversation and its members, as a membership change leaves it.
struct ConversationState {
  Denial denial = Denial::kNone;  // kNotFound.
  int64_t id = 0;
  std::optional<std::string> name;
  std::optional<std::string> topic;   // A group's (schema v12).
  std::optional<std::string> avatar;  // A group's: an upload id (schema v17).
  bool group = false;
  int64_t last_seq = 0;
  std::vector<MemberState> members;  // Sorted by user.
};

struct CreateConversationOutcome {
  Denial denial = Denial::kNone;  // kUnknownUser.
  bool created = false;           // False: the existing 1:1 between these two users.
  ConversationState conversation;
};

struct MembershipOutcome {
  // kNotFound, kForbidden, kNotGroup, kUnknownUser, kTooLarge; the rules of group_rules.h:
  // kNotAdmin, kOwnerProtected, kLastOwner.
  Denial denial = Denial::kNone;
  ConversationState conversation;
  // False when the change was there already (every user added a member, the role the one asked
  // for, the settings the same): nothing written.
  bool changed = false;
  // The change's system entries (kind "system", group_rules.h's SystemBody), appended in the
  // same transaction, in seq order; the last one's seq is the conversation's last_seq.
  std::vector<Message> system;
};

// A change to a group other than adding and removing members (ConversationStore::ChangeGroup).
struct GroupChange {
  enum class Op : uint8_t {
    kSetRole,   // `user` becomes `role` (admin or member): for the owner only.
    kTransfer,  // `user` becomes the owner and the owner an admin: for the owner only.
    // `name`, `topic` and/or `avatar` (empty: none) change: for admins and the owner. The
    // avatar is an image upload of the caller's with a thumbnail (kNotOwnImage otherwise).
    kSettings,
  };
  Op op = Op::kSettings;
  int64_t conv = 0;
  int64_t caller = 0;
  int64_t user = 0;
  std::string role;
  std::optional<std::string> name;
  std::optional<std::string> topic;
  std::optional<std::string> avatar;
  int64_t now = 0;
};

struct ConversationSummary {
  int64_t id = 0;
  std::optional<std::string> name;
  std::optional<std::string> topic;
  std::optional<std::string> avatar;  // An upload id.
  bool group = false;
  std::vector<int64_t> members;
  std::vector<std::string> roles;  // Of `members`, in the same order (group_rules.h).
  std::optional<Message> last_message;
  int64_t last_seq = 0;
  int64_t read_seq = 0;
  int64_t unread = 0;           // Ordinary messages above read_seq (message_kinds.h).
  int64_t unread_mentions = 0;  // Mentions of the caller above read_seq.
  // Wall ms; kMutedForever (notification_store.h): until unmuted. Absent: not muted.
  std::optional<int64_t> muted_until;
};

// How much one history page or sync answer may hold: at most `count` messages (per conversation,
// for a sync) and, over the whole answer, `bytes` of PageBytes(): a message is taken while any
// budget is left, so an answer always has at least one message and overshoots by at most one.
struct PageLimit {
  uint32_t count = 50;
  uint64_t bytes = UINT64_MAX;
};

// What a message costs a PageLimit's byte budget: its text and about what its JSON fields add.
inline uint64_t PageBytes(const Message& message) {
  return message.body.size() + message.kind.size() + 96;
}

// The seq or id a page's statement reads below: `before`, or past every row when it is 0 (the
// first page, from the newest). History, threads, stars and mentions page this way.
inline int64_t PageBelow(int64_t before) {
  return before > 0 ? before : std::numeric_limits<int64_t>::max();
}

struct Page {
  Denial denial = Denial::kNone;  // kNotFound, kForbidden.
  std::vector<Message> messages;
  bool more = false;
};

// A page of a thread's replies, and where the caller stands in it (proto/PROTOCOL.md, "Replies
// and threads"): its thread watermark and the replies by others above it.
struct ThreadPage {
  Page page;  // page.denial: kNotFound, kForbidden.
  int64_t read_seq = 0;
  int64_t unread = 0;
};

struct ThreadReadOutcome {
  Denial denial = Denial::kNone;  // kNotFound (no such root), kForbidden (not a member).
  int64_t read_seq = 0;           // After the update.
};

struct WatermarkOutcome {
  Denial denial = Denial::kNone;  // kForbidden.
  int64_t delivered = 0;          // After the update.
  int64_t read = 0;
  bool delivered_moved = false;
  bool read_moved = false;
};

struct Contact {
  int64_t user = 0;
  std::optional<int64_t> last_online;
};

// What a new WebSocket session needs: the caller's conversations and everyone it shares one with.
struct SessionStart {
  struct Conversation {
    int64_t id = 0;
    int64_t last_seq = 0;
    std::vector<int64_t> members;
  };
  std::vector<Conversation> conversations;
  std::vector<Contact> contacts;  // Excluding the caller.
};

struct SyncConversation {
  int64_t conv = 0;
  int64_t last_seq = 0;
  int64_t read_seq = 0;
  std::vector<MemberState> members;
  std::vector<Message> messages;  // Oldest first.
  bool more = false;
  int64_t unread = 0;           // Ordinary messages above read_seq (message_kinds.h).
  int64_t unread_mentions = 0;  // Mentions of the caller above read_seq.
};

// Whom a call in a conversation rings (proto/PROTOCOL.md, "Calls: signalling").
struct CallPeers {
  // kForbidden: the caller is not a member (or there is no such conversation), or it is a 1:1
  // where either member blocks the other.
  Denial denial = Denial::kNone;
  bool group = false;
  // The other members, at most the max_others asked for: those whose devices took the
  // conversation's messages most recently first (delivered_seq), then by id.
  std::vector<int64_t> others;
};

struct SyncAsk {
  int64_t conv = 0;
  // What the client has seen (PROTOCOL.md: `last_seq_seen`): messages after it are answered,
  // and it names the seq the answer must reach, as History's `seen`.
  int64_t after = 0;
  friend bool operator==(const SyncAsk&, const SyncAsk&) = default;
};

#define RINGCAST_CONVERSATION_STORE_OPS(OP)                                                        \
  OP(CreateConversation,                                                                           \
     (int64_t creator, std::vector<int64_t> members, std::optional<std::string> name, bool group,  \
      int64_t now, Reply<CreateConversationOutcome> reply))                                        \
  /* Refused with kTooLarge if the conversation would then have more than max_members. */          \
  OP(AddMembers, (int64_t conv, int64_t caller, std::vector<int64_t> users, uint32_t max_members,  \
                  int64_t now, Reply<MembershipOutcome> reply))                                    \
  OP(RemoveMember,                                                                                 \
     (int64_t conv, int64_t caller, int64_t user, int64_t now, Reply<MembershipOutcome> reply))    \
  /* Roles, ownership and settings, under group_rules.h's rules. */                                \
  OP(ChangeGroup, (GroupChange change, Reply<MembershipOutcome> reply))                            \
  OP(ListConversations, (int64_t user, Reply<std::vector<ConversationSummary>> reply))             \
  OP(StartSession, (int64_t user, Reply<SessionStart> reply))                                      \
  OP(Append, (NewMessage message, Reply<AppendOutcome> reply))                                     \
  /* Newest first: seq < before (0: no bound), within `limit`. `seen`: the newest seq of `conv`    \
     the reader has seen, its own acks included (0: it names none); the answer is read where it    \
     holds at least that much (storage/README.md, "Read replicas"). */                             \
  OP(History, (int64_t conv, int64_t user, int64_t before, int64_t seen, PageLimit limit,          \
               Reply<Page> reply))                                                                 \
  /* `asks` empty: every conversation of `user` from 0. Non-member conversations are left out.     \
     Every conversation asked for is answered; messages stop where `limit` says (more: true). */   \
  OP(Sync, (int64_t user, std::vector<SyncAsk> asks, PageLimit limit,                              \
            Reply<std::vector<SyncConversation>> reply))                                           \
  /* Moves the caller's watermarks forward (never back, never past last_seq);                      \
     read >= delivered. */                                                                         \
  OP(UpdateWatermarks,                                                                             \
     (int64_t conv, int64_t user, int64_t delivered, int64_t read, Reply<WatermarkOutcome> reply)) \
  /* For the server itself, not for a user (no membership check): what other nodes of a cluster    \
     committed, to fill a gap in what Redis delivered (docs/cluster.md). Messages of `conv`        \
     with seq > after, oldest first, at most `limit`. */                                           \
  OP(ReadRange, (int64_t conv, int64_t after, uint32_t limit, Reply<std::vector<Message>> reply))  \
  /* (conversation, last_seq) for each of `convs` that exists, in no particular order. */          \
  OP(LastSeqs,                                                                                     \
     (std::vector<int64_t> convs, Reply<std::vector<std::pair<int64_t, int64_t>>> reply))          \
  /* The pinned messages of `conv` for a member `user`, newest pin first (kNotFound, kForbidden).  \
   */                                                                                              \
  OP(ListPins, (int64_t conv, int64_t user, Reply<Page> reply))                                    \
  /* The replies in the thread of root `root` of `conv` for a member `user`, newest first, seq <   \
     before (0: no bound), as History pages, `seen` as History's (kNotFound: no such               \
     conversation or no such root). */                                                             \
  OP(Thread, (int64_t conv, int64_t user, int64_t root, int64_t before, int64_t seen,              \
              PageLimit limit, Reply<ThreadPage> reply))                                           \
  /* Moves the caller's watermark in the thread of `root` forward to `seq` (never back). */        \
  OP(ThreadRead,                                                                                   \
     (int64_t conv, int64_t user, int64_t root, int64_t seq, Reply<ThreadReadOutcome> reply))      \
  /* Stars (`on`) or unstars message `seq` of `conv` for a member `user`: a mark of the user's     \
     own (storage/SCHEMA.md, "Stars"). kForbidden: not a member; kNotFound: no such message, or    \
     a change; kGone: a star of a deleted message. Idempotent. */                                  \
  OP(SetStar,                                                                                      \
     (int64_t user, int64_t conv, int64_t seq, bool on, int64_t now, Reply<Denial> reply))         \
  /* The messages `user` starred, newest message first, id < before (0: no bound), as History      \
     pages; deleted ones and those of conversations the user has left are left out. */             \
  OP(ListStars, (int64_t user, int64_t before, PageLimit limit, Reply<Page> reply))                \
  /* Whether `caller` may be in a call in `conv`, and whom it rings: at most `max_others` of the   \
     other members (0: the check alone); a read, on the primary. */                                \
  OP(FindCallPeers, (int64_t conv, int64_t caller, uint32_t max_others, Reply<CallPeers> reply))

class ConversationStore {
 public:
  virtual ~ConversationStore() = default;
  RINGCAST_CONVERSATION_STORE_OPS(RINGCAST_STORE_OP_PURE)
};

}  // namespace ringcast::storage
