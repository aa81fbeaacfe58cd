// HttpDriver: HTTP/1.1 on a shard's connections until they upgrade — request parsing (straight
// out of the receive buffer when a request arrives whole), the application's answers given at
// once or deferred, streamed request bodies and answers (body_stream.h), the request timer, and
// peer addresses (through the table's PeerAddresses).
//
// Owner: the shard's thread. It holds no per-connection state of its own except the streams in
// progress (by slot); what a connection must remember between receives lives on the Connection
// (http_pending(), io()).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/config.h"
#include "core/metrics/shard_stats.h"
#include "core/net/body_stream.h"
#include "core/net/connection.h"
#include "core/net/http_exchange.h"
#include "proto/http_parser.h"

namespace ringcast {

class AccessLog;
class ConnectionTable;
class Reactor;
class Shard;
class WsDriver;

class HttpDriver {
 public:
  HttpDriver(Reactor& reactor, ConnectionTable& table, WsDriver& ws, const Config& config,
             ShardStats& stats);
  HttpDriver(const HttpDriver&) = delete;
  HttpDriver& operator=(const HttpDriver&) = delete;

  void SetApplication(Application* app) { app_ = app; }
  void SetAccessLog(AccessLog* log) { access_log_ = log; }

  // --- From the ConnectionTable --------------------------------------------------------------
  // Bytes received on a connection in its HTTP phase; `data` is valid during the call only.
  void OnData(Connection& conn, std::span<uint8_t> data);
  void OnTimer(Connection& conn);
  void OnWritable(Connection& conn);  // A streamed answer's queue drained under half the cap.
  void OnAbort(Connection& conn);     // Closing now: tell its body sink or source.

  // --- Shard's public API (shard.h documents each) -------------------------------------------
  bool AnswerDeferred(const DeferredHttp& deferred, int status, std::string_view content_type,
                      std::string_view body, std::string_view extra_headers);
  bool AnswerDeferredBytes(const DeferredHttp& deferred, int status, SharedFrame* response);
  Connection* UpgradeDeferred(const DeferredHttp& deferred, std::string_view accept,
                              WebSocketHandler* handler, std::string_view extra_headers = {});
  void PauseBody(ConnId conn);
  void ResumeBody(ConnId conn);
  bool RejectBody(ConnId conn, int status, std::string_view reason);
  bool StreamAnswer(const DeferredHttp& deferred, int status, SharedFrame* head,
                    BodySource* source);
  bool StreamBytes(ConnId conn, SharedFrame* bytes);
  bool StreamCongested(ConnId conn);
  void NotifyWhenWritable(Shard& shard, ConnId conn);
  void EndStream(ConnId conn, bool complete);

 private:
  struct HttpStream {
    BodySink* sink = nullptr;  // A request body still arriving.
    uint64_t body_left = 0;
    BodySource* source = nullptr;  // An answer still being produced.
    DeferredHttp deferred;         // The source's request.
  };

  void AfterAnswer(Connection& conn, bool close);
  // The connection a deferred answer is for, still waiting for it; null when gone.
  Connection* TakeDeferred(const DeferredHttp& deferred);
  void Resume(Connection& conn);  // Pipelined requests that arrived while the answer waited.
  void ReplyError(Connection& conn, int status, std::string_view reason);
  void CountAnswer(Connection& conn, std::string_view route, int status, uint64_t queued_before);
  // Gives the sink what `data` holds of the body; returns what follows it (the next request).
  std::span<uint8_t> FeedBody(Connection& conn, std::span<uint8_t> data);
  void StartBodyStream(Connection& conn, BodySink* sink, uint64_t length);

  Reactor& reactor_;
  ConnectionTable& table_;
  WsDriver& ws_;
  const Config& config_;
  ShardStats& stats_;
  Application* app_ = nullptr;
  AccessLog* access_log_ = nullptr;
  http::Limits limits_;
  bool in_request_ = false;                           // Inside Application::OnRequest.
  std::unordered_map<uint32_t, HttpStream> streams_;  // By slot; only while streaming.
};

}  // namespace ringcast
