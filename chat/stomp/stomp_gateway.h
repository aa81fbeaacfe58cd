// StompGateway: the STOMP clients of one shard (proto/PROTOCOL.md, "STOMP 1.2 over WebSocket"), the
// WebSocketHandler of the connections upgraded at /stomp, or at /ws with the subprotocol
// v12.stomp (chat/api/transport_routes.cc).
//
// Owner: its shard's thread (one per ChatShard). A connection starts here without a session:
// the token travels in the CONNECT frame (browsers cannot set headers on a WebSocket), bounded
// by --handshake-timeout and --max-header-bytes. A valid CONNECT opens an ordinary chat session
// (ConnectionSessions::Open) whose SessionTransport is the connection's StompTransport; from then
// on the client's SENDs enter the session as the chat requests they stand for
// (ConnectionSessions::OnMessage, the /ws requests' path: the same checks, rate limit, pacing, seq,
// durability and fan-out) and SUBSCRIBE/UNSUBSCRIBE choose which of the session's events the
// client gets. Frames are parsed zero-copy from the WebSocket message when they arrive whole
// (proto/stomp_frame.h).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "chat/stomp/stomp_transport.h"
#include "core/net/connection.h"
#include "proto/stomp_frame.h"

namespace ringcast {
class Shard;
}  // namespace ringcast

namespace ringcast::chat {

class ChatService;
class SessionHost;
struct Session;
struct Config;

class StompGateway final : public WebSocketHandler {
 public:
  StompGateway(Shard& shard, ChatService& service, SessionHost& sessions);
  ~StompGateway() override;

  // A connection just upgraded to STOMP; `address` is counted under --max-conns-per-ip until
  // its close (by its session, once it has one).
  void Open(Connection& conn, std::string address);

  // WebSocketHandler.
  void OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) override;
  void OnHeartbeat(Connection& conn) override;
  void OnDrain(Connection& conn) override;
  void OnClose(Connection& conn) override;
  std::string AccessLogUser(const Connection& conn) const override;
  // A frame's bound (stomp::Limits::max_frame_message_bytes): a compressed message is inflated
  // no further.
  uint64_t MaxMessageSize() const override { return parser_.limits().max_frame_message_bytes(); }

  // Once a second: a CONNECT not received within --handshake-timeout ends its connection;
  // heart-beats go out, and silent clients are closed (StompTransport::Beat).
  void Sweep(int64_t now_ms);

  // CONNECTED has gone out while messages were held (StompTransport::held()): they are handled
  // by a mail to this shard, after the session's hello is out rather than inside it.
  void ScheduleReplay(ConnId id);
  void Replay(ConnId id);

  size_t connection_count() const { return entries_.size(); }

 private:
  struct Entry {
    StompTransport* transport = nullptr;
    std::unique_ptr<StompTransport> owned;  // Until the session takes it (CONNECT accepted).
  };

  Entry* Find(const Connection& conn);
  // The session of a connection whose CONNECT was accepted.
  Session* SessionOf(Connection& conn);
  // The frames in one message of the client (after what an earlier one left unfinished).
  void Consume(Connection& conn, Entry& entry, std::string_view text);
  void HandleFrame(Connection& conn, Entry& entry, const stomp::Frame& frame);
  void HandleConnect(Connection& conn, Entry& entry, const stomp::Frame& frame);
  void HandleSend(Connection& conn, StompTransport& client, const stomp::Frame& frame);
  void HandleSubscribe(Connection& conn, StompTransport& client, const stomp::Frame& frame);
  void HandleUnsubscribe(StompTransport& client, const stomp::Frame& frame);

  Shard& shard_;
  ChatService& service_;
  SessionHost& sessions_;
  const Config& config_;
  stomp::FrameParser parser_;
  std::unordered_map<uint32_t, Entry> entries_;  // By connection slot: every open STOMP one.
  std::mt19937_64 cid_prefixes_;                 // StompTransport::MakeCid's random parts.
};

}  // namespace ringcast::chat
