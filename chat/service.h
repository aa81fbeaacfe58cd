// The chat service: accounts, conversations, durable ordered messages, receipts, presence.
//
// ChatService is process-wide and immutable once the shards run (config, signing secret, the
// store); ChatShard is the per-shard half, the Application each shard runs, which owns all of
// the mutable chat state of its shard through one object per role (chat_shard.h). Shards reach
// each other's ChatShard only by mail (ChatService::Post). See chat/README.md for which shard
// owns what.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chat/auth/jwt.h"
#include "chat/config.h"
#include "core/runtime/clock.h"
#include "core/runtime/mailbox.h"
#include "notify/push/webpush_crypto.h"
#include "storage/chat_store.h"
#include "storage/unique_function.h"

namespace ringcast {
class Shard;
class ShardSet;
class Application;
}  // namespace ringcast

namespace ringcast::files {
class ObjectStore;
}  // namespace ringcast::files

namespace ringcast::notify {
class PresenceProbe;
class JobPublisher;
}  // namespace ringcast::notify

namespace ringcast::chat {

class ChatShard;
class ClusterLink;
class ClusterPresence;
class ClusterCalls;
using ShardTask = storage::UniqueFunction<void(ChatShard&)>;

// Counts one unit of work in `*count` for as long as it lives (moved along, never copied);
// counts nothing with a null `count`.
class InFlight {
 public:
  explicit InFlight(std::atomic<int64_t>* count) : count_(count) {
    if (count_ != nullptr) count_->fetch_add(1, std::memory_order_relaxed);
  }
  InFlight(InFlight&& other) noexcept : count_(other.count_) { other.count_ = nullptr; }
  InFlight& operator=(InFlight&&) = delete;
  ~InFlight() {
    if (count_ != nullptr) count_->fetch_sub(1, std::memory_order_release);
  }

 private:
  std::atomic<int64_t>* count_;
};

class ChatService {
 public:
  // Takes the store and the secrets the composition root opened (server/store_setup.h),
  // prepares the file store, loads the revoked tokens. Returns null with a message on stderr
  // when the server cannot start.
  // `objects`: the bucket of --files-url (files/files_setup.h), or null for --files-dir.
  static std::unique_ptr<ChatService> Start(const Config& config,
                                            std::unique_ptr<storage::ChatStore> store,
                                            auth::JwtSecret secret, const std::string& vapid_pem,
                                            std::shared_ptr<files::ObjectStore> objects);
  ~ChatService();

  // Before ShardSet::Run: the factory for every shard's Application.
  void Attach(ShardSet& shards);
  std::unique_ptr<Application> MakeShardApp(Shard& shard);
  // Once the shards have stopped (ShardSet's stopped hook): stops the store, committing what is
  // queued until `deadline`, or for kMinStoreDrain when that is sooner (docs/architecture.md,
  // "Closing"). Idempotent.
  void Stop(std::chrono::steady_clock::time_point deadline = {});

  // Runs `task` on shard `target`'s ChatShard, from any thread (shard, worker, storage). Tasks
  // from one thread to one shard run in the order posted. Returns false when the task was
  // dropped (destroyed unrun): once that shard has stopped, or when a shard posts to one that
  // is --max-mail-backlog mails behind (Shard::Post, which logs and counts it); from a worker,
  // storage or bus thread it never waits: past a full inbox the task waits in the inbox's
  // overflow (ExternalMail::Post, kMustArrive).
  // Every caller decides what a refusal means for its mail (chat/README.md, "Refused mail"):
  // a delivery marks the conversation as lagging at its owner, which refills it; a send, a
  // receipt or a history request is answered `unavailable`, as for a store failure.
  [[nodiscard]] bool Post(uint32_t target, ShardTask task);
  // As Post, for a hot mail that carries its payload in its own words (chat/owners/
  // delivery_mail.h): nothing is allocated to post it. Refused: false, and what the mail owns
  // is still the caller's. Its run function finds the target's ChatShard with AppOnThisThread.
  [[nodiscard]] bool PostMail(uint32_t target, const Mail& mail);
  // On a shard thread: its ChatShard, or null once the service has stopped (the mail left at
  // shutdown, which runs on the main thread, also finds none): a hot mail is then released
  // unrun, as Post's tasks are.
  static ChatShard* AppOnThisThread();
  // As Post, but from a thread that is not a shard the task may also be refused once the
  // target's inbox and its overflow are full (kMayFail): for deliveries the caller can recover
  // by other means (the Redis bus: "maybe missed", then a refill from the store).
  [[nodiscard]] bool TryPost(uint32_t target, ShardTask task);

  // For mail that must arrive, in order, and has nobody to answer when it cannot: on a shard
  // thread, a refused task (or any task while others are held) waits on the posting shard, in
  // order, and is posted again every tick (RetryHeld), up to --max-held-mail per shard; past that
  // it is dropped and logged. From any other thread it is Post (refused only once the target
  // has stopped, when nobody is left to tell).
  void PostOrHold(uint32_t target, ShardTask task);
  // On shard `shard`'s thread (ChatShard::OnTick): posts what it holds, in order, until one is
  // refused again.
  void RetryHeld(uint32_t shard);

  // PostOrHold(target, make()) for every shard, this one included: one task each.
  template <typename Make>
  void PostToEveryShard(Make make) {
    for (uint32_t target = 0; target < shard_count(); ++target) PostOrHold(target, make());
  }

  // A store reply that continues as `then(chat_shard, result)` on shard `origin`. In cluster
  // mode it counts in replies_in_flight() from now until `then` has run, or the reply or its
  // task was dropped.
  template <typename T, typename Then>
  storage::Reply<T> ReplyOn(uint32_t origin, Then then) {
    return [this, origin, then = std::move(then),
            in_flight = InFlight(cluster_ ? &replies_in_flight_ : nullptr)](
               storage::Result<T> result) mutable {
      // From a storage thread this waits while the inbox is full: refused only once the shard
      // has stopped, when nobody waits for the reply.
      PostOrHold(origin, [then = std::move(then), result = std::move(result),
                          in_flight = std::move(in_flight)](ChatShard& cs) mutable {
        then(cs, std::move(result));
      });
    };
  }
  // Cluster mode: store replies on their way to a shard. While there are any, the shards do
  // not leave their loops at shutdown (ChatShard::Drained), so that a commit in flight when
  // SIGTERM came is still published to the other nodes (docs/cluster.md, "Draining and
  // rolling restarts"). A single node does not count them: nothing of theirs would leave the
  // process, and its store commits what it holds as it stops.
  int64_t replies_in_flight() const { return replies_in_flight_.load(std::memory_order_acquire); }

  const Config& config() const { return config_; }
  // Monotonic for every duration, wall only for timestamps (core/runtime/clock.h).
  const Clock& clock() const { return SystemClock(); }
  storage::ChatStore& store() { return *store_; }
  // Where uploads' bytes live with --files-url; null: --files-dir.
  const std::shared_ptr<files::ObjectStore>& objects() const { return objects_; }
  // Cluster mode's link to the other nodes (docs/cluster.md); null on a single node.
  ClusterLink* cluster() { return cluster_.get(); }
  // Cluster mode: presence and the per-user connection limit over every node; null on one.
  ClusterPresence* cluster_presence() { return cluster_presence_.get(); }
  // Cluster mode: the calls' busy marks in Redis; null on one node (CallRegistry keeps them).
  ClusterCalls* cluster_calls() { return cluster_calls_.get(); }
  const auth::JwtSecret& secret() const { return secret_; }
  // Web Push's VAPID key pair (notify/push/vapid_key.h): its public half is served to browsers.
  const notify::EcKey& vapid_key() const { return *vapid_key_; }
  const std::vector<storage::RevokedToken>& initially_revoked() const { return initially_revoked_; }
  // The store's instance id (ChatStore::InstanceId): in login answers and hello, so that a
  // client binds what it keeps to this database, not just to a user id.
  const std::string& instance_id() const { return instance_id_; }
  uint32_t shard_count() const { return config_.threads; }

  // Owners: each conversation and each user belongs to one shard (its ConversationOwner,
  // UserOwner).
  uint32_t ConversationOwnerShard(int64_t conv) const {
    return uint32_t(uint64_t(conv) % shard_count());
  }
  uint32_t UserOwnerShard(int64_t user) const { return uint32_t(uint64_t(user) % shard_count()); }

  // Notifications and background jobs (service_notify.cc; server/background.h builds them).
  // The notifier's view of presence: asks a shard's presence replica.
  std::unique_ptr<notify::PresenceProbe> MakePresenceProbe();
  // --amqp's publisher (null without it), set before the shards run: AfterCommit publishes to it.
  void SetJobPublisher(notify::JobPublisher* jobs) { jobs_ = jobs; }
  // On the owner shard, once per message committed by this node: the message.committed and
  // mention jobs (the mention events go from every node's ConversationOwner::OnCommitted).
  void AfterCommit(const storage::Message& message);
  // A message the server appended itself outside a send (a change over HTTP, a call's record),
  // handed on as every commit is: to the other nodes, to the jobs (AfterCommit, unless a
  // duplicate), and to the conversation's owner shard, whose reorder buffer publishes it.
  void HandOffCommitted(const storage::AppendOutcome& outcome);
  // --amqp's publisher, or null.
  notify::JobPublisher* jobs() { return jobs_; }

 private:
  ChatService(const Config& config, auth::JwtSecret secret);
  static void RunTask(Shard& shard, const Mail& mail);
  // Post (must_arrive) or TryPost, leaving `task` with the caller when it is refused.
  bool PostKeeping(uint32_t target, ShardTask& task, bool must_arrive);
  // Queues `mail` on the target's queue (from a shard) or inbox (from any other thread).
  bool PostMailAs(uint32_t target, const Mail& mail, bool must_arrive);

  const Config& config_;
  auth::JwtSecret secret_;
  std::unique_ptr<storage::ChatStore> store_;
  std::shared_ptr<files::ObjectStore> objects_;
  std::optional<notify::EcKey> vapid_key_;
  std::unique_ptr<ClusterLink> cluster_;
  std::unique_ptr<ClusterPresence> cluster_presence_;
  std::unique_ptr<ClusterCalls> cluster_calls_;
  std::vector<storage::RevokedToken> initially_revoked_;
  std::string instance_id_;
  notify::JobPublisher* jobs_ = nullptr;
  ShardSet* shards_ = nullptr;
  std::vector<ChatShard*> apps_;  // By shard id; each written and read by its own shard only.
  // By shard id: the tasks each shard holds (PostOrHold), oldest first; each written and read
  // by its own shard only.
  std::vector<std::deque<std::pair<uint32_t, ShardTask>>> held_;
  std::atomic<bool> stopped_{false};
  // Written by shard and store threads for every reply (cluster mode): a cache line of its
  // own, away from stopped_, which every Post reads.
  alignas(64) std::atomic<int64_t> replies_in_flight_{0};
};

// Milliseconds since the Unix epoch: the wall clock, for timestamps only (never a duration).
int64_t NowMs();

}  // namespace ringcast::chat
