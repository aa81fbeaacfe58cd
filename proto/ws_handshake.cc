// WebSocket opening handshake, server side (RFC 6455 §4.2).
#include "proto/ws_handshake.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>
#include <string>

namespace ringcast::ws {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455 §1.3.
constexpr size_t kKeyBytes = 16;         // §4.1: "a randomly selected 16-byte value".
constexpr size_t kEncodedKeyChars = 24;  // base64 of 16 bytes, with "==" padding.

HandshakeResult Fail(int status, std::string_view reason) {
  HandshakeResult r;
  r.error_status = status;
  r.error_reason = reason;
  return r;
}

// True when any header line called `name` lists `token`. A header may legitimately be split
// over several lines (RFC 9110 §5.3), so every line is checked, not just the first.
bool AnyHeaderHasToken(const http::Request& request, std::string_view name,
                       std::string_view token) {
  for (size_t i = 0; i < request.header_count; ++i) {
    if (http::EqualsIgnoreCase(request.headers[i].name, name) &&
        http::HasToken(request.headers[i].value, token)) {
      return true;
    }
  }
  return false;
}

size_t CountHeaders(const http::Request& request, std::string_view name) {
  size_t n = 0;
  for (size_t i = 0; i < request.header_count; ++i) {
    n += http::EqualsIgnoreCase(request.headers[i].name, name) ? 1 : 0;
  }
  return n;
}

// §4.2.1 item 5: the key "when decoded, is 16 bytes in length". Decoding and re-encoding checks
// both the length and that it is canonical base64 (EVP_DecodeBlock alone ignores padding and
// accepts stray low bits in the last character).
bool IsValidKey(std::string_view key) {
  if (key.size() != kEncodedKeyChars) return false;
  unsigned char decoded[kEncodedKeyChars / 4 * 3];
  const int n = EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(key.data()),
                                static_cast<int>(key.size()));
  if (n != static_cast<int>(sizeof(decoded))) return false;
  char reencoded[kEncodedKeyChars + 1];  // EVP_EncodeBlock appends a NUL.
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(reencoded), decoded, kKeyBytes);
  return key == std::string_view(reencoded, kEncodedKeyChars);
}

}  // namespace

std::array<char, kAcceptKeyLength> ComputeAcceptKey(std::string_view client_key) {
  // Valid keys are 24 characters; the stack buffer covers them and anything a caller might pass
  // that is still plausibly a key. Longer input takes the allocating path (never on a handshake
  // that ValidateUpgrade accepted).
  constexpr size_t kStackKey = 64;
  unsigned char digest[SHA_DIGEST_LENGTH];
  if (client_key.size() <= kStackKey) {
    unsigned char buf[kStackKey + kGuid.size()];
    std::memcpy(buf, client_key.data(), client_key.size());
    std::memcpy(buf + client_key.size(), kGuid.data(), kGuid.size());
    SHA1(buf, client_key.size() + kGuid.size(), digest);
  } else {
    std::string joined;
    joined.reserve(client_key.size() + kGuid.size());
    joined.append(client_key).append(kGuid);
    SHA1(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), digest);
  }
  char encoded[kAcceptKeyLength + 1];  // EVP_EncodeBlock appends a NUL.
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded), digest, SHA_DIGEST_LENGTH);
  std::array<char, kAcceptKeyLength> out;
  std::memcpy(out.data(), encoded, kAcceptKeyLength);
  return out;
}

HandshakeResult ValidateUpgrade(const http::Request& request) {
  // §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
  if (request.method != http::Method::kGet) return Fail(405, "WebSocket upgrade requires GET");
  if (request.version_minor != 1) return Fail(400, "WebSocket upgrade requires HTTP/1.1");
  // Items 3 and 4: Upgrade lists "websocket", Connection lists "Upgrade" (both case-insensitive).
  // Without them this is a plain HTTP request to a WebSocket endpoint: 426 tells the client to
  // upgrade (RFC 9110 §15.5.22).
  if (!AnyHeaderHasToken(request, "upgrade", "websocket")) {
    return Fail(426, "missing Upgrade: websocket");
  }
  if (!AnyHeaderHasToken(request, "connection", "upgrade")) {
    return Fail(426, "missing Connection: Upgrade");
  }
  // Item 6 and §4.4: an unsupported version gets 426 with "Sec-WebSocket-Version: 13".
  if (CountHeaders(request, "sec-websocket-version") != 1 ||
      request.Find("sec-websocket-version") != "13") {
    return Fail(426, "unsupported Sec-WebSocket-Version");
  }
  // Item 5; more than one key line is as malformed as none.
  if (CountHeaders(request, "sec-websocket-key") != 1) {
    return Fail(400, "missing or repeated Sec-WebSocket-Key");
  }
  const std::string_view key = request.Find("sec-websocket-key");
  if (!IsValidKey(key)) return Fail(400, "malformed Sec-WebSocket-Key");
  HandshakeResult ok;
  ok.accept = ComputeAcceptKey(key);
  return ok;
}

}  // namespace ringcast::ws
