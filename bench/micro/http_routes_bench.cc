// The chat's HTTP route table (chat/api/http_routes.h): what finding a request's row costs, for
// a deep chat route, the WebSocket upgrade's, and a path that is not the chat's (/health, static
// files: every row is tried). Compare with BM_HttpParser_Upgrade, the parse of the request.
#include <benchmark/benchmark.h>

#include "chat/api/http_routes.h"

namespace ringcast::chat {
namespace {

void BM_FindRoute(benchmark::State& state, http::Method method, std::string_view path) {
  for (auto _ : state) {
    RouteLookup lookup = FindRoute(method, path);
    benchmark::DoNotOptimize(lookup);
  }
}
BENCHMARK_CAPTURE(BM_FindRoute, reaction, http::Method::kPut,
                  "/api/conversations/123/messages/45/reactions/%F0%9F%91%8D");
BENCHMARK_CAPTURE(BM_FindRoute, ws, http::Method::kGet, "/ws");
BENCHMARK_CAPTURE(BM_FindRoute, health_miss, http::Method::kGet, "/health");

}  // namespace
}  // namespace ringcast::chat
