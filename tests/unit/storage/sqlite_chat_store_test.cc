#include "storage/sqlite_chat_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "tests/unit/storage/chat_store_cases.h"
#include "tests/unit/storage/sqlite_store_fixture.h"

namespace ringcast::storage {
namespace {

using testing::Await;

class SqliteChatStoreTest : public testing::SqliteStoreTest {
 protected:
  CreateConversationOutcome Create(int64_t creator, std::vector<int64_t> members, bool group) {
    auto r = Await<CreateConversationOutcome>([&](auto reply) {
      store_->CreateConversation(creator, members,
                                 group ? std::optional<std::string>("g") : std::nullopt, group, 5,
                                 std::move(reply));
    });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : CreateConversationOutcome{};
  }
  AppendOutcome Append(int64_t conv, int64_t sender, const std::string& cid,
                       const std::string& body = "hi") {
    auto r = Await<AppendOutcome>([&](auto reply) {
      store_->Append(
          {.conv = conv, .sender = sender, .cid = cid, .kind = "text", .body = body, .ts = 10},
          std::move(reply));
    });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : AppendOutcome{};
  }
  testing::CaseUsers Users() {
    return {alice_, bob_, carol_, [this](const std::string& name) { return User(name); }};
  }
};

TEST_F(SqliteChatStoreTest, UsernamesAreUniqueIgnoringCase) {
  auto r = Await<std::pair<Denial, int64_t>>(
      [&](auto reply) { store_->CreateUser("ALICE", "h", 1, std::move(reply)); });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, Denial::kTaken);
  auto login = Await<std::optional<UserLogin>>(
      [&](auto reply) { store_->FindLogin("Alice", std::move(reply)); });
  ASSERT_TRUE(login.ok() && login->has_value());
  EXPECT_EQ((*login)->id, alice_);
}

TEST_F(SqliteChatStoreTest, DirectConversationIsUniquePerPairInEitherOrder) {
  auto first = Create(alice_, {bob_}, false);
  EXPECT_TRUE(first.created);
  auto again = Create(bob_, {alice_}, false);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.conversation.id, first.conversation.id);
  EXPECT_EQ(Create(alice_, {999}, true).denial, Denial::kUnknownUser);
}

TEST_F(SqliteChatStoreTest, SeqIsGapFreeAndDuplicatesAndOutsidersTakeNoNumber) {
  int64_t conv = Create(alice_, {bob_}, false).conversation.id;
  auto m1 = Append(conv, alice_, "a1");
  EXPECT_EQ(m1.message.seq, 1);
  EXPECT_EQ(Append(conv, carol_, "c1").denial, Denial::kForbidden);
  auto dup = Append(conv, alice_, "a1", "different body");
  EXPECT_TRUE(dup.duplicate);
  EXPECT_EQ(dup.message.id, m1.message.id);
  EXPECT_EQ(dup.message.body, "hi");  // The original.
  EXPECT_EQ(Append(conv, bob_, "a1").message.seq, 2) << "cids are per sender";
  EXPECT_EQ(Append(conv, alice_, "a2").message.seq, 3);
  // Survives a reopen, and numbering continues.
  store_.reset();
  Open();
  EXPECT_EQ(Append(conv, alice_, "a2").message.seq, 3);
  EXPECT_EQ(Append(conv, alice_, "a3").message.seq, 4);
}

// The cids of the newest messages are held in memory and merged into message_cids a sorted chunk
// at a time (storage/README.md, "WAL bytes per message"): a resend is found wherever its cid is,
// also after a restart, and the merge leaves nothing out.
TEST_F(SqliteChatStoreTest, ResendsAreFoundBeforeAndAfterTheirCidsAreMerged) {
  recent_cids_ = SqliteChatStore::kCidMergeChunk;  // The smallest: merges start at once.
  store_.reset();
  Open();
  const int64_t conv = Create(alice_, {bob_, carol_}, true).conversation.id;
  const int64_t senders[] = {alice_, bob_, carol_};
  constexpr int kMessages = 3000;
  auto send_all = [&](const std::string& body) {
    // Owned by the replies too: the last one may still be inside it when send_all returns.
    struct Sent {
      std::mutex mutex;
      std::vector<AppendOutcome> out = std::vector<AppendOutcome>(kMessages);
      int left = kMessages;
      std::promise<void> all_done;
    };
    auto sent = std::make_shared<Sent>();
    auto all_done = sent->all_done.get_future();
    for (int i = 0; i < kMessages; ++i) {
      store_->Append({.conv = conv,
                      .sender = senders[i % 3],
                      .cid = "cid-" + std::to_string(i * 7919 % kMessages),
                      .kind = "text",
                      .body = body,
                      .ts = 10},
                     Reply<AppendOutcome>([sent, i](Result<AppendOutcome> r) {
                       EXPECT_TRUE(r.ok()) << r.status().ToString();
                       std::lock_guard lock(sent->mutex);
                       if (r.ok()) sent->out[i] = *r;
                       if (--sent->left == 0) sent->all_done.set_value();
                     }));
    }
    all_done.wait();
    std::lock_guard lock(sent->mutex);
    return sent->out;
  };
  const std::vector<AppendOutcome> first = send_all("first");
  std::set<int64_t> seqs;
  for (const AppendOutcome& a : first) {
    EXPECT_FALSE(a.duplicate);
    seqs.insert(a.message.seq);
  }
  EXPECT_EQ(seqs.size(), size_t{kMessages});
  EXPECT_EQ(*seqs.rbegin(), kMessages);

  auto expect_all_duplicates = [&](const char* when) {
    const std::vector<AppendOutcome> again = send_all("again");
    for (int i = 0; i < kMessages; ++i) {
      ASSERT_TRUE(again[i].duplicate) << when << ": cid of message " << i;
      EXPECT_EQ(again[i].message.id, first[i].message.id) << when;
      EXPECT_EQ(again[i].message.body, "first") << when;
    }
  };
  expect_all_duplicates("resent while held or merged");
  store_.reset();  // What is still held is read back from the messages on open.
  Open();
  expect_all_duplicates("resent after a restart");
  EXPECT_EQ(Append(conv, alice_, "new").message.seq, kMessages + 1);
  store_.reset();

  DbOptions read_only{.path = options_.db.path, .read_only = true};
  auto db = SqliteDb::Open(read_only);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  Result<int64_t> merged = (*db)->QueryInt64("SELECT count(*) FROM message_cids");
  ASSERT_TRUE(merged.ok());
  EXPECT_GE(*merged, kMessages - 2 * int64_t{SqliteChatStore::kCidMergeChunk}) << "merges ran";
  // Every message below the mark is in message_cids, and each pair names its own message.
  Result<int64_t> missing = (*db)->QueryInt64(
      "SELECT count(*) FROM messages m WHERE m.id < (SELECT value FROM meta WHERE key = "
      "'cids_merged_below') AND NOT EXISTS (SELECT 1 FROM message_cids c WHERE c.message_id = "
      "m.id AND c.sender_id = m.sender_id AND c.client_msg_id = m.client_msg_id)");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, 0);
}

// Issue 44: a block ends a 1:1's call and a removal may take its caller from the group, and
// either made the store refuse the call's record (PROTOCOL.md: every call ends with one). A
// record is the server's account of a call that was allowed when it began: taken, while a send
// is still refused.
TEST_F(SqliteChatStoreTest, ACallsRecordIsTakenAfterABlockOrTheCallersRemoval) {
  auto record = [&](int64_t conv, int64_t caller, const std::string& cid) {
    auto r = Await<AppendOutcome>([&](auto reply) {
      store_->Append({.conv = conv,
                      .sender = caller,
                      .cid = cid,
                      .kind = "call",
                      .body = "{\"call\":\"x\"}",
                      .ts = 10},
                     std::move(reply));
    });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : AppendOutcome{};
  };
  const int64_t direct = Create(alice_, {bob_}, false).conversation.id;
  auto block = Await<Denial>(
      [&](auto reply) { store_->SetBlock(bob_, alice_, true, 10, std::move(reply)); });
  ASSERT_TRUE(block.ok() && *block == Denial::kNone);
  EXPECT_EQ(Append(direct, alice_, "after the block").denial, Denial::kForbidden);
  const AppendOutcome kept = record(direct, alice_, "call:1");
  EXPECT_EQ(kept.denial, Denial::kNone);
  EXPECT_EQ(kept.message.seq, 1);

  const int64_t group = Create(alice_, {bob_, carol_}, true).conversation.id;
  auto removed = Await<MembershipOutcome>(
      [&](auto reply) { store_->RemoveMember(group, carol_, carol_, 20, std::move(reply)); });
  ASSERT_TRUE(removed.ok() && removed->denial == Denial::kNone);
  EXPECT_EQ(Append(group, carol_, "after leaving").denial, Denial::kForbidden);
  EXPECT_EQ(record(group, carol_, "call:2").denial, Denial::kNone);
  EXPECT_EQ(record(999999, alice_, "call:3").denial, Denial::kForbidden);  // No such conversation.
}

// Issue 44: a group call rings at most --call-ring-max members (those delivered to most recently
// first); an accept's check reads no list at all.
TEST_F(SqliteChatStoreTest, CallPeersAreCappedMostRecentlyDeliveredFirst) {
  const int64_t dan = User("dan"), eve = User("eve");
  const int64_t group = Create(alice_, {bob_, carol_, dan, eve}, true).conversation.id;
  Append(group, alice_, "m1");
  Append(group, dan, "m2");  // Dan's own send moves his delivered watermark.
  auto peers = [&](int64_t user, uint32_t max) {
    auto r = Await<CallPeers>(
        [&](auto reply) { store_->FindCallPeers(group, user, max, std::move(reply)); });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : CallPeers{};
  };
  const CallPeers two = peers(alice_, 2);
  EXPECT_EQ(two.denial, Denial::kNone);
  EXPECT_TRUE(two.group);
  EXPECT_EQ(two.others, (std::vector<int64_t>{dan, bob_}));
  EXPECT_EQ(peers(alice_, 10).others.size(), 4u);
  const CallPeers check = peers(eve, 0);
  EXPECT_EQ(check.denial, Denial::kNone);
  EXPECT_TRUE(check.others.empty());
  EXPECT_EQ(peers(User("stranger"), 0).denial, Denial::kForbidden);
}

TEST_F(SqliteChatStoreTest, WatermarksOnlyMoveForwardAndNeverPastLastSeq) {
  int64_t conv = Create(alice_, {bob_}, false).conversation.id;
  for (int i = 0; i < 5; ++i) Append(conv, alice_, "m" + std::to_string(i));
  auto update = [&](int64_t user, int64_t delivered, int64_t read) {
    auto r = Await<WatermarkOutcome>([&](auto reply) {
      store_->UpdateWatermarks(conv, user, delivered, read, std::move(reply));
    });
    EXPECT_TRUE(r.ok());
    return *r;
  };
  auto w = update(bob_, 3, 0);
  EXPECT_TRUE(w.delivered_moved);
  EXPECT_FALSE(w.read_moved);
  EXPECT_EQ(w.delivered, 3);
  w = update(bob_, 2, 0);
  EXPECT_FALSE(w.delivered_moved);
  w = update(bob_, 0, 99);  // Read past the end: clamped; read drags delivered along.
  EXPECT_EQ(w.read, 5);
  EXPECT_EQ(w.delivered, 5);
  EXPECT_TRUE(w.read_moved && w.delivered_moved);
  EXPECT_EQ(update(carol_, 1, 1).denial, Denial::kForbidden);
}

// A sender has read its own messages: unread counts are of the others' messages, and sending
// implies having read what came before.
TEST_F(SqliteChatStoreTest, SendingMovesTheSendersOwnWatermarks) {
  int64_t conv = Create(alice_, {bob_}, false).conversation.id;
  Append(conv, bob_, "b1");
  Append(conv, alice_, "a1");
  Append(conv, alice_, "a2");
  auto read_seq = [&](int64_t user) {
    auto list = Await<std::vector<ConversationSummary>>(
        [&](auto reply) { store_->ListConversations(user, std::move(reply)); });
    EXPECT_TRUE(list.ok() && list->size() == 1u);
    return list.ok() && !list->empty() ? (*list)[0].read_seq : -1;
  };
  EXPECT_EQ(read_seq(alice_), 3) << "alice's own messages are not unread to her";
  EXPECT_EQ(read_seq(bob_), 1) << "bob has read up to his own message, not alice's after it";
  auto sync = Await<std::vector<SyncConversation>>([&](auto reply) {
    store_->Sync(alice_, {{conv, 0}}, {10}, std::move(reply));
  });
  ASSERT_TRUE(sync.ok() && sync->size() == 1u);
  for (const MemberState& member : (*sync)[0].members) {
    EXPECT_EQ(member.delivered, member.user == alice_ ? 3 : 1) << member.user;
    EXPECT_EQ(member.read, member.user == alice_ ? 3 : 1) << member.user;
  }
  // A receipt at or below it moves nothing (and so publishes nothing).
  auto w = Await<WatermarkOutcome>(
      [&](auto reply) { store_->UpdateWatermarks(conv, alice_, 3, 3, std::move(reply)); });
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->read_moved || w->delivered_moved);
  // A duplicate send (same cid) takes no seq and moves nothing.
  Append(conv, bob_, "b2");
  EXPECT_TRUE(Append(conv, alice_, "a2").duplicate);
  EXPECT_EQ(read_seq(alice_), 3);
  EXPECT_EQ(read_seq(bob_), 4);
}

TEST_F(SqliteChatStoreTest, HistoryAndSyncPageWithMore) {
  int64_t conv = Create(alice_, {bob_}, false).conversation.id;
  for (int i = 0; i < 7; ++i) Append(conv, alice_, "m" + std::to_string(i));
  auto page =
      Await<Page>([&](auto reply) { store_->History(conv, bob_, 0, 0, {3}, std::move(reply)); });
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->messages.size(), 3u);
  EXPECT_EQ(page->messages[0].seq, 7);  // Newest first.
  EXPECT_TRUE(page->more);
  page =
      Await<Page>([&](auto reply) { store_->History(conv, bob_, 3, 0, {10}, std::move(reply)); });
  ASSERT_EQ(page->messages.size(), 2u);
  EXPECT_EQ(page->messages[1].seq, 1);
  EXPECT_FALSE(page->more);
  page =
      Await<Page>([&](auto reply) { store_->History(conv, carol_, 0, 0, {3}, std::move(reply)); });
  EXPECT_EQ(page->denial, Denial::kForbidden);
  page = Await<Page>([&](auto reply) { store_->History(999, bob_, 0, 0, {3}, std::move(reply)); });
  EXPECT_EQ(page->denial, Denial::kNotFound);

  auto sync = Await<std::vector<SyncConversation>>([&](auto reply) {
    store_->Sync(bob_, {{conv, 2}, {999, 0}}, {4}, std::move(reply));
  });
  ASSERT_TRUE(sync.ok());
  ASSERT_EQ(sync->size(), 1u) << "conversations the caller is not in are left out";
  const SyncConversation& s = (*sync)[0];
  EXPECT_EQ(s.last_seq, 7);
  ASSERT_EQ(s.messages.size(), 4u);
  EXPECT_EQ(s.messages.front().seq, 3);  // Oldest first.
  EXPECT_EQ(s.messages.back().seq, 6);
  EXPECT_TRUE(s.more);
  EXPECT_EQ(s.members.size(), 2u);
}

TEST_F(SqliteChatStoreTest, PagesStopAtTheByteBudgetWithAtLeastOneMessage) {
  int64_t conv = Create(alice_, {bob_}, false).conversation.id;
  int64_t other = Create(alice_, {bob_}, true).conversation.id;
  const std::string big(1000, 'x');
  for (int i = 0; i < 5; ++i) Append(conv, alice_, "big" + std::to_string(i), big);
  Append(other, alice_, "small");
  const uint64_t one = big.size() + 4 + 96;  // PageBytes of one message of kind "text".

  auto page = Await<Page>([&](auto reply) {
    store_->History(conv, bob_, 0, 0, {50, 2 * one}, std::move(reply));
  });
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->messages.size(), 2u);
  EXPECT_EQ(page->messages[0].seq, 5);
  EXPECT_TRUE(page->more);
  page = Await<Page>([&](auto reply) {
    store_->History(conv, bob_, 0, 0, {50, 1}, std::move(reply));
  });
  ASSERT_EQ(page->messages.size(), 1u) << "a page always has one message";
  EXPECT_TRUE(page->more);

  // The budget is shared by the conversations of a sync; each is still listed.
  auto sync = Await<std::vector<SyncConversation>>([&](auto reply) {
    store_->Sync(bob_, {{conv, 0}, {other, 0}}, {50, 3 * one}, std::move(reply));
  });
  ASSERT_TRUE(sync.ok());
  ASSERT_EQ(sync->size(), 2u);
  EXPECT_EQ((*sync)[0].messages.size(), 3u);
  EXPECT_TRUE((*sync)[0].more);
  EXPECT_TRUE((*sync)[1].messages.empty());
  EXPECT_TRUE((*sync)[1].more);
  EXPECT_EQ((*sync)[1].last_seq, 1);
}

TEST_F(SqliteChatStoreTest, MembershipChangesAndWhoMayMakeThem) {
  auto group = Create(alice_, {bob_}, true).conversation;
  Append(group.id, alice_, "before carol");
  auto add = [&](int64_t caller, std::vector<int64_t> users) {
    return *Await<MembershipOutcome>([&](auto reply) {
      store_->AddMembers(group.id, caller, users, 1000, 6, std::move(reply));
    });
  };
  EXPECT_EQ(add(bob_, {carol_}).denial, Denial::kNotAdmin) << "a plain member adds nobody";
  auto added = add(alice_, {carol_});
  ASSERT_EQ(added.denial, Denial::kNone);
  EXPECT_TRUE(added.changed);
  ASSERT_EQ(added.conversation.members.size(), 3u);
  ASSERT_EQ(added.system.size(), 1u);
  EXPECT_EQ(added.system[0].kind, "system");
  EXPECT_EQ(added.system[0].seq, 2);
  EXPECT_EQ(added.system[0].body, R"({"action":"added","actor":)" + std::to_string(alice_) +
                                      R"(,"users":[)" + std::to_string(carol_) + "]}");
  EXPECT_EQ(added.conversation.last_seq, 2);
  // Adding members who are all in already writes nothing and says so (no event to send).
  auto again = add(alice_, {carol_, bob_});
  ASSERT_EQ(again.denial, Denial::kNone);
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(again.conversation.members.size(), 3u);
  EXPECT_EQ(added.conversation.members[2].read, 1) << "a newcomer starts with history read";
  EXPECT_EQ(add(999, {carol_}).denial, Denial::kForbidden);
  int64_t dave = User("dave");
  EXPECT_EQ(add(alice_, {12345}).denial, Denial::kUnknownUser);
  auto remove = [&](int64_t caller, int64_t user) {
    return *Await<MembershipOutcome>(
        [&](auto reply) { store_->RemoveMember(group.id, caller, user, 7, std::move(reply)); });
  };
  EXPECT_EQ(remove(alice_, dave).denial, Denial::kNotFound);
  auto left = remove(carol_, carol_);
  EXPECT_EQ(left.conversation.members.size(), 2u);
  EXPECT_TRUE(left.changed);
  EXPECT_EQ(remove(carol_, bob_).denial, Denial::kForbidden);
  int64_t direct = Create(alice_, {bob_}, false).conversation.id;
  auto not_group = *Await<MembershipOutcome>(
      [&](auto reply) { store_->AddMembers(direct, alice_, {carol_}, 1000, 6, std::move(reply)); });
  EXPECT_EQ(not_group.denial, Denial::kNotGroup);
  auto too_many = *Await<MembershipOutcome>([&](auto reply) {
    store_->AddMembers(group.id, alice_, {carol_, dave, bob_}, 3, 6, std::move(reply));
  });
  EXPECT_EQ(too_many.denial, Denial::kTooLarge) << "2 members + carol + dave > 3 (bob is in)";

  auto session =
      Await<SessionStart>([&](auto reply) { store_->StartSession(alice_, std::move(reply)); });
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(session->conversations.size(), 2u);
  ASSERT_EQ(session->contacts.size(), 1u) << "bob, once, though shared twice";
  EXPECT_EQ(session->contacts[0].user, bob_);
}

TEST_F(SqliteChatStoreTest, GroupRolesAndSettings) {
  testing::ExpectGroupRolesAndSettings(*store_, Users());
}

TEST_F(SqliteChatStoreTest, RevokedTokensAndLastOnline) {
  ASSERT_TRUE(Await<bool>([&](auto reply) {
                store_->RevokeToken("j1", 1LL << 50, std::move(reply));
              }).ok());
  ASSERT_TRUE(
      Await<bool>([&](auto reply) { store_->RevokeToken("old", 1, std::move(reply)); }).ok());
  auto revoked = Await<std::vector<RevokedToken>>(
      [&](auto reply) { store_->LoadRevoked(100, std::move(reply)); });
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(*revoked, (std::vector<RevokedToken>{{"j1", 1LL << 50}}));
  ASSERT_TRUE(
      Await<bool>([&](auto reply) { store_->SetLastOnline(bob_, 500, std::move(reply)); }).ok());
  ASSERT_TRUE(
      Await<bool>([&](auto reply) { store_->SetLastOnline(bob_, 400, std::move(reply)); }).ok());
  Create(alice_, {bob_}, false);
  auto session =
      Await<SessionStart>([&](auto reply) { store_->StartSession(alice_, std::move(reply)); });
  ASSERT_EQ(session->contacts.size(), 1u);
  EXPECT_EQ(session->contacts[0].last_online, 500) << "never moves back";
}

TEST_F(SqliteChatStoreTest, SearchUsersByPrefixIgnoringCase) {
  testing::ExpectSearchUsersByPrefixIgnoringCase(*store_, Users());
}

TEST_F(SqliteChatStoreTest, FindUsersById) { testing::ExpectFindUsersById(*store_, Users()); }

TEST_F(SqliteChatStoreTest, ConcurrentSendersGetDistinctGapFreeSeqs) {
  int64_t conv = Create(alice_, {bob_, carol_}, true).conversation.id;
  constexpr int kPerSender = 200;
  std::vector<std::thread> senders;
  std::mutex mutex;
  std::vector<int64_t> seqs;
  for (int64_t sender : {alice_, bob_, carol_}) {
    senders.emplace_back([&, sender] {
      for (int i = 0; i < kPerSender; ++i) {
        auto r = Append(conv, sender, "c" + std::to_string(i));
        std::lock_guard lock(mutex);
        seqs.push_back(r.message.seq);
      }
    });
  }
  for (auto& t : senders) t.join();
  std::sort(seqs.begin(), seqs.end());
  ASSERT_EQ(seqs.size(), 3u * kPerSender);
  for (size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], int64_t(i) + 1);
}

TEST_F(SqliteChatStoreTest, ReadRangeAndLastSeqsServeGapFill) {
  testing::ExpectReadRangeAndLastSeqsServeGapFill(*store_, Users());
}

// The sweep of orphan uploads (sqlite_upload_store.cc): only unattached uploads in the time
// range go, oldest first, at most `limit`; a hash stays referenced while any row names it.
TEST_F(SqliteChatStoreTest, OrphanUploadsAreDeletedAndTheirFilesToldApart) {
  const int64_t conv = Create(alice_, {bob_}, false).conversation.id;
  auto upload = [&](const std::string& id, const std::string& sha, int64_t created,
                    const std::string& thumb = "") {
    testing::AddUpload(*store_, id, alice_, "text/plain", sha, created, thumb);
  };
  upload("attached", "aa", 100);
  upload("twin", "aa", 110);         // The same bytes as `attached`.
  upload("image", "bb", 120, "cc");  // With a thumbnail.
  upload("late", "dd", 500);         // After the cutoff.
  auto sent = Await<AppendOutcome>([&](auto reply) {
    store_->Append({.conv = conv,
                    .sender = alice_,
                    .cid = "c1",
                    .kind = "text",
                    .body = "x",
                    .ts = 10,
                    .attachment_ids = {"attached"}},
                   std::move(reply));
  });
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  auto first = Await<std::vector<UploadRecord>>(
      [&](auto reply) { store_->DeleteOrphanUploads(0, 400, 1, std::move(reply)); });
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].id, "twin");  // Oldest first; `attached` is carried by a message.
  auto rest = Await<std::vector<UploadRecord>>(
      [&](auto reply) { store_->DeleteOrphanUploads(0, 400, 10, std::move(reply)); });
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].id, "image");
  EXPECT_EQ((*rest)[0].thumb_sha256, "cc");
  EXPECT_EQ((*rest)[0].owner, alice_);
  auto files = Await<std::vector<std::string>>([&](auto reply) {
    store_->UnreferencedFiles({"aa", "bb", "cc", "dd"}, std::move(reply));
  });
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(*files, (std::vector<std::string>{"bb", "cc"}));  // `aa`: attached's; `dd`: late's.
  auto found = Await<std::optional<UploadRecord>>(
      [&](auto reply) { store_->FindUpload("attached", alice_, std::move(reply)); });
  ASSERT_TRUE(found.ok() && found->has_value());
}

// A member of more than 1,000 conversations is served by one statement over the whole index
// (sqlite_search_store.cc) rather than a range read per conversation: the same rules hold
// (chat_store_cases.h, as on PostgreSQL).
TEST_F(SqliteChatStoreTest, SearchOfAMemberOfManyConversations) {
  constexpr int kConversations = 1'005;
  {
    auto db = SqliteDb::Open(options_.db);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    SqliteDb& filler = **db;
    ASSERT_TRUE(filler.Exec("BEGIN").ok());
    auto conv = filler.Prepare(
        "INSERT INTO conversations(id, name, is_group, created_at) VALUES (?1, 'g', 1, 1)");
    auto member = filler.Prepare(
        "INSERT INTO users_conversations(conversation_id, user_id, joined_at) VALUES (?1, ?2, 1)");
    auto message = filler.Prepare(
        "INSERT INTO messages(conversation_id, seq, sender_id, kind, body, sent_at) "
        "VALUES (?1, ?2, ?3, 'text', ?4, ?5)");
    for (int c = 1; c <= kConversations + 1; ++c) {
      ASSERT_TRUE(conv->BindInt64(1, c).Exec().ok());
      // The last conversation is carol's alone: alice must never find its needle.
      const int64_t user = c == kConversations + 1 ? carol_ : alice_;
      ASSERT_TRUE(member->BindInt64(1, c).BindInt64(2, user).Exec().ok());
      const std::string body = user == carol_ ? "needle"
                               : c % 100 == 0 ? "needle needle hay"
                               : c % 10 == 0  ? "needle hay"
                                              : "hay";
      ASSERT_TRUE(message->BindInt64(1, c)
                      .BindInt64(2, 1)
                      .BindInt64(3, user)
                      .BindText(4, body)
                      .BindInt64(5, c)
                      .Exec()
                      .ok());
    }
    ASSERT_TRUE(filler.Exec("COMMIT").ok());
    // Not indexed yet: the first search waits for the index to add them.
  }
  testing::ExpectSearchOfManyConversations(*store_, alice_, carol_);
}

// A group's avatar (schema v17): an image of the admin's own with a thumbnail; the system entry
// that sets it carries the upload, so the members (only they) may read it and no sweep takes it.
TEST_F(SqliteChatStoreTest, AGroupAvatarIsAnAdminsImageThatTheMembersMayRead) {
  testing::ExpectGroupAvatarIsAnAdminsImageThatTheMembersMayRead(*store_, Users());
}

}  // namespace
}  // namespace ringcast::storage
