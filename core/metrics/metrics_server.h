// MetricsServer: GET /metrics on --metrics-address:--metrics-port, off the shards and off the
// public port (docs/metrics.md).
//
// Owner: main(). One IoLoop thread of its own (core/io/io_loop.h): it accepts connections,
// reads each one's request without blocking (at most kMaxClients at once, each within a few
// seconds), answers it with a scrape (CollectMetrics: mail to every shard, waited for on this
// thread, at most kScrapeTimeout: a Prometheus server scrapes every few seconds, not thousands
// of times a second) and closes. Nothing it does can hold a shard up.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "core/config.h"
#include "core/io/io_loop.h"

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
  struct Client {
    int watch = -1;
    uint64_t timer = 0;
    std::string input;
  };

  MetricsServer(int listen_fd, std::unique_ptr<IoLoop> loop)
      : listen_fd_(listen_fd), loop_(std::move(loop)) {}
  void Accept(ShardSet& shards);
  void OnReadable(ShardSet& shards, int fd);
  // Answers (once the request is complete) and closes; returns whether it is done with `fd`.
  bool Serve(ShardSet& shards, int fd, std::string_view input);
  void Drop(int fd);

  const int listen_fd_;
  std::unique_ptr<IoLoop> loop_;
  std::unordered_map<int, Client> clients_;  // Loop thread only.
};

}  // namespace ringcast
