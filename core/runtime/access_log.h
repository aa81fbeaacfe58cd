// AccessLog: one line per HTTP request and one per WebSocket session (at its close), written
// through the non-blocking logger (core/log.h) when --access-log is on.
//
// Owner: one per shard, only when the access log is on (the shard's pointer is null otherwise,
// so the hooks cost one branch). What it keeps per connection lives here, by slot, not in
// Connection, whose size is the idle-memory budget (docs/architecture.md). A hook for a slot
// whose generation moved on (a late event of a closed connection) is ignored.
//
// HTTP line (event "access.http"): client, method, path (never the query: it may carry a token),
// user (HttpExchange::SetAccessLogUser: the chat's user id once its token is verified), status,
// duration_ms (request complete → answer queued), bytes_in (head + body), bytes_out (the answer).
// WebSocket line (event "access.ws"): client, path, user (when the route knows it: the chat's user
// id), duration_ms (upgrade request → connection released), messages_in / messages_out (data
// messages), bytes_in / bytes_out (on the socket during the session), close_code (the first close
// frame's, either side's; 1006 when none was exchanged), closed_by.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast {

class AccessLog {
 public:
  // Whether OnRequest needs the client's address (not yet known for this connection).
  bool NeedsAddress(uint32_t slot, uint32_t generation);
  // An HTTP request was read whole; `address` is the client's ("": unknown, or already known).
  void OnRequest(uint32_t slot, uint32_t generation, std::string_view method,
                 std::string_view target, uint64_t bytes_in, const std::string& address);
  // Its answer was queued: writes the line. Status 101 makes the connection a WebSocket
  // session, whose line waits for OnRelease.
  void OnAnswer(uint32_t slot, uint32_t generation, int status, uint64_t bytes_out);
  // A request that could not be read (malformed, too large, timed out): the answer's line.
  void OnFramingError(uint32_t slot, uint32_t generation, int status, uint64_t bytes_out,
                      const std::string& address);

  void OnMessageIn(uint32_t slot, uint32_t generation);
  void OnMessageOut(uint32_t slot, uint32_t generation);
  void OnBytes(uint32_t slot, uint32_t generation, uint64_t in, uint64_t out);
  // The first close frame (ours or the peer's) sets the close code.
  void OnClose(uint32_t slot, uint32_t generation, uint16_t code, bool by_server);
  void OnUser(uint32_t slot, uint32_t generation, std::string user);
  // The connection is gone: a WebSocket session's line.
  void OnRelease(uint32_t slot, uint32_t generation);

 private:
  struct Entry {
    uint32_t generation = 0;
    bool websocket = false;
    bool close_known = false;
    bool closed_by_server = false;
    uint16_t close_code = 0;
    int64_t start_ns = 0;
    uint64_t request_bytes = 0;
    uint64_t messages_in = 0;
    uint64_t messages_out = 0;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    std::string method;
    std::string path;
    std::string address;
    std::string user;
  };
  Entry* Find(uint32_t slot, uint32_t generation);
  Entry& Fresh(uint32_t slot, uint32_t generation);

  std::vector<Entry> entries_;  // By slot; grows to the highest slot used.
};

}  // namespace ringcast
