// A scrape of /metrics: every shard's figures, summed, with the node's (docs/metrics.md).
//
// Each shard fills its own MetricSet on its own thread (Shard::CollectMetrics, asked by mail),
// so counting stays plain and unshared; the last shard to finish sums the parts, adds the
// process's figures and the ShardSet's metrics sources, and renders the text. A shard that
// refuses the mail (stopping, or far behind) is left out, and the scrape says so in
// ringcast_scrape_incomplete.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/net/http_exchange.h"

namespace ringcast {

class Shard;
class ShardSet;

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// On shard `origin`: collects, then answers `deferred` there.
void AnswerMetrics(Shard& origin, const DeferredHttp& deferred);

// From a thread that is not a shard (the --metrics-port listener): the rendered text, or
// nullopt when the shards did not all answer within `timeout` (or have stopped).
std::optional<std::string> CollectMetrics(ShardSet& shards, std::chrono::milliseconds timeout);

}  // namespace ringcast
