// RedisBus::Loop, connections: the publisher, the subscriber and (with Sentinel) the sentinel
// connection: connect without blocking, the handshake, reads and writes, breaking and backing
// off, timeouts, and the probe that finds a silent subscription (core/cluster/redis_bus.h).
// Where the master is comes from redis_bus_sentinel.cc.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/cluster/redis_bus_loop.h"

namespace ringcast::cluster {

void RedisBus::Loop::Maintain(Connection& c, SteadyClock::time_point now) {
  if (c.state != Connection::State::kDown || now < c.retry_at) return;
  if (&c == &sentinel_) return Connect(c, sentinels_[sentinel_at_]);
  // Sentinel: a connection that broke re-resolves the master before it reconnects (the
  // guidelines' "handle reconnections"); both connections wait for the one answer.
  if (!master_known_ || master_stale_) return RequestResolve();
  Connect(c, master_);
}

void RedisBus::Loop::Connect(Connection& c, const RedisEndpoint& endpoint) {
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

void RedisBus::Loop::AppendAuth(Connection& c, const std::string& user,
                                const std::string& password) {
  if (password.empty()) return;
  if (user.empty()) {
    AppendCommand(c.out, {"AUTH", password});
  } else {
    AppendCommand(c.out, {"AUTH", user, password});
  }
  ++c.handshake_replies;
}

// The TCP connection is up: everything the connection needs is pipelined behind the
// handshake, whose answers are checked as they come.
void RedisBus::Loop::Connected(Connection& c) {
  c.state = Connection::State::kReady;
  c.reader = redisReaderCreate();
  c.out.clear();
  c.out_sent = 0;
  c.handshake_replies = 0;
  c.unanswered = 0;
  c.awaiting.clear();
  if (&c == &sentinel_) return SentinelConnected();
  const RedisAddress& address = options_.address;
  AppendAuth(c, address.user, address.password);
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
void RedisBus::Loop::Established(Connection& c) {
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
std::string RedisBus::Loop::Where() const {
  if (!options_.address.sentinel()) return options_.address.ToString();
  return "master '" + options_.address.master_name + "' at " +
         (master_known_ ? master_.ToString() : std::string("(unknown)")) + "/" +
         std::to_string(options_.address.db);
}

void RedisBus::Loop::Fail(Connection& c, const std::string& why) {
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

void RedisBus::Loop::Close(Connection& c) {
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
  if (c.reader != nullptr) redisReaderFree(c.reader);
  c.reader = nullptr;
  c.state = Connection::State::kDown;
  c.out.clear();
  c.out_sent = 0;
}

// Connections stuck connecting or in their handshake, and a sentinel that does not answer,
// are given up (a dead host's SYNs can go unanswered for minutes).
void RedisBus::Loop::Timeouts(SteadyClock::time_point now) {
  for (Connection* c : {&publisher_, &subscriber_}) {
    if ((c->state == Connection::State::kConnecting || c->state == Connection::State::kHandshake) &&
        now - c->since > options_.probe_timeout) {
      Fail(*c, "no answer within " + std::to_string(options_.probe_timeout.count()) + " ms");
    }
  }
  if ((sentinel_.state == Connection::State::kConnecting || sentinel_query_pending_) &&
      sentinel_.state != Connection::State::kDown &&
      now - sentinel_.since > options_.sentinel_timeout) {
    SentinelFailed("no answer within " + std::to_string(options_.sentinel_timeout.count()) + " ms");
  }
}

void RedisBus::Loop::UpdateConnected() {
  stats_connected_.store(publisher_.state == Connection::State::kReady &&
                             subscriber_.state == Connection::State::kReady,
                         std::memory_order_relaxed);
}

void RedisBus::Loop::Probe(SteadyClock::time_point now) {
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

void RedisBus::Loop::Flush(Connection& c) {
  if (c.state != Connection::State::kReady && c.state != Connection::State::kHandshake) return;
  const bool publisher = &c == &publisher_;
  if (&c == &subscriber_ && c.state == Connection::State::kReady) WriteSubscriptionChanges();
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

void RedisBus::Loop::OnEvents(Connection& c, short revents) {
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

void RedisBus::Loop::Read(Connection& c) {
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

bool RedisBus::Loop::Readable(const Connection& c) {
  return c.state == Connection::State::kReady || c.state == Connection::State::kHandshake;
}

void RedisBus::Loop::OnReply(Connection& c, const redisReply* reply) {
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
      return Fail(c, "is a " + std::string(role) + ", not the master; asking the sentinels again");
    }
    return Established(c);
  }
  if (&c == &publisher_) return OnPublisherReply(reply);
  OnSubscriberReply(reply);
}

}  // namespace ringcast::cluster
