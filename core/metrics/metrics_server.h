// MetricsServer: GET /metrics on --metrics-address:--metrics-port, off the shards and off the
// public port (docs/metrics.md).
//
// Owner: main(). One IoLoop thread of its own (core/io/io_loop.h), which never blocks: it
// accepts connections, reads each one's request (at most kMaxClients at once, each within a few
// seconds), answers it with a scrape (CollectMetrics: mail to every shard, whose parts come back
// as tasks on this loop; 503 if they are not all in by kScrapeTimeout), writes the answer as
// the socket takes it (within kWriteTimeout) and closes. A Prometheus server scrapes every few
// seconds, not thousands of times a second. Nothing it does can hold a shard up, and no client
// or shard holds up the other clients.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "core/config.h"
#include "core/io/io_loop.h"
#include "proto/http_parser.h"

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
  // A connection goes through reading its request, waiting for its scrape (not watched, no
  // timer of its own: the scrape's deadline bounds it), then writing `output`.
  struct Client {
    int watch = -1;
    uint64_t timer = 0;
    std::string input;
    std::string output;
    size_t written = 0;
  };

  MetricsServer(int listen_fd, std::unique_ptr<IoLoop> loop)
      : listen_fd_(listen_fd), loop_(std::move(loop)) {}
  void Accept(ShardSet& shards);
  void OnReady(ShardSet& shards, int fd);
  // Once the request is complete: answers it, at once or when its scrape is done.
  void Serve(ShardSet& shards, int fd, Client& client, const http::Request& request);
  // Writes `answer`, then closes.
  void Reply(int fd, std::string answer);
  void Write(int fd);
  void Drop(int fd);

  const int listen_fd_;
  std::unique_ptr<IoLoop> loop_;
  std::unordered_map<int, Client> clients_;  // Loop thread only.
};

}  // namespace ringcast
