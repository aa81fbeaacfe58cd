// A scrape of /metrics: every shard's figures, summed, with the node's (docs/metrics.md).
//
// Each shard fills its own MetricSet on its own thread (Shard::CollectMetrics, asked by mail),
// so counting stays plain and unshared; the last shard to finish sums the parts, adds the
// process's figures and the ShardSet's metrics sources, and renders the text. A shard that
// refuses the mail (stopping, or far behind) is left out, and the scrape says so in
// ringcast_scrape_incomplete.
//
// Nobody waits for the shards: asked from a shard, the answer is a mail back to it; asked from
// an IoLoop (the --metrics-port listener), each part's completion is counted where it is made
// and the last one posts a task to that loop, which renders there and answers, unless the
// scrape's deadline (a timer on the same loop) came first.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/io/io_loop.h"
#include "core/net/http_exchange.h"

namespace ringcast {

class ExternalMail;
class Shard;
class ShardSet;

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// On shard `origin`: collects, then answers `deferred` there.
void AnswerMetrics(Shard& origin, const DeferredHttp& deferred);

// Runs once, on the loop's thread: the rendered text, or nullopt when some shard had not
// answered by the deadline. Not run at all if the loop ends first.
using ScrapeDone = std::function<void(std::optional<std::string> text)>;

// On `loop`'s thread: asks every shard of `shards` through `mail` (their ExternalMail; never
// waits) and returns at once; `done` follows on the loop thread. The loop must outlive the
// shards' threads (a late part posts to it).
void CollectMetrics(ShardSet& shards, ExternalMail& mail, IoLoop& loop,
                    IoLoop::Clock::time_point deadline, ScrapeDone done);

}  // namespace ringcast
