// Session: one chat session, a /ws connection or a client on another transport
// (SessionTransport), as its SessionHost keeps it: who it is, its phase, its token, its pacing,
// the requests waiting for their turn, what it has had of each of its conversations (ConvView),
// its contacts and its calls.
//
// Owner: the SessionHost of the shard that opened it; its roles (chat/sessions/) and the
// operations' actions (chat/ops/) read and change it on that shard only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chat/sessions/conv_view.h"
#include "chat/sessions/pending_requests.h"
#include "chat/sessions/rate_limit.h"
#include "chat/sessions/session_transport.h"
#include "core/net/connection.h"

namespace ringcast {
class SharedFrame;
}

namespace ringcast::chat {

// One chat session: a /ws connection, or a client on another transport (SessionTransport).
struct Session {
  enum class Phase : uint8_t { kStarting, kReady, kGone };

  void Send(std::string_view json) {
    transport ? transport->Send(json) : void(conn->SendText(json));
  }
  // Takes over one reference on `frame` (a JSON event as a WebSocket text frame).
  void SendShared(SharedFrame* frame, ringcast::Delivery delivery) {
    transport ? transport->SendShared(frame, delivery) : void(conn->SendFrame(frame, delivery));
  }
  void Close(uint16_t code, std::string_view reason) {
    transport ? transport->Close(code, reason) : conn->Close(code, reason);
  }
  bool congested() const {
    return conn != nullptr ? conn->congested() : transport != nullptr && transport->Congested();
  }
  void NotifyWhenUncongested() {
    conn != nullptr ? conn->NotifyWhenUncongested() : transport->NotifyWhenUncongested();
  }

  // The connection the session's events leave by (its congestion holds requests back). Null
  // for a session on an HTTP transport while none of its requests streams its events.
  Connection* conn = nullptr;
  std::unique_ptr<SessionTransport> transport;  // None: JSON over conn's WebSocket.
  ConnId id;
  int64_t user = 0;
  std::string jti;
  int64_t token_exp_ms = 0;     // Wall clock: the token's exp, as the client knows it.
  int64_t token_ends_ms = 0;    // Monotonic: when the session closes 4001 "token expired".
  bool expiry_noticed = false;  // token_expiring sent for the current token.
  std::string address;          // Counted by its owner shard's HttpApi (--max-conns-per-ip).
  Phase phase = Phase::kStarting;
  bool attached = false;  // Counted by the user's owner shard.
  bool loaded = false;
  size_t index = 0;               // In SessionHost::sessions_.
  int64_t last_heartbeat_ms = 0;  // Monotonic.
  TokenBucket bucket;             // --msg-rate.
  uint32_t refused_in_a_row = 0;
  PendingRequests pending;          // Not yet their turn (pending_requests.h).
  bool answer_outstanding = false;  // A sync or history answer is on its way.
  std::unordered_map<int64_t, ConvView> convs;
  std::unordered_map<int64_t, uint32_t> contacts;  // User → conversations shared.
  uint64_t device = 0;  // hello's `device`: this connection in calls (calls/call_mail.h).
  // The calls this device is in (their holders hear of its close: CallOp::kDropped).
  std::vector<std::string> calls;
};

}  // namespace ringcast::chat
