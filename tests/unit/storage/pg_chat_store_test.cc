// PgChatStore and its SQL against a real PostgreSQL: RINGCAST_TEST_DATABASE_URL names a role
// that may CREATE DATABASE (tools/pgtmp run -- … starts a throwaway server and sets it; ctest's
// `unit_pg` does). Each test gets a database of its own.
#include "storage/pg_chat_store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <future>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/pg_schema.h"
#include "tests/unit/storage/chat_store_cases.h"

namespace ringcast::storage {
namespace {

// Blocking helper connection for setup and assertions.
class Admin {
 public:
  explicit Admin(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }
  ~Admin() { PQfinish(conn_); }
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  std::string error() const { return PQerrorMessage(conn_); }
  PGconn* get() { return conn_; }
  // The first column of every row, as text ("" for NULL); fails the test on an error.
  std::vector<std::string> Column(const std::string& sql) {
    PGresult* result = PQexec(conn_, sql.c_str());
    std::vector<std::string> out;
    const ExecStatusType status = PQresultStatus(result);
    EXPECT_TRUE(status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        << sql << ": " << PQresultErrorMessage(result);
    for (int row = 0; row < PQntuples(result); ++row) out.emplace_back(PQgetvalue(result, row, 0));
    PQclear(result);
    return out;
  }
  std::string One(const std::string& sql) {
    auto column = Column(sql);
    return column.empty() ? std::string("<no row>") : column[0];
  }

 private:
  PGconn* conn_;
};

// The same server and role with another database.
std::string WithDatabase(const std::string& conninfo, const std::string& dbname) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error) PQfreemem(error);
  std::string out;
  for (PQconninfoOption* option = options; option && option->keyword; ++option) {
    if (option->val == nullptr || std::string(option->keyword) == "dbname") continue;
    std::string value = option->val;
    std::string quoted;
    for (char c : value) {
      if (c == '\'' || c == '\\') quoted += '\\';
      quoted += c;
    }
    out += std::string(option->keyword) + "='" + quoted + "' ";
  }
  if (options) PQconninfoFree(options);
  return out + "dbname=" + dbname;
}

template <typename T>
class Wait {
 public:
  Reply<T> reply() {
    return [this](Result<T> result) { promise_.set_value(std::move(result)); };
  }
  Result<T> get() {
    auto future = promise_.get_future();
    if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << "no reply within 20 s";
      return Status(Errc::kInternal, "timeout");
    }
    return future.get();
  }

 private:
  std::promise<Result<T>> promise_;
};

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("RINGCAST_TEST_DATABASE_URL");
    ASSERT_NE(url, nullptr) << "RINGCAST_TEST_DATABASE_URL is not set: run these tests through "
                               "`tools/pgtmp run -- …` (ctest's unit_pg does)";
    base_ = url;
    static std::atomic<int> counter{0};
    dbname_ = "rc_unit_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    Admin admin(base_);
    ASSERT_TRUE(admin.ok()) << admin.error();
    admin.Column("DROP DATABASE IF EXISTS " + dbname_);
    admin.Column("CREATE DATABASE " + dbname_ + " TEMPLATE template0");
    conninfo_ = WithDatabase(base_, dbname_);
  }
  void TearDown() override {
    if (store_) store_->Stop(std::chrono::milliseconds::max());
    store_.reset();
    if (!dbname_.empty()) {
      Admin admin(base_);
      if (admin.ok()) admin.Column("DROP DATABASE IF EXISTS " + dbname_ + " WITH (FORCE)");
    }
  }
  void Open(uint32_t writers = 2, uint32_t batch_max = 256, uint32_t batch_delay_us = 0,
            std::string read_conninfo = "", bool sole_writer = true) {
    PgStoreOptions options{.primary = {.conninfo = conninfo_,
                                       .writers = writers,
                                       .batch_max = batch_max,
                                       .batch_delay_us = batch_delay_us,
                                       .timeout = std::chrono::milliseconds(2000)},
                           .read_conninfo = std::move(read_conninfo),
                           .replica_max_lag = std::chrono::milliseconds(0),
                           .sole_writer = sole_writer};
    auto store = PgChatStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  int64_t User(const std::string& name) {
    Wait<std::pair<Denial, int64_t>> wait;
    store_->CreateUser(name, "hash", 1, wait.reply());
    auto result = wait.get();
    EXPECT_TRUE(result.ok());
    return result.ok() ? result->second : 0;
  }
  int64_t Conversation(int64_t creator, std::vector<int64_t> members, bool group = true) {
    Wait<CreateConversationOutcome> wait;
    store_->CreateConversation(creator, std::move(members),
                               group ? std::optional<std::string>("g") : std::nullopt, group, 1,
                               wait.reply());
    auto result = wait.get();
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? result->conversation.id : 0;
  }
  Result<AppendOutcome> Send(int64_t conv, int64_t sender, std::string cid, std::string body) {
    Wait<AppendOutcome> wait;
    store_->Append(NewMessage{conv, sender, std::move(cid), "text", std::move(body), 5},
                   wait.reply());
    return wait.get();
  }
  // Registers alice, bob and carol for a case of chat_store_cases.h.
  testing::CaseUsers Users() {
    return {User("alice"), User("bob"), User("carol"),
            [this](const std::string& name) { return User(name); }};
  }

  std::string base_, dbname_, conninfo_;
  std::unique_ptr<PgChatStore> store_;
};

TEST_F(PgStoreTest, BinaryArraysReachTheServerIntact) {
  Admin admin(conninfo_);
  ASSERT_TRUE(admin.ok()) << admin.error();
  const std::vector<int64_t> ints = {1, -2, INT64_MAX, INT64_MIN, 0};
  const std::string strings[] = {"plain", "with \"quotes\", commas {braces}", "ünïcödé ✓", ""};
  const std::string* pointers[] = {&strings[0], &strings[1], &strings[2], &strings[3]};
  const std::string int_param = pg::Int8ArrayBinary(ints);
  const std::string text_param = pg::TextArrayBinary(pointers);
  const std::string empty_param = pg::Int8ArrayBinary({});
  const char* values[] = {int_param.data(), text_param.data(), empty_param.data()};
  const int lengths[] = {static_cast<int>(int_param.size()), static_cast<int>(text_param.size()),
                         static_cast<int>(empty_param.size())};
  const int formats[] = {1, 1, 1};
  PGresult* result = PQexecParams(admin.get(),
                                  "SELECT $1::int8[]::text, array_to_json($2::text[])::text, "
                                  "cardinality($3::int8[])",
                                  3, nullptr, values, lengths, formats, 0);
  ASSERT_EQ(PQresultStatus(result), PGRES_TUPLES_OK) << PQresultErrorMessage(result);
  EXPECT_STREQ(PQgetvalue(result, 0, 0), "{1,-2,9223372036854775807,-9223372036854775808,0}");
  EXPECT_STREQ(PQgetvalue(result, 0, 1),
               R"(["plain","with \"quotes\", commas {braces}","ünïcödé ✓",""])");
  EXPECT_STREQ(PQgetvalue(result, 0, 2), "0");
  std::vector<int64_t> parsed;
  EXPECT_TRUE(pg::ParseInt8Array(PQgetvalue(result, 0, 0), parsed));
  EXPECT_EQ(parsed, ints);
  PQclear(result);
  EXPECT_TRUE(pg::ParseInt8Array("{}", parsed));
  EXPECT_TRUE(parsed.empty());
  EXPECT_FALSE(pg::ParseInt8Array("{1,,2}", parsed));
  EXPECT_FALSE(pg::ParseInt8Array("1,2", parsed));
}

TEST_F(PgStoreTest, MigrationIsIdempotentAndSerializedAcrossConcurrentStarters) {
  // Four starters at once against the empty database: one migrates, the others wait for its
  // advisory lock and find the schema current.
  std::vector<std::thread> starters;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    starters.emplace_back([&] {
      Admin conn(conninfo_);
      if (!conn.ok() || !MigratePg(conn.get()).ok()) failures.fetch_add(1);
    });
  }
  for (auto& thread : starters) thread.join();
  EXPECT_EQ(failures.load(), 0);
  Admin admin(conninfo_);
  std::vector<std::string> versions;  // Every version the binary knows, each applied once.
  for (const PgMigration& migration : PgSchemaMigrations()) {
    versions.push_back(std::to_string(migration.version));
  }
  EXPECT_EQ(admin.Column("SELECT version FROM schema_version ORDER BY version"), versions);
  Open();  // And once more through the store.
  EXPECT_EQ(admin.One("SELECT count(*) FROM schema_version"), std::to_string(versions.size()));
}

TEST_F(PgStoreTest, RefusesANewerOrForeignSchema) {
  {
    Admin admin(conninfo_);
    ASSERT_TRUE(MigratePg(admin.get()).ok());
    admin.Column("INSERT INTO schema_version (version, description) VALUES (99, 'future')");
    Status status = MigratePg(admin.get());
    EXPECT_EQ(status.errc(), Errc::kSchemaTooNew) << status.ToString();
    admin.Column("DROP TABLE schema_version");
    status = MigratePg(admin.get());
    EXPECT_EQ(status.errc(), Errc::kSchemaForeign) << status.ToString();
  }
  PgStoreOptions options{.primary = {.conninfo = conninfo_}};
  auto store = PgChatStore::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("not ringcast's"), std::string::npos)
      << store.status().message();
}

TEST_F(PgStoreTest, OpenFailsWithAOneLineReasonWithoutThePassword) {
  PgStoreOptions options{
      .primary = {.conninfo = "postgres://someone:hunter2secret@127.0.0.1:1/nothing"}};
  auto store = PgChatStore::Open(options);
  ASSERT_FALSE(store.ok());
  const std::string message = store.status().message();
  EXPECT_EQ(message.find("hunter2secret"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message.find("cannot connect"), std::string::npos) << message;
  EXPECT_EQ(RedactConninfo("host=x password='a b' user=y"), "host=x password=*** user=y");
}

TEST_F(PgStoreTest, AppendIsGapFreeIdempotentAndAdmitsOnlyMembers) {
  Open();
  const int64_t a = User("alice"), b = User("bob"), c = User("carol");
  const int64_t conv = Conversation(a, {b});
  auto first = Send(conv, a, "c1", "hello");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->message.seq, 1);
  EXPECT_FALSE(first->duplicate);
  auto second = Send(conv, b, "c1", "same cid, other sender");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->message.seq, 2);
  auto again = Send(conv, a, "c1", "a resend");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->message.seq, 1);
  EXPECT_EQ(again->message.body, "hello");
  auto outsider = Send(conv, c, "x1", "let me in");
  ASSERT_TRUE(outsider.ok());
  EXPECT_EQ(outsider->denial, Denial::kForbidden);
  auto nowhere = Send(999999, a, "x2", "no such conversation");
  ASSERT_TRUE(nowhere.ok());
  EXPECT_EQ(nowhere->denial, Denial::kForbidden);
  EXPECT_EQ(Send(conv, a, "c2", "next")->message.seq, 3);
  Admin admin(conninfo_);
  EXPECT_EQ(admin.One("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM messages"), "1,2,3");
  // The sender has read its own messages.
  EXPECT_EQ(admin.One("SELECT read_seq || '/' || delivered_seq FROM users_conversations WHERE "
                      "user_id = " +
                      std::to_string(a)),
            "3/3");
}

TEST_F(PgStoreTest, OneBatchKeepsEveryRuleAndAnswersInOrder) {
  // One writer that waits 300 ms for a batch to fill: all of these land in one append_batch
  // statement.
  Open(/*writers=*/1, /*batch_max=*/256, /*batch_delay_us=*/300000);
  const int64_t a = User("alice"), b = User("bob"), c = User("carol");
  const int64_t one = Conversation(a, {b}), two = Conversation(b, {c});
  ASSERT_TRUE(Send(one, a, "old", "stored before").ok());
  struct Sent {
    int64_t conv, sender;
    std::string cid;
  };
  const std::vector<Sent> batch = {{one, a, "m1"},  {two, b, "m1"}, {one, a, "m1"}, {one, c, "out"},
                                   {one, a, "old"}, {two, c, "m2"}, {one, b, "m3"}};
  std::vector<std::promise<Result<AppendOutcome>>> replies(batch.size());
  std::vector<int> order;
  std::mutex order_mutex;
  for (size_t i = 0; i < batch.size(); ++i) {
    store_->Append(NewMessage{batch[i].conv, batch[i].sender, batch[i].cid, "text",
                              "body " + std::to_string(i), 7},
                   [&, i](Result<AppendOutcome> result) {
                     {
                       std::lock_guard lock(order_mutex);
                       order.push_back(static_cast<int>(i));
                     }
                     replies[i].set_value(std::move(result));
                   });
  }
  std::vector<Result<AppendOutcome>> out;
  for (auto& reply : replies) out.push_back(reply.get_future().get());
  for (auto& result : out) ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(store_->stats().max_batch, batch.size());
  EXPECT_EQ(out[0]->message.seq, 2);  // After "old".
  EXPECT_EQ(out[1]->message.seq, 1);
  EXPECT_TRUE(out[2]->duplicate);  // The same cid twice in one batch: stored once.
  EXPECT_EQ(out[2]->message.seq, 2);
  EXPECT_EQ(out[2]->message.body, "body 0");
  EXPECT_EQ(out[3]->denial, Denial::kForbidden);
  EXPECT_TRUE(out[4]->duplicate);
  EXPECT_EQ(out[4]->message.body, "stored before");
  EXPECT_EQ(out[4]->message.seq, 1);
  EXPECT_EQ(out[5]->message.seq, 2);
  EXPECT_EQ(out[6]->message.seq, 3);
  Admin admin(conninfo_);
  EXPECT_EQ(admin.One("SELECT count(*) FROM messages"), "5");
  EXPECT_EQ(admin.One("SELECT string_agg(id || ':' || last_seq, ',' ORDER BY id) FROM "
                      "conversations"),
            std::to_string(one) + ":3," + std::to_string(two) + ":2");
}

TEST_F(PgStoreTest, ABadMessageFailsAloneAndItsBatchNeighboursCommit) {
  Open(/*writers=*/1, /*batch_max=*/256, /*batch_delay_us=*/300000);
  const int64_t a = User("alice"), b = User("bob");
  const int64_t conv = Conversation(a, {b});
  std::vector<std::promise<Result<AppendOutcome>>> replies(5);
  for (int i = 0; i < 5; ++i) {
    // PostgreSQL's text cannot hold U+0000 (the protocol refuses it; here it is the store's
    // own guard): the statement fails, the batch is split, only that message fails.
    std::string body = i == 2 ? std::string("bad\0body", 8) : "fine " + std::to_string(i);
    store_->Append(
        NewMessage{conv, a, "c" + std::to_string(i), "text", body, 1},
        [&, i](Result<AppendOutcome> result) { replies[i].set_value(std::move(result)); });
  }
  std::vector<Result<AppendOutcome>> out;
  for (auto& reply : replies) out.push_back(reply.get_future().get());
  EXPECT_FALSE(out[2].ok());
  EXPECT_EQ(out[2].status().errc(), Errc::kConstraint) << out[2].status().ToString();
  std::vector<int64_t> seqs;
  for (int i : {0, 1, 3, 4}) {
    ASSERT_TRUE(out[i].ok()) << i << ": " << out[i].status().ToString();
    seqs.push_back(out[i]->message.seq);
  }
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(store_->stats().max_batch, 5u);
}

TEST_F(PgStoreTest, ConcurrentSendersGetEveryMessageOnceInSeqOrderPerConversation) {
  Open(/*writers=*/3, /*batch_max=*/64);
  std::vector<int64_t> users;
  for (int i = 0; i < 4; ++i) users.push_back(User("u" + std::to_string(i)));
  std::vector<int64_t> convs;
  for (int i = 0; i < 5; ++i)
    convs.push_back(Conversation(users[0], {users[1], users[2], users[3]}));
  constexpr int kPerThread = 500;
  std::mutex mutex;
  std::map<int64_t, std::vector<int64_t>> seqs_by_conv;  // In reply order.
  std::atomic<int> failures{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int64_t conv = convs[static_cast<size_t>(i) % convs.size()];
        store_->Append(
            NewMessage{conv, users[t], std::to_string(t) + "-" + std::to_string(i), "text", "x", 1},
            [&](Result<AppendOutcome> result) {
              if (!result.ok() || result->duplicate) {
                failures.fetch_add(1);
              } else {
                std::lock_guard lock(mutex);
                seqs_by_conv[result->message.conv].push_back(result->message.seq);
              }
              done.fetch_add(1);
            });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < 2000 && done.load() < 4 * kPerThread; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(done.load(), 4 * kPerThread);
  EXPECT_EQ(failures.load(), 0);
  for (const auto& [conv, seqs] : seqs_by_conv) {
    for (size_t i = 0; i < seqs.size(); ++i) {
      ASSERT_EQ(seqs[i], static_cast<int64_t>(i) + 1) << "conversation " << conv;
    }
  }
  EXPECT_GT(store_->stats().max_batch, 1u);  // Batching happened.
}

TEST_F(PgStoreTest, HistoryAndSyncPageByCountAndBytes) {
  Open();
  const int64_t a = User("alice"), b = User("bob"), c = User("carol");
  const int64_t conv = Conversation(a, {b});
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(Send(conv, a, "c" + std::to_string(i), std::string(1000, 'a' + i)).ok());
  }
  Wait<Page> page;
  store_->History(conv, b, 0, 0, PageLimit{.count = 4}, page.reply());
  auto newest = page.get();
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->messages.size(), 4u);
  EXPECT_EQ(newest->messages[0].seq, 10);
  EXPECT_TRUE(newest->more);
  Wait<Page> bytes;  // 2,500 bytes: two messages of ~1,100, the third starts within budget.
  store_->History(conv, b, 9, 0, PageLimit{.count = 50, .bytes = 2500}, bytes.reply());
  auto small = bytes.get();
  ASSERT_TRUE(small.ok());
  ASSERT_EQ(small->messages.size(), 3u);
  EXPECT_EQ(small->messages.back().seq, 6);
  EXPECT_TRUE(small->more);
  Wait<Page> oldest;
  store_->History(conv, b, 3, 0, PageLimit{}, oldest.reply());
  auto last = oldest.get();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->messages.size(), 2u);
  EXPECT_FALSE(last->more);
  Wait<Page> outsider;
  store_->History(conv, c, 0, 0, PageLimit{}, outsider.reply());
  EXPECT_EQ(outsider.get()->denial, Denial::kForbidden);
  Wait<Page> missing;
  store_->History(424242, b, 0, 0, PageLimit{}, missing.reply());
  EXPECT_EQ(missing.get()->denial, Denial::kNotFound);

  const int64_t other = Conversation(b, {c});
  ASSERT_TRUE(Send(other, c, "o1", "short").ok());
  Wait<std::vector<SyncConversation>> sync;
  store_->Sync(b, {{conv, 7}, {other, 0}, {999, 0}}, PageLimit{.count = 2}, sync.reply());
  auto synced = sync.get();
  ASSERT_TRUE(synced.ok()) << synced.status().ToString();
  ASSERT_EQ(synced->size(), 2u);  // Not a member of 999: left out.
  EXPECT_EQ((*synced)[0].conv, conv);
  ASSERT_EQ((*synced)[0].messages.size(), 2u);
  EXPECT_EQ((*synced)[0].messages[0].seq, 8);
  EXPECT_TRUE((*synced)[0].more);
  EXPECT_EQ((*synced)[0].last_seq, 10);
  EXPECT_EQ((*synced)[0].members.size(), 2u);
  EXPECT_EQ((*synced)[1].messages.size(), 1u);
  EXPECT_FALSE((*synced)[1].more);
  Wait<std::vector<SyncConversation>> budget;  // Everything, 1,500 bytes over the whole answer.
  store_->Sync(b, {}, PageLimit{.count = 50, .bytes = 1500}, budget.reply());
  auto all = budget.get();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].messages.size(), 2u);  // 1,100 spent, the second starts within budget.
  EXPECT_TRUE((*all)[0].more);
  EXPECT_TRUE((*all)[1].messages.empty());
  EXPECT_TRUE((*all)[1].more);
}

// chat_store_cases.h, as SqliteChatStoreTest runs them.
// The value of `sample` (a line of the text format, without its value) in the store's metrics.
double MetricValue(const ChatStore& store, const std::string& sample) {
  MetricSet metrics;
  store.CollectMetrics(metrics);
  const std::string text = metrics.Render();
  const size_t at = text.find("\n" + sample + " ");
  return at == std::string::npos ? -1 : std::strtod(text.c_str() + at + sample.size() + 2, nullptr);
}

// The primary itself as the "replica": it has everything, so reads are answered there, until
// the node knows of a seq it lacks (NoteCommitted, as after another node's message): then the
// primary answers, with the same result.
TEST_F(PgStoreTest, ReplicaReadsAnswerWhenFreshAndFallBackWhenNot) {
  Open(2, 256, 0, conninfo_);
  const int64_t a = User("alice"), b = User("bob");
  const int64_t conv = Conversation(a, {b});
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(Send(conv, a, "c" + std::to_string(i), "m").ok());
  auto history = [&] {
    Wait<Page> page;
    store_->History(conv, b, 0, 0, PageLimit{.count = 10}, page.reply());
    auto result = page.get();
    EXPECT_TRUE(result.ok());
    return result.ok() ? result->messages.size() : 0u;
  };
  EXPECT_EQ(history(), 3u);
  EXPECT_EQ(MetricValue(*store_, "ringcast_db_replica_reads_total"), 1);
  store_->NoteCommitted(conv, 4);  // A seq the database does not have yet.
  EXPECT_EQ(history(), 3u);
  EXPECT_EQ(MetricValue(*store_, "ringcast_db_replica_reads_total"), 1);
  EXPECT_EQ(MetricValue(*store_, "ringcast_db_replica_fallbacks_total{reason=\"stale\"}"), 1);
  ASSERT_TRUE(Send(conv, a, "c4", "m").ok());
  EXPECT_EQ(history(), 4u);
  EXPECT_EQ(MetricValue(*store_, "ringcast_db_replica_reads_total"), 2);
  // A sync after a seq the replica lacks goes to the primary too.
  Wait<std::vector<SyncConversation>> sync;
  store_->Sync(b, {SyncAsk{.conv = conv, .after = 9}}, PageLimit{.count = 10}, sync.reply());
  ASSERT_TRUE(sync.get().ok());
  EXPECT_EQ(MetricValue(*store_, "ringcast_db_replica_fallbacks_total{reason=\"stale\"}"), 2);
}

// Cluster mode (other nodes commit too): what this node saw committed is not what every client
// was acked, so only a read that names what its client has seen may try the replica (again the
// primary itself); the others go to the primary at once (reason "unnamed").
TEST_F(PgStoreTest, InClusterModeOnlyReadsNamingWhatTheClientSawTryTheReplica) {
  Open(2, 256, 0, conninfo_, /*sole_writer=*/false);
  const int64_t a = User("alice"), b = User("bob");
  const int64_t conv = Conversation(a, {b});
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(Send(conv, a, "c" + std::to_string(i), "m").ok());
  auto history = [&](int64_t seen) {
    Wait<Page> page;
    store_->History(conv, b, 0, seen, PageLimit{.count = 10}, page.reply());
    auto result = page.get();
    EXPECT_TRUE(result.ok());
    return result.ok() ? result->messages.size() : 0u;
  };
  auto metric = [&](const std::string& reason) {
    return MetricValue(*store_, "ringcast_db_replica_fallbacks_total{reason=\"" + reason + "\"}");
  };
  EXPECT_EQ(history(0), 3u);
  EXPECT_EQ(MetricValue(*store_, "ringcast_db_replica_reads_total"), 0);
  EXPECT_EQ(metric("unnamed"), 1);
  EXPECT_EQ(history(3), 3u);
  EXPECT_EQ(MetricValue(*store_, "ringcast_db_replica_reads_total"), 1);
  // Named beyond what the replica holds (the client was acked seq 4 through another node).
  EXPECT_EQ(history(4), 3u);
  EXPECT_EQ(metric("stale"), 1);
  Wait<ThreadPage> thread;
  store_->Thread(conv, b, 1, 0, 0, PageLimit{}, thread.reply());
  ASSERT_TRUE(thread.get().ok());
  EXPECT_EQ(metric("unnamed"), 2);
  // A sync's asks name what the client has seen; "everything" and lists name nothing.
  Wait<std::vector<SyncConversation>> asked, all;
  store_->Sync(b, {SyncAsk{.conv = conv, .after = 2}}, PageLimit{.count = 10}, asked.reply());
  ASSERT_TRUE(asked.get().ok());
  EXPECT_EQ(MetricValue(*store_, "ringcast_db_replica_reads_total"), 2);
  store_->Sync(b, {}, PageLimit{.count = 10}, all.reply());
  ASSERT_TRUE(all.get().ok());
  Wait<std::vector<ConversationSummary>> list;
  store_->ListConversations(b, list.reply());
  ASSERT_TRUE(list.get().ok());
  EXPECT_EQ(metric("unnamed"), 4);
  EXPECT_EQ(MetricValue(*store_, "ringcast_db_replica_reads_total"), 2);
}

// A replica that refuses connections: the store opens all the same and its reads go to the
// primary.
TEST_F(PgStoreTest, AReplicaDownAtStartSendsReadsToThePrimary) {
  Open(2, 256, 0, "postgresql://ringcast@127.0.0.1:1/nothing?connect_timeout=1");
  const int64_t a = User("alice"), b = User("bob");
  const int64_t conv = Conversation(a, {b});
  ASSERT_TRUE(Send(conv, a, "c1", "m").ok());
  Wait<Page> page;
  store_->History(conv, b, 0, 0, PageLimit{.count = 10}, page.reply());
  auto result = page.get();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->messages.size(), 1u);
  EXPECT_EQ(MetricValue(*store_, "ringcast_db_replica_up"), 0);
  EXPECT_EQ(MetricValue(*store_, "ringcast_db_replica_fallbacks_total{reason=\"unusable\"}"), 1);
  EXPECT_TRUE(store_->Healthy());
}

TEST_F(PgStoreTest, FindUsersById) {
  Open();
  testing::ExpectFindUsersById(*store_, Users());
}

// chat_store_cases.h, as SqliteChatStoreTest runs them, and the index.
TEST_F(PgStoreTest, SearchUsersByPrefixIgnoringCase) {
  Open();
  testing::ExpectSearchUsersByPrefixIgnoringCase(*store_, Users());

  // Served by the version-3 index whatever the database's collation, in its order (a table this
  // small would be scanned, or bitmap-scanned and sorted: both are priced out).
  Admin admin(conninfo_);
  ASSERT_TRUE(admin.ok()) << admin.error();
  admin.Column("SET enable_seqscan = off");
  admin.Column("SET enable_bitmapscan = off");
  const std::vector<std::string> plan = admin.Column(
      "EXPLAIN SELECT id, username FROM users WHERE lower(username) COLLATE \"C\" >= 'al' "
      "AND lower(username) COLLATE \"C\" < 'am' ORDER BY lower(username) COLLATE \"C\" "
      "LIMIT 20");
  std::string text;
  for (const std::string& line : plan) text += line + "\n";
  EXPECT_NE(text.find("Index Scan using users_username_prefix"), std::string::npos) << text;
  EXPECT_EQ(text.find("Sort"), std::string::npos) << text;
}

TEST_F(PgStoreTest, GroupRolesAndSettings) {
  Open();
  testing::ExpectGroupRolesAndSettings(*store_, Users());
}

TEST_F(PgStoreTest, MembershipAndWatermarks) {
  Open();
  const int64_t a = User("alice"), b = User("bob"), c = User("carol");
  Wait<std::pair<Denial, int64_t>> taken;
  store_->CreateUser("ALICE", "h", 1, taken.reply());
  EXPECT_EQ(taken.get()->first, Denial::kTaken);
  Wait<std::optional<UserLogin>> login;
  store_->FindLogin("Alice", login.reply());
  EXPECT_EQ(login.get()->value().id, a);

  const int64_t direct = Conversation(a, {b}, /*group=*/false);
  Wait<CreateConversationOutcome> again;
  store_->CreateConversation(b, {a}, std::nullopt, false, 2, again.reply());
  auto same = again.get();
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->created);
  EXPECT_EQ(same->conversation.id, direct);
  EXPECT_EQ(same->conversation.members.size(), 2u);
  Wait<CreateConversationOutcome> unknown;
  store_->CreateConversation(a, {777}, std::nullopt, true, 2, unknown.reply());
  EXPECT_EQ(unknown.get()->denial, Denial::kUnknownUser);

  const int64_t group = Conversation(a, {b});
  ASSERT_TRUE(Send(group, a, "g1", "x").ok());
  Wait<MembershipOutcome> add;
  store_->AddMembers(group, a, {c}, 10, 3, add.reply());
  auto added = add.get();
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_TRUE(added->changed);
  ASSERT_EQ(added->conversation.members.size(), 3u);
  EXPECT_EQ(added->conversation.members[2].read, 1);  // A newcomer starts with history read.
  Wait<MembershipOutcome> add_again;
  store_->AddMembers(group, a, {c}, 10, 3, add_again.reply());
  EXPECT_FALSE(add_again.get()->changed);
  Wait<MembershipOutcome> too_many;
  store_->AddMembers(group, a, {User("dave")}, 3, 3, too_many.reply());
  EXPECT_EQ(too_many.get()->denial, Denial::kTooLarge);
  Wait<MembershipOutcome> not_group;
  store_->AddMembers(direct, a, {c}, 10, 3, not_group.reply());
  EXPECT_EQ(not_group.get()->denial, Denial::kNotGroup);
  Wait<MembershipOutcome> remove;
  store_->RemoveMember(group, a, c, 4, remove.reply());
  auto removed = remove.get();
  EXPECT_TRUE(removed->changed);
  EXPECT_EQ(removed->conversation.members.size(), 2u);
  Wait<MembershipOutcome> outsider;
  store_->RemoveMember(group, c, a, 4, outsider.reply());
  EXPECT_EQ(outsider.get()->denial, Denial::kForbidden);
  Wait<MembershipOutcome> by_member;
  store_->RemoveMember(group, b, a, 4, by_member.reply());
  EXPECT_EQ(by_member.get()->denial, Denial::kOwnerProtected) << "the creator owns the group";
  ASSERT_EQ(removed->system.size(), 1u);
  EXPECT_EQ(removed->system[0].seq, 3);
  EXPECT_EQ(removed->system[0].body, R"({"action":"removed","actor":)" + std::to_string(a) +
                                         R"(,"users":[)" + std::to_string(c) + "]}");

  ASSERT_TRUE(Send(group, a, "g2", "y").ok());
  Wait<WatermarkOutcome> mark;
  // Clamped to last_seq: g1, the system entries of carol's addition and removal, g2.
  store_->UpdateWatermarks(group, b, 0, 99, mark.reply());
  auto marked = mark.get();
  EXPECT_EQ(marked->read, 4);
  EXPECT_EQ(marked->delivered, 4);
  EXPECT_TRUE(marked->read_moved);
  Wait<WatermarkOutcome> back;
  store_->UpdateWatermarks(group, b, 1, 1, back.reply());  // Never backwards.
  auto unmoved = back.get();
  EXPECT_EQ(unmoved->read, 4);
  EXPECT_FALSE(unmoved->read_moved || unmoved->delivered_moved);

  Wait<std::vector<ConversationSummary>> list;
  store_->ListConversations(a, list.reply());
  auto summaries = list.get();
  ASSERT_TRUE(summaries.ok());
  ASSERT_EQ(summaries->size(), 2u);
  EXPECT_EQ((*summaries)[0].id, group);  // Newest activity first.
  EXPECT_EQ((*summaries)[0].last_message->body, "y");
  Wait<SessionStart> start;
  store_->StartSession(a, start.reply());
  auto session = start.get();
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(session->conversations.size(), 2u);
  EXPECT_EQ(session->contacts.size(), 1u);  // bob (carol left).

  Wait<bool> revoke;
  store_->RevokeToken("jti-1", INT64_MAX / 2, revoke.reply());
  ASSERT_TRUE(revoke.get().ok());
  Wait<std::vector<RevokedToken>> revoked;
  store_->LoadRevoked(0, revoked.reply());
  EXPECT_EQ(revoked.get()->size(), 1u);
}

TEST_F(PgStoreTest, ReadRangeAndLastSeqsServeGapFill) {
  Open();
  testing::ExpectReadRangeAndLastSeqsServeGapFill(*store_, Users());
}

TEST_F(PgStoreTest, TheFirstSecretKeptIsTheOneEveryStoreGets) {
  PgStoreOptions first{.primary = {.conninfo = conninfo_},
                       .secret_candidate = std::string(64, 'a')};
  auto one = PgChatStore::Open(first);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ((*one)->shared_secret(), std::string(64, 'a'));
  PgStoreOptions second{.primary = {.conninfo = conninfo_},
                        .secret_candidate = std::string(64, 'b')};
  auto two = PgChatStore::Open(second);
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ((*two)->shared_secret(), std::string(64, 'a'));
  (*one)->Stop(std::chrono::milliseconds::max());
  (*two)->Stop(std::chrono::milliseconds::max());
}

// The sweep of orphan uploads (pg_upload_store.cc): unattached uploads in the range go, oldest
// first; a row another transaction holds (here FOR KEY SHARE, what an append's foreign-key
// check takes; or another node's sweep) is skipped, not waited for; hashes still named stay.
TEST_F(PgStoreTest, OrphanUploadsAreDeletedSkippingLockedRows) {
  Open();
  const int64_t alice = User("alice"), bob = User("bob");
  const int64_t conv = Conversation(alice, {bob}, false);
  auto upload = [&](const std::string& id, const std::string& sha, int64_t created,
                    const std::string& thumb = "") {
    testing::AddUpload(*store_, id, alice, "text/plain", sha, created, thumb);
  };
  upload("attached", "aa", 100);
  upload("twin", "aa", 110);
  upload("held", "ee", 115);
  upload("image", "bb", 120, "cc");
  upload("late", "dd", 500);
  {
    Wait<AppendOutcome> wait;
    NewMessage message{conv, alice, "c1", "text", "x", 5};
    message.attachment_ids = {"attached"};
    store_->Append(std::move(message), wait.reply());
    ASSERT_TRUE(wait.get().ok());
  }
  Admin holder(conninfo_);
  ASSERT_TRUE(holder.ok());
  holder.Column("BEGIN");
  holder.Column("SELECT id FROM uploads WHERE id = 'held' FOR KEY SHARE");
  Wait<std::vector<UploadRecord>> swept;
  store_->DeleteOrphanUploads(0, 400, 10, swept.reply());
  auto deleted = swept.get();
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  std::vector<std::string> ids;
  for (const UploadRecord& record : *deleted) ids.push_back(record.id);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"image", "twin"}));
  holder.Column("COMMIT");
  Wait<std::vector<std::string>> files;
  store_->UnreferencedFiles({"aa", "bb", "cc", "dd", "ee"}, files.reply());
  auto unreferenced = files.get();
  ASSERT_TRUE(unreferenced.ok());
  std::sort(unreferenced->begin(), unreferenced->end());
  EXPECT_EQ(*unreferenced, (std::vector<std::string>{"bb", "cc"}));
  Wait<std::vector<UploadRecord>> again;
  store_->DeleteOrphanUploads(0, 400, 10, again.reply());
  auto second = again.get();
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u);  // Released: the next pass takes it.
  EXPECT_EQ((*second)[0].id, "held");
}

// rc_search_messages (schema v15) serves a member of more than 1,000 conversations by one
// statement over the words rather than a probe per conversation: the same rules hold on both
// paths (plpgsql plans a statement only when it first runs, so each path must run here); the
// checks are chat_store_cases.h's, as on SQLite.
TEST_F(PgStoreTest, SearchOfMembersOfFewAndOfManyConversations) {
  Open();
  const int64_t alice = User("alice"), carol = User("carol");
  Admin admin(conninfo_);
  ASSERT_TRUE(admin.ok()) << admin.error();
  // Conversations 1 … 1005 are alice's, 1006 carol's; 10, 20, … hold the needle, 100, 200, …
  // twice; carol's holds it too, and alice must never find it.
  const std::string fill =
      "INSERT INTO conversations(id, name, is_group, created_at) "
      "SELECT c, 'g', true, 1 FROM generate_series(1, 1006) c;"
      "INSERT INTO users_conversations(conversation_id, user_id, joined_at) "
      "SELECT c, CASE WHEN c = 1006 THEN " +
      std::to_string(carol) + " ELSE " + std::to_string(alice) +
      " END, 1 FROM generate_series(1, 1006) c;"
      "INSERT INTO messages(conversation_id, seq, sender_id, kind, body, sent_at, client_msg_id) "
      "SELECT c, 1, (SELECT user_id FROM users_conversations WHERE conversation_id = c), 'text', "
      "CASE WHEN c = 1006 THEN 'needle' WHEN c % 100 = 0 THEN 'needle needle hay' "
      "WHEN c % 10 = 0 THEN 'needle hay' ELSE 'hay' END, c, 'cid' || c "
      "FROM generate_series(1, 1006) c;"
      "SELECT setval(pg_get_serial_sequence('conversations', 'id'), 1006);";
  admin.Column(fill);
  testing::ExpectSearchOfManyConversations(*store_, alice, carol);
}

// chat_store_cases.h, as rc_change_group (schema v16) applies its rules.
TEST_F(PgStoreTest, AGroupAvatarIsAnAdminsImageThatTheMembersMayRead) {
  Open();
  testing::ExpectGroupAvatarIsAnAdminsImageThatTheMembersMayRead(*store_, Users());
}

}  // namespace
}  // namespace ringcast::storage
