// HttpExchange: one HTTP request on a connection and its answer; Application: what a shard
// runs for each request.
//
// Owner: the connection's shard; an exchange lives for the duration of Application::OnRequest.
// The application answers it there (Respond, RespondError, Upgrade) or defers the answer
// (Defer) when it needs work from a worker or another shard first; the shard
// answers 500 if it does neither. While an answer is deferred the connection reads no further
// request (pipelined bytes wait), and the answer must come within --handshake-timeout.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/net/body_stream.h"
#include "core/net/connection.h"
#include "proto/http_parser.h"

namespace ringcast {

class MetricSet;

// A request whose answer comes later, through Shard::AnswerDeferred on the same shard.
// Copyable; stale once the connection is gone (the answer is then dropped).
struct DeferredHttp {
  ConnId conn;
  std::string_view route;  // HttpExchange::SetRoute's label.
  bool keep_alive = true;
  bool head = false;  // A HEAD request: its answer carries the headers only (RFC 9110 §9.3.2).
  // DeferUpgrade's permessage-deflate agreement, answered by Shard::UpgradeDeferred.
  ws::DeflateAgreement deflate;
};

class HttpExchange {
 public:
  enum class Outcome : uint8_t { kNone, kAnswered, kClose, kUpgraded, kDeferred };

  // `body_pending`: a streamed request whose body has not all arrived (an answer given at once
  // then closes the connection).
  HttpExchange(Connection& conn, const http::Request& request, std::string_view body,
               bool body_pending = false)
      : conn_(conn), request_(request), body_(body), body_pending_(body_pending) {}

  const http::Request& request() const { return request_; }
  std::string_view body() const { return body_; }
  Connection& connection() { return conn_; }
  bool answered() const { return outcome_ != Outcome::kNone; }

  // Names the route for the metrics (ringcast_http_requests_total{route}): a string with static
  // storage (a literal), never the request's path, so the label's values stay few. Unnamed:
  // "other".
  void SetRoute(std::string_view route) { route_ = route; }
  std::string_view route() const { return route_; }
  // Who made the request, as the access log's `user` shows it (the chat's user id, once its
  // token is verified).
  void SetAccessLogUser(std::string user) { access_log_user_ = std::move(user); }
  int status() const { return status_; }  // Of the answer, once answered (101: upgraded).

  // `extra_headers` are whole lines, each ending in "\r\n". The answer to a HEAD request has
  // the same head (Content-Length included) and no body.
  void Respond(int status, std::string_view content_type, std::string_view body,
               std::string_view extra_headers = {});
  // Answers a status with a small JSON error body {"error": reason}.
  void RespondError(int status, std::string_view reason, std::string_view extra_headers = {});
  // For a resource read with GET: true for GET and HEAD (which every GET resource takes, RFC
  // 9110 §9.1: load balancers probe with it); otherwise answers 405 and returns false.
  bool AllowGetOrHead();
  // Validates the WebSocket handshake (RFC 6455 §4.2.1). Valid: answers 101, installs `handler`
  // and returns true. Invalid: answers the handshake's error status and returns false. With
  // --ws-deflate, agrees to the client's first acceptable permessage-deflate offer (RFC 7692).
  bool Upgrade(WebSocketHandler* handler);

  DeferredHttp Defer();
  // Validates the handshake as Upgrade does, but leaves the answer to Shard::UpgradeDeferred (or
  // AnswerDeferred, to refuse it) once the route has decided: the deferred request and its
  // Sec-WebSocket-Accept in *accept. Invalid: answers as Upgrade does and returns nullopt.
  std::optional<DeferredHttp> DeferUpgrade(std::string* accept);
  // For a request its route streams (Application::StreamsBody): the body goes to `sink` as it
  // arrives (core/net/body_stream.h), and the answer is deferred to the sink. Without it, an
  // answer given at once closes the connection when the body has not all arrived.
  DeferredHttp StreamBody(BodySink* sink);

  // The wire format, shared by immediate and deferred answers. Returns true when the connection
  // must close after the response: when `keep_alive` is false (the request did not ask to keep
  // it, or the caller is answering a framing error). A route's 4xx/5xx keeps the connection.
  // `head_only`: the head as for `body`, without the body (the answer to a HEAD request).
  static bool WriteResponse(Connection& conn, bool keep_alive, int status,
                            std::string_view content_type, std::string_view body,
                            std::string_view extra_headers, bool head_only = false);
  static bool WriteError(Connection& conn, bool keep_alive, int status, std::string_view reason,
                         std::string_view extra_headers = {}, bool head_only = false);
  // The bytes WriteResponse queues, for a response built off the shard (any thread):
  // status line, Content-Type, Content-Length (`content_length`), Connection: close when not
  // `keep_alive`, `extra_headers`, and the blank line.
  static std::string FormatHead(bool keep_alive, int status, std::string_view content_type,
                                uint64_t content_length, std::string_view extra_headers);
  // A whole {"error": reason} answer (the head alone when `head_only`), for any thread.
  static std::string FormatError(bool keep_alive, int status, std::string_view reason,
                                 std::string_view extra_headers = {}, bool head_only = false);
  // The 101 answer, with the Sec-WebSocket-Extensions line of an agreed `deflate`;
  // `extra_headers` ("Name: value\r\n" lines, such as the subprotocol a route chose) go after
  // Sec-WebSocket-Accept.
  static void WriteUpgrade(Connection& conn, std::string_view accept, WebSocketHandler* handler,
                           const ws::DeflateAgreement& deflate = {},
                           std::string_view extra_headers = {});

  // For the HTTP driver, once OnRequest has returned.
  Outcome outcome() const { return outcome_; }
  BodySink* sink() const { return sink_; }
  std::string TakeAccessLogUser() { return std::move(access_log_user_); }

 private:
  bool keep_alive() const { return request_.keep_alive && !body_pending_; }

  Connection& conn_;
  const http::Request& request_;
  std::string_view body_;
  BodySink* sink_ = nullptr;   // StreamBody's.
  bool body_pending_ = false;  // A streamed request whose body has not all arrived.
  std::string_view route_ = "other";
  std::string access_log_user_;
  int status_ = 0;
  Outcome outcome_ = Outcome::kNone;
};

// One instance per shard, created on the shard's thread; routes requests.
class Application {
 public:
  virtual ~Application() = default;
  virtual void OnRequest(HttpExchange& exchange) = 0;
  // Whether this request's body streams to a BodySink (HttpExchange::StreamBody) instead of
  // being received whole first: OnRequest is then called as soon as the head has arrived, and
  // --max-body-bytes does not apply (the route bounds the body itself). Asked per request head.
  virtual bool StreamsBody(const http::Request& /*request*/) const { return false; }
  // Once per timer tick (Shard::kTickMs), after the connections' timers.
  virtual void OnTick() {}
  // Once, when the shard begins its graceful shutdown (SIGINT/SIGTERM): it has stopped
  // accepting, and every WebSocket the application leaves open is closed next with 1001
  // "server shutting down". The place to close its own connections some other way first (the
  // chat in cluster mode: a reconnect hint, then 1012; docs/cluster.md).
  virtual void OnShutdown() {}
  // While the shard is shutting down with no connection left: whether it may leave its loop.
  // False while work the application started must still come back to some shard (the chat: a
  // store reply whose commit is to be published); the shard asks again every iteration and
  // leaves at --shutdown-timeout regardless.
  virtual bool Drained() const { return true; }
  // Adds the application's figures of this shard to a scrape (on the shard's thread).
  virtual void CollectMetrics(MetricSet& /*out*/) const {}
};

}  // namespace ringcast
