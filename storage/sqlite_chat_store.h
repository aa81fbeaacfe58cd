// SqliteChatStore: ChatStore on the embedded SQLite file, through a BatchExecutor (writes
// group-committed on its writer thread, reads on its reader pool).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include "storage/batch_executor.h"
#include "storage/chat_store.h"
#include "storage/recent_cids.h"
#include "storage/sqlite_job.h"
#include "storage/sqlite_message_row.h"
#include "storage/sqlite_search_index.h"

namespace ringcast::storage {

// Inside an append's transaction, after `stored` was inserted: stores its mentions (members
// only, never the sender) and lists them in stored.mentions. sqlite_notify_store.cc.
Status StoreMentions(SqliteDb& db, const NewMessage& message, Message& stored);
// The members other than `sender` that `ids` and, for a text message, the @names of `body` name.
Result<std::set<int64_t>> FindMentioned(SqliteDb& db, int64_t conv, int64_t sender,
                                        const std::vector<int64_t>& ids, std::string_view body,
                                        bool text);
Status InsertMentions(SqliteDb& db, const std::set<int64_t>& users, const Message& message);
// Append's parts for a change (message.target set; sqlite_message_changes.cc): before the
// change's row is inserted, whether it may be made (out.denial when not) and the target's row;
// after, the target's new state.
struct ChangeTarget {
  int64_t id = 0;
  int64_t author = 0;
  int64_t sent_at = 0;
  bool text = false;
  bool call = false;  // A call's record: the server wrote it, and nobody edits it.
};
Status CheckChange(SqliteDb& db, const NewMessage& message, AppendOutcome& out,
                   ChangeTarget& target);
Status ApplyChange(SqliteDb& db, const NewMessage& message, const ChangeTarget& target,
                   Message& stored);
// A conversation's state (denial kNotFound when there is none), its members by user id, and
// whether a user exists: sqlite_group_store.cc.
Status LoadState(SqliteDb& db, int64_t conv, ConversationState& state);
Status LoadMembers(SqliteDb& db, int64_t conv, std::vector<MemberState>& members);
Result<bool> UserExists(SqliteDb& db, int64_t user);
// For a caller known not to be a member of `conv`: `denial` = kForbidden when the conversation
// exists, kNotFound when not (sqlite_chat_store.cc).
Status DenyNonMember(SqliteDb& db, int64_t conv, Denial& denial);
// Append's parts for a reply (message.reply_to set; sqlite_replies.cc): before its row is
// inserted, whether the parent may be answered (out.denial when not), filling the reply's
// reply_to, quote and thread_root in `stored`; after, the thread root's counts.
Status CheckReply(SqliteDb& db, const NewMessage& message, AppendOutcome& out, Message& stored);
Status CountThreadReply(SqliteDb& db, const Message& stored);
// `denial` = `refusal` unless `upload` is an image of `user`'s own with a thumbnail (core/media
// made one): what an avatar must be, a profile's or a group's. sqlite_profile_store.cc.
Status DenyUnlessOwnImage(SqliteDb& db, std::string_view upload, int64_t user, Denial refusal,
                          Denial& denial);
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
  // that message_cids does not hold yet. The search index lives in `search.path` (default:
  // search.db beside it) and is kept by a thread of its own (sqlite_search_index.h).
  static Result<std::unique_ptr<SqliteChatStore>> Open(const ExecutorOptions& options,
                                                       uint32_t recent_cids = kDefaultRecentCids,
                                                       SearchIndexOptions search = {});
  ~SqliteChatStore() override;

  // Commits what is queued and joins the threads; every accepted operation gets its reply.
  void Stop(std::chrono::milliseconds drain_limit) override {
    search_index_->Stop();  // Waiting searches run now, on what is indexed.
    executor_->Stop(drain_limit);
  }
  ExecutorStats stats() const { return executor_->stats(); }
  void CollectMetrics(MetricSet& out) const override;

  // Every operation of the store interfaces (chat_store.h).
  RINGCAST_CHAT_STORE_OVERRIDES

 private:
  SqliteChatStore(std::unique_ptr<BatchExecutor> executor, uint32_t recent_cids_max,
                  std::unique_ptr<SqliteSearchIndex> search_index)
      : executor_(std::move(executor)),
        recent_cids_max_(recent_cids_max),
        search_index_(std::move(search_index)) {}

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
  // An operation that is one statement, `sql` (a literal: the job keeps the pointer) with `args`
  // bound to ?1, ?2...; it replies true once the statement ran (kRan), or whether it answered a
  // row (kAnyRow: an existence probe, or a write whose RETURNING matched).
  enum class Answer : uint8_t { kRan, kAnyRow };
  template <typename... Args>
  void SubmitStatement(Kind kind, Answer answer, const char* sql, Reply<bool> reply, Args... args) {
    Submit<bool>(
        kind,
        [answer, sql, args = std::make_tuple(std::move(args)...)](SqliteDb& db, bool& out) {
          auto stmt = db.Prepare(sql);
          std::apply([&](const auto&... bound) { stmt->Bind(bound...); }, args);
          if (answer == Answer::kAnyRow) {
            return ForEachSqliteRow(*stmt, [&](Statement&) { out = true; });
          }
          out = true;
          return stmt->Exec();
        },
        std::move(reply));
  }
  // A read of a page of the messages a per-user list holds (stars, mentions: keyed by user and
  // message id), newest first, below id `before` (0: from the newest). `from` (a literal) is the
  // statement after the message columns: ?1 is the user, ?2 the id the page stays below, ?3 its
  // LIMIT (count + 1).
  template <typename PageT>
  void SubmitUserListPage(const char* from, int64_t user, int64_t before, PageLimit limit,
                          Reply<PageT> reply) {
    Submit<PageT>(
        Kind::kRead,
        [from, user, before, limit](SqliteDb& db, PageT& out) {
          auto stmt = db.Prepare(std::string("SELECT ") + kSqliteMessageColumns + " " + from);
          stmt->Bind(user, PageBelow(before), int64_t{limit.count} + 1);
          return ReadSqlitePage(*stmt, limit, out.messages, out.more);
        },
        std::move(reply));
  }

  std::unique_ptr<BatchExecutor> executor_;
  const uint32_t recent_cids_max_;
  RecentCids recent_cids_;
  std::atomic<bool> merge_queued_{false};
  std::atomic<uint64_t> cids_merged_{0};

  // A search on a reader. One that finds messages committed before it that the index does not
  // hold yet waits for them (SqliteSearchIndex::WhenIndexed) and runs again, `waited`.
  void RunSearch(std::shared_ptr<const SearchQuery> query, Reply<std::vector<SearchHit>> reply,
                 bool waited);
  // Destroyed before executor_: its waiting searches are submitted to the executor.
  std::unique_ptr<SqliteSearchIndex> search_index_;
};

}  // namespace ringcast::storage
