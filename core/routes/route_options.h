// The engine's own routes: static files at / and /sdk/ (static_files.h), /echo and the raw
// fan-out channels (default_app.h); the flags that set them are in route_flags.cc.
#pragma once

#include <cstdint>
#include <string>

namespace ringcast {

class FlagRegistry;

struct RouteOptions {
  // The unauthenticated WebSocket routes, off unless asked for: /echo (tests, benchmarks) and
  // /raw/{channel} (default_app.h).
  bool echo = false;
  bool raw_channels = false;
  // Static files at / (core/routes/static_files.h). Empty web_root: none served. The flags'
  // check sets it to the shipped web/ folder when neither the flag nor its variable is given.
  std::string web_root;
  // The JavaScript SDK's modules at /sdk/ (clients/js/src), for pages that import them; empty:
  // none. Set to the shipped SDK like web_root.
  std::string sdk_root;
  // Neither flag nor variable named a root and no shipped folder was found next to the binary
  // (an installation without its share/ringcast): main logs it as a warning, since the web app
  // is then missing by accident, not by choice.
  bool web_root_not_found = false;
  bool sdk_root_not_found = false;
  uint64_t max_static_bytes = 8 << 20;  // Largest file served (bigger: 500).
  uint32_t static_max_age_s = 300;      // Cache-Control max-age of assets other than HTML.
  uint32_t max_static_reads = 64;       // File reads queued or running per shard (more: 503).
};

void RegisterRouteFlags(FlagRegistry& flags, RouteOptions* options);

}  // namespace ringcast
