// RedisBus::Loop, Sentinel (docs/cluster.md, "High availability"): asks the sentinels where the
// master is, watches +switch-master, and moves the publisher and the subscriber when it moves.
#include <algorithm>
#include <charconv>

#include "core/cluster/redis_bus_loop.h"

namespace ringcast::cluster {

void RedisBus::Loop::SentinelConnected() {
  const RedisAddress& address = options_.address;
  Connection& c = sentinel_;
  AppendAuth(c, address.sentinel_user, address.sentinel_password);
  AppendCommand(c.out, {"SENTINEL", "get-master-addr-by-name", address.master_name});
  AppendCommand(c.out, {"SUBSCRIBE", kSwitchMaster});
  sentinel_query_pending_ = true;
}

// Asks the sentinels again, unless a question is already out (or every sentinel failed and
// the round waits its backoff).
void RedisBus::Loop::RequestResolve() {
  if (sentinel_.state != Connection::State::kReady || sentinel_query_pending_) return;
  Close(sentinel_);
  stats_sentinel_connected_.store(false, std::memory_order_relaxed);
  sentinel_at_ = 0;  // The one that answered last.
  sentinel_.retry_at = SteadyClock::now();
  Maintain(sentinel_, sentinel_.retry_at);
}

void RedisBus::Loop::SentinelFailed(const std::string& why) {
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

void RedisBus::Loop::OnSentinelReply(const redisReply* reply) {
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

bool RedisBus::Loop::ParsePort(std::string_view text, uint16_t* port) {
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
void RedisBus::Loop::MasterIs(RedisEndpoint master, const std::string& source) {
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

void RedisBus::Loop::SetMasterStat() {
  std::lock_guard lock(stats_mutex_);
  stats_master_ = master_known_ ? master_.ToString() : std::string();
}

}  // namespace ringcast::cluster
