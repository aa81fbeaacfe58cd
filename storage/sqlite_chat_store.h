// SqliteChatStore: ChatStore on the embedded SQLite file, through a BatchExecutor (writes
// group-committed on its writer thread, reads on its reader pool).
#pragma once

#include <atomic>
#include <memory>

#include "storage/batch_executor.h"
#include "storage/chat_store.h"
#include "storage/recent_cids.h"
#include "storage/sqlite_job.h"

namespace ringcast::storage {

// Inside an append's transaction, after `stored` was inserted: stores its mentions (members
// only, never the sender) and lists them in stored.mentions. sqlite_notify_store.cc.
Status StoreMentions(SqliteDb& db, const NewMessage& message, Message& stored);
// Mentions of `user` in `conv` above `read_seq`.
Result<int64_t> UnreadMentions(SqliteDb& db, int64_t conv, int64_t user, int64_t read_seq);

class SqliteChatStore final : public ChatStore {
 public:
  // The cids of the newest messages held in memory (RecentCids) before a chunk of them is
  // merged into message_cids; --sqlite-recent-cids.
  static constexpr uint32_t kDefaultRecentCids = 32768;
  // Entries merged by one job: a few milliseconds of the writer's time.
  static constexpr size_t kCidMergeChunk = 1024;

  // Opens (creating and migrating) the database at options.db.path, and reads back the cids
  // that message_cids does not hold yet.
  static Result<std::unique_ptr<SqliteChatStore>> Open(const ExecutorOptions& options,
                                                       uint32_t recent_cids = kDefaultRecentCids);
  ~SqliteChatStore() override;

  // Commits what is queued and joins the threads; every accepted operation gets its reply.
  void Stop(std::chrono::milliseconds drain_limit) override { executor_->Stop(drain_limit); }
  ExecutorStats stats() const { return executor_->stats(); }
  void CollectMetrics(MetricSet& out) const override;

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

  // Mentions, mute and notifications (sqlite_notify_store.cc).
  void ListMentions(int64_t user, int64_t before_id, uint32_t limit,
                    Reply<MentionPage> reply) override;
  void SetMute(int64_t conv, int64_t user, std::optional<int64_t> until,
               Reply<Denial> reply) override;
  void DueNotifications(int64_t now_ms, int64_t delay_ms, uint32_t limit,
                        Reply<std::vector<DueNotification>> reply) override;
  void MarkNotified(int64_t conv, int64_t user, int64_t seq, Reply<bool> reply) override;
  // Web Push subscriptions, account email, email digests: sqlite_push_store.cc.
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
  SqliteChatStore(std::unique_ptr<BatchExecutor> executor, uint32_t recent_cids_max)
      : executor_(std::move(executor)), recent_cids_max_(recent_cids_max) {}

  Status LoadRecentCids();
  // Writer thread, inside an append: the original of a resend (out.duplicate), or nothing.
  Status FindResend(SqliteDb& db, const NewMessage& message, AppendOutcome& out);
  // Writer thread: queues a merge of the next chunk of recent_cids_ unless one is queued.
  void MergeRecentCidsIfDue();

  // Runs `run(db, out)` as a write (group-committed) or a read job and replies with `out`,
  // or with the Status that stopped it.
  using Kind = SqliteJobKind;
  template <typename T, typename Run>
  void Submit(Kind kind, Run run, Reply<T> reply) {
    SubmitSqliteJob<T>(*executor_, kind, std::move(run), std::move(reply));
  }

  std::unique_ptr<BatchExecutor> executor_;
  const uint32_t recent_cids_max_;
  RecentCids recent_cids_;
  std::atomic<bool> merge_queued_{false};
  std::atomic<uint64_t> cids_merged_{0};
};

}  // namespace ringcast::storage
