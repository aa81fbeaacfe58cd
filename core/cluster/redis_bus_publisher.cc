// RedisBus::Loop, the publisher's traffic: PUBLISH and Call (scripts, counters, the node
// registry) share the publisher's connection and its order; publications that could not be
// written are remembered and announced as missed on the control channel once it is back
// (core/cluster/redis_bus.h).
#include <thread>

#include "core/cluster/redis_bus_loop.h"

namespace ringcast::cluster {

void RedisBus::Loop::EnqueueCall(Command command) {
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

void RedisBus::Loop::PublishNow(std::string_view channel, std::string_view framed) {
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

void RedisBus::Loop::ExpectPublishReply() {
  ++publisher_.unanswered;
  publisher_.awaiting.push_back({nullptr, SteadyClock::now()});
}

void RedisBus::Loop::CallNow(std::vector<std::string> args, RedisCallback done) {
  Connection& c = publisher_;
  if (c.state != Connection::State::kReady || c.pending_out() > options_.max_output_bytes) {
    stats_calls_failed_.fetch_add(1, std::memory_order_relaxed);
    return done(RedisReply{});
  }
  AppendCommand(c.out, std::vector<std::string_view>(args.begin(), args.end()));
  c.awaiting.push_back({std::move(done), SteadyClock::now()});
  stats_calls_.fetch_add(1, std::memory_order_relaxed);
}

void RedisBus::Loop::Drop(std::string channel) {
  stats_dropped_.fetch_add(1, std::memory_order_relaxed);
  NoteMissed(std::move(channel));
}

void RedisBus::Loop::NoteMissed(std::string channel) {
  if (missed_all_) return;
  if (missed_.size() >= kMaxMissedNamed) {
    missed_all_ = true;
    missed_.clear();
    return;
  }
  missed_.insert(std::move(channel));
}

void RedisBus::Loop::AnnounceMissed() {
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

// A reply on the publisher's connection: a call's (its callback gets it) or a PUBLISH's.
void RedisBus::Loop::OnPublisherReply(const redisReply* reply) {
  Connection& c = publisher_;
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
}

}  // namespace ringcast::cluster
