#include "notify/notifier.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "tests/unit/support/fake_clock.h"

namespace ringcast::notify {
namespace {

using storage::DueNotification;
using storage::Reply;

// The notifier takes a NotificationStore and nothing more: this one hands out `due` at the first
// poll (nothing after) and records the watermarks moved. Called on the notifier's thread.
class ScriptedNotificationStore final : public storage::NotificationStore {
 public:
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<DueNotification> due;
  std::vector<std::tuple<int64_t, int64_t, int64_t>> marked;  // (conv, user, seq).

  void DueNotifications(int64_t, int64_t, uint32_t,
                        Reply<std::vector<DueNotification>> reply) override {
    std::vector<DueNotification> out;
    {
      std::lock_guard lock(mutex);
      out.swap(due);
    }
    reply(std::move(out));
  }
  void MarkNotified(int64_t conv, int64_t user, int64_t seq, Reply<bool> reply) override {
    {
      std::lock_guard lock(mutex);
      marked.emplace_back(conv, user, seq);
    }
    changed.notify_all();
    reply(true);
  }
  // The rest is not the notifier's: a call fails the test.
  void ListMentions(int64_t, int64_t, uint32_t, Reply<storage::MentionPage> reply) override {
    ADD_FAILURE() << "ListMentions";
    reply(storage::MentionPage{});
  }
  void SetMute(int64_t, int64_t, std::optional<int64_t>, Reply<storage::Denial> reply) override {
    ADD_FAILURE() << "SetMute";
    reply(storage::Denial::kNone);
  }
  void AddPushSubscription(storage::PushSubscription, uint32_t, Reply<bool> reply) override {
    ADD_FAILURE() << "AddPushSubscription";
    reply(false);
  }
  void RemovePushSubscription(int64_t, std::string, Reply<bool> reply) override {
    ADD_FAILURE() << "RemovePushSubscription";
    reply(false);
  }
  void ListPushSubscriptions(int64_t,
                             Reply<std::vector<storage::PushSubscription>> reply) override {
    ADD_FAILURE() << "ListPushSubscriptions";
    reply(std::vector<storage::PushSubscription>{});
  }
  void DueDigests(int64_t, int64_t, uint32_t, Reply<std::vector<storage::Digest>> reply) override {
    ADD_FAILURE() << "DueDigests";
    reply(std::vector<storage::Digest>{});
  }
  void MarkDigested(int64_t, std::vector<std::pair<int64_t, int64_t>>, Reply<bool> reply) override {
    ADD_FAILURE() << "MarkDigested";
    reply(false);
  }
};

class FixedPresence final : public PresenceProbe {
 public:
  explicit FixedPresence(std::vector<int64_t> online) : online_(std::move(online)) {}
  std::optional<std::vector<int64_t>> Online(const std::vector<int64_t>&) override {
    return online_;
  }

 private:
  std::vector<int64_t> online_;
};

// Records what it is offered (the notifier's thread; read after Stop).
class RecordingSink final : public NotificationSink {
 public:
  explicit RecordingSink(std::vector<Notification>* delivered) : delivered_(delivered) {}
  std::string_view name() const override { return "recording"; }
  Delivery Deliver(const Notification& notification) override {
    delivered_->push_back(notification);
    return Delivery::kDelivered;
  }

 private:
  std::vector<Notification>* delivered_;
};

DueNotification Due(int64_t user, int64_t conv, int64_t covered_seq) {
  DueNotification due;
  due.user = user;
  due.conv = conv;
  due.covered_seq = covered_seq;
  due.count = 1;
  return due;
}

// Runs a notifier over `due` until it moved `marks` watermarks; returns what its sink got.
std::vector<Notification> Notify(ScriptedNotificationStore& store, std::vector<int64_t> online,
                                 size_t marks) {
  FixedPresence presence(std::move(online));
  testing::FakeClock clock;
  std::vector<Notification> delivered;
  Notifier notifier(NotifierOptions{.poll_ms = 20}, store, presence, nullptr, clock);
  notifier.AddSink(std::make_unique<RecordingSink>(&delivered));
  notifier.Start();
  {
    std::unique_lock lock(store.mutex);
    EXPECT_TRUE(store.changed.wait_for(lock, std::chrono::seconds(10),
                                       [&] { return store.marked.size() >= marks; }));
  }
  notifier.Stop();
  return delivered;
}

TEST(Notifier, DeliversToAnOfflineMemberThenMovesTheWatermark) {
  ScriptedNotificationStore store;
  store.due = {Due(7, 3, 12)};
  const std::vector<Notification> delivered = Notify(store, {}, 1);
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].recipient, 7);
  EXPECT_EQ(delivered[0].conv, 3);
  EXPECT_EQ(delivered[0].idempotency_key, IdempotencyKey(7, 3, 12));
  ASSERT_EQ(store.marked.size(), 1u);
  EXPECT_EQ(store.marked[0], std::make_tuple(int64_t{3}, int64_t{7}, int64_t{12}));
}

TEST(Notifier, SkipsOnlineMembersAndMutedConversationsWithoutMentions) {
  ScriptedNotificationStore store;
  DueNotification muted = Due(8, 4, 5);
  muted.muted = true;
  DueNotification muted_mention = Due(9, 4, 5);
  muted_mention.muted = true;
  muted_mention.mentions = 1;
  store.due = {Due(7, 3, 12), muted, muted_mention};
  const std::vector<Notification> delivered = Notify(store, {7}, 3);
  // Only the mention gets through the mute; the online member needs nothing.
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].recipient, 9);
  EXPECT_TRUE(delivered[0].mention);
  // Every one of them is done with: each watermark moved.
  EXPECT_EQ(store.marked.size(), 3u);
}

}  // namespace
}  // namespace ringcast::notify
