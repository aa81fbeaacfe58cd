// What every store interface shares: the reply callback, the domain refusal, the message, and
// the two macros through which an interface's operation list is declared once and overridden
// by each backend (storage/README.md, "Interfaces").
//
// Every operation of a store returns at once; its reply runs later on a storage thread, exactly
// once, with either the outcome or a Status saying why the store could not answer (queue full,
// stopping, I/O). A reply must be cheap and non-blocking: the engine's post a Mail to the shard
// that asked. Writes are group-committed; a write's reply with an ok outcome means the write is
// committed (durability: storage/README.md).
//
// Domain refusals (not a member, no such conversation, a taken username) are outcomes, not
// Status errors: a Status error always means "the store failed, retry later".
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "storage/status.h"
#include "storage/unique_function.h"

namespace ringcast::storage {

template <typename T>
using Reply = UniqueFunction<void(Result<T>)>;

// Each interface (account_store.h, conversation_store.h, notification_store.h, upload_store.h)
// lists its operations once, as OP(Name, (parameters)), in a macro that takes OP: the interface
// expands it with RINGCAST_STORE_OP_PURE and each backend with RINGCAST_STORE_OP_OVERRIDE
// (chat_store.h: RINGCAST_CHAT_STORE_OVERRIDES), so a new operation is one line in one list and
// one definition per backend, and no backend keeps a copy of the list. Every operation returns
// void and ends with its Reply.
#define RINGCAST_STORE_OP_PURE(name, params) virtual void name params = 0;
#define RINGCAST_STORE_OP_OVERRIDE(name, params) void name params override;

struct Reaction {
  std::string emoji;
  std::vector<int64_t> users;  // Sorted.
  bool operator==(const Reaction&) const = default;
};

// Reactions as both stores' reads aggregate them: "emoji\x1fuser" entries joined by '\x1e',
// ordered by emoji then user (an emoji never holds a control character: chat/reactions.h).
inline std::vector<Reaction> ParseReactions(std::string_view text) {
  std::vector<Reaction> out;
  while (!text.empty()) {
    const size_t end = std::min(text.find('\x1e'), text.size());
    const std::string_view entry = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    const size_t split = entry.find('\x1f');
    if (split == std::string_view::npos) continue;
    int64_t user = 0;
    const std::string_view digits = entry.substr(split + 1);
    if (std::from_chars(digits.data(), digits.data() + digits.size(), user).ec != std::errc()) {
      continue;
    }
    const std::string_view emoji = entry.substr(0, split);
    if (out.empty() || out.back().emoji != emoji) out.push_back({std::string(emoji), {}});
    out.back().users.push_back(user);
  }
  return out;
}

// A reply's parent as it is now: its author and the start of its body (at most
// kQuoteChars characters; empty once it is deleted: a tombstone's body is gone).
struct Quote {
  int64_t from = 0;
  bool deleted = false;
  std::string excerpt;
  bool operator==(const Quote&) const = default;
};

inline constexpr int kQuoteChars = 100;

// A quote as both stores' reads write it: "from\x1fdeleted\x1fexcerpt", deleted as 0/1 (SQLite)
// or f/t (PostgreSQL). The excerpt comes last, so a control character in it cannot confuse this.
inline std::optional<Quote> ParseQuote(std::string_view text) {
  const size_t first = text.find('\x1f');
  const size_t second = first == std::string_view::npos ? first : text.find('\x1f', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  Quote quote;
  if (std::from_chars(text.data(), text.data() + first, quote.from).ec != std::errc()) {
    return std::nullopt;
  }
  const std::string_view deleted = text.substr(first + 1, second - first - 1);
  quote.deleted = deleted == "1" || deleted == "t";
  quote.excerpt = std::string(text.substr(second + 1));
  return quote;
}

struct Message {
  int64_t id = 0;
  int64_t conv = 0;
  int64_t seq = 0;
  int64_t from = 0;
  std::string kind;
  std::string body;
  int64_t ts = 0;  // ms
  // The members it mentions (issue 14), sorted: filled by Append and by every read, and carried
  // to other nodes with the message (the message event shows them).
  std::vector<int64_t> mentions;
  // The files it carries (issue 15): a JSON array of their metadata as the send wrote it
  // (proto/PROTOCOL.md, "Files"), "" when none. Uploads never change, so it is stored with
  // the message and sent as is.
  std::string attachments;
  // A change (the server kinds of message_kinds.h but "system"): the seq of the message it
  // changes, in the same conversation; 0 for any other message.
  int64_t target = 0;
  // The message's current state (proto/PROTOCOL.md, "Changes to messages"): when its body was
  // last edited, and when and by whom it was deleted (0: never). A deleted message keeps no
  // body, attachments or mentions.
  int64_t edited_at = 0;
  int64_t deleted_at = 0;
  int64_t deleted_by = 0;
  // A reaction change: 1 adds its emoji (the body), 0 takes it away; -1 on any other message.
  int reaction_on = -1;
  // The reactions to this message now: each emoji once, in byte order, with who reacted.
  std::vector<Reaction> reactions;
  // Pinned in its conversation: when and by whom (0: not pinned).
  int64_t pinned_at = 0;
  int64_t pinned_by = 0;
  // A reply (schema v14; proto/PROTOCOL.md, "Replies and threads"): the seq of the earlier
  // ordinary message it answers in the same conversation (0: not a reply), and that parent as
  // it is now, read with the reply (absent when the reply was read without it).
  int64_t reply_to = 0;
  std::optional<Quote> quote;
  // A thread reply: the seq of its thread's root (0: in no thread).
  int64_t thread_root = 0;
  // A thread's root: its replies so far, and the newest one's seq and ts (0: none yet).
  int64_t reply_count = 0;
  int64_t last_reply_seq = 0;
  int64_t last_reply_at = 0;
};

enum class Denial : uint8_t {
  kNone,
  kNotFound,     // No such conversation (or user, or membership, per operation).
  kForbidden,    // The caller is not a member.
  kNotGroup,     // Membership of a 1:1 conversation cannot change.
  kUnknownUser,  // A user id in the request does not exist.
  kTaken,        // Username already registered.
  kTooLarge,     // The conversation would have more members than allowed.
  // A change to a message (message_changes.h): kNotFound no such message to change;
  kNotAuthor,    // the caller may not change this message (MayEdit, MayDelete);
  kTooLate,      // an edit past --edit-window;
  kGone,         // the message is deleted;
  kTooMany,      // a reaction past --max-reactions distinct emoji on the message;
  kTooManyPins,  // a pin past --max-pins pinned messages in the conversation.
  // Group roles (group_rules.h):
  kNotAdmin,        // the caller's role does not allow this change;
  kOwnerProtected,  // the owner cannot be removed or demoted;
  kLastOwner,       // the owner cannot leave before transferring ownership.
  kNotOwnImage,     // a group avatar that is not an image upload of the caller's (with a thumb).
};

}  // namespace ringcast::storage
