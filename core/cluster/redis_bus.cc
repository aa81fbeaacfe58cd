#include "core/cluster/redis_bus.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/io/io_loop.h"

namespace ringcast::cluster {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view kProbePrefix = "rc:probe:";
// Where a publisher that lost publications says which channels (or "*": any).
constexpr std::string_view kControlChannel = "rc:ctl";
// Channels named in one "missed" notice at most; past that it says "*".
constexpr size_t kMaxMissedNamed = 1024;
// Channels per SUBSCRIBE/UNSUBSCRIBE command.
constexpr size_t kChannelsPerCommand = 512;
// Where a sentinel announces a failover (redis.io, "Sentinel API": Pub/Sub messages).
constexpr std::string_view kSwitchMaster = "+switch-master";
constexpr milliseconds kFirstBackoff{100};
constexpr milliseconds kMaxBackoff{2000};
constexpr milliseconds kTick{100};

// Appends one RESP command (hiredis formats it).
void AppendCommand(std::string& out, const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (std::string_view arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  char* command = nullptr;
  const int length =
      redisFormatCommandArgv(&command, int(argv.size()), argv.data(), lengths.data());
  if (length > 0) out.append(command, size_t(length));
  redisFreeCommand(command);
}

std::string_view ReplyText(const redisReply* reply) {
  if (reply == nullptr || reply->str == nullptr) return {};
  return {reply->str, reply->len};
}

struct Command {
  enum class Kind : uint8_t { kPublish, kSubscribe, kUnsubscribe, kCall };
  Kind kind;
  std::string channel;
  std::string payload;            // Framed: "<node-id>\n<payload>".
  std::vector<std::string> args;  // kCall.
  RedisCallback done;             // kCall.
};

RedisReply Copy(const redisReply* reply) {
  RedisReply out;
  switch (reply->type) {
    case REDIS_REPLY_NIL:
      out.type = RedisReply::Type::kNil;
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = reply->integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      // Three kinds of text that differ only in what they mean.
      out.type = reply->type == REDIS_REPLY_STRING   ? RedisReply::Type::kString
                 : reply->type == REDIS_REPLY_STATUS ? RedisReply::Type::kStatus
                                                     : RedisReply::Type::kError;
      out.text = std::string(ReplyText(reply));
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(reply->elements);
      for (size_t i = 0; i < reply->elements; ++i) out.elements.push_back(Copy(reply->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kError;
      out.text = "unexpected reply type " + std::to_string(reply->type);
  }
  return out;
}

}  // namespace

std::optional<int64_t> RedisReply::AsInt() const {
  if (type == Type::kInteger) return integer;
  if (type != Type::kString && type != Type::kStatus) return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

namespace {
// (The anonymous namespace goes on for the bus's own helpers.)

}  // namespace

bool ValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// The bus thread and everything it owns.
class RedisBus::Loop {
 public:
  Loop(RedisBusOptions options, RedisBusListener& listener)
      : options_(std::move(options)),
        listener_(listener),
        probe_channel_(std::string(kProbePrefix) + options_.node_id),
        random_(std::random_device{}()) {
    publisher_.role = "publisher";
    subscriber_.role = "subscriber";
    sentinel_.role = "sentinel";
    sentinels_ = options_.address.sentinels;
    if (!options_.address.sentinel()) {
      master_ = {options_.address.host, options_.address.port};
      master_known_ = true;
      SetMasterStat();
    }
  }

  ~Loop() {
    Stop(milliseconds(0));
    Close(publisher_);
    Close(subscriber_);
    Close(sentinel_);
  }

  bool Begin(std::string* error) {
    io_ = IoLoop::Create({.thread_name = "redis-bus"}, error);
    if (!io_) return false;
    for (Connection* c : {&publisher_, &subscriber_, &sentinel_}) {
      c->watch = io_->Watch(-1, 0, [this, c](short revents) { OnEvents(*c, revents); });
    }
    io_->Start({.turn = [this] { return Turn(); },
                .started =
                    [this] {
                      bus_thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
                    }});
    return true;
  }

  void Enqueue(Command command) {
    if (command.kind == Command::Kind::kCall) return EnqueueCall(std::move(command));
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      if (command.kind == Command::Kind::kPublish) {
        if (queued_publishes_ >= options_.max_queued) {
          stats_dropped_.fetch_add(1, std::memory_order_relaxed);
          dropped_channels_.push_back(std::move(command.channel));
          return;
        }
        ++queued_publishes_;
      }
      commands_.push_back(std::move(command));
    }
    Wake();
  }

  void EnqueueCall(Command command) {
    // From the bus thread itself (a listener's callback): straight into the connection's
    // output, ahead of what other threads queued (OnConnected relies on it).
    if (std::this_thread::get_id() == bus_thread_id_.load(std::memory_order_acquire)) {
      return CallNow(std::move(command.args), std::move(command.done));
    }
    {
      std::lock_guard lock(mutex_);
      if (!stopping_ && queued_calls_ < options_.max_queued) {
        ++queued_calls_;
        commands_.push_back(std::move(command));
        command.done = nullptr;
      }
    }
    if (command.done) {
      stats_calls_failed_.fetch_add(1, std::memory_order_relaxed);
      return command.done(RedisReply{});
    }
    Wake();
  }

  void Stop(milliseconds flush_limit) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
      flush_deadline_ = SteadyClock::now() + flush_limit;
    }
    if (!io_) return;
    io_->WakeNow();  // It joins next: nothing may wait for the end of a loop turn.
    io_->Join();
  }

  RedisBusStats Stats() const {
    RedisBusStats stats;
    stats.published = stats_published_.load(std::memory_order_relaxed);
    stats.writes = stats_writes_.load(std::memory_order_relaxed);
    stats.received = stats_received_.load(std::memory_order_relaxed);
    stats.dropped = stats_dropped_.load(std::memory_order_relaxed);
    stats.unconfirmed = stats_unconfirmed_.load(std::memory_order_relaxed);
    stats.reconnects = stats_reconnects_.load(std::memory_order_relaxed);
    stats.subscribed = stats_subscribed_.load(std::memory_order_relaxed);
    stats.connected = stats_connected_.load(std::memory_order_relaxed);
    stats.calls = stats_calls_.load(std::memory_order_relaxed);
    stats.calls_failed = stats_calls_failed_.load(std::memory_order_relaxed);
    stats.failovers = stats_failovers_.load(std::memory_order_relaxed);
    stats.sentinel_connected = stats_sentinel_connected_.load(std::memory_order_relaxed);
    std::lock_guard lock(stats_mutex_);
    stats.master = stats_master_;
    return stats;
  }

  const std::string& node_id() const { return options_.node_id; }

 private:
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

  void Log(bool warning, const std::string& line) {
    if (options_.log) options_.log(warning, line);
  }

  // On a shard, once per loop turn (core/runtime/deferred_wakes.h): the bus thread then takes
  // every command of the turn at once, and their PUBLISHes leave in one write.
  void Wake() { io_->Wake(); }

  // One turn of the bus's IoLoop: returns when the next must start at the latest.
  SteadyClock::time_point Turn() {
    {
      bool stopping = false;
      SteadyClock::time_point deadline;
      std::vector<Command> commands;
      std::vector<std::string> dropped;
      {
        std::lock_guard lock(mutex_);
        commands.swap(commands_);
        dropped.swap(dropped_channels_);
        queued_publishes_ = 0;
        queued_calls_ = 0;
        stopping = stopping_;
        deadline = flush_deadline_;
      }
      for (std::string& channel : dropped) NoteMissed(std::move(channel));
      for (Command& command : commands) Apply(std::move(command));

      const auto now = SteadyClock::now();
      if (stopping && (publisher_.state != Connection::State::kReady ||
                       publisher_.pending_out() == 0 || now >= deadline)) {
        io_->Quit();
        return now;
      }
      Maintain(publisher_, now);
      Maintain(subscriber_, now);
      if (options_.address.sentinel()) Maintain(sentinel_, now);
      Timeouts(now);
      if (!stopping && now >= next_tick_at_) {
        next_tick_at_ = now + kTick;
        listener_.OnTick();
      }
      Probe(now);
      Flush(publisher_);
      Flush(subscriber_);
      Flush(sentinel_);
      for (Connection* c : {&publisher_, &subscriber_, &sentinel_}) {
        short events = POLLIN;
        if (c->state == Connection::State::kConnecting || c->pending_out() > 0) events |= POLLOUT;
        io_->Update(c->watch, c->fd, events);
      }
      return stopping ? std::min(deadline, now + kTick) : now + kTick;
    }
  }

  // --- Commands from other threads ---------------------------------------------------------

  void Apply(Command command) {
    switch (command.kind) {
      case Command::Kind::kPublish:
        PublishNow(command.channel, command.payload);
        break;
      case Command::Kind::kSubscribe:
        if (++subscriptions_[command.channel] == 1) {
          stats_subscribed_.store(subscriptions_.size(), std::memory_order_relaxed);
          // Left and wanted again within one turn: Redis never heard of the leaving.
          if (subscriber_.state == Connection::State::kReady &&
              to_unsubscribe_.erase(command.channel) == 0) {
            to_subscribe_.push_back(std::move(command.channel));
          }
        }
        break;
      case Command::Kind::kCall:
        CallNow(std::move(command.args), std::move(command.done));
        break;
      case Command::Kind::kUnsubscribe: {
        auto it = subscriptions_.find(command.channel);
        if (it == subscriptions_.end() || --it->second > 0) break;
        subscriptions_.erase(it);
        stats_subscribed_.store(subscriptions_.size(), std::memory_order_relaxed);
        if (subscriber_.state != Connection::State::kReady) break;
        // Wanted and left within one turn: Redis never hears of it.
        if (auto wanted = std::find(to_subscribe_.begin(), to_subscribe_.end(), command.channel);
            wanted != to_subscribe_.end()) {
          to_subscribe_.erase(wanted);
        } else {
          to_unsubscribe_.insert(std::move(command.channel));
        }
        break;
      }
    }
  }

  void PublishNow(std::string_view channel, std::string_view framed) {
    Connection& c = publisher_;
    if (c.state != Connection::State::kReady) {
      if (held_.size() >= options_.max_queued) return Drop(std::string(channel));
      held_.push_back({Command::Kind::kPublish, std::string(channel), std::string(framed)});
      return;
    }
    if (c.pending_out() > options_.max_output_bytes) return Drop(std::string(channel));
    AppendCommand(c.out, {"PUBLISH", channel, framed});
    ExpectPublishReply();
    ++publishes_unflushed_;
    stats_published_.fetch_add(1, std::memory_order_relaxed);
  }

  void ExpectPublishReply() {
    ++publisher_.unanswered;
    publisher_.awaiting.push_back({nullptr, SteadyClock::now()});
  }

  void CallNow(std::vector<std::string> args, RedisCallback done) {
    Connection& c = publisher_;
    if (c.state != Connection::State::kReady || c.pending_out() > options_.max_output_bytes) {
      stats_calls_failed_.fetch_add(1, std::memory_order_relaxed);
      return done(RedisReply{});
    }
    AppendCommand(c.out, std::vector<std::string_view>(args.begin(), args.end()));
    c.awaiting.push_back({std::move(done), SteadyClock::now()});
    stats_calls_.fetch_add(1, std::memory_order_relaxed);
  }

  void Drop(std::string channel) {
    stats_dropped_.fetch_add(1, std::memory_order_relaxed);
    NoteMissed(std::move(channel));
  }

  void NoteMissed(std::string channel) {
    if (missed_all_) return;
    if (missed_.size() >= kMaxMissedNamed) {
      missed_all_ = true;
      missed_.clear();
      return;
    }
    missed_.insert(std::move(channel));
  }

  // --- Connections -------------------------------------------------------------------------

  void Maintain(Connection& c, SteadyClock::time_point now) {
    if (c.state != Connection::State::kDown || now < c.retry_at) return;
    if (&c == &sentinel_) return Connect(c, sentinels_[sentinel_at_]);
    // Sentinel: a connection that broke re-resolves the master before it reconnects (the
    // guidelines' "handle reconnections"); both connections wait for the one answer.
    if (!master_known_ || master_stale_) return RequestResolve();
    Connect(c, master_);
  }

  void Connect(Connection& c, const RedisEndpoint& endpoint) {
    c.since = SteadyClock::now();
    c.endpoint = endpoint;
    c.epoch = master_epoch_;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(endpoint.port);
    // getaddrinfo blocks, but only this thread.
    if (int rc = getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      return Fail(c, std::string("cannot resolve ") + endpoint.host + ": " + gai_strerror(rc));
    }
    int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = fd < 0 ? -1 : connect(fd, found->ai_addr, found->ai_addrlen);
    const int connect_errno = errno;
    freeaddrinfo(found);
    if (fd < 0 || (rc != 0 && connect_errno != EINPROGRESS)) {
      if (fd >= 0) close(fd);
      return Fail(c, std::string("cannot connect: ") + std::strerror(connect_errno));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    c.fd = fd;
    c.state = Connection::State::kConnecting;
    if (rc == 0) Connected(c);
  }

  // The TCP connection is up: everything the connection needs is pipelined behind the
  // handshake, whose answers are checked as they come.
  void Connected(Connection& c) {
    c.state = Connection::State::kReady;
    c.reader = redisReaderCreate();
    c.out.clear();
    c.out_sent = 0;
    c.handshake_replies = 0;
    c.unanswered = 0;
    c.awaiting.clear();
    if (&c == &sentinel_) return SentinelConnected();
    const RedisAddress& address = options_.address;
    if (!address.password.empty()) {
      if (address.user.empty()) {
        AppendCommand(c.out, {"AUTH", address.password});
      } else {
        AppendCommand(c.out, {"AUTH", address.user, address.password});
      }
      ++c.handshake_replies;
    }
    if (address.db != 0) {
      AppendCommand(c.out, {"SELECT", std::to_string(address.db)});
      ++c.handshake_replies;
    }
    if (address.sentinel()) {
      // ROLE last: its answer, the last of the handshake, makes the connection usable.
      AppendCommand(c.out, {"ROLE"});
      ++c.handshake_replies;
      c.state = Connection::State::kHandshake;
      return;
    }
    Established(c);
  }

  // The connection may carry the bus's traffic (Sentinel: ROLE said master).
  void Established(Connection& c) {
    c.state = Connection::State::kReady;
    if (c.ever_ready) stats_reconnects_.fetch_add(1, std::memory_order_relaxed);
    if (c.outage_logged || c.ever_ready) {
      Log(false, std::string("redis: ") + c.role + " connected again to " + Where());
    }
    c.ever_ready = true;
    c.outage_logged = false;
    c.backoff = kFirstBackoff;
    if (&c == &publisher_) {
      probe_outstanding_ = false;  // Probes sent before were lost with the old connection.
      listener_.OnConnected();
      std::deque<Command> held;
      held.swap(held_);
      for (Command& command : held) PublishNow(command.channel, command.payload);
      AnnounceMissed();
    } else {
      to_subscribe_.clear();
      to_unsubscribe_.clear();
      std::vector<std::string_view> channels = {probe_channel_, kControlChannel};
      for (const auto& [channel, count] : subscriptions_) channels.push_back(channel);
      Subscribe(channels);
    }
    UpdateConnected();
  }

  // Where the bus's Redis is, for logs: never a password.
  std::string Where() const {
    if (!options_.address.sentinel()) return options_.address.ToString();
    return "master '" + options_.address.master_name + "' at " +
           (master_known_ ? master_.ToString() : std::string("(unknown)")) + "/" +
           std::to_string(options_.address.db);
  }

  void Subscribe(const std::vector<std::string_view>& channels) {
    for (size_t at = 0; at < channels.size(); at += kChannelsPerCommand) {
      std::vector<std::string_view> args = {"SUBSCRIBE"};
      const size_t end = std::min(channels.size(), at + kChannelsPerCommand);
      args.insert(args.end(), channels.begin() + long(at), channels.begin() + long(end));
      AppendCommand(subscriber_.out, args);
    }
  }

  void AnnounceMissed() {
    if (!missed_all_ && missed_.empty()) return;
    std::string notice = options_.node_id + "\nmissed";
    if (missed_all_) {
      notice += "\n*";
    } else {
      for (const std::string& channel : missed_) notice += "\n" + channel;
    }
    missed_all_ = false;
    missed_.clear();
    AppendCommand(publisher_.out, {"PUBLISH", kControlChannel, notice});
    ExpectPublishReply();
  }

  void Fail(Connection& c, const std::string& why) {
    if (&c == &sentinel_) return SentinelFailed(why);
    // Sentinel: this connection's master may be gone or demoted; unless a newer answer came
    // since it connected, ask again before the next try.
    if (options_.address.sentinel() && c.epoch == master_epoch_) master_stale_ = true;
    const bool was_ready = c.state == Connection::State::kReady;
    std::deque<Connection::Awaiting> unanswered_calls;
    unanswered_calls.swap(c.awaiting);
    Close(c);
    if (&c == &publisher_ && was_ready && c.unanswered > 0) {
      // Publications written but not answered may or may not have reached Redis.
      stats_unconfirmed_.fetch_add(c.unanswered, std::memory_order_relaxed);
      missed_all_ = true;
    }
    c.unanswered = 0;
    if (!c.outage_logged) {
      const std::string where =
          options_.address.sentinel()
              ? "master '" + options_.address.master_name + "' at " + c.endpoint.ToString()
              : Where();
      Log(true, "redis at " + where + " (" + c.role + "): " + why +
                    "; retrying with backoff, cluster fan-out degraded");
      c.outage_logged = true;
    }
    std::uniform_int_distribution<int64_t> jitter(0, c.backoff.count() / 2);
    c.retry_at = SteadyClock::now() + c.backoff + milliseconds(jitter(random_));
    c.backoff = std::min(kMaxBackoff, c.backoff * 2);
    UpdateConnected();
    // Last: a callback may call again (answered at once: the connection is down).
    for (Connection::Awaiting& call : unanswered_calls) {
      if (!call.done) continue;
      stats_calls_failed_.fetch_add(1, std::memory_order_relaxed);
      call.done(RedisReply{});
    }
  }

  void Close(Connection& c) {
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    if (c.reader != nullptr) redisReaderFree(c.reader);
    c.reader = nullptr;
    c.state = Connection::State::kDown;
    c.out.clear();
    c.out_sent = 0;
  }

  // --- Sentinel (docs/cluster.md, "High availability") ------------------------------------
  //
  // One connection to one sentinel at a time, made again for each resolution: AUTH if asked,
  // SENTINEL get-master-addr-by-name, then SUBSCRIBE +switch-master, all in one write, so the
  // connection that answered stays on as the watch that hears a failover at once (a sentinel
  // runs one command at a time: no switch can fall between the answer and the subscription).
  // The client guidelines (redis.io, "Sentinel client spec"): the sentinels are tried in order
  // with a short timeout, the first that answers moves to the head of the list, a null answer
  // or an error means "try the next one".

  void SentinelConnected() {
    const RedisAddress& address = options_.address;
    Connection& c = sentinel_;
    if (!address.sentinel_password.empty()) {
      if (address.sentinel_user.empty()) {
        AppendCommand(c.out, {"AUTH", address.sentinel_password});
      } else {
        AppendCommand(c.out, {"AUTH", address.sentinel_user, address.sentinel_password});
      }
      ++c.handshake_replies;
    }
    AppendCommand(c.out, {"SENTINEL", "get-master-addr-by-name", address.master_name});
    AppendCommand(c.out, {"SUBSCRIBE", kSwitchMaster});
    sentinel_query_pending_ = true;
  }

  // Asks the sentinels again, unless a question is already out (or every sentinel failed and
  // the round waits its backoff).
  void RequestResolve() {
    if (sentinel_.state != Connection::State::kReady || sentinel_query_pending_) return;
    Close(sentinel_);
    stats_sentinel_connected_.store(false, std::memory_order_relaxed);
    sentinel_at_ = 0;  // The one that answered last.
    sentinel_.retry_at = SteadyClock::now();
    Maintain(sentinel_, sentinel_.retry_at);
  }

  void SentinelFailed(const std::string& why) {
    Connection& c = sentinel_;
    Close(c);
    sentinel_query_pending_ = false;
    stats_sentinel_connected_.store(false, std::memory_order_relaxed);
    const std::string which = sentinels_[sentinel_at_].ToString();
    sentinel_at_ = (sentinel_at_ + 1) % sentinels_.size();
    const auto now = SteadyClock::now();
    if (++sentinels_tried_ < sentinels_.size()) {
      Log(false, "redis: sentinel " + which + ": " + why + "; trying the next");
      c.retry_at = now;
      return;
    }
    Log(true, "redis: sentinel " + which + ": " + why + "; no sentinel of master '" +
                  options_.address.master_name + "' answered, asking again with backoff");
    sentinels_tried_ = 0;
    std::uniform_int_distribution<int64_t> jitter(0, c.backoff.count() / 2);
    c.retry_at = now + c.backoff + milliseconds(jitter(random_));
    c.backoff = std::min(kMaxBackoff, c.backoff * 2);
  }

  void OnSentinelReply(const redisReply* reply) {
    Connection& c = sentinel_;
    if (c.handshake_replies > 0) {
      --c.handshake_replies;
      if (reply->type == REDIS_REPLY_ERROR) {
        SentinelFailed("refused AUTH: " + std::string(ReplyText(reply)));
      }
      return;
    }
    if (sentinel_query_pending_) {
      sentinel_query_pending_ = false;
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        return SentinelFailed(reply->type == REDIS_REPLY_ERROR
                                  ? "refused: " + std::string(ReplyText(reply))
                                  : "does not know master '" + options_.address.master_name + "'");
      }
      RedisEndpoint master{std::string(ReplyText(reply->element[0])), 0};
      if (!ParsePort(ReplyText(reply->element[1]), &master.port)) {
        return SentinelFailed("answered a bad port");
      }
      // The guidelines' "the first Sentinel that replies is put at the head of the list".
      std::rotate(sentinels_.begin(), sentinels_.begin() + long(sentinel_at_), sentinels_.end());
      sentinel_at_ = 0;
      sentinels_tried_ = 0;
      c.backoff = kFirstBackoff;
      stats_sentinel_connected_.store(true, std::memory_order_relaxed);
      return MasterIs(std::move(master), "sentinel " + sentinels_[0].ToString());
    }
    // The watch: "message", "+switch-master", "<name> <old-ip> <old-port> <new-ip> <new-port>".
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        ReplyText(reply->element[0]) != "message") {
      return;
    }
    std::vector<std::string_view> words;
    std::string_view text = ReplyText(reply->element[2]);
    while (!text.empty()) {
      const size_t space = text.find(' ');
      words.push_back(text.substr(0, space));
      text = space == std::string_view::npos ? "" : text.substr(space + 1);
    }
    RedisEndpoint master;
    if (words.size() != 5 || words[0] != options_.address.master_name ||
        !ParsePort(words[4], &master.port)) {
      return;
    }
    master.host = std::string(words[3]);
    MasterIs(std::move(master), "+switch-master from sentinel " + sentinels_[0].ToString());
  }

  static bool ParsePort(std::string_view text, uint16_t* port) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
      return false;
    }
    *port = uint16_t(value);
    return true;
  }

  // The sentinels' answer: connections elsewhere move there at once; those waiting for the
  // answer connect when their backoff ends (the same answer as before means the failover is
  // not done yet: no faster than the backoff).
  void MasterIs(RedisEndpoint master, const std::string& source) {
    const bool changed = master_known_ && master != master_;
    if (changed) {
      stats_failovers_.fetch_add(1, std::memory_order_relaxed);
      Log(true, "redis: master '" + options_.address.master_name + "' moved from " +
                    master_.ToString() + " to " + master.ToString() + " (" + source +
                    "); both connections follow");
    } else if (!master_known_) {
      Log(false, "redis: master '" + options_.address.master_name + "' is at " + master.ToString() +
                     " (" + source + ")");
    }
    master_ = std::move(master);
    master_known_ = true;
    master_stale_ = false;
    ++master_epoch_;
    SetMasterStat();
    const auto now = SteadyClock::now();
    for (Connection* c : {&publisher_, &subscriber_}) {
      if (c->state != Connection::State::kDown && c->endpoint != master_) {
        Fail(*c, "the master moved to " + master_.ToString());
      }
      if (changed && c->state == Connection::State::kDown) {
        c->retry_at = now;
        c->backoff = kFirstBackoff;
      }
    }
  }

  void SetMasterStat() {
    std::lock_guard lock(stats_mutex_);
    stats_master_ = master_known_ ? master_.ToString() : std::string();
  }

  // Connections stuck connecting or in their handshake, and a sentinel that does not answer,
  // are given up (a dead host's SYNs can go unanswered for minutes).
  void Timeouts(SteadyClock::time_point now) {
    for (Connection* c : {&publisher_, &subscriber_}) {
      if ((c->state == Connection::State::kConnecting ||
           c->state == Connection::State::kHandshake) &&
          now - c->since > options_.probe_timeout) {
        Fail(*c, "no answer within " + std::to_string(options_.probe_timeout.count()) + " ms");
      }
    }
    if ((sentinel_.state == Connection::State::kConnecting || sentinel_query_pending_) &&
        sentinel_.state != Connection::State::kDown &&
        now - sentinel_.since > options_.sentinel_timeout) {
      SentinelFailed("no answer within " + std::to_string(options_.sentinel_timeout.count()) +
                     " ms");
    }
  }

  void UpdateConnected() {
    stats_connected_.store(publisher_.state == Connection::State::kReady &&
                               subscriber_.state == Connection::State::kReady,
                           std::memory_order_relaxed);
  }

  // --- The probe ---------------------------------------------------------------------------

  void Probe(SteadyClock::time_point now) {
    // A publisher whose oldest command is unanswered for probe_timeout is stalled (Redis hung,
    // or the connection died without TCP noticing): reconnecting answers every call waiting
    // on it as unavailable instead of letting callers wait without bound.
    if (publisher_.state == Connection::State::kReady && !publisher_.awaiting.empty() &&
        now - publisher_.awaiting.front().since > options_.probe_timeout) {
      return Fail(publisher_, "no reply for " + std::to_string(options_.probe_timeout.count()) +
                                  " ms (Redis stalled); reconnecting");
    }
    if (publisher_.state != Connection::State::kReady ||
        subscriber_.state != Connection::State::kReady) {
      return;
    }
    if (probe_outstanding_ && now - probe_sent_at_ > options_.probe_timeout) {
      probe_outstanding_ = false;
      return Fail(subscriber_, "no probe came back for " +
                                   std::to_string(options_.probe_timeout.count()) +
                                   " ms (a silent subscription); reconnecting");
    }
    if (now < next_probe_at_) return;
    next_probe_at_ = now + options_.probe_interval;
    AppendCommand(publisher_.out, {"PUBLISH", probe_channel_, options_.node_id + "\nprobe"});
    ExpectPublishReply();
    if (!probe_outstanding_) {
      probe_outstanding_ = true;
      probe_sent_at_ = now;
    }
  }

  // --- I/O ---------------------------------------------------------------------------------

  void Flush(Connection& c) {
    if (c.state != Connection::State::kReady && c.state != Connection::State::kHandshake) return;
    const bool publisher = &c == &publisher_;
    if (&c == &subscriber_ && c.state == Connection::State::kReady) {
      if (!to_unsubscribe_.empty()) {
        std::vector<std::string_view> args = {"UNSUBSCRIBE"};
        for (const std::string& channel : to_unsubscribe_) {
          args.push_back(channel);
          if (args.size() > kChannelsPerCommand) {
            AppendCommand(c.out, args);
            args.resize(1);
          }
        }
        if (args.size() > 1) AppendCommand(c.out, args);
        to_unsubscribe_.clear();
      }
      if (!to_subscribe_.empty()) {
        std::vector<std::string_view> channels(to_subscribe_.begin(), to_subscribe_.end());
        Subscribe(channels);
        to_subscribe_.clear();
      }
    }
    while (c.pending_out() > 0) {
      ssize_t n = send(c.fd, c.out.data() + c.out_sent, c.pending_out(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        return Fail(c, std::string("write: ") + std::strerror(errno));
      }
      if (publisher && publishes_unflushed_ > 0) {
        stats_writes_.fetch_add(1, std::memory_order_relaxed);
        publishes_unflushed_ = 0;
      }
      c.out_sent += size_t(n);
    }
    if (c.out_sent == c.out.size()) {
      c.out.clear();
      c.out_sent = 0;
    } else if (c.out_sent > (1 << 20)) {
      c.out.erase(0, c.out_sent);
      c.out_sent = 0;
    }
  }

  void OnEvents(Connection& c, short revents) {
    if (c.fd < 0) return;
    if (c.state == Connection::State::kConnecting) {
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) return Fail(c, std::string("cannot connect: ") + std::strerror(error));
      return Connected(c);
    }
    if (revents & (POLLIN | POLLERR | POLLHUP)) Read(c);
  }

  void Read(Connection& c) {
    char buffer[64 * 1024];
    while (Readable(c)) {
      ssize_t n = recv(c.fd, buffer, sizeof buffer, 0);
      if (n == 0) return Fail(c, "connection closed by Redis");
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        return Fail(c, std::string("read: ") + std::strerror(errno));
      }
      if (redisReaderFeed(c.reader, buffer, size_t(n)) != REDIS_OK) {
        return Fail(c, "cannot feed the reply parser");
      }
      while (Readable(c)) {
        void* parsed = nullptr;
        if (redisReaderGetReply(c.reader, &parsed) != REDIS_OK) {
          return Fail(c, std::string("bad reply from Redis: ") + c.reader->errstr);
        }
        if (parsed == nullptr) break;
        auto* reply = static_cast<redisReply*>(parsed);
        OnReply(c, reply);
        freeReplyObject(reply);
      }
      if (size_t(n) < sizeof buffer) return;
    }
  }

  static bool Readable(const Connection& c) {
    return c.state == Connection::State::kReady || c.state == Connection::State::kHandshake;
  }

  void OnReply(Connection& c, const redisReply* reply) {
    if (&c == &sentinel_) return OnSentinelReply(reply);
    if (c.handshake_replies > 0) {
      --c.handshake_replies;
      if (reply->type == REDIS_REPLY_ERROR) {
        return Fail(c, "refused the handshake: " + std::string(ReplyText(reply)));
      }
      if (c.handshake_replies > 0 || c.state != Connection::State::kHandshake) return;
      // ROLE: ["master", ...] or ["slave", host, port, ...] (a demoted master keeps its
      // clients, and a replica takes PUBLISH: only this answer tells).
      const std::string_view role = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
                                        ? ReplyText(reply->element[0])
                                        : std::string_view("?");
      if (role != "master") {
        return Fail(c,
                    "is a " + std::string(role) + ", not the master; asking the sentinels again");
      }
      return Established(c);
    }
    if (&c == &publisher_) {
      RedisCallback done;
      if (!c.awaiting.empty()) {
        done = std::move(c.awaiting.front().done);
        c.awaiting.pop_front();
      }
      // The master became a replica under us (a failover the connection survived): the
      // guidelines' cue to ask the sentinels again.
      const bool readonly = options_.address.sentinel() && reply->type == REDIS_REPLY_ERROR &&
                            ReplyText(reply).starts_with("READONLY");
      if (done) {
        done(Copy(reply));
        if (readonly && c.state == Connection::State::kReady) {
          Fail(c, "READONLY: no longer the master; asking the sentinels again");
        }
        return;
      }
      if (c.unanswered > 0) --c.unanswered;
      if (reply->type == REDIS_REPLY_ERROR && !publish_error_logged_) {
        publish_error_logged_ = true;
        Log(true, "redis: PUBLISH refused: " + std::string(ReplyText(reply)));
      }
      return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      return Fail(c, "refused a subscription: " + std::string(ReplyText(reply)));
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
    const std::string_view kind = ReplyText(reply->element[0]);
    const std::string_view channel = ReplyText(reply->element[1]);
    if (kind == "message") return OnMessage(channel, ReplyText(reply->element[2]));
    if (kind == "subscribe" && subscriptions_.contains(std::string(channel))) {
      // Anything published before this moment never reached this node.
      listener_.OnMaybeMissed(channel);
    }
  }

  void OnMessage(std::string_view channel, std::string_view framed) {
    const size_t newline = framed.find('\n');
    if (newline == std::string_view::npos) return;
    const std::string_view origin = framed.substr(0, newline);
    const std::string_view payload = framed.substr(newline + 1);
    if (channel == probe_channel_) {
      probe_outstanding_ = false;
      return;
    }
    if (origin == options_.node_id) return;
    if (channel == kControlChannel) return OnControl(payload);
    stats_received_.fetch_add(1, std::memory_order_relaxed);
    listener_.OnPublication(channel, payload);
  }

  void OnControl(std::string_view notice) {
    if (!notice.starts_with("missed")) return;
    std::vector<std::string_view> named;
    bool all = false;
    size_t at = notice.find('\n');
    while (at != std::string_view::npos) {
      size_t end = notice.find('\n', at + 1);
      std::string_view channel = notice.substr(
          at + 1, end == std::string_view::npos ? std::string_view::npos : end - at - 1);
      if (channel == "*") all = true;
      named.push_back(channel);
      at = end;
    }
    if (all) {
      for (const auto& [channel, count] : subscriptions_) listener_.OnMaybeMissed(channel);
      return;
    }
    for (std::string_view channel : named) {
      if (subscriptions_.contains(std::string(channel))) listener_.OnMaybeMissed(channel);
    }
  }

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

std::unique_ptr<RedisBus> RedisBus::Start(RedisBusOptions options, RedisBusListener& listener,
                                          std::string* error) {
  if (!ValidNodeId(options.node_id)) {
    *error = "a node id is 1-64 of [A-Za-z0-9._-]";
    return nullptr;
  }
  auto loop = std::make_unique<Loop>(std::move(options), listener);
  if (!loop->Begin(error)) return nullptr;
  return std::unique_ptr<RedisBus>(new RedisBus(std::move(loop)));
}

RedisBus::RedisBus(std::unique_ptr<Loop> loop) : loop_(std::move(loop)) {}
RedisBus::~RedisBus() { Stop(milliseconds(0)); }

void RedisBus::Publish(std::string channel, std::string_view payload) {
  std::string framed;
  framed.reserve(loop_->node_id().size() + 1 + payload.size());
  framed.append(loop_->node_id()).append(1, '\n').append(payload);
  loop_->Enqueue({Command::Kind::kPublish, std::move(channel), std::move(framed)});
}

void RedisBus::Subscribe(std::string_view channel) {
  loop_->Enqueue({Command::Kind::kSubscribe, std::string(channel), {}});
}

void RedisBus::Unsubscribe(std::string_view channel) {
  loop_->Enqueue({Command::Kind::kUnsubscribe, std::string(channel), {}});
}

void RedisBus::Call(std::vector<std::string> args, RedisCallback done) {
  loop_->Enqueue({Command::Kind::kCall, {}, {}, std::move(args), std::move(done)});
}

void RedisBus::Stop(std::chrono::milliseconds flush_limit) { loop_->Stop(flush_limit); }

RedisBusStats RedisBus::stats() const { return loop_->Stats(); }

const std::string& RedisBus::node_id() const { return loop_->node_id(); }

}  // namespace ringcast::cluster
