// WsDriver: WebSocket (RFC 6455) on a shard's upgraded connections — frames parsed out of the
// receive buffer and dispatched to the route's WebSocketHandler, pings and pongs, the closing
// handshake, the idle timer, and the handler's OnClose, deferred to the end of the iteration.
//
// Owner: the shard's thread. Hot path: a receive goes ConnectionTable::OnRecv → OnData →
// WebSocketHandler::OnMessage (the one virtual call per message) with the payload still in the
// receive buffer (unmasked in place by ws::MessageReader, or left masked for a handler that
// TakesMaskedBinary); nothing here allocates per frame.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/config.h"
#include "core/metrics/shard_stats.h"
#include "core/net/connection.h"
#include "core/net/ws_compression.h"

namespace ringcast {

class AccessLog;
class ConnectionTable;
class Reactor;

class WsDriver {
 public:
  WsDriver(Reactor& reactor, ConnectionTable& table, const Config& config, ShardStats& stats)
      : reactor_(reactor),
        table_(table),
        config_(config),
        stats_(stats),
        compression_(config, stats) {}
  WsDriver(const WsDriver&) = delete;
  WsDriver& operator=(const WsDriver&) = delete;

  void SetAccessLog(AccessLog* log) { access_log_ = log; }

  // The connection has just upgraded (its handler is installed): `early_frames` are what the
  // client sent right behind its handshake.
  void Start(Connection& conn, std::span<uint8_t> early_frames);
  // Bytes received while open or closing; `data` is valid during the call only.
  void OnData(Connection& conn, std::span<uint8_t> data);
  void OnTimer(Connection& conn);    // Open: idle ping, then close; closing: give up.
  void OnDrained(Connection& conn);  // The queue drained after NotifyWhenUncongested.
  // The connection stops being an open WebSocket: its handler's OnClose runs at the end of the
  // iteration (once): it may unsubscribe, and this can run in the middle of a fan-out loop over
  // the very subscriber list it would change.
  void Leave(Connection& conn);
  void RunDeferredLeaves();
  // The shard's permessage-deflate streams (for Connection's sends).
  WsCompression& compression() { return compression_; }

 private:
  // A compressed message (RFC 7692 §7.2.2) inflated into *payload, within the route's bound
  // (WebSocketHandler::MaxMessageSize) and --max-message-size; false when that failed and the
  // connection is closing (1009 too big, 1007 not DEFLATE or not UTF-8).
  bool Inflate(Connection& conn, const ws::Event& event, std::span<const uint8_t>* payload);
  void Fail(Connection& conn, ws::CloseCode code, std::string_view reason);

  Reactor& reactor_;
  ConnectionTable& table_;
  const Config& config_;
  ShardStats& stats_;
  AccessLog* access_log_ = nullptr;
  std::vector<Connection*> leave_list_;
  WsCompression compression_;
};

}  // namespace ringcast
