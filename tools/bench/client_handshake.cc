#include "tools/bench/client_handshake.h"

#include <openssl/evp.h>

#include "proto/http_parser.h"
#include "proto/ws_handshake.h"

namespace ringcast::bench {

std::string EncodeKey(const std::array<uint8_t, 16>& nonce) {
  // OpenSSL's encoder, as the server's accept value (proto/ws_handshake.cc) uses it.
  char encoded[25];  // 24 characters ("==" padded) and the NUL EVP_EncodeBlock appends.
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded), nonce.data(),
                                     static_cast<int>(nonce.size()));
  return std::string(encoded, static_cast<size_t>(length));
}

std::string BuildUpgradeRequest(std::string_view host_header, std::string_view target,
                                std::string_view key, std::string_view extensions) {
  std::string out;
  out.reserve(160 + host_header.size() + target.size());
  out += "GET ";
  out += target;
  out += " HTTP/1.1\r\nHost: ";
  out += host_header;
  out +=
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: ";
  out += key;
  if (!extensions.empty()) {
    out += "\r\nSec-WebSocket-Extensions: ";
    out += extensions;
  }
  out += "\r\n\r\n";
  return out;
}

namespace {

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

UpgradeResult Fail(std::string error) {
  UpgradeResult result;
  result.status = UpgradeStatus::kError;
  result.error = std::move(error);
  return result;
}

}  // namespace

UpgradeResult ParseUpgradeResponse(std::string_view input, std::string_view key) {
  const size_t end = input.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (input.size() > kMaxResponseHead) return Fail("response head larger than 16 KiB");
    return {};
  }
  std::string_view head = input.substr(0, end + 2);  // Every line ends in CRLF.
  const size_t line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  head.remove_prefix(line_end + 2);
  // "HTTP/1.1 101 Switching Protocols"; the reason phrase is free text.
  if (!status_line.starts_with("HTTP/1.1 ") || status_line.size() < 12) {
    return Fail("malformed status line '" + std::string(status_line) + "'");
  }
  if (status_line.substr(9, 3) != "101") {
    return Fail("server answered '" + std::string(status_line) + "' instead of 101");
  }
  bool upgrade = false;
  bool connection = false;
  bool deflate = false;
  bool server_no_context = false;
  std::string_view accept;
  while (!head.empty()) {
    const size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Fail("malformed header line '" + std::string(line) + "'");
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = TrimOws(line.substr(colon + 1));
    if (http::EqualsIgnoreCase(name, "upgrade")) {
      upgrade = http::EqualsIgnoreCase(value, "websocket");
    } else if (http::EqualsIgnoreCase(name, "connection")) {
      connection = http::HasToken(value, "upgrade");
    } else if (http::EqualsIgnoreCase(name, "sec-websocket-accept")) {
      accept = value;
    } else if (http::EqualsIgnoreCase(name, "sec-websocket-extensions")) {
      // "permessage-deflate; param; ..." (RFC 7692 §7); parameters are tokens here.
      const std::string_view first = TrimOws(value.substr(0, value.find(';')));
      deflate = http::EqualsIgnoreCase(first, "permessage-deflate");
      server_no_context = value.find("server_no_context_takeover") != std::string_view::npos;
    }
  }
  if (!upgrade) return Fail("101 without 'Upgrade: websocket'");
  if (!connection) return Fail("101 without 'Connection: Upgrade'");
  const auto expected = ws::ComputeAcceptKey(key);
  if (accept != std::string_view(expected.data(), expected.size())) {
    return Fail("Sec-WebSocket-Accept '" + std::string(accept) + "' does not match the key");
  }
  if (deflate && !server_no_context) {
    return Fail("permessage-deflate without server_no_context_takeover (it was asked for)");
  }
  UpgradeResult result;
  result.status = UpgradeStatus::kOk;
  result.consumed = end + 4;
  result.deflate = deflate;
  return result;
}

}  // namespace ringcast::bench
