// NotificationStore: mentions, mute, due notifications (issue 14; notify/README.md), Web Push
// subscriptions and email digests (notify/push, notify/email; storage/SCHEMA.md:
// push_subscriptions, email_digests). Replies as store_types.h says.
//
// Called from shards (the HTTP API) and from the notifier's, the push sink's and the digest
// mailer's threads, each of which takes only this interface. Backends: SqliteChatStore
// (sqlite_notify_store.cc, sqlite_push_store.cc) and PgChatStore (pg_notify_store.cc,
// pg_push_store.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/store_types.h"

namespace ringcast::storage {

// muted_until for a conversation muted with no end.
inline constexpr int64_t kMutedForever = INT64_MAX;

struct MentionPage {
  std::vector<Message> messages;  // The mentioning messages, newest (highest id) first.
  bool more = false;
};

// One member's unread messages of one conversation that a notification is due for: the
// messages above the member's watermark (max of read, delivered and notified) committed within
// `delay` of the oldest of them, once that window has closed. The same durable state always
// gives the same `covered_seq`, so a restart recomputes the same notification (and key).
struct DueNotification {
  int64_t user = 0;
  std::string username;
  int64_t conv = 0;
  std::optional<std::string> conv_name;
  bool group = false;
  int64_t watermark = 0;    // Everything up to here is read, delivered or notified.
  int64_t covered_seq = 0;  // The newest message this notification covers.
  // Messages in (watermark, covered_seq] (none is the user's own), changes to messages left out
  // (message_kinds.h), plus the earlier messages that an edit in the window made mention the
  // user (who had read them), each once: 0 when the window holds only other changes.
  int64_t count = 0;
  int64_t mentions = 0;  // Of them, those that mention the user.
  bool muted = false;    // Muted now: only mentions are notified.
  // The newest ordinary message of the window, else the newest of those an edit made mention
  // the user, else the one at covered_seq.
  Message latest;
  std::string latest_sender_name;
};

// A browser's PushSubscription (the Push API's JSON: endpoint, keys.p256dh, keys.auth), decoded.
struct PushSubscription {
  int64_t user = 0;
  std::string endpoint;  // The push service's URL for this browser (RFC 8030 §5).
  // As the browser gave them (base64url, checked by the API): the user agent's P-256 public key
  // (65 bytes) and its authentication secret (16 bytes), RFC 8291 §3.2.
  std::string p256dh;
  std::string auth;
  int64_t created_at = 0;
  bool operator==(const PushSubscription&) const = default;
};

// One conversation of an unread digest: what the email lists.
struct DigestConversation {
  int64_t conv = 0;
  std::optional<std::string> name;  // Groups with a name.
  std::vector<std::string> others;  // The other members' usernames (a few), for unnamed ones.
  int64_t unread = 0;               // last_seq - read_seq.
  int64_t last_seq = 0;             // What the digest covers; the watermark moves to it.
  Message latest;
  std::string latest_sender;

  // Both stores read `others` as one comma-joined column (usernames hold no commas).
  static std::vector<std::string> SplitOthers(std::string_view joined) {
    std::vector<std::string> names;
    while (!joined.empty()) {
      const size_t comma = joined.find(',');
      names.emplace_back(joined.substr(0, comma));
      if (comma == std::string_view::npos) break;
      joined.remove_prefix(comma + 1);
    }
    return names;
  }
};

// A user due an unread digest (NotificationStore::DueDigests).
struct Digest {
  int64_t user = 0;
  std::string username;
  std::string email;
  std::vector<DigestConversation> conversations;
};

// Adds one row of the due-digests query to `out`. Both stores' queries answer the same columns,
// a row per unread conversation ordered by user: user, username, email, conv, name (NULL: none),
// unread, last_seq, the latest message's id, seq, sender, kind, body and sent_at, its sender's
// username, and the others joined. `row` reads a column by Int, Text, View and Null.
template <typename Row>
void AddDigestRow(const Row& row, std::vector<Digest>& out) {
  const int64_t user = row.Int(0);
  if (out.empty() || out.back().user != user) {
    out.push_back(Digest{.user = user, .username = row.Text(1), .email = row.Text(2)});
  }
  DigestConversation conversation{.conv = row.Int(3),
                                  .others = DigestConversation::SplitOthers(row.View(14)),
                                  .unread = row.Int(5),
                                  .last_seq = row.Int(6),
                                  .latest = Message{.id = row.Int(7),
                                                    .conv = row.Int(3),
                                                    .seq = row.Int(8),
                                                    .from = row.Int(9),
                                                    .kind = row.Text(10),
                                                    .body = row.Text(11),
                                                    .ts = row.Int(12)},
                                  .latest_sender = row.Text(13)};
  if (!row.Null(4)) conversation.name = row.Text(4);
  out.back().conversations.push_back(std::move(conversation));
}

#define RINGCAST_NOTIFICATION_STORE_OPS(OP)                                                      \
  /* The messages that mention `user`, newest first, with id < before_id (0: no bound), at most  \
     `limit`; only from conversations the user is still a member of. A read. */                  \
  OP(ListMentions, (int64_t user, int64_t before_id, uint32_t limit, Reply<MentionPage> reply))  \
  /* Mutes `conv` for `user` until `until` (wall ms; kMutedForever), or unmutes (nullopt).       \
     kNotFound: no such conversation; kForbidden: not a member. */                               \
  OP(SetMute, (int64_t conv, int64_t user, std::optional<int64_t> until, Reply<Denial> reply))   \
  /* For the Notifier (no user asks): at most `limit` notifications due at `now_ms` (wall) with  \
     the collapse window `delay_ms`, oldest window first. A read. */                             \
  OP(DueNotifications, (int64_t now_ms, int64_t delay_ms, uint32_t limit,                        \
                        Reply<std::vector<DueNotification>> reply))                              \
  /* Moves `user`'s notified watermark in `conv` up to `seq` (never back). A write. */           \
  OP(MarkNotified, (int64_t conv, int64_t user, int64_t seq, Reply<bool> reply))                 \
  /* Stores `subscription` (an endpoint already stored moves to this user, with these keys);     \
     then deletes the user's oldest beyond `max_per_user`. Replies true. */                      \
  OP(AddPushSubscription,                                                                        \
     (PushSubscription subscription, uint32_t max_per_user, Reply<bool> reply))                  \
  /* Deletes `user`'s subscription at `endpoint`; replies whether there was one. */              \
  OP(RemovePushSubscription, (int64_t user, std::string endpoint, Reply<bool> reply))            \
  /* `user`'s subscriptions, oldest first (a read). */                                           \
  OP(ListPushSubscriptions, (int64_t user, Reply<std::vector<PushSubscription>> reply))          \
  /* Users with an email address who have a message from someone else that they have neither     \
     read nor had delivered, sent at or before `cutoff_ms`, and not covered by an earlier        \
     digest (email_digests): those with an id above `after_user`, at most `max_users`, by id,    \
     each with every unread conversation that has something past its digest watermark, newest    \
     first. */                                                                                   \
  OP(DueDigests, (int64_t cutoff_ms, int64_t after_user, uint32_t max_users,                     \
                  Reply<std::vector<Digest>> reply))                                             \
  /* Moves `user`'s digest watermark of each (conversation, seq) forward to seq (never back). */ \
  OP(MarkDigested,                                                                               \
     (int64_t user, std::vector<std::pair<int64_t, int64_t>> conv_seqs, Reply<bool> reply))

class NotificationStore {
 public:
  virtual ~NotificationStore() = default;
  RINGCAST_NOTIFICATION_STORE_OPS(RINGCAST_STORE_OP_PURE)
};

}  // namespace ringcast::storage
