#include "chat/service.h"

#include <algorithm>
#include <cstdio>

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_calls.h"
#include "chat/cluster/cluster_link.h"
#include "chat/cluster/cluster_presence.h"
#include "core/log.h"
#include "core/runtime/shard.h"
#include "core/runtime/shard_set.h"
#include "notify/push/vapid_key.h"
#include "storage/await_reply.h"

namespace ringcast::chat {
namespace {

// At shutdown the store commits what is queued at least this long, whatever is left of
// --shutdown-timeout; what is still queued then is not run.
constexpr std::chrono::milliseconds kMinStoreDrain{500};

}  // namespace

int64_t NowMs() { return SystemClock().WallMs(); }

std::unique_ptr<ChatService> ChatService::Start(const Config& config,
                                                std::unique_ptr<storage::ChatStore> store,
                                                auth::JwtSecret secret,
                                                const std::string& vapid_pem,
                                                std::shared_ptr<files::ObjectStore> objects) {
  std::unique_ptr<ChatService> service(new ChatService(config, secret));
  service->store_ = std::move(store);
  service->objects_ = std::move(objects);
  service->vapid_key_ = notify::EcKey::FromPrivatePem(vapid_pem);
  if (!service->vapid_key_) {
    std::fprintf(stderr,
                 "ringcast: the database's server_settings.vapid_key is not a P-256 "
                 "private key (PEM)\n");
    return nullptr;
  }

  // Before any shard runs, so the revocation sets start complete. The only blocking wait on
  // the store, and it is on the main thread.
  auto result = storage::AwaitReply<std::vector<storage::RevokedToken>>(
      [&](auto reply) { service->store_->LoadRevoked(NowMs(), std::move(reply)); });
  if (!result.ok()) {
    std::fprintf(stderr, "ringcast: cannot read revoked tokens: %s\n",
                 result.status().ToString().c_str());
    return nullptr;
  }
  service->initially_revoked_ = std::move(*result);
  auto instance = storage::AwaitReply<std::string>(
      [&](auto reply) { service->store_->InstanceId(std::move(reply)); });
  if (!instance.ok() || instance->empty()) {
    std::fprintf(stderr, "ringcast: cannot read the store's instance id: %s\n",
                 instance.ok() ? "none" : instance.status().ToString().c_str());
    return nullptr;
  }
  service->instance_id_ = std::move(*instance);
  return service;
}

ChatService::ChatService(const Config& config, auth::JwtSecret secret)
    : config_(config), secret_(secret) {}

ChatService::~ChatService() { Stop(); }

void ChatService::Attach(ShardSet& shards) {
  shards_ = &shards;
  apps_.assign(shards.size(), nullptr);
  held_.resize(shards.size());
  shards.AddMetricsSource([store = store_.get()](MetricSet& out) { store->CollectMetrics(out); });
  if (cluster::ClusterNode* node = shards.cluster()) {
    cluster_ = std::make_unique<ClusterLink>(*this, *node);
    cluster_presence_ = std::make_unique<ClusterPresence>(*this, *node);
    cluster_calls_ = std::make_unique<ClusterCalls>(*node);
  }
}

namespace {
// The ChatShard of this shard thread (set by MakeShardApp, which ShardSet calls there) and its
// service, for hot mails, whose words carry no service pointer.
thread_local ChatShard* tls_app = nullptr;
thread_local const ChatService* tls_service = nullptr;
}  // namespace

ChatShard* ChatService::AppOnThisThread() {
  if (tls_service == nullptr || tls_service->stopped_.load(std::memory_order_acquire)) {
    return nullptr;
  }
  return tls_app;
}

std::unique_ptr<Application> ChatService::MakeShardApp(Shard& shard) {
  auto app = std::make_unique<ChatShard>(shard, *this);
  apps_[shard.id()] = app.get();
  tls_app = app.get();
  tls_service = this;
  return app;
}

void ChatService::Stop(std::chrono::steady_clock::time_point deadline) {
  // Replies still to come (the store drains what it accepted) find no shard to run on.
  if (stopped_.exchange(true, std::memory_order_acq_rel) || !store_) return;
  // Nobody is waiting for these replies any more, so committing what is queued is a courtesy
  // (a client resends unacked messages; cids make that safe) bounded by what is left of the
  // shutdown's time: an overloaded store's queue could otherwise hold the exit for as long as
  // it takes to commit.
  auto started = std::chrono::steady_clock::now();
  store_->Stop(std::max(kMinStoreDrain,
                        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - started)));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  RC_LOG(kInfo, "chat store stopped in %lld ms", static_cast<long long>(took.count()));
}

bool ChatService::Post(uint32_t target, ShardTask task) {
  return PostKeeping(target, task, /*must_arrive=*/true);
}

bool ChatService::TryPost(uint32_t target, ShardTask task) {
  return PostKeeping(target, task, /*must_arrive=*/false);
}

bool ChatService::PostKeeping(uint32_t target, ShardTask& task, bool must_arrive) {
  if (stopped_.load(std::memory_order_acquire)) return false;
  auto owned = std::make_unique<ShardTask>(std::move(task));
  if (!PostMailAs(target,
                  Mail{&ChatService::RunTask, owned.get(), reinterpret_cast<uint64_t>(this)},
                  must_arrive)) {
    task = std::move(*owned);  // Still the caller's (PostOrHold holds it).
    return false;
  }
  (void)owned.release();  // The mail owns it now; RunTask frees it.
  return true;
}

bool ChatService::PostMail(uint32_t target, const Mail& mail) {
  if (stopped_.load(std::memory_order_acquire)) return false;
  return PostMailAs(target, mail, /*must_arrive=*/true);
}

bool ChatService::PostMailAs(uint32_t target, const Mail& mail, bool must_arrive) {
  bool queued = false;
  if (Shard* current = Shard::Current()) {
    queued = current->Post(target, mail);  // Refused: that shard is far behind (logged there).
  } else {
    // From a worker, storage or bus thread: never waits (ExternalMail::Post). Refused once
    // the shard has stopped, when nobody is left to tell, or (may-fail) past the overflow.
    queued = shards_->external_mail().Post(target, mail,
                                           must_arrive ? ExternalMail::Delivery::kMustArrive
                                                       : ExternalMail::Delivery::kMayFail) ==
             PushResult::kQueued;
  }
  return queued;
}

void ChatService::PostOrHold(uint32_t target, ShardTask task) {
  Shard* current = Shard::Current();
  if (current == nullptr) {
    (void)Post(target, std::move(task));  // Refused only once the target has stopped.
    return;
  }
  auto& held = held_[current->id()];
  if (held.empty() && PostKeeping(target, task, /*must_arrive=*/true)) return;
  if (stopped_.load(std::memory_order_acquire)) return;
  if (held.size() >= config_.max_held_mail) {
    RC_LOG(kWarn, "shard %u: %zu refused mails already held: dropping one for shard %u",
           current->id(), held.size(), target);
    return;
  }
  held.emplace_back(target, std::move(task));
}

void ChatService::RetryHeld(uint32_t shard) {
  auto& held = held_[shard];
  while (!held.empty() &&
         PostKeeping(held.front().first, held.front().second, /*must_arrive=*/true)) {
    held.pop_front();
  }
}

void ChatService::RunTask(Shard& shard, const Mail& mail) {
  std::unique_ptr<ShardTask> task(static_cast<ShardTask*>(mail.ptr));
  auto* service = reinterpret_cast<ChatService*>(mail.a);
  if (service->stopped_.load(std::memory_order_acquire)) return;
  (*task)(*service->apps_[shard.id()]);
}

}  // namespace ringcast::chat
