// SqliteChatStore's Web Push subscriptions, account email and email digests
// (sqlite_push_store.cc). The PostgreSQL side runs the same SQL shape; both are exercised end to
// end by tests/integration/test_email_digest.py.
#include <gtest/gtest.h>

#include "tests/unit/storage/sqlite_store_fixture.h"

namespace ringcast::storage {
namespace {

using testing::Await;

class SqlitePushStoreTest : public testing::SqliteStoreTest {
 protected:
  int64_t Conversation(std::vector<int64_t> members, std::optional<std::string> name) {
    auto r = Await<CreateConversationOutcome>([&](auto reply) {
      store_->CreateConversation(alice_, members, name, name.has_value(), 5, std::move(reply));
    });
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->conversation.id : 0;
  }
  void Send(int64_t conv, int64_t sender, const std::string& body, int64_t ts) {
    auto r = Await<AppendOutcome>([&](auto reply) {
      store_->Append({.conv = conv,
                      .sender = sender,
                      .cid = std::to_string(++cid_),
                      .kind = "text",
                      .body = body,
                      .ts = ts},
                     std::move(reply));
    });
    EXPECT_TRUE(r.ok() && r->denial == Denial::kNone);
  }
  void SetEmail(int64_t user, std::optional<std::string> email) {
    auto r = Await<bool>([&](auto reply) { store_->SetEmail(user, email, std::move(reply)); });
    EXPECT_TRUE(r.ok() && *r);
  }
  std::vector<Digest> Due(int64_t cutoff, int64_t after = 0, uint32_t max = 100) {
    auto r = Await<std::vector<Digest>>(
        [&](auto reply) { store_->DueDigests(cutoff, after, max, std::move(reply)); });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<Digest>{};
  }
  void Mark(int64_t user, std::vector<std::pair<int64_t, int64_t>> seqs) {
    auto r = Await<bool>([&](auto reply) { store_->MarkDigested(user, seqs, std::move(reply)); });
    EXPECT_TRUE(r.ok());
  }

  int cid_ = 0;
};

TEST_F(SqlitePushStoreTest, SubscriptionsAreUpsertedBoundedAndOwned) {
  auto add = [&](int64_t user, const std::string& endpoint, int64_t at) {
    auto r = Await<bool>([&](auto reply) {
      store_->AddPushSubscription({.user = user,
                                   .endpoint = endpoint,
                                   .p256dh = "k" + endpoint,
                                   .auth = "a",
                                   .created_at = at},
                                  2, std::move(reply));
    });
    EXPECT_TRUE(r.ok());
  };
  auto list = [&](int64_t user) {
    auto r = Await<std::vector<PushSubscription>>(
        [&](auto reply) { store_->ListPushSubscriptions(user, std::move(reply)); });
    std::vector<std::string> endpoints;
    for (const auto& s : *r) endpoints.push_back(s.endpoint);
    return endpoints;
  };
  add(bob_, "https://p/1", 1);
  add(bob_, "https://p/2", 2);
  add(bob_, "https://p/3", 3);  // Past the bound of 2: the oldest goes.
  EXPECT_EQ(list(bob_), (std::vector<std::string>{"https://p/2", "https://p/3"}));
  add(carol_, "https://p/2", 4);  // The browser moves to carol.
  EXPECT_EQ(list(bob_), (std::vector<std::string>{"https://p/3"}));
  EXPECT_EQ(list(carol_), (std::vector<std::string>{"https://p/2"}));
  auto removed = Await<bool>(
      [&](auto reply) { store_->RemovePushSubscription(bob_, "https://p/2", std::move(reply)); });
  EXPECT_FALSE(*removed);  // Not bob's.
  removed = Await<bool>(
      [&](auto reply) { store_->RemovePushSubscription(carol_, "https://p/2", std::move(reply)); });
  EXPECT_TRUE(*removed);
  EXPECT_TRUE(list(carol_).empty());
}

TEST_F(SqlitePushStoreTest, AccountEmail) {
  auto account = Await<std::optional<Account>>(
      [&](auto reply) { store_->FindAccount(bob_, std::move(reply)); });
  ASSERT_TRUE(account.ok() && account->has_value());
  EXPECT_EQ((*account)->username, "bob");
  EXPECT_FALSE((*account)->email);
  SetEmail(bob_, "bob@example.org");
  account = Await<std::optional<Account>>(
      [&](auto reply) { store_->FindAccount(bob_, std::move(reply)); });
  EXPECT_EQ((*account)->email, "bob@example.org");
  auto missing =
      Await<bool>([&](auto reply) { store_->SetEmail(999, "x@example.org", std::move(reply)); });
  EXPECT_FALSE(*missing);
}

TEST_F(SqlitePushStoreTest, DigestIsDueOnceForWhatIsUnreadUndeliveredAndOldEnough) {
  const int64_t direct = Conversation({bob_}, std::nullopt);
  const int64_t group = Conversation({bob_, carol_}, "Trip");
  Send(direct, alice_, "one", 100);
  Send(direct, alice_, "two", 200);
  Send(group, alice_, "three", 300);
  Send(group, bob_, "own", 50);  // Bob's own message: read, never due.
  EXPECT_TRUE(Due(99).empty());  // Nobody has an address yet, nothing is old enough.
  EXPECT_TRUE(Due(1000).empty());
  SetEmail(bob_, "bob@example.org");
  SetEmail(carol_, "carol@example.org");
  EXPECT_TRUE(Due(99).empty());
  std::vector<Digest> due = Due(150);  // Bob's "one" is old enough; carol's "three" is not.
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].user, bob_);
  EXPECT_EQ(due[0].email, "bob@example.org");
  // Every unread conversation of his is listed; bob replied in the group (read up to it).
  ASSERT_EQ(due[0].conversations.size(), 1u);
  const DigestConversation& listed = due[0].conversations[0];
  EXPECT_EQ(listed.conv, direct);
  EXPECT_EQ(listed.unread, 2);
  EXPECT_EQ(listed.last_seq, 2);
  EXPECT_EQ(listed.latest.body, "two");
  EXPECT_EQ(listed.latest_sender, "alice");
  EXPECT_EQ(listed.others, std::vector<std::string>{"alice"});
  Mark(bob_, {{direct, 2}});
  due = Due(1000);
  ASSERT_EQ(due.size(), 1u);  // Only carol now.
  EXPECT_EQ(due[0].user, carol_);
  ASSERT_EQ(due[0].conversations.size(), 1u);
  EXPECT_EQ(due[0].conversations[0].name, "Trip");
  EXPECT_EQ(due[0].conversations[0].unread, 2);  // "three" and bob's "own".
  EXPECT_EQ(due[0].conversations[0].others, (std::vector<std::string>{"alice", "bob"}));
  EXPECT_TRUE(Due(1000, carol_).empty());  // The batch cursor.
  Mark(carol_, {{group, 2}});
  EXPECT_TRUE(Due(1000).empty());
  Mark(bob_, {{direct, 1}});  // Never back.
  EXPECT_TRUE(Due(1000).empty());
  // Delivered to a connection of bob's: no digest for it.
  Send(direct, alice_, "four", 400);
  auto moved = Await<WatermarkOutcome>(
      [&](auto reply) { store_->UpdateWatermarks(direct, bob_, 3, 0, std::move(reply)); });
  ASSERT_TRUE(moved.ok());
  EXPECT_TRUE(Due(1000).empty());
  Send(direct, alice_, "five", 500);
  due = Due(1000);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].conversations[0].unread, 4);
  EXPECT_EQ(due[0].conversations[0].latest.body, "five");
}

}  // namespace
}  // namespace ringcast::storage
