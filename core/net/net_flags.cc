#include <netdb.h>

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
  flags.Add({
      {"host", &options->host, "Address to listen on"},
      Bounded("port", &options->port, 1, 65535, "TCP port to listen on"),
      {"tls-cert", &options->tls_cert,
       "PEM certificate chain (the leaf first) for TLS on --tls-port (https://, wss://); read "
       "again on SIGHUP. Empty: no TLS"},
      {"tls-key", &options->tls_key, "PEM private key of --tls-cert; read again on SIGHUP"},
      Bounded("tls-port", &options->tls_port, 1, 65535,
              "TCP port for TLS, beside --port's cleartext (with --tls-cert)"),
      Bounded("max-message-size", &options->max_message_size, uint64_t{1}, uint64_t{1} << 31,
              "Largest WebSocket message accepted, bytes (larger: close 1009); a compressed one's "
              "inflated size, which a route may bound lower (/ws, /stomp: what a request can be)"),
      Bounded("max-outbound-bytes", &options->max_outbound_bytes, uint64_t{1024}, uint64_t{1} << 40,
              "Queued unsent bytes per connection before it is cut off (close 1008)"),
      Bounded("idle-timeout", &options->idle_timeout_s, 1, 86400,
              "Seconds without input before a ping; as long again without input closes (1001). A "
              "streamed answer (a file download) whose client takes nothing this long is closed"),
      Bounded("handshake-timeout", &options->handshake_timeout_s, 1, 3600,
              "Seconds to receive a complete HTTP request"),
      Bounded(
          "answer-timeout", &options->answer_timeout_s, 1, 3600,
          "Seconds a received HTTP request waits for its answer (a queued password hash, a store "
          "call) before it is answered 503 and the connection closed"),
      Bounded("close-timeout", &options->close_timeout_s, 1, 3600,
              "Seconds to wait for the peer's close frame / EOF after we close"),
      Bounded("max-connections", &options->max_connections, 1, 1 << 20, "Connections per shard"),
      Bounded("max-header-bytes", &options->max_header_bytes, 256, 1 << 20,
              "Largest HTTP request head (larger: 431)"),
      Bounded("max-body-bytes", &options->max_body_bytes, uint64_t{0}, uint64_t{1} << 30,
              "Largest HTTP request body (larger: 413)"),
      Bounded("recv-buffer-size", &options->recv_buffer_size, 1024, 1 << 20,
              "Bytes per provided receive buffer"),
      Bounded("recv-buffers", &options->recv_buffers, 8, 32768,
              "Provided receive buffers per shard (power of two)"),
      {"direct-descriptors", &options->direct_descriptors,
       "Accept into io_uring direct descriptors, not limited by the process fd table"},
      Bounded(
          "max-conns-per-ip", &options->max_conns_per_ip, 1, 1 << 24,
          "Connections one client address may hold at once on this node, whatever their route "
          "(WebSocket, SSE, downloads, TLS handshakes in progress), counted at accept: past it a "
          "connection is answered 429 (TLS: closed) at once. A --trusted-proxies peer's are not "
          "counted there; the chat's sessions (/ws, STOMP, SSE) are held to it per client address "
          "too, the forwarded one behind such a proxy"),
      Bounded("ipv6-prefix", &options->ipv6_prefix, 1, 128,
              "Prefix length of the IPv6 network that the per-address limits (--max-conns-per-ip, "
              "--login-rate-ip, --register-rate-ip) count as one address; IPv4-mapped addresses "
              "count as their IPv4 address"),
      {"ws-deflate", &options->ws_deflate,
       "Agree to WebSocket permessage-deflate (RFC 7692) with clients that offer it, always "
       "without context takeover (no zlib state per connection)"},
      Bounded("ws-deflate-min-size", &options->ws_deflate_min_size, uint32_t{0}, uint32_t{1} << 30,
              "With --ws-deflate: messages shorter than this many bytes are sent uncompressed"),
      Bounded("ws-deflate-level", &options->ws_deflate_level, uint32_t{1}, uint32_t{9},
              "With --ws-deflate: zlib compression level, 1 (fastest) to 9 (smallest)"),
  });
  std::string* trusted_proxies = flags.Scratch();
  flags
      .Add({"trusted-proxies", trusted_proxies,
            "Comma-separated addresses and networks (10.0.0.5, 10.1.0.0/16, fd00::/8) of reverse "
            "proxies whose X-Forwarded-For or X-Real-IP names the client for the per-address "
            "limits (logins, registrations, connections); from any other peer those headers are "
            "ignored. Empty: trust nobody"})
      ->default_str("");
  flags.AddCheck([options] {
    if ((options->recv_buffers & (options->recv_buffers - 1)) != 0) {
      std::fprintf(stderr, "ringcast: --recv-buffers must be a power of two, got %u\n",
                   options->recv_buffers);
      return false;
    }
    if (options->tls_cert.empty() != options->tls_key.empty()) {
      std::fprintf(stderr, "ringcast: --tls-cert and --tls-key go together\n");
      return false;
    }
    if (!options->tls_cert.empty() && options->tls_port == options->port) {
      std::fprintf(stderr, "ringcast: --tls-port must differ from --port (both %u)\n",
                   options->port);
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
