// RequestPacing: the way of one shard's sessions' requests, on any transport, from their client
// to their operation (proto/PROTOCOL.md, "Pacing"). A request waits its turn in its session's
// PendingRequests (none runs before hello, while a sync or history answer is on its way, or
// while the client reads too slowly; past that queue's bound the session closes 1008), passes
// the rate limit (--msg-rate: the session's TokenBucket; a client that keeps going after
// refusals is closed), and is then read by its operation's wire and run by its action
// (chat/ops/: RequestReader, ActionOf).
//
// Owner: its SessionHost's shard (one per SessionHost, whose transports' calls hand it each
// request's text, and whose answers let the requests behind them go).
#pragma once

#include <cstdint>
#include <string_view>

#include "chat/ops/request_reader.h"

namespace ringcast::chat {

class SessionHost;
struct Session;

class RequestPacing {
 public:
  RequestPacing(SessionHost& host, RequestLimits limits) : host_(host), reader_(limits) {}

  // A request's JSON from the client: run now if it is its turn, else queued.
  void OnText(Session& session, std::string_view text);
  // Runs the queued requests while the session can take them (ready, no answer outstanding,
  // connection not congested); else, when congestion holds them, arms the drain notice.
  void RunPending(Session& session);
  // Whether the rate limit lets one more request of the session's through. If not, the client
  // is told (a rate_limited error echoing `cid`) or, after a burst's worth of refusals in a row,
  // the session closes.
  bool Admit(Session& session, std::string_view cid);

 private:
  void Run(Session& session, std::string_view text);

  SessionHost& host_;
  ops::RequestReader reader_;
};

}  // namespace ringcast::chat
