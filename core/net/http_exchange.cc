#include "core/net/http_exchange.h"

#include <cstdio>
#include <string>

#include "core/net/shared_frame.h"
#include "core/runtime/shard.h"
#include "proto/json_writer.h"
#include "proto/ws_deflate.h"
#include "proto/ws_handshake.h"

namespace ringcast {

std::string HttpExchange::FormatHead(bool keep_alive, int status, std::string_view content_type,
                                     uint64_t content_length, std::string_view extra_headers) {
  std::string_view reason = http::ReasonPhrase(status);
  char head[256];
  int size = std::snprintf(
      head, sizeof(head), "HTTP/1.1 %d %.*s\r\nContent-Type: %.*s\r\nContent-Length: %llu\r\n%s",
      status, int(reason.size()), reason.data(), int(content_type.size()), content_type.data(),
      static_cast<unsigned long long>(content_length), keep_alive ? "" : "Connection: close\r\n");
  std::string out;
  out.reserve(size + extra_headers.size() + 2);
  out.append(head, size).append(extra_headers).append("\r\n");
  return out;
}

namespace {
std::string ErrorBody(std::string_view reason) {
  JsonWriter body;
  body.BeginObject().Field("error", reason).EndObject();
  return body.Take();
}
}  // namespace

std::string HttpExchange::FormatError(bool keep_alive, int status, std::string_view reason,
                                      std::string_view extra_headers, bool head_only) {
  std::string body = ErrorBody(reason);
  std::string out = FormatHead(keep_alive, status, "application/json", body.size(), extra_headers);
  if (!head_only) out.append(body);
  return out;
}

bool HttpExchange::WriteResponse(Connection& conn, bool keep_alive, int status,
                                 std::string_view content_type, std::string_view body,
                                 std::string_view extra_headers, bool head_only) {
  // A request that reached a route was framed correctly (its head parsed, its body counted
  // out), so its error answer leaves the connection as usable as a success does. Framing errors
  // come through HttpDriver::ReplyError with keep_alive false: there the byte stream cannot be
  // trusted any more.
  std::string response = FormatHead(keep_alive, status, content_type, body.size(), extra_headers);
  if (!head_only) response.append(body);
  conn.QueueBytes(SharedFrame::Copy(response));
  return !keep_alive;
}

bool HttpExchange::WriteError(Connection& conn, bool keep_alive, int status,
                              std::string_view reason, std::string_view extra_headers,
                              bool head_only) {
  return WriteResponse(conn, keep_alive, status, "application/json", ErrorBody(reason),
                       extra_headers, head_only);
}

void HttpExchange::WriteUpgrade(Connection& conn, std::string_view accept,
                                WebSocketHandler* handler, const ws::DeflateAgreement& deflate,
                                std::string_view extra_headers) {
  std::string response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  response.append(accept).append("\r\n").append(extra_headers);
  if (deflate.enabled) {
    response.append("Sec-WebSocket-Extensions: ")
        .append(ws::DeflateResponse(deflate))
        .append("\r\n");
  }
  response.append("\r\n");
  conn.QueueBytes(SharedFrame::Copy(response));
  conn.set_deflate(deflate);
  conn.set_state(Connection::State::kWebSocket);
  conn.set_handler(handler);
  handler->OnOpen(conn);
}

void HttpExchange::Respond(int status, std::string_view content_type, std::string_view body,
                           std::string_view extra_headers) {
  if (answered()) return;
  bool close = WriteResponse(conn_, keep_alive(), status, content_type, body, extra_headers,
                             request_.method == http::Method::kHead);
  status_ = status;
  outcome_ = close ? Outcome::kClose : Outcome::kAnswered;
}

void HttpExchange::RespondError(int status, std::string_view reason,
                                std::string_view extra_headers) {
  if (answered()) return;
  bool close = WriteError(conn_, keep_alive(), status, reason, extra_headers,
                          request_.method == http::Method::kHead);
  status_ = status;
  outcome_ = close ? Outcome::kClose : Outcome::kAnswered;
}

namespace {
// RFC 7692 §5: the first acceptable offer, when --ws-deflate allows any.
ws::DeflateAgreement Negotiate(Connection& conn, const http::Request& request) {
  if (!conn.shard().config().ws_deflate) return {};
  return ws::NegotiateDeflate(request);
}

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
  WriteUpgrade(conn_, {handshake.accept.data(), handshake.accept.size()}, handler,
               Negotiate(conn_, request_));
  status_ = 101;
  outcome_ = Outcome::kUpgraded;
  return true;
}

std::optional<DeferredHttp> HttpExchange::DeferUpgrade(std::string* accept) {
  if (answered()) return std::nullopt;
  ws::HandshakeResult handshake = ws::ValidateUpgrade(request_);
  if (handshake.error_status != 0) {
    RejectHandshake(*this, handshake);
    return std::nullopt;
  }
  accept->assign(handshake.accept.data(), handshake.accept.size());
  DeferredHttp deferred = Defer();
  deferred.deflate = Negotiate(conn_, request_);
  return deferred;
}

bool HttpExchange::AllowGetOrHead() {
  if (request_.method == http::Method::kGet || request_.method == http::Method::kHead) return true;
  RespondError(405, "method not allowed", "Allow: GET, HEAD\r\n");
  return false;
}

DeferredHttp HttpExchange::Defer() {
  outcome_ = Outcome::kDeferred;
  return {conn_.id(), route_, request_.keep_alive, request_.method == http::Method::kHead};
}

DeferredHttp HttpExchange::StreamBody(BodySink* sink) {
  sink_ = sink;
  return Defer();
}

}  // namespace ringcast
