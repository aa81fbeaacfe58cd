// ChatStore: the chat service's persistence, as asynchronous operations with typed results —
// the store interfaces one backend serves, and the backend's lifecycle.
//
// A module takes only the interface it uses: AccountStore (account_store.h), ConversationStore
// (conversation_store.h: the ordering contract), NotificationStore (notification_store.h),
// UploadStore (upload_store.h), ProfileStore (profile_store.h), SearchStore (search_store.h). What
// every operation promises (one reply, on a storage thread, cheap; Status errors vs domain
// refusals) is in store_types.h. The composition (chat/service.cc) opens one backend and hands out
// the interfaces; it alone stops it.
//
// A backend derives from ChatStore and puts RINGCAST_CHAT_STORE_OVERRIDES in its public section:
// its operations are declared from the interfaces' own lists, never copied (storage/README.md,
// "Interfaces"). Backends: SqliteChatStore (sqlite_chat_store.h), PgChatStore (pg_chat_store.h).
#pragma once

#include <chrono>

#include "core/metrics/metric_set.h"
#include "storage/account_store.h"
#include "storage/conversation_store.h"
#include "storage/notification_store.h"
#include "storage/profile_store.h"
#include "storage/search_store.h"
#include "storage/upload_store.h"

namespace ringcast::storage {

#define RINGCAST_CHAT_STORE_OVERRIDES                         \
  RINGCAST_ACCOUNT_STORE_OPS(RINGCAST_STORE_OP_OVERRIDE)      \
  RINGCAST_CONVERSATION_STORE_OPS(RINGCAST_STORE_OP_OVERRIDE) \
  RINGCAST_NOTIFICATION_STORE_OPS(RINGCAST_STORE_OP_OVERRIDE) \
  RINGCAST_UPLOAD_STORE_OPS(RINGCAST_STORE_OP_OVERRIDE)       \
  RINGCAST_PROFILE_STORE_OPS(RINGCAST_STORE_OP_OVERRIDE)      \
  RINGCAST_SEARCH_STORE_OPS(RINGCAST_STORE_OP_OVERRIDE)

class ChatStore : public AccountStore,
                  public ConversationStore,
                  public NotificationStore,
                  public UploadStore,
                  public ProfileStore,
                  public SearchStore {
 public:
  ~ChatStore() override = default;
  // Refuses new work and finishes what was accepted: every reply is called, with kStopped for
  // work still queued `drain_limit` after the call (not run). Idempotent.
  virtual void Stop(std::chrono::milliseconds drain_limit) = 0;
  // Any thread, cheap: false while the store knows it cannot serve (the database unreachable).
  virtual bool Healthy() const { return true; }
  // Any thread: the store's figures (docs/metrics.md).
  virtual void CollectMetrics(MetricSet& /*out*/) const {}
  // Messages of `conv` up to `seq` are committed, as far as this node knows (its conversation
  // owners call it for every message they accept; any thread): a store with read replicas
  // reads no older than that (storage/README.md, "Read replicas").
  virtual void NoteCommitted(int64_t /*conv*/, int64_t /*seq*/) {}
};

}  // namespace ringcast::storage
