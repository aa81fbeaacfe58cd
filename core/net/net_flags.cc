#include <netdb.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <utility>

#include "core/flags.h"
#include "core/net/net_options.h"

namespace ringcast {

bool CheckListenHost(const char* flag, const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* result = nullptr;
  if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result); rc != 0) {
    std::fprintf(stderr, "ringcast: %s: cannot resolve '%s': %s\n", flag, host.c_str(),
                 gai_strerror(rc));
    return false;
  }
  freeaddrinfo(result);
  return true;
}

void RegisterNetFlags(FlagRegistry& flags, NetOptions* options) {
  flags.Add("--host", &options->host, "RINGCAST_HOST", "Address to listen on");
  flags.Add("--port", &options->port, "RINGCAST_PORT", "TCP port to listen on")
      ->check(CLI::Range(1, 65535));
  flags
      .Add("--max-message-size", &options->max_message_size, "RINGCAST_MAX_MESSAGE_SIZE",
           "Largest WebSocket message accepted, bytes (larger: close 1009)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 31));
  flags
      .Add("--max-outbound-bytes", &options->max_outbound_bytes, "RINGCAST_MAX_OUTBOUND_BYTES",
           "Queued unsent bytes per connection before it is cut off (close 1008)")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 40));
  flags
      .Add("--idle-timeout", &options->idle_timeout_s, "RINGCAST_IDLE_TIMEOUT",
           "Seconds without input before a ping; as long again without input closes (1001). A "
           "streamed answer (a file download) whose client takes nothing this long is closed")
      ->check(CLI::Range(1, 86400));
  flags
      .Add("--handshake-timeout", &options->handshake_timeout_s, "RINGCAST_HANDSHAKE_TIMEOUT",
           "Seconds to receive a complete HTTP request")
      ->check(CLI::Range(1, 3600));
  flags
      .Add("--close-timeout", &options->close_timeout_s, "RINGCAST_CLOSE_TIMEOUT",
           "Seconds to wait for the peer's close frame / EOF after we close")
      ->check(CLI::Range(1, 3600));
  flags
      .Add("--max-connections", &options->max_connections, "RINGCAST_MAX_CONNECTIONS",
           "Connections per shard")
      ->check(CLI::Range(1, 1 << 20));
  flags
      .Add("--max-header-bytes", &options->max_header_bytes, "RINGCAST_MAX_HEADER_BYTES",
           "Largest HTTP request head (larger: 431)")
      ->check(CLI::Range(256, 1 << 20));
  flags
      .Add("--max-body-bytes", &options->max_body_bytes, "RINGCAST_MAX_BODY_BYTES",
           "Largest HTTP request body (larger: 413)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 30));
  flags
      .Add("--recv-buffer-size", &options->recv_buffer_size, "RINGCAST_RECV_BUFFER_SIZE",
           "Bytes per provided receive buffer")
      ->check(CLI::Range(1024, 1 << 20));
  flags
      .Add("--recv-buffers", &options->recv_buffers, "RINGCAST_RECV_BUFFERS",
           "Provided receive buffers per shard (power of two)")
      ->check(CLI::Range(8, 32768));
  flags.AddSwitch("direct-descriptors", &options->direct_descriptors, "RINGCAST_DIRECT_DESCRIPTORS",
                  "Accept into io_uring direct descriptors, not limited by the process fd table");
  flags.AddSwitch("fixed-fd-install", &options->fixed_fd_install, "RINGCAST_FIXED_FD_INSTALL",
                  "With direct descriptors, learn a client's address with "
                  "IORING_OP_FIXED_FD_INSTALL where the kernel has it (6.8+); off: accept with "
                  "the address, as on older kernels");
  std::string* trusted_proxies = flags.Scratch();
  flags
      .Add("--trusted-proxies", trusted_proxies, "RINGCAST_TRUSTED_PROXIES",
           "Comma-separated addresses and networks (10.0.0.5, 10.1.0.0/16, fd00::/8) of reverse "
           "proxies whose X-Forwarded-For or X-Real-IP names the client for the per-address "
           "limits (logins, registrations, connections); from any other peer those headers are "
           "ignored. Empty: trust nobody")
      ->default_str("");
  flags.AddCheck([options] {
    if ((options->recv_buffers & (options->recv_buffers - 1)) != 0) {
      std::fprintf(stderr, "ringcast: --recv-buffers must be a power of two, got %u\n",
                   options->recv_buffers);
      return false;
    }
    return CheckListenHost("--host", options->host);
  });
  flags.AddCheck([options, trusted_proxies] {
    std::string error;
    auto proxies = TrustedProxies::Parse(*trusted_proxies, &error);
    if (!proxies) {
      std::fprintf(stderr, "ringcast: --trusted-proxies: %s\n", error.c_str());
      return false;
    }
    options->trusted_proxies = std::move(*proxies);
    return true;
  });
}

}  // namespace ringcast
