// HttpExchange: one HTTP request on a connection and its answer; Application: what a shard
// runs for each request.
//
// Owner: the connection's shard; an exchange lives for the duration of Application::OnRequest.
// Exactly one of Respond() or Upgrade() answers it (the shard answers 500 otherwise).
#pragma once

#include <span>
#include <string_view>

#include "proto/http_parser.h"

namespace ringcast {

class Connection;
class Shard;
class WebSocketHandler;

class HttpExchange {
 public:
  HttpExchange(Connection& conn, const http::Request& request, std::string_view body)
      : conn_(conn), request_(request), body_(body) {}

  const http::Request& request() const { return request_; }
  std::string_view body() const { return body_; }
  Connection& connection() { return conn_; }
  bool answered() const { return answered_; }

  // `extra_headers` are whole lines, each ending in "\r\n".
  void Respond(int status, std::string_view content_type, std::string_view body,
               std::string_view extra_headers = {});
  // Answers a status with a small JSON error body {"error": reason}.
  void RespondError(int status, std::string_view reason, std::string_view extra_headers = {});
  // Validates the WebSocket handshake (RFC 6455 §4.2.1). Valid: answers 101, installs `handler`
  // and returns true. Invalid: answers the handshake's error status and returns false.
  bool Upgrade(WebSocketHandler* handler);

 private:
  friend class Shard;
  Connection& conn_;
  const http::Request& request_;
  std::string_view body_;
  bool answered_ = false;
  bool upgraded_ = false;
  bool close_ = false;  // Answered with Connection: close.
};

// One instance per shard, created on the shard's thread; routes requests.
class Application {
 public:
  virtual ~Application() = default;
  virtual void OnRequest(HttpExchange& exchange) = 0;
};

}  // namespace ringcast
