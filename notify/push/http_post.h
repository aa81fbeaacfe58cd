// One blocking HTTP(S) POST with libcurl, for sinks on the notifier's threads (never a shard):
// Web Push's requests to push services. TLS peers are verified against the system's CAs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast::notify {

struct HttpPostResult {
  int status = 0;     // The HTTP status; 0 when no answer came (connection, TLS, timeout).
  std::string error;  // Why, when status is 0.
};

// Posts `body` to `url` with `headers` ("Name: value" each), waiting at most `timeout` for
// the whole exchange; follows no redirect. The answer's body is read and dropped.
HttpPostResult HttpPost(const std::string& url, const std::vector<std::string>& headers,
                        std::string_view body, std::chrono::milliseconds timeout);

// curl_global_init, once per process, before any thread uses libcurl (idempotent).
void InitCurl();

}  // namespace ringcast::notify
