// RedisBus: this node's pub/sub link to the other nodes of a cluster, through one Redis.
//
// Owner: its own thread ("redis-bus"). Any thread may Publish, Subscribe and Unsubscribe; the
// listener is called on the bus thread (it must not block for long: the chat posts mail).
//
// hiredis 0.14 (Debian 12) serves only as the RESP codec (redisFormatCommandArgv to encode,
// redisReader to decode); the sockets are ours, non-blocking, watched by the bus's IoLoop
// (core/io/io_loop.h: poll(2), an eventfd, the per-turn wake-ups every such thread shares), because
// its async API has no timers and blocks nobody only if something else drives it. Two
// connections, as Redis requires: a subscribed connection (RESP2) may send nothing but
// (UN)SUBSCRIBE and PING.
//   - The publisher writes every command one loop turn gathered in one write (pipelining: at
//     load, many PUBLISHes per write; stats() counts both). A shard wakes the bus thread once
//     per its own loop turn (core/runtime/deferred_wakes.h), so a turn's publishes arrive
//     together.
//   - The subscriber holds the channels somebody on this node wants (reference-counted: a
//     channel is subscribed on its first Subscribe and left on its last Unsubscribe), batched
//     into one SUBSCRIBE/UNSUBSCRIBE per turn.
//
// Redis pub/sub delivers at most once. The bus never hides that; it says when publications may
// have been missed, so that the application can fetch them from its store
// (RedisBusListener::OnMaybeMissed):
//   - a subscription confirmed (new, or renewed after the subscriber reconnected: everything
//     published while it was not subscribed is lost);
//   - another node's publisher lost publications (its connection broke with publications
//     unanswered, or it dropped some while Redis was unreachable): once reconnected it says so
//     on the control channel, and every node checks the channels named (or all of them);
//   - a subscription that went silent: the bus publishes a probe to itself every
//     probe_interval; no probe back within probe_timeout while the publisher works means the
//     subscriber's connection is dead in a way TCP has not noticed (or Redis dropped it), so it
//     is reconnected, which renews every subscription.
//
// Commands with a reply (Call: scripts, counters, the node registry) share the publisher's
// connection and its order. A call never waits for Redis: while the publisher is not connected
// it is answered at once as unavailable, and one whose connection breaks before the reply is
// answered so too; a publisher with a command unanswered for probe_timeout is reconnected (so
// no call waits longer). The caller decides what degraded service means.
//
// Sentinel (RedisAddress::sentinel(), docs/cluster.md "High availability"): a third connection,
// to one sentinel at a time, asks where the master is (SENTINEL get-master-addr-by-name) and
// stays subscribed to +switch-master; the publisher and the subscriber connect to that master and
// carry nothing until ROLE says master. A connection that breaks, times out or hears READONLY
// asks the sentinels again before reconnecting; a +switch-master moves both at once. What a
// failover loses is announced and recovered as after a Redis restart (above).
//
// Publications carry the publishing node's id (framing: "<node-id>\n<payload>"); a node never
// hears its own. Bounds: publications waiting for a connection (`max_queued`, the
// --redis-max-queued flag) and bytes waiting in a connection's output (`max_output_bytes`);
// past either, publications are dropped (counted, and announced as missed once reconnected).
//
// Every publication ends in exactly one of two counters (stats()): `dropped` (never written) or
// `published` (written to the publisher's connection). A write succeeds as soon as the kernel
// has the bytes, so the bus may go on writing to a connection whose Redis has already died
// until it reads the end of that connection; only Redis's reply proves delivery. When a
// connection breaks with PUBLISHes unanswered, those are counted `unconfirmed` too (they may or
// may not have reached the subscribers; never retried, which could deliver them twice), and
// once reconnected the node announces every channel as missed, as it does for drops.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast::cluster {

struct RedisEndpoint {
  std::string host;
  uint16_t port = 0;
  bool operator==(const RedisEndpoint&) const = default;
  // host:port ([host]:port for IPv6).
  std::string ToString() const;
};

// One Redis, named directly or through Sentinel (docs/cluster.md, "High availability"):
//   redis://[[user]:password@]host[:port][/db]
//   redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/MASTER-NAME[/db]
//       [?sentinel_user=U&sentinel_password=P]
// In the sentinel form the host list names the sentinels (port 26379 by default), user and
// password are the master's (and its replicas'), and sentinel_user/sentinel_password are for
// sentinels that require AUTH; its credentials and query values are percent-decoded (write
// '@', '?', '&', '/' or '%' in a password as %40, %3F, %26, %2F, %25). The redis:// form keeps its
// old literal parsing.
struct RedisAddress {
  std::string host;  // redis://: the Redis. Sentinel: empty (the bus asks the sentinels).
  uint16_t port = 6379;
  int db = 0;
  std::string user;
  std::string password;
  std::vector<RedisEndpoint> sentinels;  // Non-empty: the sentinel form.
  std::string master_name;
  std::string sentinel_user;
  std::string sentinel_password;

  bool sentinel() const { return !sentinels.empty(); }
  static std::optional<RedisAddress> Parse(std::string_view url, std::string* error);
  // host:port/db, or redis+sentinel://host:port,.../MASTER/db: never a password.
  std::string ToString() const;
};

// A Redis reply, copied out of hiredis's. kUnavailable: no reply came (not connected, the
// connection broke, or the queue was full).
struct RedisReply {
  enum class Type : uint8_t { kUnavailable, kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kUnavailable;
  int64_t integer = 0;
  std::string text;  // kString, kStatus, kError.
  std::vector<RedisReply> elements;

  bool ok() const { return type != Type::kUnavailable && type != Type::kError; }
  // An integer reply, or a string holding one (Lua returns numbers as integers).
  std::optional<int64_t> AsInt() const;
};

// Called on the bus thread, or at once on the caller's thread when the bus refuses the call
// (its queue is full or it has stopped): keep it short and thread-agnostic (post mail).
using RedisCallback = std::function<void(RedisReply)>;

class RedisBusListener {
 public:
  virtual ~RedisBusListener() = default;
  // A publication from another node.
  virtual void OnPublication(std::string_view channel, std::string_view payload) = 0;
  // Publications on `channel` may have been missed since the last call for it.
  virtual void OnMaybeMissed(std::string_view channel) = 0;
  // The publisher's connection is (again) up; on the bus thread, before anything queued is
  // written: a Call made from here reaches Redis before every call made elsewhere since.
  virtual void OnConnected() {}
  // About every 100 ms on the bus thread.
  virtual void OnTick() {}
};

struct RedisBusOptions {
  RedisAddress address;
  std::string node_id;  // [A-Za-z0-9._-], 1..64 bytes.
  size_t max_queued = 65536;
  size_t max_output_bytes = 64 << 20;
  std::chrono::milliseconds probe_interval{1000};
  std::chrono::milliseconds probe_timeout{3000};  // Also bounds a connect and its handshake.
  // A sentinel that has not answered within this is skipped for the next one.
  std::chrono::milliseconds sentinel_timeout{500};
  std::function<void(bool warning, const std::string& line)> log;
};

struct RedisBusStats {
  uint64_t published = 0;     // PUBLISH commands written.
  uint64_t writes = 0;        // write(2) calls on the publisher that carried PUBLISHes.
  uint64_t received = 0;      // Publications from other nodes handed to the listener.
  uint64_t dropped = 0;       // Publications never written (bounds, or Redis unreachable).
  uint64_t unconfirmed = 0;   // Of `published`: written to a connection that broke before Redis
                              // answered (the bus's own probes and notices included): maybe lost.
  uint64_t reconnects = 0;    // Connections (re)established after the first.
  uint64_t subscribed = 0;    // Channels subscribed now.
  bool connected = false;     // Both connections ready.
  uint64_t calls = 0;         // Commands with a reply written (Call).
  uint64_t calls_failed = 0;  // Calls answered unavailable.
  // Sentinel: the master in use ("host:port"; also set for redis://), master changes seen, and
  // whether a sentinel connection is up and watching for +switch-master.
  std::string master;
  uint64_t failovers = 0;
  bool sentinel_connected = false;
};

class RedisBus {
 public:
  // Starts the bus thread; it connects (and keeps reconnecting) by itself, so an unreachable
  // Redis at start is not an error. Fails only on bad options.
  static std::unique_ptr<RedisBus> Start(RedisBusOptions options, RedisBusListener& listener,
                                         std::string* error);
  ~RedisBus();
  RedisBus(const RedisBus&) = delete;
  RedisBus& operator=(const RedisBus&) = delete;

  // Any thread. Publications from one thread reach Redis in the order published.
  void Publish(std::string channel, std::string_view payload);
  void Subscribe(std::string_view channel);
  void Unsubscribe(std::string_view channel);
  // Any thread: one command (e.g. {"EVAL", script, "0", args...}); `done` gets its reply.
  void Call(std::vector<std::string> args, RedisCallback done);

  // Writes what is queued (for up to `flush_limit`) and stops the thread. Idempotent.
  void Stop(std::chrono::milliseconds flush_limit = std::chrono::milliseconds(1000));

  RedisBusStats stats() const;
  const std::string& node_id() const;

  class Loop;  // core/cluster/redis_bus_loop.h

 private:
  explicit RedisBus(std::unique_ptr<Loop> loop);
  std::unique_ptr<Loop> loop_;
};

// Whether `id` may name a node.
bool ValidNodeId(std::string_view id);

}  // namespace ringcast::cluster
