// PgChatStore: ChatStore on PostgreSQL, through a PgPipeline (writes on writer connections, one
// lane per connection chosen by conversation id; message appends of a lane batched into one
// statement per transaction; reads on a reader pool).
//
// seq is assigned in the database: a batch locks its conversations in id order, then one
// statement numbers its messages from each conversation's last_seq and advances it
// (storage/README.md says why this and not a sequencer per conversation). Replies for one
// conversation come back in seq order because one conversation's writes always use the same
// writer connection, whose units complete in order.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "storage/chat_store.h"
#include "storage/pg_pipeline.h"

namespace ringcast::storage {

struct PgStoreOptions {
  std::string conninfo;
  uint32_t writers = 4;
  uint32_t readers = 2;
  uint32_t batch_max = 256;
  uint32_t batch_delay_us = 0;
  std::chrono::milliseconds timeout{5000};
  uint32_t max_queued = 1 << 20;
  std::string synchronous_commit = "on";
  // The token signing secret (hex) to keep in the database if it holds none yet; empty: none
  // is kept. PgChatStore::shared_secret() is then the one every node uses.
  std::string secret_candidate;
  // The same for the VAPID key (Web Push, notify/push/vapid_key.h), PEM: shared_vapid_key().
  std::string vapid_key_candidate;
  void (*log)(bool warning, const std::string& line) = nullptr;
};

class PgChatStore final : public ChatStore {
 public:
  // Connects, checks privileges, migrates the schema (under an advisory lock) and opens the
  // pool; blocking, for the main thread at start. Errors carry a one-line reason without the
  // password.
  static Result<std::unique_ptr<PgChatStore>> Open(const PgStoreOptions& options);
  ~PgChatStore() override;

  void Stop(std::chrono::milliseconds drain_limit) override { pipeline_->Stop(drain_limit); }
  PgPipelineStats stats() const { return pipeline_->stats(); }
  bool Healthy() const override { return !pipeline_->stats().outage; }
  void CollectMetrics(MetricSet& out) const override;
  // The signing secret the database holds (PgStoreOptions::secret_candidate), hex.
  const std::string& shared_secret() const { return shared_secret_; }
  // The VAPID key the database holds (PgStoreOptions::vapid_key_candidate), PEM.
  const std::string& shared_vapid_key() const { return shared_vapid_key_; }

  void CreateUser(std::string username, std::string password_hash, int64_t now,
                  Reply<std::pair<Denial, int64_t>> reply) override;
  void FindLogin(std::string username, Reply<std::optional<UserLogin>> reply) override;
  void RevokeToken(std::string jti, int64_t expires_at_ms, Reply<bool> reply) override;
  void LoadRevoked(int64_t now, Reply<std::vector<RevokedToken>> reply) override;
  void InstanceId(Reply<std::string> reply) override;
  void StoreRefreshToken(RefreshToken token, int64_t now, Reply<bool> reply) override;
  void RotateRefreshToken(std::string old_hash, std::string next_hash, int64_t next_expires_at_ms,
                          int64_t now, Reply<RefreshRotation> reply) override;
  void RevokeRefreshFamily(std::string family, Reply<bool> reply) override;
  void SetLastOnline(int64_t user, int64_t ts, Reply<bool> reply) override;
  void SearchUsers(std::string prefix, uint32_t limit,
                   Reply<std::vector<UserMatch>> reply) override;
  void FindUsers(std::vector<int64_t> ids, Reply<std::vector<UserMatch>> reply) override;
  void CreateConversation(int64_t creator, std::vector<int64_t> members,
                          std::optional<std::string> name, bool group, int64_t now,
                          Reply<CreateConversationOutcome> reply) override;
  void AddMembers(int64_t conv, int64_t caller, std::vector<int64_t> users, uint32_t max_members,
                  int64_t now, Reply<MembershipOutcome> reply) override;
  void RemoveMember(int64_t conv, int64_t caller, int64_t user,
                    Reply<MembershipOutcome> reply) override;
  void ListConversations(int64_t user, Reply<std::vector<ConversationSummary>> reply) override;
  void StartSession(int64_t user, Reply<SessionStart> reply) override;
  void Append(NewMessage message, Reply<AppendOutcome> reply) override;
  void History(int64_t conv, int64_t user, int64_t before, PageLimit limit,
               Reply<Page> reply) override;
  void Sync(int64_t user, std::vector<SyncAsk> asks, PageLimit limit,
            Reply<std::vector<SyncConversation>> reply) override;
  void UpdateWatermarks(int64_t conv, int64_t user, int64_t delivered, int64_t read,
                        Reply<WatermarkOutcome> reply) override;
  void ReadRange(int64_t conv, int64_t after, uint32_t limit,
                 Reply<std::vector<Message>> reply) override;
  void LastSeqs(std::vector<int64_t> convs,
                Reply<std::vector<std::pair<int64_t, int64_t>>> reply) override;
  // Uploads (issue 15).
  void CreateUpload(UploadRecord record, uint64_t quota_bytes, Reply<UploadOutcome> reply) override;
  void FindUpload(std::string id, int64_t user, Reply<std::optional<UploadRecord>> reply) override;
  void FindOwnedUploads(int64_t owner, std::vector<std::string> ids,
                        Reply<std::vector<UploadRecord>> reply) override;
  // Orphan uploads (sqlite_upload_store.cc / pg_upload_store.cc).
  void DeleteOrphanUploads(int64_t created_from, int64_t created_before, uint32_t limit,
                           Reply<std::vector<UploadRecord>> reply) override;
  void UnreferencedFiles(std::vector<std::string> hashes,
                         Reply<std::vector<std::string>> reply) override;

  // Mentions, mute and notifications (pg_notify_store.cc).
  void ListMentions(int64_t user, int64_t before_id, uint32_t limit,
                    Reply<MentionPage> reply) override;
  void SetMute(int64_t conv, int64_t user, std::optional<int64_t> until,
               Reply<Denial> reply) override;
  void DueNotifications(int64_t now_ms, int64_t delay_ms, uint32_t limit,
                        Reply<std::vector<DueNotification>> reply) override;
  void MarkNotified(int64_t conv, int64_t user, int64_t seq, Reply<bool> reply) override;
  // Web Push subscriptions, account email, email digests: pg_push_store.cc.
  void AddPushSubscription(PushSubscription subscription, uint32_t max_per_user,
                           Reply<bool> reply) override;
  void RemovePushSubscription(int64_t user, std::string endpoint, Reply<bool> reply) override;
  void ListPushSubscriptions(int64_t user, Reply<std::vector<PushSubscription>> reply) override;
  void SetEmail(int64_t user, std::optional<std::string> email, Reply<bool> reply) override;
  void FindAccount(int64_t user, Reply<std::optional<Account>> reply) override;
  void DueDigests(int64_t cutoff_ms, int64_t after_user, uint32_t max_users,
                  Reply<std::vector<Digest>> reply) override;
  void MarkDigested(int64_t user, std::vector<std::pair<int64_t, int64_t>> conv_seqs,
                    Reply<bool> reply) override;

 private:
  explicit PgChatStore(std::unique_ptr<PgPipeline> pipeline) : pipeline_(std::move(pipeline)) {}

  std::unique_ptr<PgPipeline> pipeline_;
  std::string shared_secret_;
  std::string shared_vapid_key_;
};

// Keeps `candidate` as server_settings' `name` unless the database holds one already, and reads
// back the one it holds into *kept (blocking, at start; pg_push_store.cc).
Status KeepSharedSetting(PGconn* conn, const char* name, const std::string& candidate,
                         std::string* kept);

// Parameter encoders and row decoders, shared with the unit tests.
namespace pg {
std::string Int8ArrayBinary(std::span<const int64_t> values);
std::string TextArrayBinary(std::span<const std::string* const> values);
// "{1,2,3}" (PostgreSQL's text output of an int8[]); false on anything else.
bool ParseInt8Array(std::string_view text, std::vector<int64_t>& out);
}  // namespace pg

}  // namespace ringcast::storage
