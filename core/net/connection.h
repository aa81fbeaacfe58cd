// Connection: one accepted TCP connection, HTTP/1.1 first and WebSocket after an upgrade.
//
// Owner: the shard that accepted it; only that shard's thread touches it. Connections are
// named across time by ConnId {shard, slot, generation}: a completion or a cross-shard message
// that arrives after the connection closed carries a stale generation and is dropped.
//
// Memory: every idle connection pays for this object and nothing else (no receive buffer, no
// send array, no message buffer), so keep it small; see the static_assert in connection.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/net/send_queue.h"
#include "core/net/shared_frame.h"
#include "core/runtime/timer_wheel.h"
#include "proto/ws_frame.h"
#include "proto/ws_reader.h"

namespace ringcast {

class Shard;
class WebSocketHandler;

struct ConnId {
  uint32_t shard = 0;
  uint32_t slot = 0;
  uint32_t generation = 0;
  bool operator==(const ConnId&) const = default;
};

// A Connection is its own timer entry (TimerWheel hands back the TimerEntry*, and the shard
// downcasts), which saves the back-pointer an embedded entry would need.
class Connection : private TimerEntry {
 public:
  enum class State : uint8_t {
    kHttp,       // Reading requests.
    kWebSocket,  // Upgraded.
    kClosing,    // Close frame queued or sent, waiting for the peer's and for the queue to drain.
    kDraining,   // Write side shut down; discarding input until EOF or the close timer fires.
    kClosed,     // Descriptor closed; waiting for outstanding operations before the slot is freed.
  };

  Connection(uint32_t slot, uint32_t generation, int fd, uint64_t max_message_size)
      : reader_(ws::Role::kServer, {max_message_size}),
        slot_(slot),
        generation_(generation),
        fd_(fd) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  ConnId id() const;
  // The shard that owns this connection, which is the calling thread's (see Shard::Current).
  Shard& shard() const;
  State state() const { return state_; }
  bool is_open_websocket() const { return state_ == State::kWebSocket; }
  uint64_t queued_bytes() const { return send_queue_.bytes(); }  // Not yet sent.

  // Handler-visible per-connection state (e.g. a subscription index).
  uint64_t user_data = 0;

  // --- Sending (WebSocket) --------------------------------------------------------------------
  // Queue a data frame built elsewhere (shared by many connections). Takes over one reference.
  // Past the outbound cap the connection is cut off (policy in docs/architecture.md). Frames
  // sent to a connection that is no longer an open WebSocket are released and ignored.
  void SendFrame(SharedFrame* frame);
  // A message for this connection alone: encoded straight into its send queue's cork buffer.
  void SendMessage(ws::Opcode opcode, std::span<const uint8_t> payload);
  void SendText(std::string_view text) {
    SendMessage(ws::Opcode::kText, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  }
  // Start the closing handshake (RFC 6455 §7.1.2): queue a close frame, stop delivering messages,
  // and drop the connection if the peer does not answer within the close timeout.
  void Close(uint16_t code, std::string_view reason);

 private:
  friend class Shard;
  friend class HttpExchange;

  void QueueBytes(SharedFrame* frame);  // Any state that still writes; no cap check.
  bool AdmitOutbound(uint64_t size);    // False: over the cap, and the connection is cut off.

  SendQueue send_queue_;
  ws::MessageReader reader_;
  WebSocketHandler* handler_ = nullptr;
  std::unique_ptr<std::string> http_pending_;  // A request spanning receive buffers, only then.
  uint32_t slot_;
  uint32_t generation_;
  int fd_;  // Direct descriptor index or plain fd, per the shard's mode.
  uint32_t last_receive_tick_ = 0;
  State state_ = State::kHttp;
  bool recv_armed_ : 1 = false;
  bool send_in_flight_ : 1 = false;
  bool flush_queued_ : 1 = false;       // On the shard's flush list.
  bool close_after_flush_ : 1 = false;  // Shut the write side once the queue drains.
  bool close_frame_received_ : 1 = false;
  bool ping_outstanding_ : 1 = false;  // Idle ping sent, nothing received since.
  bool recv_rearm_ : 1 = false;        // Multishot recv ended; re-arm at the next flush.
  bool release_queued_ : 1 = false;
  bool leave_queued_ : 1 = false;     // Handler's OnClose pending at the end of the iteration.
  bool awaiting_answer_ : 1 = false;  // A deferred HTTP answer is outstanding.
  bool shutdown_in_flight_ : 1 = false;
};

// What a route installs on an upgraded connection. Called on the connection's shard.
class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  virtual void OnOpen(Connection& /*conn*/) {}
  // `payload` is valid only during the call (it may point into the receive buffer).
  virtual void OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) = 0;
  // A ping or pong frame arrived: the peer is alive (data messages go to OnMessage).
  virtual void OnHeartbeat(Connection& /*conn*/) {}
  // The connection stops being an open WebSocket (closing handshake started, error, or drop).
  // Called once; no frames are delivered to it afterwards.
  virtual void OnClose(Connection& /*conn*/) {}
};

}  // namespace ringcast
