#include "core/metrics/metrics_server.h"

#include <poll.h>
#include <sys/eventfd.h>
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
constexpr int kReadTimeoutMs = 5000;
constexpr auto kScrapeTimeout = std::chrono::seconds(5);

void WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    bytes.remove_prefix(size_t(n));
  }
}

}  // namespace

std::unique_ptr<MetricsServer> MetricsServer::Listen(const Config& config) {
  const int listen_fd = OpenListener(config.metrics_address, config.metrics_port,
                                     {.backlog = 64, .what = "--metrics-address"});
  if (listen_fd < 0) return nullptr;
  const int stop_fd = eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) {
    RC_LOG(kError, "metrics: eventfd: %s", strerror(errno));
    close(listen_fd);
    return nullptr;
  }
  RC_LOG(kInfo, "metrics: GET /metrics on %s:%u", config.metrics_address.c_str(),
         config.metrics_port);
  return std::unique_ptr<MetricsServer>(new MetricsServer(listen_fd, stop_fd));
}

MetricsServer::~MetricsServer() {
  Stop();
  close(listen_fd_);
  close(stop_fd_);
}

void MetricsServer::Start(ShardSet& shards) {
  thread_ = std::thread([this, &shards] { Run(shards); });
}

void MetricsServer::Stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) < 0) RC_LOG(kWarn, "metrics: %s", strerror(errno));
  thread_.join();
}

void MetricsServer::Run(ShardSet& shards) {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  while (true) {
    if (poll(fds, 2, -1) < 0 && errno != EINTR) {
      RC_LOG(kError, "metrics: poll: %s", strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;  // The client gave up already, or descriptors ran out: next one.
    Serve(shards, fd);
    close(fd);
  }
}

void MetricsServer::Serve(ShardSet& shards, int fd) {
  std::string input;
  http::Limits limits;
  limits.max_header_bytes = kMaxRequestBytes;
  limits.max_body_bytes = 0;
  http::Request request;
  while (true) {
    pollfd readable{fd, POLLIN, 0};
    if (poll(&readable, 1, kReadTimeoutMs) <= 0) return;
    char buffer[2048];
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return;
    input.append(buffer, size_t(n));
    const http::ParseResult parsed = http::ParseRequest(input, limits, &request);
    if (parsed.status == http::Status::kNeedMore && input.size() < kMaxRequestBytes) continue;
    if (parsed.status != http::Status::kOk) {
      return WriteAll(fd, HttpExchange::FormatError(false, 400, "bad request"));
    }
    break;
  }
  if (request.path != "/metrics")
    return WriteAll(fd, HttpExchange::FormatError(false, 404, "not found"));
  if (request.method != http::Method::kGet && request.method != http::Method::kHead) {
    return WriteAll(
        fd, HttpExchange::FormatError(false, 405, "method not allowed", "Allow: GET, HEAD\r\n"));
  }
  std::optional<std::string> text = CollectMetrics(shards, kScrapeTimeout);
  if (!text) {
    return WriteAll(fd, HttpExchange::FormatError(false, 503, "shards did not answer in time"));
  }
  WriteAll(fd, HttpExchange::FormatHead(false, 200, kMetricsContentType, text->size(), ""));
  if (request.method == http::Method::kGet) WriteAll(fd, *text);
}

}  // namespace ringcast
