#include "core/net/http_exchange.h"

#include <cstdio>
#include <string>

#include "core/net/shared_frame.h"
#include "proto/json_writer.h"
#include "proto/ws_handshake.h"

namespace ringcast {

bool HttpExchange::WriteResponse(Connection& conn, bool keep_alive, int status,
                                 std::string_view content_type, std::string_view body,
                                 std::string_view extra_headers) {
  // A request that reached a route was framed correctly (its head parsed, its body counted
  // out), so its error answer leaves the connection as usable as a success does. Framing errors
  // come through Shard::ReplyHttpError with keep_alive false: there the byte stream cannot be
  // trusted any more.
  bool close = !keep_alive;
  std::string_view reason = http::ReasonPhrase(status);
  char head[256];
  int size = std::snprintf(head, sizeof(head),
                           "HTTP/1.1 %d %.*s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n%s",
                           status, int(reason.size()), reason.data(), int(content_type.size()),
                           content_type.data(), body.size(), close ? "Connection: close\r\n" : "");
  std::string response;
  response.reserve(size + extra_headers.size() + 2 + body.size());
  response.append(head, size).append(extra_headers).append("\r\n").append(body);
  conn.QueueBytes(SharedFrame::Copy(response));
  return close;
}

bool HttpExchange::WriteError(Connection& conn, bool keep_alive, int status,
                              std::string_view reason, std::string_view extra_headers) {
  JsonWriter body;
  body.BeginObject().Field("error", reason).EndObject();
  return WriteResponse(conn, keep_alive, status, "application/json", body.str(), extra_headers);
}

void HttpExchange::WriteUpgrade(Connection& conn, std::string_view accept,
                                WebSocketHandler* handler) {
  std::string response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  response.append(accept).append("\r\n\r\n");
  conn.QueueBytes(SharedFrame::Copy(response));
  conn.state_ = Connection::State::kWebSocket;
  conn.handler_ = handler;
  handler->OnOpen(conn);
}

void HttpExchange::Respond(int status, std::string_view content_type, std::string_view body,
                           std::string_view extra_headers) {
  if (answered()) return;
  bool close = WriteResponse(conn_, request_.keep_alive, status, content_type, body, extra_headers);
  outcome_ = close ? Outcome::kClose : Outcome::kAnswered;
}

void HttpExchange::RespondError(int status, std::string_view reason,
                                std::string_view extra_headers) {
  if (answered()) return;
  bool close = WriteError(conn_, request_.keep_alive, status, reason, extra_headers);
  outcome_ = close ? Outcome::kClose : Outcome::kAnswered;
}

namespace {
// The handshake's own error answer (with the version header RFC 6455 §4.4 asks for on 426).
void RejectHandshake(HttpExchange& exchange, const ws::HandshakeResult& handshake) {
  exchange.RespondError(handshake.error_status, handshake.error_reason,
                        handshake.error_status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "");
}
}  // namespace

bool HttpExchange::Upgrade(WebSocketHandler* handler) {
  if (answered()) return false;
  ws::HandshakeResult handshake = ws::ValidateUpgrade(request_);
  if (handshake.error_status != 0) {
    RejectHandshake(*this, handshake);
    return false;
  }
  WriteUpgrade(conn_, {handshake.accept.data(), handshake.accept.size()}, handler);
  outcome_ = Outcome::kUpgraded;
  return true;
}

DeferredHttp HttpExchange::Defer() {
  outcome_ = Outcome::kDeferred;
  return {conn_.id(), request_.keep_alive};
}

}  // namespace ringcast
