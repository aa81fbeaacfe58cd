// libFuzzer harness for http::ParseRequest (proto/http_parser.h). The input is the bytes
// received so far on a connection.
//
// Invariants checked beyond "no crash, no sanitizer report":
// - kOk: 0 < consumed <= size, the head ends with a blank line, every view
//   in Request lies inside the consumed head, at most kMaxHeaders headers, content_length within
//   the limit; kError: one of the documented statuses with a reason; kNeedMore: nothing past
//   max_header_bytes.
// - The parser is stateless and the server re-parses a growing buffer, so a prefix of the input
//   must agree with the whole: shorter than the head → kNeedMore; at least the head → the same
//   result; an error on a prefix → the same error on the whole.
#include <cstdint>
#include <string_view>
#include <vector>

#include "proto/http_parser.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using ringcast::fuzz::Inside;
using ringcast::http::Limits;
using ringcast::http::ParseRequest;
using ringcast::http::ParseResult;
using ringcast::http::Request;
using ringcast::http::Status;

void CheckResult(std::string_view input, const Limits& limits, const ParseResult& result,
                 const Request& request) {
  switch (result.status) {
    case Status::kOk: {
      FUZZ_CHECK(result.consumed > 0 && result.consumed <= input.size());
      FUZZ_CHECK(result.consumed <= limits.max_header_bytes);
      const std::string_view head = input.substr(0, result.consumed);
      FUZZ_CHECK(head.ends_with("\n\n") || head.ends_with("\n\r\n"));
      FUZZ_CHECK(!request.method_text.empty() && Inside(request.method_text, head));
      FUZZ_CHECK(!request.target.empty() && Inside(request.target, head));
      FUZZ_CHECK(Inside(request.path, request.target) && Inside(request.query, request.target));
      FUZZ_CHECK(request.version_minor == 0 || request.version_minor == 1);
      FUZZ_CHECK(request.header_count <= ringcast::http::kMaxHeaders);
      for (size_t i = 0; i < request.header_count; ++i) {
        const ringcast::http::Header& header = request.headers[i];
        FUZZ_CHECK(!header.name.empty() && Inside(header.name, head) && Inside(header.value, head));
        FUZZ_CHECK(header.name.find_first_of(":\r\n ") == std::string_view::npos);
        FUZZ_CHECK(header.value.find_first_of("\r\n") == std::string_view::npos);
        // The documented trim: no leading or trailing SP / HTAB.
        if (!header.value.empty()) {
          FUZZ_CHECK(header.value.front() != ' ' && header.value.front() != '\t');
          FUZZ_CHECK(header.value.back() != ' ' && header.value.back() != '\t');
        }
      }
      FUZZ_CHECK(request.content_length <= limits.max_body_bytes);
      // Lookups the server does on every request.
      (void)request.Find("host");
      (void)ringcast::http::HasToken(request.Find("connection"), "upgrade");
      break;
    }
    case Status::kError: {
      const int s = result.error_status;
      FUZZ_CHECK(s == 400 || s == 413 || s == 431 || s == 501 || s == 505);
      FUZZ_CHECK(!result.error_reason.empty());
      FUZZ_CHECK(ringcast::http::ReasonPhrase(s) != "Unknown");
      break;
    }
    case Status::kNeedMore:
      FUZZ_CHECK(input.size() <= limits.max_header_bytes);
      break;
  }
}

bool SameRequest(const Request& a, const Request& b) {
  if (a.method != b.method || a.method_text != b.method_text || a.target != b.target ||
      a.path != b.path || a.query != b.query || a.version_minor != b.version_minor ||
      a.header_count != b.header_count || a.content_length != b.content_length ||
      a.keep_alive != b.keep_alive) {
    return false;
  }
  for (size_t i = 0; i < a.header_count; ++i) {
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly `size` bytes, so ASan flags any read past the end of the input.
  const ringcast::fuzz::ExactCopy copy(data, size);
  const std::string_view input = copy.text();

  // Small limits when the last byte is odd (a head ends in an even '\n'), so the fuzzer reaches
  // 413 and 431 with short inputs.
  Limits limits;
  if (size != 0 && (data[size - 1] & 1) != 0) {
    limits.max_header_bytes = 64 + data[size - 1];
    limits.max_body_bytes = 1000;
  }

  Request whole;
  const ParseResult result = ParseRequest(input, limits, &whole);
  CheckResult(input, limits, result, whole);

  // Prefixes: every one when the input is short, else cuts derived from the input.
  const uint32_t seed = size >= 2 ? static_cast<uint32_t>(data[size - 1] | data[size - 2] << 8) : 0;
  std::vector<size_t> cuts;
  if (size <= 300) {
    for (size_t i = 0; i < size; ++i) cuts.push_back(i);
  } else {
    cuts = ringcast::fuzz::SplitPoints(size, seed, 16);
  }
  for (const size_t cut : cuts) {
    const std::string_view prefix = input.substr(0, cut);
    Request partial;
    const ParseResult r = ParseRequest(prefix, limits, &partial);
    CheckResult(prefix, limits, r, partial);
    if (r.status == Status::kError) {
      // More bytes cannot repair a fault already seen, and they cannot change its answer.
      FUZZ_CHECK(result.status == Status::kError);
      FUZZ_CHECK(r.error_status == result.error_status);
    } else if (result.status == Status::kOk) {
      if (cut < result.consumed) {
        FUZZ_CHECK(r.status == Status::kNeedMore);
      } else {
        FUZZ_CHECK(r.status == Status::kOk && r.consumed == result.consumed);
        FUZZ_CHECK(SameRequest(partial, whole));
      }
    } else {
      // The whole input holds no complete head, so no prefix of it can.
      FUZZ_CHECK(r.status != Status::kOk);
    }
  }
  return 0;
}
