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
#include "proto/ws_deflate.h"
#include "proto/ws_frame.h"
#include "proto/ws_reader.h"

namespace ringcast {

class Shard;
class WebSocketHandler;

// What became of a frame handed to a connection. The outbound cap judges what is already queued
// (uWebSockets' maxBackpressure rule): a connection under the cap always takes the next frame,
// however large, so one big message always gets out; only one already past it is cut off.
enum class SendStatus : uint8_t {
  kQueued,        // Queued; the queue is within the cap.
  kBackpressure,  // Queued, and the queue is now past the cap: the next reliable frame cuts the
                  // connection off unless the queue drains first (NotifyWhenUncongested).
  kDropped,       // Droppable and the connection is behind: not queued; the connection is fine.
  kCutOff,        // The queue was already past the cap: not queued; closing with 1008.
  kNotOpen,       // Not an open WebSocket (closing, closed, or still HTTP): not queued.
};

// Why a connection ended, for the metrics (docs/metrics.md): the first reason decided wins.
enum class CloseReason : uint8_t {
  kHttp,            // Never upgraded: an HTTP connection closed, by either side.
  kConnectionLost,  // A WebSocket whose TCP connection ended without a closing handshake.
  kPeerClosed,      // The peer sent the first close frame.
  kServerClosed,    // The application closed it (token revoked, drain, presence timeout, ...).
  kSlowConsumer,    // Past the outbound cap.
  kIdleTimeout,     // Silent past --idle-timeout and its ping.
  kShutdown,        // The server is stopping.
  kProtocolError,   // The peer broke RFC 6455 (or sent a message too big).
};
inline constexpr size_t kCloseReasons = 8;
std::string_view CloseReasonName(CloseReason reason);

enum class Delivery : uint8_t {
  kReliable,   // Must reach the peer in order: a connection that cannot take it is cut off.
  kDroppable,  // Worth nothing late (typing): skipped for a connection that is behind.
};

struct ConnId {
  uint32_t shard = 0;
  uint32_t slot = 0;
  uint32_t generation = 0;
  bool operator==(const ConnId&) const = default;
};

// A Connection is its own timer entry (TimerWheel hands back the TimerEntry*, and
// Connection::FromTimer downcasts), which saves the back-pointer an embedded entry would need.
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
  // At least half the outbound cap is unsent: a producer of long answers should wait for
  // OnDrain (NotifyWhenUncongested) before queueing more.
  bool congested() const;

  // Handler-visible per-connection state (e.g. a subscription index).
  uint64_t user_data = 0;

  // permessage-deflate was agreed at the upgrade (RFC 7692; core/net/ws_compression.h): data
  // messages may arrive compressed (inflated before OnMessage) and are sent compressed when
  // that pays. Invisible to handlers otherwise.
  bool deflate() const { return deflate_window_bits_ != 0; }

  // --- Sending (WebSocket) --------------------------------------------------------------------
  // Queue a data frame built elsewhere (shared by many connections). Takes over one reference
  // (released at once when the frame is not queued). The cap rule is SendStatus's; the policy
  // is in docs/architecture.md ("Slow consumers").
  SendStatus SendFrame(SharedFrame* frame, Delivery delivery = Delivery::kReliable);
  // A message for this connection alone: encoded straight into its send queue's cork buffer.
  SendStatus SendMessage(ws::Opcode opcode, std::span<const uint8_t> payload);
  // The same for a payload still masked as the peer sent it (WebSocketHandler::OnMaskedBinary):
  // unmasked straight into the cork, one pass over the bytes.
  SendStatus SendMessage(ws::Opcode opcode, const ws::MaskedPayload& payload);
  SendStatus SendText(std::string_view text) {
    return SendMessage(ws::Opcode::kText,
                       {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  }
  // Asks for one WebSocketHandler::OnDrain call once the queue is no longer congested(). Only
  // while congested (a send is then in flight, whose completion is the moment to check).
  void NotifyWhenUncongested();
  // A droppable frame is skipped for a connection with more than this unsent.
  static constexpr uint64_t kDroppableBacklog = 64 * 1024;
  // Start the closing handshake (RFC 6455 §7.1.2): queue a close frame, stop delivering messages,
  // and drop the connection if the peer does not answer within the close timeout.
  void Close(uint16_t code, std::string_view reason, CloseReason why = CloseReason::kServerClosed);

  static constexpr std::string_view kSlowConsumerReason =
      "slow consumer: outbound queue limit exceeded";

  // --- The engine's side (ConnectionTable and the protocol drivers; routes use the above) ----
  // Bookkeeping of the connection's operations and protocol phase, read and written only by the
  // ConnectionTable and the drivers (http_driver.h, ws_driver.h) on the owning shard.
  struct Io {
    bool recv_armed : 1 = false;
    bool send_in_flight : 1 = false;
    bool flush_queued : 1 = false;       // On the table's flush list.
    bool close_after_flush : 1 = false;  // Shut the write side once the queue drains.
    bool close_frame_received : 1 = false;
    bool ping_outstanding : 1 = false;  // Idle ping sent, nothing received since.
    bool recv_rearm : 1 = false;        // Multishot recv ended; re-arm at the next flush.
    bool release_queued : 1 = false;
    bool leave_queued : 1 = false;     // Handler's OnClose pending at the end of the iteration.
    bool awaiting_answer : 1 = false;  // A deferred HTTP answer is outstanding.
    bool shutdown_in_flight : 1 = false;
    bool drain_wanted : 1 = false;      // OnDrain once no longer congested.
    bool body_streaming : 1 = false;    // A request body is going to a BodySink.
    bool body_paused : 1 = false;       // ... and its sink asked to stop receiving for now.
    bool answer_streaming : 1 = false;  // An answer's body is coming from a BodySource.
    // Cut off as a slow consumer while a send was in flight: that send is being cancelled, and
    // the close frame is queued once its completion says how much of it the kernel took.
    bool close_frame_pending : 1 = false;
  };
  Io& io() { return io_; }
  const Io& io() const { return io_; }
  uint32_t slot() const { return slot_; }
  uint32_t generation() const { return generation_; }
  int fd() const { return fd_; }  // Direct descriptor index or plain fd, per the shard's mode.
  void set_state(State state) { state_ = state; }
  SendQueue& send_queue() { return send_queue_; }
  ws::MessageReader& reader() { return reader_; }
  WebSocketHandler* handler() const { return handler_; }
  void set_handler(WebSocketHandler* handler) { handler_ = handler; }
  // A request spanning receive buffers, only then.
  std::unique_ptr<std::string>& http_pending() { return http_pending_; }
  uint32_t last_receive_tick() const { return last_receive_tick_; }
  void set_last_receive_tick(uint64_t tick) { last_receive_tick_ = static_cast<uint32_t>(tick); }
  uint32_t last_send_tick() const { return last_send_tick_; }
  // The agreement made at the upgrade (HttpExchange::WriteUpgrade), before WsDriver::Start.
  void set_deflate(const ws::DeflateAgreement& agreement) {
    deflate_window_bits_ =
        agreement.enabled ? static_cast<uint8_t>(agreement.server_window_bits()) : 0;
  }
  int deflate_window_bits() const { return deflate_window_bits_; }
  void set_last_send_tick(uint64_t tick) { last_send_tick_ = static_cast<uint32_t>(tick); }
  CloseReason close_reason() const { return close_reason_; }
  void set_close_reason(CloseReason why) { close_reason_ = why; }
  uint16_t close_code() const { return close_code_; }
  // The first close decided (by either side) wins; see CloseReason.
  void NoteClose(CloseReason why, uint16_t code);
  void QueueBytes(SharedFrame* frame);  // Any state that still writes; no cap check.
  // The timer wheel's entry is the connection itself (no back-pointer to keep).
  TimerEntry* timer() { return this; }
  static Connection& FromTimer(TimerEntry* entry) { return *static_cast<Connection*>(entry); }

 private:
  // Whether the next frame may be queued; kCutOff and kDropped say why not (and a connection
  // past the cap has been cut off), kQueued that it may.
  SendStatus Admit(Delivery delivery);
  SendStatus AfterQueue() const;  // kQueued or kBackpressure.
  SendStatus PushMessage(ws::Opcode opcode, std::span<const uint8_t> payload,
                         const uint8_t* unmask_key);
  // Close() without queueing the close frame (the caller queues it).
  void BeginClose(uint16_t code, CloseReason why);
  // Past the outbound cap (docs/architecture.md, "Slow consumers").
  void CutOff();

  SendQueue send_queue_;
  ws::MessageReader reader_;
  WebSocketHandler* handler_ = nullptr;
  std::unique_ptr<std::string> http_pending_;
  uint32_t slot_;
  uint32_t generation_;
  int fd_;
  uint32_t last_receive_tick_ = 0;
  // A streamed answer's start or its last bytes sent; on a closing WebSocket, the close or the
  // last bytes sent since.
  uint32_t last_send_tick_ = 0;
  State state_ = State::kHttp;
  CloseReason close_reason_ = CloseReason::kHttp;
  uint16_t close_code_ = 0;  // Of the first close frame, either side's; 0: none.
  // permessage-deflate: the server window agreed (8..15); 0: not agreed. In a padding byte.
  uint8_t deflate_window_bits_ = 0;
  Io io_;
};

// What a route installs on an upgraded connection. Called on the connection's shard.
class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  virtual void OnOpen(Connection& /*conn*/) {}
  // `payload` is valid only during the call (it may point into the receive buffer).
  virtual void OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) = 0;
  // A handler that only copies a binary message on (an echo) can take it still masked, when it
  // arrived whole in one frame, and unmask it in its copy (Connection::SendMessage with a
  // MaskedPayload): one pass over the bytes instead of unmasking in place and copying. Asked
  // once, when the connection upgrades; such a handler gets those messages at OnMaskedBinary
  // instead of OnMessage (text, fragmented and spanning messages still go to OnMessage).
  virtual bool TakesMaskedBinary() const { return false; }
  virtual void OnMaskedBinary(Connection& /*conn*/, const ws::MaskedPayload& /*payload*/);
  // The largest message this route can use, bytes. A compressed message (permessage-deflate) is
  // inflated no further than this or --max-message-size, whichever is lower: past it the
  // connection closes 1009, having spent at most that much inflating (a route that would
  // refuse the message anyway gains nothing from the rest, and a small compressed message can
  // inflate a thousandfold). Asked once per compressed message.
  virtual uint64_t MaxMessageSize() const { return UINT64_MAX; }
  // A ping or pong frame arrived: the peer is alive (data messages go to OnMessage).
  virtual void OnHeartbeat(Connection& /*conn*/) {}
  // After NotifyWhenUncongested: the queue has drained below half the cap. Called once.
  virtual void OnDrain(Connection& /*conn*/) {}
  // The connection stops being an open WebSocket (closing handshake started, error, or drop).
  // Called once; no frames are delivered to it afterwards.
  virtual void OnClose(Connection& /*conn*/) {}
  // Who is on the connection, for the access log ("": nobody known). Asked once, as the
  // connection stops being an open WebSocket, before OnClose.
  virtual std::string AccessLogUser(const Connection& /*conn*/) const { return {}; }
};

}  // namespace ringcast
