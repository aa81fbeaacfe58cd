// RedisBus::Loop: the bus thread and everything it owns (core/cluster/redis_bus.h says what the
// bus does and promises). Private to the bus: only core/cluster/redis_bus*.cc include this.
//
// Owner: the bus's IoLoop thread ("redis-bus"), except where a member says "any thread" (the
// command queue under mutex_, and the stats atomics). Its methods are spread by role:
//   redis_bus.cc                 the thread, its turn, the queue other threads fill; RESP helpers
//   redis_bus_connection.cc      the three connections: connect, handshake, read, write, break
//                                and back off, timeouts and the probe that finds a silent one
//   redis_bus_sentinel.cc        Sentinel: where the master is, and following it when it moves
//   redis_bus_publisher.cc       PUBLISH and Call on the publisher's connection, and the
//                                "missed" notices for publications that were dropped
//   redis_bus_subscriptions.cc   the channels this node wants, and what arrives on them
#pragma once

#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/cluster/redis_bus.h"
#include "core/io/io_loop.h"

namespace ringcast::cluster {

class RedisBus::Loop {
 public:
  using SteadyClock = std::chrono::steady_clock;
  using milliseconds = std::chrono::milliseconds;

  struct Command {
    enum class Kind : uint8_t { kPublish, kSubscribe, kUnsubscribe, kCall };
    Kind kind;
    std::string channel;
    std::string payload;            // Framed: "<node-id>\n<payload>".
    std::vector<std::string> args;  // kCall.
    RedisCallback done;             // kCall.
  };

  Loop(RedisBusOptions options, RedisBusListener& listener);
  ~Loop();

  bool Begin(std::string* error);
  // Any thread.
  void Enqueue(Command command);
  void Stop(milliseconds flush_limit);
  RedisBusStats Stats() const;
  const std::string& node_id() const { return options_.node_id; }

 private:
  static constexpr std::string_view kProbePrefix = "rc:probe:";
  // Where a publisher that lost publications says which channels (or "*": any).
  static constexpr std::string_view kControlChannel = "rc:ctl";
  // Channels named in one "missed" notice at most; past that it says "*".
  static constexpr size_t kMaxMissedNamed = 1024;
  // Channels per SUBSCRIBE/UNSUBSCRIBE command.
  static constexpr size_t kChannelsPerCommand = 512;
  // Where a sentinel announces a failover (redis.io, "Sentinel API": Pub/Sub messages).
  static constexpr std::string_view kSwitchMaster = "+switch-master";
  static constexpr milliseconds kFirstBackoff{100};
  static constexpr milliseconds kMaxBackoff{2000};
  static constexpr milliseconds kTick{100};

  struct Connection {
    const char* role = "";
    int fd = -1;
    int watch = -1;  // Its IoLoop watch.
    // kHandshake (Sentinel only): connected, AUTH/SELECT/ROLE written, nothing else until ROLE
    // says master (the client guidelines' step 3): a replica would take PUBLISHes and deliver
    // them to nobody else.
    enum class State : uint8_t { kDown, kConnecting, kHandshake, kReady } state = State::kDown;
    SteadyClock::time_point since{};  // Connect() began.
    RedisEndpoint endpoint;           // Where it connects.
    uint64_t epoch = 0;               // master_epoch_ when it connected.
    redisReader* reader = nullptr;
    std::string out;
    size_t out_sent = 0;
    size_t handshake_replies = 0;  // AUTH/SELECT answers still to come.
    uint64_t unanswered = 0;       // Publisher: PUBLISHes not answered yet.
    // Publisher: one entry per command awaiting its reply, in order (no callback for a
    // PUBLISH), with when it was written.
    struct Awaiting {
      RedisCallback done;
      SteadyClock::time_point since;
    };
    std::deque<Awaiting> awaiting;
    SteadyClock::time_point retry_at{};
    milliseconds backoff = kFirstBackoff;
    bool ever_ready = false;
    bool outage_logged = false;
    size_t pending_out() const { return out.size() - out_sent; }
  };

  // RESP through hiredis (redis_bus.cc).
  static void AppendCommand(std::string& out, const std::vector<std::string_view>& args);
  static std::string_view ReplyText(const redisReply* reply);
  static RedisReply Copy(const redisReply* reply);

  // The thread (redis_bus.cc).
  void Log(bool warning, const std::string& line);
  // On a shard, once per loop turn (core/runtime/deferred_wakes.h): the bus thread then takes
  // every command of the turn at once, and their PUBLISHes leave in one write.
  void Wake() { io_->Wake(); }
  SteadyClock::time_point Turn();
  void Apply(Command command);

  // Connections (redis_bus_connection.cc).
  void Maintain(Connection& c, SteadyClock::time_point now);
  void Connect(Connection& c, const RedisEndpoint& endpoint);
  void Connected(Connection& c);
  // Queues AUTH on a new connection when a password is given (with the user: Redis 6's ACL
  // form), one more reply of its handshake; the master's and the sentinels' credentials.
  static void AppendAuth(Connection& c, const std::string& user, const std::string& password);
  void Established(Connection& c);
  std::string Where() const;
  void Fail(Connection& c, const std::string& why);
  void Close(Connection& c);
  void Timeouts(SteadyClock::time_point now);
  void UpdateConnected();
  void Probe(SteadyClock::time_point now);
  void Flush(Connection& c);
  void OnEvents(Connection& c, short revents);
  void Read(Connection& c);
  static bool Readable(const Connection& c);
  void OnReply(Connection& c, const redisReply* reply);

  // Sentinel (redis_bus_sentinel.cc).
  void SentinelConnected();
  void RequestResolve();
  void SentinelFailed(const std::string& why);
  void OnSentinelReply(const redisReply* reply);
  static bool ParsePort(std::string_view text, uint16_t* port);
  void MasterIs(RedisEndpoint master, const std::string& source);
  void SetMasterStat();

  // The publisher's traffic (redis_bus_publisher.cc).
  void EnqueueCall(Command command);  // Any thread.
  void PublishNow(std::string_view channel, std::string_view framed);
  void ExpectPublishReply();
  void CallNow(std::vector<std::string> args, RedisCallback done);
  void Drop(std::string channel);
  void NoteMissed(std::string channel);
  void AnnounceMissed();
  void OnPublisherReply(const redisReply* reply);

  // Subscriptions (redis_bus_subscriptions.cc).
  void AddSubscription(std::string channel);
  void RemoveSubscription(std::string channel);
  void WriteSubscriptionChanges();
  void Subscribe(const std::vector<std::string_view>& channels);
  void OnSubscriberReply(const redisReply* reply);
  void OnMessage(std::string_view channel, std::string_view framed);
  void OnControl(std::string_view notice);

  const RedisBusOptions options_;
  RedisBusListener& listener_;
  const std::string probe_channel_;
  std::unique_ptr<IoLoop> io_;
  std::atomic<std::thread::id> bus_thread_id_{};

  // Shared with other threads, under mutex_.
  std::mutex mutex_;
  std::vector<Command> commands_;
  std::vector<std::string> dropped_channels_;  // Publications refused by Enqueue.
  size_t queued_publishes_ = 0;
  size_t queued_calls_ = 0;
  bool stopping_ = false;
  SteadyClock::time_point flush_deadline_{};

  // The bus thread's own.
  Connection publisher_;
  Connection subscriber_;
  std::deque<Command> held_;  // Publications waiting for the publisher to connect.
  std::unordered_map<std::string, uint32_t> subscriptions_;  // Channel → Subscribe count.
  std::vector<std::string> to_subscribe_;
  std::unordered_set<std::string> to_unsubscribe_;
  std::unordered_set<std::string> missed_;  // Channels whose publications were dropped.
  bool missed_all_ = false;
  uint64_t publishes_unflushed_ = 0;
  bool publish_error_logged_ = false;
  bool probe_outstanding_ = false;
  SteadyClock::time_point probe_sent_at_{};
  SteadyClock::time_point next_probe_at_{};
  SteadyClock::time_point next_tick_at_{};
  std::mt19937_64 random_;
  // Sentinel: the master's address as last answered, and the sentinels in the order to try.
  Connection sentinel_;
  std::vector<RedisEndpoint> sentinels_;
  size_t sentinel_at_ = 0;      // The one tried now.
  size_t sentinels_tried_ = 0;  // Failed in a row.
  bool sentinel_query_pending_ = false;
  RedisEndpoint master_;
  bool master_known_ = false;
  bool master_stale_ = false;  // A connection to it broke: ask before connecting again.
  uint64_t master_epoch_ = 0;  // Answers received.

  std::atomic<uint64_t> stats_published_{0};
  std::atomic<uint64_t> stats_writes_{0};
  std::atomic<uint64_t> stats_received_{0};
  std::atomic<uint64_t> stats_dropped_{0};
  std::atomic<uint64_t> stats_unconfirmed_{0};
  std::atomic<uint64_t> stats_reconnects_{0};
  std::atomic<uint64_t> stats_subscribed_{0};
  std::atomic<bool> stats_connected_{false};
  std::atomic<uint64_t> stats_calls_{0};
  std::atomic<uint64_t> stats_calls_failed_{0};
  std::atomic<uint64_t> stats_failovers_{0};
  std::atomic<bool> stats_sentinel_connected_{false};
  mutable std::mutex stats_mutex_;
  std::string stats_master_;  // Under stats_mutex_.
};

}  // namespace ringcast::cluster
