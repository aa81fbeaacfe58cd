// permessage-deflate (RFC 7692). See ws_deflate.h.
#include "proto/ws_deflate.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace ringcast::ws {
namespace {

constexpr uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};  // §7.2.1, §7.2.2.

constexpr std::string_view kWhitespace = " \t";

std::string_view Trim(std::string_view s) {
  const size_t first = s.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kWhitespace) - first + 1);
}

// RFC 9110 §5.6.2 tchar.
bool IsTokenChar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

// Splits `s` at `sep` outside quoted strings; `piece` gets each part (untrimmed). False when a
// quoted string is left open.
template <typename Piece>
bool SplitOutsideQuotes(std::string_view s, char sep, Piece&& piece) {
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '\\') {
        ++i;  // quoted-pair: the next character is literal.
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == sep) {
      if (!piece(s.substr(start, i - start))) return true;
      start = i + 1;
    }
  }
  if (quoted) return false;
  piece(s.substr(start));
  return true;
}

// A parameter's value: a token, or a quoted string whose content (unescaped) is a token (RFC
// 6455 §9.1). False when it is neither.
bool ParamValue(std::string_view raw, std::string* value) {
  if (raw.empty()) return false;
  if (raw.front() != '"') {
    value->assign(raw);
    return IsToken(raw);
  }
  if (raw.size() < 2 || raw.back() != '"') return false;
  value->clear();
  for (size_t i = 1; i + 1 < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\\') {
      if (i + 2 >= raw.size()) return false;
      c = raw[++i];
    }
    value->push_back(c);
  }
  return IsToken(*value);
}

// §7.1.2.1: "a decimal integer value without leading zeros between 8 to 15, inclusive".
int WindowBits(std::string_view value) {
  if (value.size() == 1 && value[0] >= '8' && value[0] <= '9') return value[0] - '0';
  if (value.size() == 2 && value[0] == '1' && value[1] >= '0' && value[1] <= '5') {
    return 10 + (value[1] - '0');
  }
  return 0;
}

// One extension element ("name; param; param=value"): the agreement when it is an acceptable
// permessage-deflate offer, else not enabled.
DeflateAgreement JudgeOffer(std::string_view element) {
  DeflateAgreement agreement;
  bool first = true;
  bool ours = false;
  bool ok = true;
  bool seen_server_nct = false, seen_client_nct = false, seen_server_bits = false,
       seen_client_bits = false;
  std::string value;
  const bool closed = SplitOutsideQuotes(element, ';', [&](std::string_view piece) {
    piece = Trim(piece);
    if (first) {
      first = false;
      ours = http::EqualsIgnoreCase(piece, "permessage-deflate");
      return ours;
    }
    const size_t eq = piece.find('=');
    const std::string_view name = Trim(piece.substr(0, eq));
    const bool has_value = eq != std::string_view::npos;
    if (!IsToken(name) || (has_value && !ParamValue(Trim(piece.substr(eq + 1)), &value))) {
      return ok = false;
    }
    auto once = [&](bool& seen) { return seen ? false : (seen = true); };  // §7: no repeats.
    if (http::EqualsIgnoreCase(name, "server_no_context_takeover")) {
      ok = once(seen_server_nct) && !has_value;
    } else if (http::EqualsIgnoreCase(name, "client_no_context_takeover")) {
      ok = once(seen_client_nct) && !has_value;
    } else if (http::EqualsIgnoreCase(name, "server_max_window_bits")) {
      ok = once(seen_server_bits) && has_value && WindowBits(value) != 0;
      if (ok) agreement.server_max_window_bits = static_cast<uint8_t>(WindowBits(value));
    } else if (http::EqualsIgnoreCase(name, "client_max_window_bits")) {
      // §7.1.2.2: with or without a value. The server never limits the client's window (it
      // inflates with 15 bits, which reads every smaller one): a value is only echoed.
      ok = once(seen_client_bits) && (!has_value || WindowBits(value) != 0);
      if (ok && has_value) {
        agreement.client_max_window_bits = static_cast<uint8_t>(WindowBits(value));
      }
    } else {
      ok = false;  // §7: a parameter not defined for offers declines the offer.
    }
    return ok;
  });
  agreement.enabled = closed && ours && ok;
  if (!agreement.enabled) agreement = {};
  return agreement;
}

}  // namespace

DeflateAgreement NegotiateDeflate(std::string_view extensions) {
  DeflateAgreement chosen;
  SplitOutsideQuotes(extensions, ',', [&](std::string_view element) {
    chosen = JudgeOffer(element);
    return !chosen.enabled;  // The first acceptable offer wins.
  });
  return chosen;
}

DeflateAgreement NegotiateDeflate(const http::Request& request) {
  for (size_t i = 0; i < request.header_count; ++i) {
    if (!http::EqualsIgnoreCase(request.headers[i].name, "sec-websocket-extensions")) continue;
    DeflateAgreement agreement = NegotiateDeflate(request.headers[i].value);
    if (agreement.enabled) return agreement;
  }
  return {};
}

std::string DeflateResponse(const DeflateAgreement& agreement) {
  std::string out = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
  if (agreement.server_max_window_bits != 0) {
    out += "; server_max_window_bits=";
    out += std::to_string(agreement.server_max_window_bits);
  }
  if (agreement.client_max_window_bits != 0) {
    out += "; client_max_window_bits=";
    out += std::to_string(agreement.client_max_window_bits);
  }
  return out;
}

// --- Deflater ---------------------------------------------------------------------------------

Deflater::Deflater(int window_bits, int level, int mem_level)
    : window_bits_(window_bits), level_(level), mem_level_(mem_level) {}

Deflater::~Deflater() {
  if (stream_) deflateEnd(stream_.get());
}

size_t Deflater::Compress(std::span<const uint8_t> in, uint8_t* out, size_t limit) {
  if (!stream_) {
    auto stream = std::make_unique<z_stream>();
    // Negative window bits: raw DEFLATE, no zlib header or trailer (§7.2.1).
    if (deflateInit2(stream.get(), level_, Z_DEFLATED, -window_bits_, mem_level_,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
      return 0;
    }
    stream_ = std::move(stream);
  }
  z_stream& z = *stream_;
  // With a byte of it left over (below), the form is at most limit - 1 bytes.
  const size_t room = limit + sizeof(kTail);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out;
  z.avail_out = static_cast<uInt>(room);
  const int rc = deflate(&z, Z_SYNC_FLUSH);
  // Input left, or the buffer filled (zlib may hold more): the form is not smaller than `limit`.
  const bool fits = rc == Z_OK && z.avail_in == 0 && z.avail_out != 0;
  const size_t produced = room - z.avail_out;
  deflateReset(&z);  // No context takeover: the next message starts with an empty window.
  if (!fits || produced <= sizeof(kTail) ||
      std::memcmp(out + produced - sizeof(kTail), kTail, sizeof(kTail)) != 0) {
    return 0;
  }
  return produced - sizeof(kTail);
}

// --- Inflater ---------------------------------------------------------------------------------

Inflater::Inflater() = default;

Inflater::~Inflater() {
  if (stream_) inflateEnd(stream_.get());
}

void Inflater::Trim(size_t keep) {
  if (out_capacity_ <= keep) return;
  out_.reset();
  out_capacity_ = 0;
  out_size_ = 0;
}

bool Inflater::Grow(size_t limit) {
  // Never more than limit + 1 bytes: one byte past the limit is how an overflow is seen.
  const size_t most = limit + 1;
  if (out_capacity_ >= most) return false;
  const size_t wanted = std::min(most, std::max<size_t>(4096, out_capacity_ * 2));
  std::unique_ptr<uint8_t[]> grown(new uint8_t[wanted]);  // Not zeroed: inflate writes it.
  if (out_size_ != 0) std::memcpy(grown.get(), out_.get(), out_size_);
  out_ = std::move(grown);
  out_capacity_ = wanted;
  return true;
}

InflateStatus Inflater::Inflate(std::span<const uint8_t> in, size_t limit) {
  out_size_ = 0;
  if (!stream_) {
    auto stream = std::make_unique<z_stream>();
    if (inflateInit2(stream.get(), -15) != Z_OK) return InflateStatus::kError;
    stream_ = std::move(stream);
  }
  z_stream& z = *stream_;
  InflateStatus status = Run(z, in, limit);
  if (status == InflateStatus::kOk && out_size_ > limit) status = InflateStatus::kTooBig;
  inflateReset(&z);  // No context takeover.
  return status;
}

InflateStatus Inflater::Run(z_stream& z, std::span<const uint8_t> in, size_t limit) {
  // The payload, then the tail (§7.2.2 step 1), without copying the payload to join them.
  const std::span<const uint8_t> pieces[2] = {in, {kTail, sizeof(kTail)}};
  for (const std::span<const uint8_t>& piece : pieces) {
    z.next_in = const_cast<Bytef*>(piece.data());
    z.avail_in = static_cast<uInt>(piece.size());
    for (;;) {
      // The buffer may be larger than this call's limit allows (an earlier, larger limit).
      size_t end = std::min(out_capacity_, limit + 1);
      if (out_size_ == end) {
        if (!Grow(limit)) return InflateStatus::kTooBig;
        end = std::min(out_capacity_, limit + 1);
      }
      z.next_out = out_.get() + out_size_;
      z.avail_out = static_cast<uInt>(end - out_size_);
      const int rc = inflate(&z, Z_SYNC_FLUSH);
      out_size_ = end - z.avail_out;
      // A final block (BFINAL) ends the DEFLATE data: the rest of the message is ignored.
      if (rc == Z_STREAM_END) return InflateStatus::kOk;
      if (rc != Z_OK && rc != Z_BUF_ERROR) return InflateStatus::kError;
      if (z.avail_out == 0) continue;                     // Full: more may be pending.
      if (z.avail_in != 0) return InflateStatus::kError;  // Room left, yet input refused.
      break;                                              // This piece is used up.
    }
  }
  return InflateStatus::kOk;
}

}  // namespace ringcast::ws
