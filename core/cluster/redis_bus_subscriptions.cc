// RedisBus::Loop, subscriptions: the channels somebody on this node wants (reference-counted,
// batched per turn) on the subscriber's connection, the publications and "missed" notices that
// arrive on them, and the probe's echo (core/cluster/redis_bus.h).
#include <algorithm>

#include "core/cluster/redis_bus_loop.h"

namespace ringcast::cluster {

void RedisBus::Loop::AddSubscription(std::string channel) {
  if (++subscriptions_[channel] != 1) return;
  stats_subscribed_.store(subscriptions_.size(), std::memory_order_relaxed);
  // Left and wanted again within one turn: Redis never heard of the leaving.
  if (subscriber_.state == Connection::State::kReady && to_unsubscribe_.erase(channel) == 0) {
    to_subscribe_.push_back(std::move(channel));
  }
}

void RedisBus::Loop::RemoveSubscription(std::string channel) {
  auto it = subscriptions_.find(channel);
  if (it == subscriptions_.end() || --it->second > 0) return;
  subscriptions_.erase(it);
  stats_subscribed_.store(subscriptions_.size(), std::memory_order_relaxed);
  if (subscriber_.state != Connection::State::kReady) return;
  // Wanted and left within one turn: Redis never hears of it.
  if (auto wanted = std::find(to_subscribe_.begin(), to_subscribe_.end(), channel);
      wanted != to_subscribe_.end()) {
    to_subscribe_.erase(wanted);
  } else {
    to_unsubscribe_.insert(std::move(channel));
  }
}

// The turn's changes, one UNSUBSCRIBE and one SUBSCRIBE per kChannelsPerCommand channels.
void RedisBus::Loop::WriteSubscriptionChanges() {
  Connection& c = subscriber_;
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

void RedisBus::Loop::Subscribe(const std::vector<std::string_view>& channels) {
  for (size_t at = 0; at < channels.size(); at += kChannelsPerCommand) {
    std::vector<std::string_view> args = {"SUBSCRIBE"};
    const size_t end = std::min(channels.size(), at + kChannelsPerCommand);
    args.insert(args.end(), channels.begin() + long(at), channels.begin() + long(end));
    AppendCommand(subscriber_.out, args);
  }
}

void RedisBus::Loop::OnMessage(std::string_view channel, std::string_view framed) {
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

void RedisBus::Loop::OnControl(std::string_view notice) {
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

void RedisBus::Loop::OnSubscriberReply(const redisReply* reply) {
  if (reply->type == REDIS_REPLY_ERROR) {
    return Fail(subscriber_, "refused a subscription: " + std::string(ReplyText(reply)));
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

}  // namespace ringcast::cluster
