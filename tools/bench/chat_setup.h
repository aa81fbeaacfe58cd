// The chat scenario's setup over plain HTTP, before any WebSocket opens: register and log in
// every user, then create the groups. Blocking sockets on a few threads of the main thread's
// own (each register and login costs the server a password hash, so they overlap), one
// keep-alive connection per thread.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tools/bench/chat_protocol.h"

namespace ringcast::bench {

struct ChatSetupPlan {
  sockaddr_in target{};
  std::string host_header;
  std::vector<uint32_t> sources;  // Host byte order; thread i binds sources[i % size].
  std::string prefix;             // Usernames are prefix + user index.
  std::string password;
  ChatLayout layout;
  uint32_t threads = 4;
  double timeout_s = 30;  // Per request.
  bool quiet = false;
};

struct ChatSetupResult {
  std::vector<uint64_t> user_ids;   // Per user index.
  std::vector<std::string> tokens;  // Per user index.
  std::vector<uint64_t> conv_ids;   // Per group.
  double users_seconds = 0;         // Register + login of every user.
  double groups_seconds = 0;
};

// False with *error on the first request that failed (with the status and the server's reason).
bool RunChatSetup(const ChatSetupPlan& plan, ChatSetupResult* result, std::string* error);

}  // namespace ringcast::bench
