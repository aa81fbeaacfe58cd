// Cases that every ChatStore backend must pass alike: sqlite_chat_store_test.cc runs them on
// SQLite, pg_chat_store_test.cc on a real PostgreSQL. Each takes the open store and three users it
// has registered as "alice", "bob" and "carol"; `user` registers more.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "storage/chat_store.h"
#include "tests/unit/storage/storage_test_util.h"

namespace ringcast::storage::testing {

struct CaseUsers {
  int64_t alice = 0, bob = 0, carol = 0;
  std::function<int64_t(const std::string&)> user;
};

inline int64_t CreateGroup(ChatStore& store, int64_t creator, std::vector<int64_t> members) {
  auto r = Await<CreateConversationOutcome>([&](auto reply) {
    store.CreateConversation(creator, std::move(members), std::optional<std::string>("g"), true, 5,
                             std::move(reply));
  });
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->conversation.id : 0;
}

// Registers an upload of 10 bytes named "f" (the quota ample); fails the test if refused.
inline void AddUpload(ChatStore& store, const std::string& id, int64_t owner,
                      const std::string& type, const std::string& sha256, int64_t created,
                      const std::string& thumb_sha256 = "") {
  auto r = Await<UploadOutcome>([&](auto reply) {
    store.CreateUpload({.id = id,
                        .owner = owner,
                        .name = "f",
                        .size = 10,
                        .type = type,
                        .sha256 = sha256,
                        .created = created,
                        .thumb_sha256 = thumb_sha256},
                       1000, std::move(reply));
  });
  ASSERT_TRUE(r.ok() && !r->over_quota) << r.status().ToString();
}

// Ordered by id, each once, unknown ones absent.
inline void ExpectFindUsersById(ChatStore& store, const CaseUsers& users) {
  const int64_t zed = users.user("Zed");
  auto find = [&](std::vector<int64_t> ids) {
    auto r = Await<std::vector<UserMatch>>(
        [&](auto reply) { store.FindUsers(std::move(ids), std::move(reply)); });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<UserMatch>{};
  };
  EXPECT_EQ(find({zed, 999999, users.bob, users.alice, zed}),
            (std::vector<UserMatch>{{users.alice, "alice"}, {users.bob, "bob"}, {zed, "Zed"}}));
  EXPECT_TRUE(find({999999}).empty());
  EXPECT_TRUE(find({}).empty());
}

inline void ExpectSearchUsersByPrefixIgnoringCase(ChatStore& store, const CaseUsers& users) {
  const int64_t alfred = users.user("Alfred"), underscore = users.user("al_x");
  const int64_t dot = users.user("AL.b"), al = users.user("al"), alz = users.user("alz");
  const int64_t bal = users.user("bal");
  auto search = [&](const std::string& prefix, uint32_t limit = 20) {
    auto r = Await<std::vector<UserMatch>>(
        [&](auto reply) { store.SearchUsers(prefix, limit, std::move(reply)); });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<UserMatch>{};
  };
  // Ordered by the lowercased name, in byte order ('.' < '_' < letters); names as registered.
  const std::vector<UserMatch> all = {
      {al, "al"},         {dot, "AL.b"},          {underscore, "al_x"},
      {alfred, "Alfred"}, {users.alice, "alice"}, {alz, "alz"}};
  EXPECT_EQ(search("al"), all);
  EXPECT_EQ(search("AL"), all);
  EXPECT_EQ(search("aL", 2), (std::vector<UserMatch>{all[0], all[1]}));
  EXPECT_EQ(search("al_"), (std::vector<UserMatch>{all[2]}));  // '_' is no wildcard.
  EXPECT_EQ(search("al."), (std::vector<UserMatch>{all[1]}));
  EXPECT_EQ(search("ALFRED"), (std::vector<UserMatch>{all[3]}));
  EXPECT_EQ(search("alz"), (std::vector<UserMatch>{all[5]}));
  EXPECT_EQ(search("b"), (std::vector<UserMatch>{{bal, "bal"}, {users.bob, "bob"}}));
  EXPECT_TRUE(search("alfreda").empty());
  EXPECT_TRUE(search("a%").empty());
  EXPECT_TRUE(search("a b").empty());
  EXPECT_TRUE(search("z").empty());
}

inline void ExpectReadRangeAndLastSeqsServeGapFill(ChatStore& store, const CaseUsers& users) {
  const int64_t conv = CreateGroup(store, users.alice, {users.bob});
  const int64_t empty = CreateGroup(store, users.alice, {users.carol});
  for (int i = 1; i <= 6; ++i) {
    auto sent = Await<AppendOutcome>([&](auto reply) {
      store.Append({.conv = conv,
                    .sender = i % 2 ? users.alice : users.bob,
                    .cid = "m" + std::to_string(i),
                    .kind = "text",
                    .body = "x",
                    .ts = 10},
                   std::move(reply));
    });
    ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  }
  auto range = Await<std::vector<Message>>(
      [&](auto reply) { store.ReadRange(conv, 2, 3, std::move(reply)); });
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  ASSERT_EQ(range->size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ((*range)[i].seq, int64_t(i) + 3);
  EXPECT_EQ((*range)[0].from, users.alice);
  auto tail = Await<std::vector<Message>>(
      [&](auto reply) { store.ReadRange(conv, 6, 10, std::move(reply)); });
  ASSERT_TRUE(tail.ok());
  EXPECT_TRUE(tail->empty());

  auto heads = Await<std::vector<std::pair<int64_t, int64_t>>>([&](auto reply) {
    store.LastSeqs({conv, empty, 999999}, std::move(reply));
  });
  ASSERT_TRUE(heads.ok()) << heads.status().ToString();
  std::sort(heads->begin(), heads->end());
  std::vector<std::pair<int64_t, int64_t>> expected = {{conv, 6}, {empty, 0}};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(*heads, expected);
}

// group_rules.h's rules, as SQLite applies them and PostgreSQL's rc_change_group and its
// neighbours (schema v12) do: roles, ownership and settings, each change a system entry.
inline void ExpectGroupRolesAndSettings(ChatStore& store, const CaseUsers& users) {
  const int64_t alice = users.alice, bob = users.bob, carol = users.carol;
  auto created = Await<CreateConversationOutcome>([&](auto reply) {
    store.CreateConversation(alice, {bob, carol}, std::optional<std::string>("g"), true, 5,
                             std::move(reply));
  });
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const int64_t conv = created->conversation.id;
  ASSERT_EQ(created->conversation.members.size(), 3u);
  EXPECT_EQ(created->conversation.members[0].role, "owner") << "the creator owns the group";
  EXPECT_EQ(created->conversation.members[1].role, "member");
  auto change = [&](GroupChange::Op op, int64_t caller, int64_t user, std::string role = "") {
    auto r = Await<MembershipOutcome>([&](auto reply) {
      store.ChangeGroup(
          GroupChange{
              .op = op, .conv = conv, .caller = caller, .user = user, .role = role, .now = 9},
          std::move(reply));
    });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : MembershipOutcome{};
  };
  auto remove = [&](int64_t caller, int64_t user) {
    auto r = Await<MembershipOutcome>(
        [&](auto reply) { store.RemoveMember(conv, caller, user, 9, std::move(reply)); });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : MembershipOutcome{};
  };
  auto append = [&](NewMessage message) {
    auto r = Await<AppendOutcome>(
        [&](auto reply) { store.Append(std::move(message), std::move(reply)); });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : AppendOutcome{};
  };
  using Op = GroupChange::Op;
  EXPECT_EQ(change(Op::kSetRole, bob, carol, "admin").denial, Denial::kNotAdmin);
  auto promoted = change(Op::kSetRole, alice, bob, "admin");
  ASSERT_EQ(promoted.denial, Denial::kNone);
  ASSERT_EQ(promoted.conversation.members.size(), 3u);
  EXPECT_EQ(promoted.conversation.members[0].role, "owner");
  EXPECT_EQ(promoted.conversation.members[1].role, "admin");
  ASSERT_EQ(promoted.system.size(), 1u);
  EXPECT_EQ(promoted.system[0].body, R"({"action":"role","actor":)" + std::to_string(alice) +
                                         R"(,"users":[)" + std::to_string(bob) +
                                         R"(],"role":"admin"})");
  EXPECT_FALSE(change(Op::kSetRole, alice, bob, "admin").changed) << "already an admin";
  EXPECT_EQ(change(Op::kSetRole, bob, carol, "admin").denial, Denial::kNotAdmin)
      << "only the owner names admins";
  EXPECT_EQ(remove(bob, alice).denial, Denial::kOwnerProtected);
  EXPECT_EQ(change(Op::kSetRole, alice, alice, "member").denial, Denial::kOwnerProtected);
  EXPECT_EQ(remove(alice, alice).denial, Denial::kLastOwner);
  EXPECT_EQ(remove(carol, bob).denial, Denial::kNotAdmin);

  // An admin deletes another member's message; no change may name a system entry.
  const int64_t carols =
      append({.conv = conv, .sender = carol, .cid = "c1", .kind = "text", .body = "mine", .ts = 10})
          .message.seq;
  NewMessage deletion{.conv = conv, .sender = bob, .cid = "del", .kind = "delete", .ts = 10};
  deletion.target = carols;
  EXPECT_EQ(append(std::move(deletion)).denial, Denial::kNone);
  NewMessage on_system{.conv = conv, .sender = alice, .cid = "del2", .kind = "delete", .ts = 10};
  on_system.target = promoted.system[0].seq;
  EXPECT_EQ(append(std::move(on_system)).denial, Denial::kNotFound);

  auto transferred = change(Op::kTransfer, alice, carol);
  ASSERT_EQ(transferred.denial, Denial::kNone);
  EXPECT_EQ(transferred.conversation.members[0].role, "admin");
  EXPECT_EQ(transferred.conversation.members[2].role, "owner");
  auto left = remove(alice, alice);
  ASSERT_EQ(left.denial, Denial::kNone) << "no longer the owner";
  ASSERT_EQ(left.system.size(), 1u);
  EXPECT_NE(left.system[0].body.find(R"("action":"left")"), std::string::npos);

  auto settings = Await<MembershipOutcome>([&](auto reply) {
    store.ChangeGroup(
        GroupChange{
            .conv = conv, .caller = bob, .name = "Renamed", .topic = "say \"hi\"", .now = 11},
        std::move(reply));
  });
  ASSERT_TRUE(settings.ok()) << settings.status().ToString();
  ASSERT_EQ(settings->denial, Denial::kNone);
  EXPECT_EQ(settings->conversation.name, "Renamed");
  EXPECT_EQ(settings->conversation.topic, "say \"hi\"");
  ASSERT_EQ(settings->system.size(), 1u);
  EXPECT_EQ(settings->system[0].body, R"({"action":"updated","actor":)" + std::to_string(bob) +
                                          R"(,"name":"Renamed","topic":"say \"hi\""})");
  EXPECT_EQ(settings->system[0].seq, settings->conversation.last_seq);
  // Every change is in the stream, newest first: updated, left, transfer, the deletion, the
  // message, the role.
  auto history = Await<Page>(
      [&](auto reply) { store.History(conv, bob, 0, 0, PageLimit{}, std::move(reply)); });
  ASSERT_TRUE(history.ok());
  std::vector<std::string> kinds;
  for (const Message& message : history->messages) kinds.push_back(message.kind);
  EXPECT_EQ(kinds,
            (std::vector<std::string>{"system", "system", "system", "delete", "text", "system"}));
}

inline void ExpectGroupAvatarIsAnAdminsImageThatTheMembersMayRead(ChatStore& store,
                                                                  const CaseUsers& users) {
  const int64_t alice = users.alice, bob = users.bob;
  const int64_t conv = CreateGroup(store, alice, {bob});
  AddUpload(store, "pic", alice, "image/png", "pic-bytes", 100, "t1");
  AddUpload(store, "doc", alice, "text/plain", "doc-bytes", 100);
  AddUpload(store, "bobs", bob, "image/png", "bobs-bytes", 100, "t2");
  auto set = [&](int64_t caller, const std::string& avatar) {
    auto r = Await<MembershipOutcome>([&](auto reply) {
      store.ChangeGroup(GroupChange{.conv = conv, .caller = caller, .avatar = avatar, .now = 5},
                        std::move(reply));
    });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : MembershipOutcome{};
  };
  EXPECT_EQ(set(alice, "doc").denial, Denial::kNotOwnImage) << "not an image";
  EXPECT_EQ(set(alice, "bobs").denial, Denial::kNotOwnImage) << "not hers";
  EXPECT_EQ(set(alice, "nothing").denial, Denial::kNotOwnImage);
  EXPECT_EQ(set(bob, "bobs").denial, Denial::kNotAdmin);

  auto changed = set(alice, "pic");
  ASSERT_EQ(changed.denial, Denial::kNone);
  EXPECT_EQ(changed.conversation.avatar, "pic");
  ASSERT_EQ(changed.system.size(), 1u);
  EXPECT_EQ(changed.system[0].body,
            R"({"action":"updated","actor":)" + std::to_string(alice) + R"(,"avatar":"pic"})");
  EXPECT_FALSE(set(alice, "pic").changed) << "already its avatar";
  auto listed = Await<std::vector<ConversationSummary>>(
      [&](auto reply) { store.ListConversations(bob, std::move(reply)); });
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].avatar, "pic");

  auto readable = [&](int64_t user) {
    auto found = Await<std::optional<UploadRecord>>(
        [&](auto reply) { store.FindUpload("pic", user, std::move(reply)); });
    return found.ok() && found->has_value();
  };
  EXPECT_TRUE(readable(bob));
  EXPECT_FALSE(readable(users.carol)) << "not a member";
  auto swept = Await<std::vector<UploadRecord>>(
      [&](auto reply) { store.DeleteOrphanUploads(0, 400, 10, std::move(reply)); });
  ASSERT_TRUE(swept.ok());
  for (const UploadRecord& record : *swept) EXPECT_NE(record.id, "pic");

  auto cleared = set(alice, "");
  ASSERT_EQ(cleared.denial, Denial::kNone);
  EXPECT_FALSE(cleared.conversation.avatar);
  EXPECT_EQ(cleared.system[0].body,
            R"({"action":"updated","actor":)" + std::to_string(alice) + R"(,"avatar":""})");
  EXPECT_TRUE(readable(bob)) << "the history that showed it still does";
}

// The search of a member of many conversations, after the caller has filled them in: 1 … 1005
// are alice's, each with one message from her, "hay", but "needle hay" in 10, 20, … and
// "needle needle hay" in 100, 200, …; 1006 is carol's alone, with "needle". Pages follow the
// ranked order (score, then the newest) and together hold every hit once.
inline void ExpectSearchOfManyConversations(ChatStore& store, int64_t alice, int64_t carol) {
  constexpr int kConversations = 1'005;
  auto search = [&](SearchQuery query) {
    auto r = Await<std::vector<SearchHit>>(
        [&](auto reply) { store.SearchMessages(std::move(query), std::move(reply)); });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<SearchHit>{};
  };
  // Every page in turn, from the cursor of the last hit of the one before.
  std::vector<SearchHit> all;
  std::optional<SearchCursor> cursor;
  for (int page = 0; page < 20; ++page) {
    std::vector<SearchHit> hits =
        search({.user = alice, .terms = {"needle"}, .cursor = cursor, .limit = 7});
    const bool more = hits.size() == 8;
    if (more) hits.pop_back();
    all.insert(all.end(), hits.begin(), hits.end());
    if (!more) break;
    cursor = SearchCursor{.score = all.back().score, .id = all.back().id};
  }
  ASSERT_EQ(all.size(), size_t{kConversations / 10});  // Conversations 10, 20, … 1000.
  std::set<int64_t> convs;
  for (size_t i = 0; i < all.size(); ++i) {
    convs.insert(all[i].conv);
    EXPECT_EQ(all[i].conv % 10, 0) << all[i].conv;
    EXPECT_EQ(all[i].from, alice);
    if (i > 0) {
      // Better (lower) scores first, then the newest (highest id).
      EXPECT_TRUE(all[i - 1].score < all[i].score ||
                  (all[i - 1].score == all[i].score && all[i - 1].id > all[i].id))
          << i;
    }
  }
  EXPECT_EQ(convs.size(), all.size());
  // Twice the word (in a message a word longer): ranked above every message holding it once.
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(all[i].conv % 100, 0) << i;
  EXPECT_FALSE(all[0].snippet.matches.empty());
  // The filters apply on this path too.
  EXPECT_EQ(search({.user = alice, .terms = {"needle"}, .before = 21}).size(), 2u);
  EXPECT_EQ(search({.user = alice, .terms = {"hay"}, .from = carol}).size(), 0u);
  // One conversation: the per-conversation probe.
  EXPECT_EQ(search({.user = alice, .terms = {"needle"}, .conv = 500}).size(), 1u);
  EXPECT_EQ(search({.user = alice, .terms = {"needle"}, .conv = kConversations + 1}).size(), 0u);
  // A member of one conversation.
  const std::vector<SearchHit> carols = search({.user = carol, .terms = {"needle"}});
  ASSERT_EQ(carols.size(), 1u);
  EXPECT_EQ(carols[0].conv, kConversations + 1);
  EXPECT_FALSE(carols[0].snippet.matches.empty());
}

}  // namespace ringcast::storage::testing
