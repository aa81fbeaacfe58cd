// RedisBus and its thread (RedisBus::Loop, core/cluster/redis_bus_loop.h): the queue that other
// threads fill, the loop turn that drains it, and the RESP helpers every role uses. The roles are
// in redis_bus_connection.cc, redis_bus_sentinel.cc, redis_bus_publisher.cc and
// redis_bus_subscriptions.cc.
#include "core/cluster/redis_bus.h"

#include <poll.h>

#include <algorithm>
#include <charconv>

#include "core/cluster/redis_bus_loop.h"

namespace ringcast::cluster {

// Appends one RESP command (hiredis formats it).
void RedisBus::Loop::AppendCommand(std::string& out, const std::vector<std::string_view>& args) {
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

std::string_view RedisBus::Loop::ReplyText(const redisReply* reply) {
  if (reply == nullptr || reply->str == nullptr) return {};
  return {reply->str, reply->len};
}

RedisReply RedisBus::Loop::Copy(const redisReply* reply) {
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

std::optional<int64_t> RedisReply::AsInt() const {
  if (type == Type::kInteger) return integer;
  if (type != Type::kString && type != Type::kStatus) return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool ValidNodeId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

RedisBus::Loop::Loop(RedisBusOptions options, RedisBusListener& listener)
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

RedisBus::Loop::~Loop() {
  Stop(milliseconds(0));
  Close(publisher_);
  Close(subscriber_);
  Close(sentinel_);
}

bool RedisBus::Loop::Begin(std::string* error) {
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

void RedisBus::Loop::Enqueue(Command command) {
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

void RedisBus::Loop::Stop(milliseconds flush_limit) {
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

RedisBusStats RedisBus::Loop::Stats() const {
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

void RedisBus::Loop::Log(bool warning, const std::string& line) {
  if (options_.log) options_.log(warning, line);
}

// One turn of the bus's IoLoop: returns when the next must start at the latest.
RedisBus::Loop::SteadyClock::time_point RedisBus::Loop::Turn() {
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

void RedisBus::Loop::Apply(Command command) {
  switch (command.kind) {
    case Command::Kind::kPublish:
      PublishNow(command.channel, command.payload);
      break;
    case Command::Kind::kSubscribe:
      AddSubscription(std::move(command.channel));
      break;
    case Command::Kind::kCall:
      CallNow(std::move(command.args), std::move(command.done));
      break;
    case Command::Kind::kUnsubscribe:
      RemoveSubscription(std::move(command.channel));
      break;
  }
}

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
RedisBus::~RedisBus() { Stop(std::chrono::milliseconds(0)); }

void RedisBus::Publish(std::string channel, std::string_view payload) {
  std::string framed;
  framed.reserve(loop_->node_id().size() + 1 + payload.size());
  framed.append(loop_->node_id()).append(1, '\n').append(payload);
  loop_->Enqueue({Loop::Command::Kind::kPublish, std::move(channel), std::move(framed)});
}

void RedisBus::Subscribe(std::string_view channel) {
  loop_->Enqueue({Loop::Command::Kind::kSubscribe, std::string(channel), {}});
}

void RedisBus::Unsubscribe(std::string_view channel) {
  loop_->Enqueue({Loop::Command::Kind::kUnsubscribe, std::string(channel), {}});
}

void RedisBus::Call(std::vector<std::string> args, RedisCallback done) {
  loop_->Enqueue({Loop::Command::Kind::kCall, {}, {}, std::move(args), std::move(done)});
}

void RedisBus::Stop(std::chrono::milliseconds flush_limit) { loop_->Stop(flush_limit); }

RedisBusStats RedisBus::stats() const { return loop_->Stats(); }

const std::string& RedisBus::node_id() const { return loop_->node_id(); }

}  // namespace ringcast::cluster
