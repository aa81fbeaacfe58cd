// Text encodings for secrets, salts and token parts: base64url without padding (RFC 4648 §5,
// as JWS requires in RFC 7515 §2) and lowercase hex. Pure functions, no allocation beyond the
// returned string, safe on any thread.
//
// Decoders are strict so that one byte string has exactly one accepted text form: a token or
// stored hash that differs from what we wrote is rejected rather than silently normalised.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ringcast::auth {

// Alphabet A-Z a-z 0-9 '-' '_', no '=' padding, no line breaks.
std::string Base64UrlEncode(std::span<const uint8_t> data);
std::string Base64UrlEncode(std::string_view data);

// nullopt unless `text` is canonical unpadded base64url: only alphabet characters (no '=', no
// whitespace, no '+' or '/'), length % 4 != 1, and the unused low bits of the last character
// are zero (RFC 4648 §3.5), so "QQ" decodes and "QR" does not.
std::optional<std::string> Base64UrlDecode(std::string_view text);

// Two lowercase digits per byte.
std::string HexEncode(std::span<const uint8_t> data);

// nullopt unless `text` has even length and only [0-9a-fA-F].
std::optional<std::string> HexDecode(std::string_view text);

// Views a byte string as bytes, for the span overloads above and OpenSSL calls.
inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace ringcast::auth
