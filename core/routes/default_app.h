// DefaultApp: the routes every ringcast serves — /health and, when enabled, /echo (--echo) and
// /raw/{channel} (--raw-channels) — and, for every other path, the static files of --web-root
// (static_files.h).
// One instance per shard.
#pragma once

#include <memory>

#include "core/net/http_exchange.h"

namespace ringcast {

class Shard;

std::unique_ptr<Application> MakeDefaultApp(Shard& shard);

}  // namespace ringcast
