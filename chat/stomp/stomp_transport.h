// StompTransport: one STOMP client on a WebSocket (proto/PROTOCOL.md, "STOMP 1.2 over WebSocket"),
// and the SessionTransport of its chat session: the session's JSON events become MESSAGE frames for
// the client's subscriptions, acks become RECEIPTs, a chat close becomes an ERROR frame.
//
// Owner: the connection's shard. Until its CONNECT is accepted the StompGateway owns it; then the
// Session does (ConnectionSessions::Open), and it lives until the connection's OnClose destroys the
// session. The gateway keeps a pointer either way (StompGateway::Entry) and feeds it the
// client's frames; everything here runs on the shard's thread.
//
// Bounds: subscriptions (--stomp-max-subscriptions, one per destination, each id at most
// kMaxSubscriptionId bytes), SENDs waiting for their ack (kMaxPendingSends), the bytes of a frame
// still arriving (the parser's limits), the messages held while the session starts
// (PendingRequests' 256 messages and 4 MiB). Each past its bound ends the connection with an
// ERROR frame. Since a destination is held at most once, an event costs one MESSAGE per
// destination that takes it (a conversation's: one; a personal one: /user/queue/events and its
// own queue, two at most), however the client phrased its subscriptions.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chat/sessions/pending_requests.h"
#include "chat/sessions/session_transport.h"
#include "chat/stomp/stomp_mapping.h"
#include "core/net/connection.h"
#include "proto/stomp_frame.h"

namespace ringcast::chat {

class StompGateway;

class StompTransport final : public SessionTransport {
 public:
  enum class Phase : uint8_t {
    kAwaitingConnect,  // Only heart-beats and a CONNECT (or STOMP) frame are taken.
    kOpening,          // CONNECT accepted, the session starting: frames wait in held().
    kReady,            // CONNECTED sent: frames are handled as they come.
    kClosed,           // ERROR sent or DISCONNECT handled: input is ignored.
  };
  // A subscription id's bytes: the id travels in every MESSAGE of the subscription.
  static constexpr size_t kMaxSubscriptionId = 128;
  // SENDs to /app/chat.send waiting for their ack (each is remembered for its RECEIPT, and for
  // a DISCONNECT's, which waits for all of them).
  static constexpr size_t kMaxPendingSends = 1024;

  // `address`: the client address counted under --max-conns-per-ip, until the session takes it.
  // `cid_prefix`: random, for the cids of SENDs that carry none (MakeCid).
  StompTransport(StompGateway& gateway, Connection& conn, std::string address, uint64_t cid_prefix,
                 int64_t now_ms);

  // --- SessionTransport: the session's output ---------------------------------------------------
  void Send(std::string_view json) override;
  void SendShared(SharedFrame* frame, ringcast::Delivery delivery) override;
  // An ERROR frame with `reason` as its message, then the WebSocket close with `code`.
  void Close(uint16_t code, std::string_view reason) override;

  // --- The gateway's side -----------------------------------------------------------------------
  Phase phase() const { return phase_; }
  Connection& conn() { return conn_; }
  std::string TakeAddress() { return std::move(address_); }
  // CONNECT accepted for `user` (the session's `device`): its heart-beats as negotiated (ms;
  // 0 none each way). CONNECTED goes out with the session's hello.
  void Opened(int64_t user, uint64_t device, uint32_t server_ms, uint32_t send_every_ms,
              uint32_t expect_every_ms);
  // The client's messages that arrived while the session started (after CONNECT), handled
  // once CONNECTED has gone out (StompGateway::Replay).
  PendingRequests& held() { return held_; }

  // The start of a frame that has not fully arrived yet (bounded by the parser's limits).
  std::string& partial() { return partial_; }
  // Bytes received before CONNECT (bounded by --max-header-bytes).
  size_t& pre_connect_bytes() { return pre_connect_bytes_; }
  int64_t opened_ms() const { return opened_ms_; }
  // DISCONNECT taken, waiting for the answers to earlier SENDs: input is ignored.
  bool disconnecting() const { return disconnecting_; }
  // Any byte from the client (its heart-beats included): the sweep's next Beat counts it.
  void NoteReceived() { received_ = true; }

  // A SEND to /app/chat.send with this cid has gone to the session: its ack (after the commit)
  // or error answers it, with a RECEIPT for `receipt` when not empty. False past
  // kMaxPendingSends.
  bool AwaitAck(std::string_view cid, std::string_view receipt);
  // The cid a SEND without one gets: random per connection, then a counter (the store keeps
  // cids per sender forever, so they must not repeat across connections).
  std::string MakeCid();
  // False when `id` is taken, or `what` is held already (the caller checks both, and the
  // count, first).
  bool Subscribe(std::string_view id, const stomp_map::Subscribable& what);
  bool Unsubscribe(std::string_view id);
  bool HasSubscription(std::string_view id) const;
  // The id of the subscription that holds `what`'s destination; nullptr when none does.
  const std::string* HolderOf(const stomp_map::Subscribable& what) const;
  size_t subscription_count() const { return subscriptions_.size(); }

  void SendReceipt(std::string_view receipt_id);
  // A chat error event for this client, as the session's would be (the errors queue, or ERROR
  // and close), with `receipt_id` when the frame it answers asked for a receipt.
  void SendChatError(std::string_view json, std::string_view receipt_id);
  // ERROR (`message`, `receipt-id` when given) and close: a frame the server cannot take.
  void Fail(std::string_view message, std::string_view receipt_id = {});
  // DISCONNECT: once every earlier SEND is answered (acked: committed, or refused), its
  // RECEIPT when asked for, then a normal close (1000). Input is ignored from now on.
  void Disconnect(std::string_view receipt_id, int64_t now_ms);
  // Once a second: an EOL when nothing went out for the negotiated interval; an ERROR and the
  // close when the client has been silent past twice its own, or a DISCONNECT has waited
  // `disconnect_wait_ms` for earlier SENDs' answers (the close then, without a RECEIPT).
  void Beat(int64_t now_ms, int64_t disconnect_wait_ms);

 private:
  // A chat event to the subscriptions that take it (RECEIPTs for acks).
  void Route(std::string_view json, ringcast::Delivery delivery);
  void SendMessage(std::string_view subscription, std::string_view destination,
                   std::string_view json, ringcast::Delivery delivery,
                   std::string_view receipt_id = {});
  // One frame, encoded straight into the WebSocket frame that carries it (one copy of `body`).
  void SendFrame(stomp::Command command, std::span<const stomp::Header> headers,
                 std::string_view body = {},
                 ringcast::Delivery delivery = ringcast::Delivery::kReliable);
  // The pending SEND with this cid (JSON-escaped) is answered: its receipt ("" when it asked
  // for none). A DISCONNECT waiting for it may now finish.
  std::string Answered(std::string_view cid_json);
  void FinishDisconnect();
  void SendError(std::string_view message, std::string_view receipt_id, std::string_view body);
  void CloseAfterError(uint16_t code, std::string_view reason);

  StompGateway& gateway_;
  Connection& conn_;
  Phase phase_ = Phase::kAwaitingConnect;
  std::string address_;
  int64_t user_ = 0;
  uint64_t device_ = 0;
  uint64_t cid_prefix_;  // Random: the cids this connection makes for SENDs without one.
  uint64_t next_cid_ = 0;
  uint64_t next_message_id_ = 0;
  // Heart-beats (ms): CONNECTED's own figure, and as negotiated with the client's.
  uint32_t server_heartbeat_ms_ = 0;
  uint32_t send_every_ms_ = 0;
  uint32_t expect_every_ms_ = 0;
  int64_t opened_ms_;
  // Activity is flagged as it happens and timed by the once-a-second Beat (no clock read per
  // frame): the times below are accurate to a second.
  bool received_ = false;
  bool sent_ = false;
  int64_t last_received_ms_;
  int64_t last_sent_ms_;
  bool disconnecting_ = false;  // DISCONNECT taken; waiting for pending_sends_ to empty.
  std::string disconnect_receipt_;
  int64_t disconnect_ms_ = 0;
  size_t pre_connect_bytes_ = 0;
  std::string partial_;
  PendingRequests held_;
  // The session's hello, for the first subscription to /user/queue/events (it comes before
  // CONNECTED, so before any subscription could take it).
  std::string hello_;
  // By id. Each destination is held by one subscription at most: topics_ and queues_ point at
  // its id here (a node's key stays where it is until it is erased).
  std::unordered_map<std::string, stomp_map::Subscribable> subscriptions_;
  std::unordered_map<int64_t, const std::string*> topics_;         // Conversation → its id.
  std::array<const std::string*, stomp_map::kQueues> queues_{};    // Queue → its id, or null.
  std::deque<std::pair<std::string, std::string>> pending_sends_;  // (cid as JSON, receipt).
};

}  // namespace ringcast::chat
