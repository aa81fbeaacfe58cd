// RedisBus against a real redis-server (Debian's), started by the test on a free loopback port.
#include "core/cluster/redis_bus.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/cluster/redis_bus_set.h"
#include "tests/unit/support/temp_dir.h"

namespace ringcast::cluster {
namespace {

using namespace std::chrono_literals;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t length = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  close(fd);
  return ntohs(addr.sin_port);
}

// A throwaway redis-server: no persistence, its own directory, killed by the destructor.
class RedisProcess {
 public:
  // extra: more redis-server options (--replicaof host port). sentinel_config: run
  // redis-sentinel instead, with this configuration.
  explicit RedisProcess(std::vector<std::string> extra = {}, std::string sentinel_config = {})
      : port_(FreePort()), extra_(std::move(extra)), sentinel_config_(std::move(sentinel_config)) {
    Start();
  }
  ~RedisProcess() { Stop(); }

  void Start() {
    const std::string port = std::to_string(port_);
    // Its start-up banner and warnings go to its own log, not the test's output.
    const std::string log = dir_ + "/redis.log";
    std::vector<std::string> args = {
        "redis-server", "--port", port, "--bind",     "127.0.0.1", "--save",    "", "--appendonly",
        "no",           "--dir",  dir_, "--loglevel", "warning",   "--logfile", log};
    const char* binary = "/usr/bin/redis-server";
    if (!sentinel_config_.empty()) {
      const std::string config = dir_ + "/sentinel.conf";
      std::FILE* file = std::fopen(config.c_str(), "w");
      std::fprintf(file, "port %s\nbind 127.0.0.1\ndir %s\nlogfile %s\n%s\n", port.c_str(),
                   dir_.c_str(), log.c_str(), sentinel_config_.c_str());
      std::fclose(file);
      binary = "/usr/bin/redis-sentinel";
      args = {"redis-sentinel", config};
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(binary, argv.data());
      _exit(127);
    }
    // Ready when it accepts connections.
    for (int attempt = 0; attempt < 200; ++attempt) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(uint16_t(port_));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      close(fd);
      if (up) return;
      std::this_thread::sleep_for(25ms);
    }
    ADD_FAILURE() << "redis-server did not start on port " << port_;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // Runs redis-cli against it; returns its exit status.
  int Cli(const std::string& args) {
    return std::system(
        ("redis-cli -p " + std::to_string(port_) + " " + args + " >/dev/null").c_str());
  }

  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

  // redis-cli's output (stdout, trimmed).
  std::string CliOutput(const std::string& args) {
    std::string out;
    std::FILE* pipe =
        popen(("redis-cli -p " + std::to_string(port_) + " " + args + " 2>/dev/null").c_str(), "r");
    char buffer[256];
    while (pipe != nullptr && std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
    if (pipe != nullptr) pclose(pipe);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }

 private:
  int port_;
  std::vector<std::string> extra_;
  std::string sentinel_config_;
  ringcast::testing::TempDir scratch_{"ringcast-redis-"};
  std::string dir_ = scratch_.path();
  pid_t pid_ = -1;
};

// Records what the bus reports, for the test thread to wait on. Recursive: the accessors run
// inside WaitFor's predicates too.
class Recorder : public RedisBusListener {
 public:
  void OnPublication(std::string_view channel, std::string_view payload) override {
    std::lock_guard lock(mutex_);
    received_[std::string(channel)].emplace_back(payload);
    changed_.notify_all();
  }
  void OnMaybeMissed(std::string_view channel) override {
    std::lock_guard lock(mutex_);
    ++missed_[std::string(channel)];
    changed_.notify_all();
  }
  void OnConnected() override {
    if (on_connected) on_connected();
    std::lock_guard lock(mutex_);
    ++connected_;
    changed_.notify_all();
  }

  // Set before the bus starts; runs on the bus thread.
  std::function<void()> on_connected;

  bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, done);
  }
  size_t Received(const std::string& channel) {
    std::lock_guard lock(mutex_);
    return received_[channel].size();
  }
  std::vector<std::string> Messages(const std::string& channel) {
    std::lock_guard lock(mutex_);
    return received_[channel];
  }
  int Missed(const std::string& channel) {
    std::lock_guard lock(mutex_);
    return missed_[channel];
  }
  int Connected() {
    std::lock_guard lock(mutex_);
    return connected_;
  }

 private:
  std::recursive_mutex mutex_;
  std::condition_variable_any changed_;
  std::map<std::string, std::vector<std::string>> received_;
  std::map<std::string, int> missed_;
  int connected_ = 0;
};

// The replies of calls, in the order they came, for the test thread to wait on.
class Replies {
 public:
  RedisCallback Expect() {
    return [this](RedisReply reply) {
      std::lock_guard lock(mutex_);
      replies_.push_back(std::move(reply));
      changed_.notify_all();
    };
  }
  bool WaitFor(size_t count, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return replies_.size() >= count; });
  }
  RedisReply At(size_t i) {
    std::lock_guard lock(mutex_);
    return replies_.at(i);
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<RedisReply> replies_;
};

// For conditions on a bus's stats(), which notify no Recorder (its WaitFor would see them
// only at its next event or its time limit): polls.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::unique_ptr<RedisBus> StartBus(const std::string& url, const std::string& node,
                                   Recorder& recorder, RedisBusOptions options = {}) {
  std::string error;
  auto address = RedisAddress::Parse(url, &error);
  EXPECT_TRUE(address) << error;
  options.address = *address;
  options.node_id = node;
  auto bus = RedisBus::Start(std::move(options), recorder, &error);
  EXPECT_TRUE(bus) << error;
  return bus;
}

// Nodes a and b on one throwaway Redis, b subscribed to "ch" and told so (its first Missed) and a
// connected: the start of the tests of what crosses between two nodes.
struct TwoNodes {
  explicit TwoNodes(RedisBusOptions a_options = {}) {
    a = StartBus(redis.url(), "a", at_a, std::move(a_options));
    b = StartBus(redis.url(), "b", at_b);
    b->Subscribe("ch");
    EXPECT_TRUE(at_b.WaitFor([&] { return at_b.Missed("ch") == 1; }));
    EXPECT_TRUE(Eventually([&] { return a->stats().connected; }));
  }

  RedisProcess redis;
  Recorder at_a, at_b;
  std::unique_ptr<RedisBus> a, b;
};

TEST(RedisAddressTest, ParsesUrls) {
  std::string error;
  auto a = RedisAddress::Parse("redis://127.0.0.1:6390/2", &error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 6390);
  EXPECT_EQ(a->db, 2);
  auto b = RedisAddress::Parse("redis://:secret@cache.internal", &error);
  ASSERT_TRUE(b) << error;
  EXPECT_EQ(b->host, "cache.internal");
  EXPECT_EQ(b->port, 6379);
  EXPECT_EQ(b->password, "secret");
  EXPECT_EQ(b->ToString().find("secret"), std::string::npos);
  auto c = RedisAddress::Parse("redis://user:pw@[::1]:7000", &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->user, "user");
  EXPECT_EQ(c->port, 7000);
  for (const char* bad : {"http://x:1", "redis://", "redis://h:0", "redis://h:99999",
                          "redis://h:1/x", "redis://h:port"}) {
    EXPECT_FALSE(RedisAddress::Parse(bad, &error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

TEST(RedisAddressTest, ParsesSentinelUrls) {
  std::string error;
  auto a = RedisAddress::Parse("redis+sentinel://127.0.0.1:26390,[::1],s3.internal:26400/chat/3",
                               &error);
  ASSERT_TRUE(a) << error;
  ASSERT_TRUE(a->sentinel());
  ASSERT_EQ(a->sentinels.size(), 3u);
  EXPECT_EQ(a->sentinels[0], (RedisEndpoint{"127.0.0.1", 26390}));
  EXPECT_EQ(a->sentinels[1], (RedisEndpoint{"::1", 26379}));
  EXPECT_EQ(a->sentinels[2], (RedisEndpoint{"s3.internal", 26400}));
  EXPECT_EQ(a->master_name, "chat");
  EXPECT_EQ(a->db, 3);
  EXPECT_TRUE(a->host.empty());
  EXPECT_TRUE(a->password.empty());
  EXPECT_EQ(a->ToString(), "redis+sentinel://127.0.0.1:26390,[::1]:26379,s3.internal:26400/chat/3");

  // The master's ACL user and password, the sentinels' in the query, %-decoded.
  auto b = RedisAddress::Parse(
      "redis+sentinel://app:p%40ss%3Fw%2Fd@h1:1,h2:2/mymaster?sentinel_user=sen&"
      "sentinel_password=s%26cret",
      &error);
  ASSERT_TRUE(b) << error;
  EXPECT_EQ(b->user, "app");
  EXPECT_EQ(b->password, "p@ss?w/d");
  EXPECT_EQ(b->sentinel_user, "sen");
  EXPECT_EQ(b->sentinel_password, "s&cret");
  EXPECT_EQ(b->master_name, "mymaster");
  EXPECT_EQ(b->db, 0);
  const std::string shown = b->ToString();
  EXPECT_EQ(shown.find("p@ss"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("cret"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("app"), std::string::npos) << shown;

  auto c = RedisAddress::Parse("redis+sentinel://:pw@h/m?sentinel_password=x", &error);
  ASSERT_TRUE(c) << error;
  EXPECT_TRUE(c->user.empty());
  EXPECT_EQ(c->password, "pw");
  EXPECT_EQ(c->sentinel_password, "x");
  EXPECT_TRUE(c->sentinel_user.empty());

  for (const char* bad :
       {"redis+sentinel://", "redis+sentinel://h:1", "redis+sentinel://h:1/", "redis+sentinel:///m",
        "redis+sentinel://h:1,/m", "redis+sentinel://h:0/m", "redis+sentinel://h:1/m/x",
        "redis+sentinel://h:1/m?password=x", "redis+sentinel://h:1/m?sentinel_password=%4",
        "redis+sentinel://u:%zz@h:1/m", "redis+sentinel://[::1/m"}) {
    error.clear();
    EXPECT_FALSE(RedisAddress::Parse(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(RedisAddressTest, ParsesLists) {
  std::string error;
  auto one = ParseRedisList("redis://a:1", &error);
  ASSERT_TRUE(one) << error;
  ASSERT_EQ(one->size(), 1u);
  // Split only where a scheme follows the comma: a sentinel URL keeps its host list.
  auto three =
      ParseRedisList("redis://:p,w@a:1/2,redis+sentinel://s1:5,s2:6/m,redis://b:2", &error);
  ASSERT_TRUE(three) << error;
  ASSERT_EQ(three->size(), 3u);
  EXPECT_EQ((*three)[0].password, "p,w");
  EXPECT_EQ((*three)[0].db, 2);
  EXPECT_EQ((*three)[1].sentinels.size(), 2u);
  EXPECT_EQ((*three)[1].master_name, "m");
  EXPECT_EQ((*three)[2].host, "b");
  for (const char* bad :
       {"", "redis://a:1,redis://a:1/3", "redis://a:1,http://b", "redis://a:1,redis://",
        "redis+sentinel://s:1/m,redis+sentinel://t:2/m"}) {
    error.clear();
    EXPECT_FALSE(ParseRedisList(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(RedisAddressTest, ChannelsHashTheSameEverywhere) {
  // Every node of a cluster, of any version, must place a channel on the same instance: the
  // hash (FNV-1a) is pinned here.
  EXPECT_EQ(InstanceOf("anything", 1), 0u);
  EXPECT_EQ(InstanceOf("rc:all", 2), size_t(0xeb983d87d30e6a2bull % 2));
  std::map<size_t, int> spread;
  for (int conv = 1; conv <= 1000; ++conv)
    ++spread[InstanceOf("rc:conv:" + std::to_string(conv), 3)];
  ASSERT_EQ(spread.size(), 3u);
  for (const auto& [instance, count] : spread) EXPECT_GT(count, 250) << instance;
}

TEST(RedisAddressTest, NodeIds) {
  EXPECT_TRUE(ValidNodeId("node-1.a_b"));
  EXPECT_FALSE(ValidNodeId(""));
  EXPECT_FALSE(ValidNodeId("a\nb"));
  EXPECT_FALSE(ValidNodeId(std::string(65, 'a')));
}

TEST(RedisBusTest, DeliversInOrderToOtherNodesOnlyAndPipelines) {
  TwoNodes nodes;
  auto& [redis, at_a, at_b, a, b] = nodes;
  a->Subscribe("ch");
  ASSERT_TRUE(at_a.WaitFor([&] { return at_a.Missed("ch") == 1; }));

  constexpr int kCount = 2000;
  for (int i = 0; i < kCount; ++i) a->Publish("ch", "m" + std::to_string(i));
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Received("ch") == kCount; }));
  std::vector<std::string> got = at_b.Messages("ch");
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(got[size_t(i)], "m" + std::to_string(i));
  // A node never hears its own publications (b's last one proves a's have all arrived).
  b->Publish("ch", "from-b");
  ASSERT_TRUE(at_a.WaitFor([&] { return at_a.Received("ch") == 1; }));
  EXPECT_EQ(at_a.Messages("ch")[0], "from-b");

  RedisBusStats stats = a->stats();
  EXPECT_EQ(stats.published, uint64_t{kCount});
  EXPECT_EQ(stats.dropped, 0u);
  EXPECT_TRUE(stats.connected);
  // Many PUBLISHes per write: what one loop turn gathers goes out together.
  EXPECT_LT(stats.writes, stats.published);
}

TEST(RedisBusTest, UnsubscribedChannelsStopAndResubscribingSaysMissed) {
  RedisProcess redis;
  Recorder at_a, at_b;
  auto a = StartBus(redis.url(), "a", at_a);
  auto b = StartBus(redis.url(), "b", at_b);
  b->Subscribe("x");
  b->Subscribe("x");  // Counted: one Unsubscribe leaves it subscribed.
  b->Subscribe("y");
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Missed("x") == 1 && at_b.Missed("y") == 1; }));
  b->Unsubscribe("x");
  a->Publish("x", "1");
  a->Publish("y", "1");
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Received("y") == 1; }));
  EXPECT_EQ(at_b.Received("x"), 1u);

  b->Unsubscribe("x");
  // Redis keeps one subscriber's order across channels: y's second message arriving proves x's
  // was not sent to b.
  std::this_thread::sleep_for(200ms);  // Let the UNSUBSCRIBE reach Redis first.
  a->Publish("x", "2");
  a->Publish("y", "2");
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Received("y") == 2; }));
  EXPECT_EQ(at_b.Received("x"), 1u);
  EXPECT_EQ(b->stats().subscribed, 1u);
}

TEST(RedisBusTest, RecoversFromARedisRestartAndSaysWhatMayBeMissed) {
  TwoNodes nodes(RedisBusOptions{.max_queued = 4});
  auto& [redis, at_a, at_b, a, b] = nodes;

  redis.Stop();
  // Until the bus has read the end of its publisher's connection it still writes to it (the
  // next test), so wait for that first: a call is answered unavailable only once the
  // connection is closed (written before, it is failed by the close; made after, at once).
  Replies replies;
  a->Call({"PING"}, replies.Expect());
  ASSERT_TRUE(replies.WaitFor(1));
  ASSERT_EQ(replies.At(0).type, RedisReply::Type::kUnavailable);
  const RedisBusStats down = a->stats();
  EXPECT_FALSE(down.connected);
  // While Redis is away, publications wait (up to max_queued) or are dropped, never block.
  for (int i = 0; i < 10; ++i) a->Publish("ch", "during");
  ASSERT_TRUE(Eventually([&] { return a->stats().dropped == down.dropped + 6; }));
  EXPECT_EQ(a->stats().published, down.published);
  redis.Start();

  // b's subscription is renewed, and b is told it may have missed publications.
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Missed("ch") >= 2; }, 15s));
  ASSERT_TRUE(Eventually([&] { return a->stats().connected && b->stats().connected; }, 15s));
  a->Publish("ch", "after");
  ASSERT_TRUE(at_b.WaitFor([&] {
    for (const std::string& m : at_b.Messages("ch")) {
      if (m == "after") return true;
    }
    return false;
  }));
  // The 4 held back were written once Redis was back; the 6 others, never.
  EXPECT_EQ(a->stats().dropped, down.dropped + 6);
  EXPECT_GE(a->stats().published, down.published + 4 + 1);
  EXPECT_GE(b->stats().reconnects, 1u);
}

TEST(RedisBusTest, PublicationsWrittenToAConnectionThatThenDiesAreCountedUnconfirmed) {
  TwoNodes nodes;
  auto& [redis, at_a, at_b, a, b] = nodes;
  // Redis keeps the connections but stops reading commands: PUBLISHes are written (the
  // kernel takes them) and wait for a reply that never comes, as with a Redis that has died
  // and whose end the bus has not read yet.
  ASSERT_EQ(redis.Cli("CLIENT PAUSE 10000 ALL"), 0);
  const RedisBusStats before = a->stats();
  for (int i = 0; i < 3; ++i) a->Publish("ch", "unconfirmed");
  ASSERT_TRUE(Eventually([&] { return a->stats().published == before.published + 3; }));
  redis.Stop();
  ASSERT_TRUE(Eventually([&] { return !a->stats().connected; }));
  // Written, so not dropped; unanswered, so maybe lost (a probe may be among them too).
  ASSERT_TRUE(Eventually([&] { return a->stats().unconfirmed >= before.unconfirmed + 3; }));
  EXPECT_EQ(a->stats().dropped, before.dropped);
  EXPECT_EQ(at_b.Received("ch"), 0u);
}

TEST(RedisBusTest, ASilentSubscriptionIsDetectedByTheProbe) {
  RedisProcess redis;
  Recorder at_a;
  RedisBusOptions options;
  options.probe_interval = 100ms;
  options.probe_timeout = 600ms;
  auto a = StartBus(redis.url(), "a", at_a, options);
  a->Subscribe("ch");
  ASSERT_TRUE(at_a.WaitFor([&] { return at_a.Missed("ch") == 1; }));
  // Redis keeps both connections open but stops answering clients for 2 s: publications (the
  // probes) are not delivered, which is what a subscription lost without a closed socket
  // looks like.
  ASSERT_EQ(redis.Cli("CLIENT PAUSE 2000 ALL"), 0);
  ASSERT_TRUE(at_a.WaitFor([&] { return at_a.Missed("ch") >= 2; }, 10s));
  EXPECT_GE(a->stats().reconnects, 1u);
}

TEST(RedisBusTest, CallsAreAnsweredInOrderBetweenPublications) {
  TwoNodes nodes;
  auto& [redis, at_a, at_b, a, b] = nodes;
  Replies replies;
  a->Call({"SET", "k", "v"}, replies.Expect());
  a->Publish("ch", "between");
  a->Call({"GET", "k"}, replies.Expect());
  a->Call({"EVAL", "return {1, 'two', redis.call('INCR', KEYS[1])}", "1", "n"}, replies.Expect());
  a->Call({"HGET", "k", "f"}, replies.Expect());  // WRONGTYPE.
  a->Call({"GET", "missing"}, replies.Expect());
  ASSERT_TRUE(replies.WaitFor(5));
  EXPECT_EQ(replies.At(0).type, RedisReply::Type::kStatus);
  EXPECT_EQ(replies.At(1).text, "v");
  RedisReply array = replies.At(2);
  ASSERT_EQ(array.type, RedisReply::Type::kArray);
  ASSERT_EQ(array.elements.size(), 3u);
  EXPECT_EQ(array.elements[0].AsInt(), 1);
  EXPECT_EQ(array.elements[1].text, "two");
  EXPECT_EQ(array.elements[2].AsInt(), 1);
  EXPECT_EQ(replies.At(3).type, RedisReply::Type::kError);
  EXPECT_FALSE(replies.At(3).ok());
  EXPECT_EQ(replies.At(4).type, RedisReply::Type::kNil);
  // The publication between the calls took its own reply, not one of theirs.
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Received("ch") == 1; }));
  EXPECT_EQ(a->stats().calls, 5u);
  EXPECT_EQ(a->stats().calls_failed, 0u);
}

TEST(RedisBusTest, CallsWithoutRedisAreAnsweredUnavailableAtOnce) {
  RedisProcess redis;
  Recorder at_a;
  auto a = StartBus(redis.url(), "a", at_a);
  ASSERT_TRUE(Eventually([&] { return a->stats().connected; }));
  redis.Stop();
  ASSERT_TRUE(Eventually([&] { return !a->stats().connected; }));
  Replies replies;
  a->Call({"PING"}, replies.Expect());
  ASSERT_TRUE(replies.WaitFor(1, 2s));
  EXPECT_EQ(replies.At(0).type, RedisReply::Type::kUnavailable);
  redis.Start();
  ASSERT_TRUE(Eventually([&] { return a->stats().connected; }, 15s));
  a->Call({"PING"}, replies.Expect());
  ASSERT_TRUE(replies.WaitFor(2));
  EXPECT_EQ(replies.At(1).text, "PONG");
}

TEST(RedisBusTest, CallsInFlightWhenTheConnectionBreaksAreAnsweredUnavailable) {
  RedisProcess redis;
  Recorder at_a;
  auto a = StartBus(redis.url(), "a", at_a);
  ASSERT_TRUE(Eventually([&] { return a->stats().connected; }));
  Replies replies;
  // Blocks the connection in Redis until Redis dies.
  a->Call({"BLPOP", "never", "0"}, replies.Expect());
  a->Call({"PING"}, replies.Expect());
  std::this_thread::sleep_for(200ms);
  redis.Stop();
  ASSERT_TRUE(replies.WaitFor(2));
  EXPECT_EQ(replies.At(0).type, RedisReply::Type::kUnavailable);
  EXPECT_EQ(replies.At(1).type, RedisReply::Type::kUnavailable);
  EXPECT_EQ(a->stats().calls_failed, 2u);
}

TEST(RedisBusTest, CallsToAStalledRedisAreAnsweredUnavailableAfterTheProbeTimeout) {
  RedisProcess redis;
  Recorder at_a;
  RedisBusOptions options;
  options.probe_timeout = 500ms;
  auto a = StartBus(redis.url(), "a", at_a, options);
  ASSERT_TRUE(Eventually([&] { return a->stats().connected; }));
  Replies replies;
  ASSERT_EQ(redis.Cli("CLIENT PAUSE 3000 ALL"), 0);
  const auto called_at = std::chrono::steady_clock::now();
  a->Call({"PING"}, replies.Expect());
  ASSERT_TRUE(replies.WaitFor(1, 5s));
  EXPECT_EQ(replies.At(0).type, RedisReply::Type::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - called_at, 2500ms);
  // Once Redis answers again, so do calls.
  ASSERT_TRUE(Eventually([&] { return a->stats().reconnects >= 1; }, 15s));
  std::this_thread::sleep_for(3s);
  a->Call({"PING"}, replies.Expect());
  ASSERT_TRUE(replies.WaitFor(2, 10s));
  EXPECT_EQ(replies.At(1).text, "PONG");
}

TEST(RedisBusTest, ACallMadeOnConnectGoesFirst) {
  RedisProcess redis;
  Recorder at_a;
  RedisBus* bus = nullptr;
  Replies replies;
  // On every (re)connection, before anything else queued: the registry's heartbeat relies on
  // it to clean up before any other call of the node reaches Redis.
  at_a.on_connected = [&] { bus->Call({"SET", "order", "first"}, replies.Expect()); };
  std::unique_ptr<RedisBus> a;
  {
    // The bus may connect before StartBus returns: `bus` must be set first.
    std::string error;
    RedisBusOptions options;
    options.address = *RedisAddress::Parse(redis.url(), &error);
    options.node_id = "a";
    redis.Stop();
    a = RedisBus::Start(std::move(options), at_a, &error);
    bus = a.get();
  }
  redis.Start();
  ASSERT_TRUE(at_a.WaitFor([&] { return at_a.Connected() == 1; }, 15s));
  a->Call({"SET", "order", "second"}, replies.Expect());
  a->Call({"GET", "order"}, replies.Expect());
  ASSERT_TRUE(replies.WaitFor(3));
  EXPECT_EQ(replies.At(2).text, "second");
}

TEST(RedisBusTest, StopWithRedisUnreachableReturnsPromptly) {
  Recorder recorder;
  auto bus = StartBus("redis://127.0.0.1:" + std::to_string(FreePort()), "a", recorder);
  bus->Subscribe("ch");
  bus->Publish("ch", "x");
  auto started = std::chrono::steady_clock::now();
  bus->Stop(500ms);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_FALSE(bus->stats().connected);
}

// A master, its replica and one redis-sentinel (quorum 1) watching it as "rcmaster"; the bus is
// given a dead sentinel first, then the live one. A manual failover (SENTINEL FAILOVER, as a
// kill would end, but at once) promotes the replica: both buses move to it by themselves, and
// publications cross again, the subscription renewed and announced as maybe missed.
TEST(RedisBusTest, FollowsASentinelFailoverToThePromotedReplica) {
  RedisProcess master;
  RedisProcess replica({"--replicaof", "127.0.0.1", std::to_string(master.port())});
  RedisProcess sentinel({}, "sentinel monitor rcmaster 127.0.0.1 " + std::to_string(master.port()) +
                                " 1\nsentinel down-after-milliseconds rcmaster 1000\n"
                                "sentinel failover-timeout rcmaster 2000");
  const std::string url = "redis+sentinel://127.0.0.1:" + std::to_string(FreePort()) +
                          ",127.0.0.1:" + std::to_string(sentinel.port()) + "/rcmaster";
  Recorder at_a, at_b;
  auto a = StartBus(url, "a", at_a);
  auto b = StartBus(url, "b", at_b);
  b->Subscribe("ch");
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Missed("ch") == 1; }));
  ASSERT_TRUE(Eventually([&] { return a->stats().connected; }));
  const std::string old_master = "127.0.0.1:" + std::to_string(master.port());
  const std::string new_master = "127.0.0.1:" + std::to_string(replica.port());
  EXPECT_EQ(a->stats().master, old_master);
  EXPECT_TRUE(a->stats().sentinel_connected);
  a->Publish("ch", "before");
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Received("ch") == 1; }));

  // The sentinel refuses (NOGOODSLAVE) until it has seen the replica.
  ASSERT_TRUE(
      Eventually([&] { return sentinel.CliOutput("SENTINEL FAILOVER rcmaster") == "OK"; }, 20s));
  ASSERT_TRUE(Eventually(
      [&] {
        return a->stats().master == new_master && b->stats().master == new_master &&
               a->stats().connected && b->stats().connected;
      },
      20s));
  EXPECT_EQ(a->stats().failovers, 1u);
  EXPECT_EQ(replica.CliOutput("ROLE").substr(0, 6), "master");
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Missed("ch") >= 2; }));
  a->Publish("ch", "after");
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Received("ch") == 2; }));
  EXPECT_EQ(at_b.Messages("ch").back(), "after");
}

// The first channel named <prefix><n> that lives on `instance` of two.
std::string ChannelOn(size_t instance, const std::string& prefix) {
  for (int n = 0;; ++n) {
    std::string channel = prefix + std::to_string(n);
    if (InstanceOf(channel, 2) == instance) return channel;
  }
}

TEST(RedisBusSetTest, ChannelsSpreadOverInstancesAndEachFailsAlone) {
  RedisProcess first, second;
  std::string error;
  auto addresses = ParseRedisList(first.url() + "," + second.url(), &error);
  ASSERT_TRUE(addresses) << error;
  Recorder at_a, at_b;
  RedisBusOptions options;
  options.node_id = "a";
  auto a = RedisBusSet::Start(*addresses, options, at_a, &error);
  options.node_id = "b";
  auto b = RedisBusSet::Start(*addresses, options, at_b, &error);
  ASSERT_TRUE(a && b) << error;
  const std::string on0 = ChannelOn(0, "rc:conv:"), on1 = ChannelOn(1, "rc:conv:");
  b->Subscribe(on0);
  b->Subscribe(on1);
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Missed(on0) == 1 && at_b.Missed(on1) == 1; }));
  ASSERT_TRUE(Eventually([&] { return a->stats().connected; }));
  // One OnConnected (the first instance's: the calls' connection), not one per instance.
  ASSERT_TRUE(at_a.WaitFor([&] { return at_a.Connected() == 1; }));
  for (int i = 0; i < 50; ++i) {
    a->Publish(on0, "x" + std::to_string(i));
    a->Publish(on1, "y" + std::to_string(i));
  }
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Received(on0) == 50 && at_b.Received(on1) == 50; }));
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(at_b.Messages(on0)[size_t(i)], "x" + std::to_string(i));
    EXPECT_EQ(at_b.Messages(on1)[size_t(i)], "y" + std::to_string(i));
  }
  EXPECT_EQ(a->stats(0).published, 50u);
  EXPECT_EQ(a->stats(1).published, 50u);
  EXPECT_EQ(a->stats().published, 100u);
  EXPECT_EQ(a->name(1), second.url().substr(8));
  EXPECT_EQ(at_a.Connected(), 1);

  // The second instance dies: the first's channel stays live, calls (on the first) work.
  second.Stop();
  ASSERT_TRUE(Eventually([&] { return !a->stats(1).connected && !b->stats(1).connected; }));
  EXPECT_FALSE(a->stats().connected);
  a->Publish(on0, "live");
  a->Publish(on1, "held");
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Received(on0) == 51; }));
  EXPECT_EQ(at_b.Messages(on0).back(), "live");
  Replies replies;
  a->Call({"SET", "k", "v"}, replies.Expect());
  ASSERT_TRUE(replies.WaitFor(1));
  EXPECT_TRUE(replies.At(0).ok());
  EXPECT_EQ(a->stats(0).calls, 1u);
  EXPECT_EQ(a->stats(1).calls, 0u);

  // Back (empty): its channel is resubscribed and announced as maybe missed.
  second.Start();
  ASSERT_TRUE(at_b.WaitFor([&] { return at_b.Missed(on1) >= 2; }, 15s));
  EXPECT_EQ(at_b.Missed(on0), 1);
  ASSERT_TRUE(Eventually([&] { return a->stats().connected && b->stats().connected; }, 15s));
  a->Publish(on1, "live again");
  ASSERT_TRUE(at_b.WaitFor([&] {
    auto got = at_b.Messages(on1);
    return !got.empty() && got.back() == "live again";
  }));
}

}  // namespace
}  // namespace ringcast::cluster
