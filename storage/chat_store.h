// ChatStore: the chat service's persistence, as asynchronous operations with typed results.
//
// This is the seam a storage backend plugs into (SQLite now: sqlite_chat_store.h; PostgreSQL
// next). Every operation returns at once; its reply runs later on a storage thread, exactly
// once, with either the outcome or a Status saying why the store could not answer (queue full,
// stopping, I/O). A reply must be cheap and non-blocking: the engine's post a Mail to the shard
// that asked. Writes are group-committed; a write's reply with an ok outcome means the write is
// committed (durability: storage/README.md).
//
// Domain refusals (not a member, no such conversation, a taken username) are outcomes, not
// Status errors: a Status error always means "the store failed, retry later".
//
// Ordering contract: the replies to writes for one conversation (Append, AddMembers,
// RemoveMember, UpdateWatermarks) are called in the order those writes were submitted, so the
// conversation's owner receives its appends' replies in seq order and can publish without
// holes. SQLite has one writer; PostgreSQL sends a conversation's writes to one connection
// (storage/README.md). A backend with several connections must keep this, or reorder.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/metrics/metric_set.h"
#include "storage/status.h"
#include "storage/unique_function.h"

namespace ringcast::storage {

template <typename T>
using Reply = UniqueFunction<void(Result<T>)>;

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
};

// A token that logout revoked, until its own expiry.
struct RevokedToken {
  std::string jti;
  int64_t expires_at_ms = 0;
  bool operator==(const RevokedToken&) const = default;
};

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
};

enum class Denial : uint8_t {
  kNone,
  kNotFound,     // No such conversation (or user, or membership, per operation).
  kForbidden,    // The caller is not a member.
  kNotGroup,     // Membership of a 1:1 conversation cannot change.
  kUnknownUser,  // A user id in the request does not exist.
  kTaken,        // Username already registered.
  kTooLarge,     // The conversation would have more members than allowed.
};

struct AppendOutcome {
  Denial denial = Denial::kNone;  // kForbidden: the sender is not a member (or no such conv).
  bool duplicate = false;         // The sender used this cid before: `message` is the original.
  Message message;
};

struct MemberState {
  int64_t user = 0;
  int64_t delivered = 0;
  int64_t read = 0;
};

// A conversation and its members, as a membership change leaves it.
struct ConversationState {
  Denial denial = Denial::kNone;  // kNotFound.
  int64_t id = 0;
  std::optional<std::string> name;
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
  Denial denial = Denial::kNone;  // kNotFound, kForbidden, kNotGroup, kUnknownUser, kTooLarge.
  ConversationState conversation;
  bool changed = false;  // False when every user added was a member already (nothing written).
};

struct ConversationSummary {
  int64_t id = 0;
  std::optional<std::string> name;
  bool group = false;
  std::vector<int64_t> members;
  std::optional<Message> last_message;
  int64_t last_seq = 0;
  int64_t read_seq = 0;
  int64_t unread_mentions = 0;         // Mentions of the caller above read_seq.
  std::optional<int64_t> muted_until;  // Wall ms; kMutedForever: until unmuted. Absent: not muted.
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

struct Page {
  Denial denial = Denial::kNone;  // kNotFound, kForbidden.
  std::vector<Message> messages;
  bool more = false;
};

struct WatermarkOutcome {
  Denial denial = Denial::kNone;  // kForbidden.
  int64_t delivered = 0;          // After the update.
  int64_t read = 0;
  bool delivered_moved = false;
  bool read_moved = false;
};

struct UserLogin {
  int64_t id = 0;
  std::string password_hash;
  int64_t created_at = 0;  // ms: with the store's instance id, names the account for good.
};

// A refresh token (POST /api/token/refresh) as the store keeps it: only the SHA-256 of the
// token, so a copy of the database lends no session. Every token a login issues and every token
// its rotations issue share one `family`, which logout (or a reuse) deletes as a whole.
struct RefreshToken {
  std::string hash;  // Lowercase hex SHA-256 of the token.
  int64_t user = 0;
  std::string family;
  int64_t expires_at_ms = 0;
};

enum class RefreshOutcome : uint8_t {
  kRotated,  // The token was live and unused: it is used now, and the new one stored.
  kUnknown,  // No such token, or expired, or its family revoked.
  kReused,   // Used before: a copy is in someone else's hands; its whole family is deleted.
};

struct RefreshRotation {
  RefreshOutcome outcome = RefreshOutcome::kUnknown;
  int64_t user = 0;             // kRotated.
  int64_t user_created_at = 0;  // kRotated: the account's created_at (ms).
  std::string family;           // kRotated.
};

// A user found by SearchUsers or FindUsers: the username as registered (its case kept).
struct UserMatch {
  int64_t id = 0;
  std::string username;
  bool operator==(const UserMatch&) const = default;
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
  int64_t unread_mentions = 0;  // Mentions of the caller above read_seq.
};

struct SyncAsk {
  int64_t conv = 0;
  int64_t after = 0;
};

// The range of lowercased usernames that start with `prefix` (ignoring ASCII case):
// [low, high), both lowercase, for an index in byte order (SQLite's NOCASE, PostgreSQL's
// lower(username) COLLATE "C"). nullopt when nothing can match: usernames are printable ASCII
// (the API's alphabet is narrower still), so a prefix with any other byte names nobody.
struct UsernameRange {
  std::string low, high;
};
inline std::optional<UsernameRange> UsernamePrefixRange(std::string_view prefix) {
  UsernameRange range;
  for (char c : prefix) {
    if (c < 0x21 || c > 0x7E) return std::nullopt;
    range.low.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  // Every string that starts with `low` sorts below `low` with its last byte incremented, and
  // none that does not start with it sorts between the two. An empty prefix: every username
  // (all sort below DEL).
  range.high = range.low;
  if (range.high.empty()) {
    range.high.push_back('\x7f');
  } else {
    range.high.back() = static_cast<char>(range.high.back() + 1);
  }
  return range;
}

// ---- Mentions, mute and notifications (issue 14; notify/README.md).

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
  int64_t count = 0;        // Messages in (watermark, covered_seq] (none is the user's own).
  int64_t mentions = 0;     // Of them, those that mention the user.
  bool muted = false;       // Muted now: only mentions are notified.
  Message latest;           // The message at covered_seq.
  std::string latest_sender_name;
};

// --- Web Push subscriptions, account email, email digests (notify/push, notify/email) --------

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

// GET /api/me: who a token belongs to.
struct Account {
  int64_t id = 0;
  std::string username;
  std::optional<std::string> email;
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
};

// A user due an unread digest (ChatStore::DueDigests).
struct Digest {
  int64_t user = 0;
  std::string username;
  std::string email;
  std::vector<DigestConversation> conversations;
};

// --- Uploads (issue 15: POST /api/uploads, GET /files/{id}) ---------------------------------

// One uploaded file: its record; the bytes are stored once per sha256 under the data dir.
struct UploadRecord {
  std::string id;  // 128 random bits, base64url: unguessable.
  int64_t owner = 0;
  std::string name;
  int64_t size = 0;
  std::string type;     // The declared type, or application/octet-stream (sniffing refused it).
  std::string sha256;   // Lowercase hex.
  int64_t created = 0;  // ms
  int64_t width = 0;    // An image's (0: not known).
  int64_t height = 0;
  std::string thumb_sha256;  // Its thumbnail's bytes (a JPEG; "" when none).
  int64_t thumb_size = 0;
};

struct UploadOutcome {
  bool over_quota = false;  // Not stored: the owner's uploads would pass the quota.
  int64_t used_bytes = 0;   // The owner's total, with this one when stored.
};

class ChatStore {
 public:
  virtual ~ChatStore() = default;
  // Refuses new work and finishes what was accepted: every reply is called, with kStopped for
  // work still queued `drain_limit` after the call (not run). Idempotent.
  virtual void Stop(std::chrono::milliseconds drain_limit) = 0;
  // Any thread, cheap: false while the store knows it cannot serve (the database unreachable).
  virtual bool Healthy() const { return true; }
  // Any thread: the store's figures (docs/metrics.md).
  virtual void CollectMetrics(MetricSet& /*out*/) const {}

  // Accounts.
  virtual void CreateUser(std::string username, std::string password_hash, int64_t now,
                          Reply<std::pair<Denial, int64_t>> reply) = 0;  // kTaken or the id.
  virtual void FindLogin(std::string username, Reply<std::optional<UserLogin>> reply) = 0;
  virtual void RevokeToken(std::string jti, int64_t expires_at_ms, Reply<bool> reply) = 0;
  // Unexpired revoked tokens (for every shard's revocation set at start).
  virtual void LoadRevoked(int64_t now, Reply<std::vector<RevokedToken>> reply) = 0;
  // The random id made when the database was created and kept in it (SQLite's meta, PostgreSQL's
  // server_settings: "instance_id"): another database, even at the same address, has another.
  virtual void InstanceId(Reply<std::string> reply) = 0;
  // Refresh tokens (sqlite_token_store.cc, pg_token_store.cc). Store drops the expired ones.
  virtual void StoreRefreshToken(RefreshToken token, int64_t now, Reply<bool> reply) = 0;
  // Uses the token hashed `old_hash` once: when live and unused, marks it used and stores
  // `next_hash` in its family until `next_expires_at_ms`, in one transaction.
  virtual void RotateRefreshToken(std::string old_hash, std::string next_hash,
                                  int64_t next_expires_at_ms, int64_t now,
                                  Reply<RefreshRotation> reply) = 0;
  virtual void RevokeRefreshFamily(std::string family, Reply<bool> reply) = 0;
  virtual void SetLastOnline(int64_t user, int64_t ts, Reply<bool> reply) = 0;
  // Users whose username starts with `prefix`, ignoring ASCII case (as usernames are unique and
  // logged in with), ordered by lowercased username, at most `limit`. Served by an index on
  // both backends (storage/SCHEMA.md); a read.
  virtual void SearchUsers(std::string prefix, uint32_t limit,
                           Reply<std::vector<UserMatch>> reply) = 0;
  // The users among `ids` that exist, ordered by id (how a client names a member or a sender it
  // knows only by id); unknown ids are absent. The caller bounds the count; a read.
  virtual void FindUsers(std::vector<int64_t> ids, Reply<std::vector<UserMatch>> reply) = 0;

  // Conversations.
  virtual void CreateConversation(int64_t creator, std::vector<int64_t> members,
                                  std::optional<std::string> name, bool group, int64_t now,
                                  Reply<CreateConversationOutcome> reply) = 0;
  // Refused with kTooLarge if the conversation would then have more than max_members.
  virtual void AddMembers(int64_t conv, int64_t caller, std::vector<int64_t> users,
                          uint32_t max_members, int64_t now, Reply<MembershipOutcome> reply) = 0;
  virtual void RemoveMember(int64_t conv, int64_t caller, int64_t user,
                            Reply<MembershipOutcome> reply) = 0;
  virtual void ListConversations(int64_t user, Reply<std::vector<ConversationSummary>> reply) = 0;
  virtual void StartSession(int64_t user, Reply<SessionStart> reply) = 0;

  // Messages.
  virtual void Append(NewMessage message, Reply<AppendOutcome> reply) = 0;
  // Newest first: seq < before (0: no bound), within `limit`.
  virtual void History(int64_t conv, int64_t user, int64_t before, PageLimit limit,
                       Reply<Page> reply) = 0;
  // `asks` empty: every conversation of `user` from 0. Non-member conversations are left out.
  // Every conversation asked for is answered; messages stop where `limit` says (more: true).
  virtual void Sync(int64_t user, std::vector<SyncAsk> asks, PageLimit limit,
                    Reply<std::vector<SyncConversation>> reply) = 0;
  // Moves the caller's watermarks forward (never back, never past last_seq); read ≥ delivered.
  virtual void UpdateWatermarks(int64_t conv, int64_t user, int64_t delivered, int64_t read,
                                Reply<WatermarkOutcome> reply) = 0;

  // For the server itself, not for a user (no membership check): what other nodes of a cluster
  // committed, to fill a gap in what Redis delivered (docs/cluster.md).
  // Messages of `conv` with seq > after, oldest first, at most `limit`.
  virtual void ReadRange(int64_t conv, int64_t after, uint32_t limit,
                         Reply<std::vector<Message>> reply) = 0;
  // (conversation, last_seq) for each of `convs` that exists, in no particular order.
  virtual void LastSeqs(std::vector<int64_t> convs,
                        Reply<std::vector<std::pair<int64_t, int64_t>>> reply) = 0;

  // ---- Mentions, mute and notifications (issue 14; notify/README.md).
  // The messages that mention `user`, newest first, with id < before_id (0: no bound), at
  // most `limit`; only from conversations the user is still a member of. A read.
  virtual void ListMentions(int64_t user, int64_t before_id, uint32_t limit,
                            Reply<MentionPage> reply) = 0;
  // Mutes `conv` for `user` until `until` (wall ms; kMutedForever), or unmutes (nullopt).
  // kNotFound: no such conversation; kForbidden: not a member.
  virtual void SetMute(int64_t conv, int64_t user, std::optional<int64_t> until,
                       Reply<Denial> reply) = 0;
  // For the Notifier (no user asks): at most `limit` notifications due at `now_ms` (wall) with
  // the collapse window `delay_ms`, oldest window first. A read.
  virtual void DueNotifications(int64_t now_ms, int64_t delay_ms, uint32_t limit,
                                Reply<std::vector<DueNotification>> reply) = 0;
  // Moves `user`'s notified watermark in `conv` up to `seq` (never back). A write.
  virtual void MarkNotified(int64_t conv, int64_t user, int64_t seq, Reply<bool> reply) = 0;

  // --- Web Push subscriptions, account email, email digests (notify/push, notify/email;
  // storage/SCHEMA.md: push_subscriptions, users.email, email_digests) ---
  // Stores `subscription` (an endpoint already stored moves to this user, with these keys);
  // then deletes the user's oldest beyond `max_per_user`. Replies true.
  virtual void AddPushSubscription(PushSubscription subscription, uint32_t max_per_user,
                                   Reply<bool> reply) = 0;
  // Deletes `user`'s subscription at `endpoint`; replies whether there was one.
  virtual void RemovePushSubscription(int64_t user, std::string endpoint, Reply<bool> reply) = 0;
  // `user`'s subscriptions, oldest first (a read).
  virtual void ListPushSubscriptions(int64_t user, Reply<std::vector<PushSubscription>> reply) = 0;
  // Sets (nullopt: clears) `user`'s email address; replies false when there is no such user.
  virtual void SetEmail(int64_t user, std::optional<std::string> email, Reply<bool> reply) = 0;
  virtual void FindAccount(int64_t user, Reply<std::optional<Account>> reply) = 0;
  // Users with an email address who have a message from someone else that they have neither
  // read nor had delivered, sent at or before `cutoff_ms`, and not covered by an earlier digest
  // (email_digests): those with an id above `after_user`, at most `max_users`, by id, each with
  // every unread conversation that has something past its digest watermark, newest first.
  virtual void DueDigests(int64_t cutoff_ms, int64_t after_user, uint32_t max_users,
                          Reply<std::vector<Digest>> reply) = 0;
  // Moves `user`'s digest watermark of each (conversation, seq) forward to seq (never back).
  virtual void MarkDigested(int64_t user, std::vector<std::pair<int64_t, int64_t>> conv_seqs,
                            Reply<bool> reply) = 0;
  // --- Uploads (issue 15; storage/SCHEMA.md "uploads") -------------------------------------
  // Stores the record unless the owner's uploads (this one included) would pass `quota_bytes`.
  virtual void CreateUpload(UploadRecord record, uint64_t quota_bytes,
                            Reply<UploadOutcome> reply) = 0;
  // The record of `id` when `user` may read it: its owner, or a member of a conversation where
  // a message carries it; `user` 0: no check (a signed URL was). nullopt otherwise (unknown and
  // refused look the same); a read.
  virtual void FindUpload(std::string id, int64_t user,
                          Reply<std::optional<UploadRecord>> reply) = 0;
  // The records among `ids` that `owner` uploaded, in no particular order (a send checks that
  // its attachments are the sender's own); a read.
  virtual void FindOwnedUploads(int64_t owner, std::vector<std::string> ids,
                                Reply<std::vector<UploadRecord>> reply) = 0;
  // --- Orphan uploads (--upload-orphan-ttl; storage/SCHEMA.md "Orphan uploads") -----------
  // Deletes up to `limit` uploads created in [created_from, created_before) that no message
  // carries, oldest first, and replies with their records (the caller then removes the files
  // that no row names any more: UnreferencedFiles). The check and the delete are one
  // statement, so an upload a committed message carries is never deleted; on PostgreSQL rows
  // another transaction holds (a concurrent sweep on another node, an append's foreign-key
  // check) are skipped, so nodes may sweep at once.
  virtual void DeleteOrphanUploads(int64_t created_from, int64_t created_before, uint32_t limit,
                                   Reply<std::vector<UploadRecord>> reply) = 0;
  // Those of `hashes` (lowercase hex SHA-256) that no upload names as its file or its
  // thumbnail; a read.
  virtual void UnreferencedFiles(std::vector<std::string> hashes,
                                 Reply<std::vector<std::string>> reply) = 0;
};

}  // namespace ringcast::storage
