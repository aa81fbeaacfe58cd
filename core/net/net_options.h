// The listener's and the connections' options (--host, --port, the limits and timeouts of
// every connection, the receive buffers) and the flags that set them (net_flags.cc).
#pragma once

#include <cstdint>
#include <string>

#include "core/net/client_address.h"

namespace ringcast {

class FlagRegistry;

struct NetOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8080;
  uint64_t max_message_size = 1 << 20;
  uint64_t max_outbound_bytes = 4 << 20;
  uint32_t idle_timeout_s = 120;
  uint32_t handshake_timeout_s = 10;
  // A request whose answer is deferred (a queued password hash, a store call) waits this long
  // before it is answered 503 and its connection closed.
  uint32_t answer_timeout_s = 60;
  uint32_t close_timeout_s = 5;
  uint32_t max_connections = 20000;  // Per shard.
  uint32_t max_header_bytes = 8192;
  uint64_t max_body_bytes = 1 << 20;
  uint32_t recv_buffer_size = 8192;
  uint32_t recv_buffers = 256;  // Per shard, power of two.
  bool direct_descriptors = true;
  // Connections one client address (its IpAddress::LimitKey) may hold at once on this node,
  // whatever their route, counted at accept (core/net/address_admission.h); the chat's sessions
  // per address are held to it too.
  uint32_t max_conns_per_ip = 1024;
  // The IPv6 network every per-address limit counts as one address (IpAddress::LimitKey).
  uint32_t ipv6_prefix = 64;
  // TLS (docs/architecture.md, "TLS"): with a certificate and key, each shard also listens on
  // tls_port, beside the cleartext port.
  std::string tls_cert;
  std::string tls_key;
  uint16_t tls_port = 8443;
  // permessage-deflate (RFC 7692; core/net/ws_compression.h): agreed with clients that offer it.
  bool ws_deflate = false;
  uint32_t ws_deflate_min_size = 256;  // Messages shorter than this go uncompressed.
  uint32_t ws_deflate_level = 6;       // zlib's 1 (fastest) .. 9 (smallest).
  // Peers whose X-Forwarded-For / X-Real-IP name the client (core/net/client_address.h); empty:
  // nobody's, the TCP peer is the client.
  TrustedProxies trusted_proxies;
};

void RegisterNetFlags(FlagRegistry& flags, NetOptions* options);

// A listening address must resolve before anything starts (the store, the shards): each shard
// would otherwise find out on its own, after the store had opened. Numeric or a name. False
// with the reason on stderr, naming `flag`.
bool CheckListenHost(const char* flag, const std::string& host);

}  // namespace ringcast
