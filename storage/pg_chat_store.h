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
#include <initializer_list>
#include <memory>
#include <span>
#include <string>

#include "storage/chat_store.h"
#include "storage/pg_pipeline.h"
#include "storage/pg_replica.h"

namespace ringcast::storage {

struct PgStoreOptions {
  // The primary's pool: its URL, lanes, batching, bounds and session settings (pg_pipeline.h).
  // Open gives it the store's batcher and `log`; the read replicas take its readers, timeout and
  // prepared_statements.
  PgPipelineOptions primary;
  // Read replicas (--database-read-url; empty: none): history, sync, lists and search read
  // there when it has what they must see (pg_replica.h), else the primary.
  std::string read_conninfo;
  std::chrono::milliseconds replica_max_lag{5000};
  bool sole_writer = true;  // PgReplicaOptions::sole_writer: false in cluster mode.
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

  // The replica first: a read it gives up on goes to the primary.
  void Stop(std::chrono::milliseconds drain_limit) override {
    if (replica_) replica_->Stop(drain_limit);
    pipeline_->Stop(drain_limit);
  }
  void NoteCommitted(int64_t conv, int64_t seq) override {
    if (replica_) replica_->NoteCommitted(conv, seq);
  }
  PgPipelineStats stats() const { return pipeline_->stats(); }
  bool Healthy() const override { return !pipeline_->stats().outage; }
  void CollectMetrics(MetricSet& out) const override;
  // The signing secret the database holds (PgStoreOptions::secret_candidate), hex.
  const std::string& shared_secret() const { return shared_secret_; }
  // The VAPID key the database holds (PgStoreOptions::vapid_key_candidate), PEM.
  const std::string& shared_vapid_key() const { return shared_vapid_key_; }

  // Every operation of the store interfaces (chat_store.h).
  RINGCAST_CHAT_STORE_OVERRIDES

 private:
  explicit PgChatStore(std::unique_ptr<PgPipeline> pipeline) : pipeline_(std::move(pipeline)) {}

  // Marks `ids` (users, a conversation) changed for the replica's freshness checks.
  void NoteChanged(std::initializer_list<int64_t> ids, std::span<const int64_t> more = {});

  std::unique_ptr<PgPipeline> pipeline_;
  std::unique_ptr<PgReplica> replica_;  // Null without --database-read-url.
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
