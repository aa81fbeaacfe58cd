// MetricsServer: GET /metrics on --metrics-address:--metrics-port, off the shards and off the
// public port (docs/metrics.md).
//
// Owner: main(). One thread of its own, blocking: it accepts one connection at a time (a
// Prometheus server scrapes every few seconds, not thousands of times a second), reads one
// request within a few seconds, answers it with a scrape (CollectMetrics: mail to every shard)
// and closes. Nothing it does can hold a shard up.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "core/config.h"

namespace ringcast {

class ShardSet;

class MetricsServer {
 public:
  // Listens now, so that a port in use stops the start; null (logged) on failure.
  static std::unique_ptr<MetricsServer> Listen(const Config& config);
  ~MetricsServer();

  // Once the shards take mail (ShardSet's started hook).
  void Start(ShardSet& shards);
  // Before the shards are gone.
  void Stop();

 private:
  MetricsServer(int listen_fd, int stop_fd) : listen_fd_(listen_fd), stop_fd_(stop_fd) {}
  void Run(ShardSet& shards);
  void Serve(ShardSet& shards, int fd);

  int listen_fd_;
  int stop_fd_;  // An eventfd: readable once Stop() is called.
  std::thread thread_;
};

}  // namespace ringcast
