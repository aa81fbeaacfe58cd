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
#include "proto/http_parser.h"

namespace ringcast {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr size_t kMaxClients = 16;  // Connections reading a request at once; more wait in backlog.
constexpr auto kReadTimeout = std::chrono::seconds(5);
constexpr auto kScrapeTimeout = std::chrono::seconds(5);

// The answer (a scrape: some hundreds of KiB at most) is written blocking, each send bounded
// by a timeout, rather than cut short when the socket's buffer fills.
void WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    bytes.remove_prefix(size_t(n));
  }
}

void BlockWithTimeout(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const timeval timeout{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
}

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
    client.watch = loop_->Watch(fd, POLLIN, [this, &shards, fd](short) { OnReadable(shards, fd); });
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

void MetricsServer::OnReadable(ShardSet& shards, int fd) {
  Client& client = clients_[fd];
  char buffer[2048];
  const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return Drop(fd);
  client.input.append(buffer, size_t(n));
  if (Serve(shards, fd, client.input)) Drop(fd);
}

bool MetricsServer::Serve(ShardSet& shards, int fd, std::string_view input) {
  http::Limits limits;
  limits.max_header_bytes = kMaxRequestBytes;
  limits.max_body_bytes = 0;
  http::Request request;
  const http::ParseResult parsed = http::ParseRequest(input, limits, &request);
  if (parsed.status == http::Status::kNeedMore && input.size() < kMaxRequestBytes) return false;
  BlockWithTimeout(fd);
  if (parsed.status != http::Status::kOk) {
    WriteAll(fd, HttpExchange::FormatError(false, 400, "bad request"));
    return true;
  }
  if (request.path != "/metrics") {
    WriteAll(fd, HttpExchange::FormatError(false, 404, "not found"));
    return true;
  }
  if (request.method != http::Method::kGet && request.method != http::Method::kHead) {
    WriteAll(fd,
             HttpExchange::FormatError(false, 405, "method not allowed", "Allow: GET, HEAD\r\n"));
    return true;
  }
  std::optional<std::string> text = CollectMetrics(shards, kScrapeTimeout);
  if (!text) {
    WriteAll(fd, HttpExchange::FormatError(false, 503, "shards did not answer in time"));
    return true;
  }
  WriteAll(fd, HttpExchange::FormatHead(false, 200, kMetricsContentType, text->size(), ""));
  if (request.method == http::Method::kGet) WriteAll(fd, *text);
  return true;
}

}  // namespace ringcast
