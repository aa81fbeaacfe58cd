// A listening TCP socket on host:port (any address getaddrinfo gives for them, the first that
// binds), for the shards' listeners and the --metrics-port one.
#pragma once

#include <cstdint>
#include <string>

namespace ringcast {

struct ListenerOptions {
  // SO_REUSEPORT: every shard listens on the same port and the kernel spreads connections.
  bool reuse_port = false;
  // TCP_NODELAY, inherited by accepted sockets on Linux (we cork in user space, not Nagle).
  bool no_delay = false;
  int backlog = 4096;
  const char* what = "listen";  // Names it in the error line: the flag ("--host").
};

// The descriptor (close-on-exec), or -errno with a line logged.
int OpenListener(const std::string& host, uint16_t port, const ListenerOptions& options);

}  // namespace ringcast
