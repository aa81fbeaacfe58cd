// AmqpPublisher: the JobPublisher of --amqp. Every job (notification.due, message.committed,
// mention, and whatever other code publishes: notify/README.md lists the routing keys and
// payloads) goes to one durable topic exchange (--amqp-exchange) as a persistent message
// (delivery_mode 2), with publisher confirms: a job leaves the queue only once the broker has
// acknowledged it, so a broker that restarts or a connection that breaks gets it again
// (at least once; a consumer dedupes by the payload's idempotency key or message id).
//
// Owner: its own thread ("amqp") does every network call (librabbitmq, blocking, with
// timeouts), reconnecting with backoff (100 ms doubling to 10 s). Publish is called from any
// thread, shards included: it takes a mutex held only to move one job into or out of the
// bounded queue (--amqp-max-queued), never across I/O, and drops (counted) when the queue is
// full, so a slow or absent broker never holds a shard.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "core/metrics/metric_set.h"
#include "notify/sink.h"

namespace ringcast::notify {

class AmqpPublisher final : public JobPublisher {
 public:
  // nullptr with *error when the URL does not parse (amqp://user:pass@host:port/vhost).
  static std::unique_ptr<AmqpPublisher> Create(const std::string& url, std::string exchange,
                                               size_t max_queued, std::string* error);
  ~AmqpPublisher() override;

  void Publish(std::string routing_key, std::string json) override;
  void Start();
  // Publishes what is queued for up to `flush_ms` more, then closes. Idempotent.
  void Stop(int64_t flush_ms = 2000);
  void CollectMetrics(MetricSet& out) const;

 private:
  struct Target {
    std::string host, user, password, vhost;
    int port = 5672;
  };
  AmqpPublisher(Target target, std::string exchange, size_t max_queued);
  void Run();
  // Connects, logs in, opens channel 1, declares the exchange, enables confirms.
  bool Connect();
  void Disconnect();
  // One job, confirmed; false: the connection is no good (reconnect, then send it again).
  bool Send(const std::pair<std::string, std::string>& job);

  const Target target_;
  const std::string exchange_;
  const size_t max_queued_;
  void* connection_ = nullptr;  // amqp_connection_state_t, on the amqp thread only.

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::pair<std::string, std::string>> queue_;  // (routing key, JSON).
  bool stopping_ = false;
  int64_t flush_deadline_ms_ = 0;  // Monotonic; set by Stop.
  std::thread thread_;

  std::atomic<uint64_t> confirmed_{0}, dropped_{0}, nacked_{0}, connects_{0};
  std::atomic<int64_t> connected_{0};
};

}  // namespace ringcast::notify
