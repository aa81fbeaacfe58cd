#include "core/metrics/metrics_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/log.h"
#include "core/metrics/metrics_scrape.h"
#include "core/net/http_exchange.h"
#include "core/net/listener.h"
#include "core/runtime/shard_set.h"
#include "proto/http_parser.h"

namespace ringcast {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr size_t kMaxClients = 16;  // Connections served at once; more wait in backlog.
constexpr auto kReadTimeout = std::chrono::seconds(5);
constexpr auto kScrapeTimeout = std::chrono::seconds(5);
// An answer (a scrape: some hundreds of KiB at most) left unread this long is given up.
constexpr auto kWriteTimeout = std::chrono::seconds(5);

}  // namespace

std::unique_ptr<MetricsServer> MetricsServer::Listen(const Config& config) {
  const int listen_fd = OpenListener(config.metrics_address, config.metrics_port,
                                     {.backlog = 64, .what = "--metrics-address"});
  if (listen_fd < 0) return nullptr;
  std::string error;
  std::unique_ptr<IoLoop> loop = IoLoop::Create({.thread_name = "metrics"}, &error);
  if (!loop) {
    RC_LOG(kError, "metrics: %s", error.c_str());
    close(listen_fd);
    return nullptr;
  }
  RC_LOG(kInfo, "metrics: GET /metrics on %s:%u", config.metrics_address.c_str(),
         config.metrics_port);
  return std::unique_ptr<MetricsServer>(new MetricsServer(listen_fd, std::move(loop)));
}

MetricsServer::~MetricsServer() {
  Stop();
  close(listen_fd_);
}

void MetricsServer::Start(ShardSet& shards) {
  // Accept() takes every waiting connection and must find none left without blocking.
  fcntl(listen_fd_, F_SETFL, fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
  loop_->Watch(listen_fd_, POLLIN, [this, &shards](short) { Accept(shards); });
  loop_->Start({.finished = [this] {
    for (const auto& [fd, client] : clients_) close(fd);
    clients_.clear();
  }});
}

void MetricsServer::Stop() { loop_->Stop(); }

void MetricsServer::Accept(ShardSet& shards) {
  while (clients_.size() < kMaxClients) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;  // None waiting, the client gave up already, or descriptors ran out.
    Client& client = clients_[fd];
    client.watch = loop_->Watch(fd, POLLIN, [this, &shards, fd](short) { OnReady(shards, fd); });
    client.timer = loop_->At(IoLoop::Clock::now() + kReadTimeout, [this, fd] {
      clients_[fd].timer = 0;
      Drop(fd);
    });
  }
}

void MetricsServer::Drop(int fd) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  loop_->Unwatch(it->second.watch);
  if (it->second.timer != 0) loop_->Cancel(it->second.timer);
  clients_.erase(it);
  close(fd);
}

void MetricsServer::OnReady(ShardSet& shards, int fd) {
  Client& client = clients_[fd];
  if (!client.output.empty()) return Write(fd);
  char buffer[2048];
  const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return Drop(fd);
  client.input.append(buffer, size_t(n));
  http::Limits limits;
  limits.max_header_bytes = kMaxRequestBytes;
  limits.max_body_bytes = 0;
  http::Request request;
  const http::ParseResult parsed = http::ParseRequest(client.input, limits, &request);
  if (parsed.status == http::Status::kNeedMore && client.input.size() < kMaxRequestBytes) return;
  // Whatever follows the request is not read: the answer closes the connection.
  loop_->Update(client.watch, fd, 0);
  if (parsed.status != http::Status::kOk) {
    return Reply(fd, HttpExchange::FormatError(false, 400, "bad request"));
  }
  Serve(shards, fd, client, request);
}

void MetricsServer::Serve(ShardSet& shards, int fd, Client& client, const http::Request& request) {
  if (request.path != "/metrics") {
    return Reply(fd, HttpExchange::FormatError(false, 404, "not found"));
  }
  if (request.method != http::Method::kGet && request.method != http::Method::kHead) {
    return Reply(
        fd, HttpExchange::FormatError(false, 405, "method not allowed", "Allow: GET, HEAD\r\n"));
  }
  loop_->Cancel(client.timer);
  client.timer = 0;
  const bool head = request.method == http::Method::kHead;
  // Runs on this loop, and only while the loop runs: the client is still here (neither a watch
  // nor a timer of its own can drop it: it watches no event), so `fd` has not been reused.
  CollectMetrics(
      shards, shards.external_mail(), *loop_, IoLoop::Clock::now() + kScrapeTimeout,
      [this, fd, head](std::optional<std::string> text) {
        if (!text) {
          return Reply(fd, HttpExchange::FormatError(false, 503, "shards did not answer in time"));
        }
        std::string answer =
            HttpExchange::FormatHead(false, 200, kMetricsContentType, text->size(), "");
        if (!head) answer += *text;
        Reply(fd, std::move(answer));
      });
}

void MetricsServer::Reply(int fd, std::string answer) {
  Client& client = clients_[fd];
  client.output = std::move(answer);
  client.written = 0;
  if (client.timer != 0) loop_->Cancel(client.timer);
  client.timer = loop_->At(IoLoop::Clock::now() + kWriteTimeout, [this, fd] {
    clients_[fd].timer = 0;
    Drop(fd);
  });
  Write(fd);
}

void MetricsServer::Write(int fd) {
  Client& client = clients_[fd];
  while (client.written < client.output.size()) {
    const ssize_t n = send(fd, client.output.data() + client.written,
                           client.output.size() - client.written, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return loop_->Update(client.watch, fd, POLLOUT);
    if (n <= 0) return Drop(fd);
    client.written += size_t(n);
  }
  Drop(fd);
}

}  // namespace ringcast
