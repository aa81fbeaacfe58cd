// The history family's HTTP routes (proto/PROTOCOL.md, "History", "Pins", "Threads"): a
// conversation's page of messages, its pins, and a thread's page, for its members; each one
// store call whose answer comes back to the asking shard. Over WebSocket: history_ops.cc,
// thread_ops.cc.
#include <charconv>

#include "chat/ops/routes.h"
#include "chat/protocol.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"

namespace ringcast::chat {
namespace {

// A decimal int64 of at least `min`; false for anything else (sign, spaces, overflow).
bool ParseInt(std::string_view text, int64_t min, int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && *out >= min;
}

bool ParseId(std::string_view text, int64_t* out) { return ParseInt(text, 1, out); }

struct PageQuery {
  int64_t before = 0;
  int64_t seen = 0;  // ConversationStore::History's.
  storage::PageLimit limit;
};

// A page of messages' `before`, `seen` and `limit` (history and thread pages): before=0 means
// "the newest", as absent does (and as in the WebSocket requests); seen=0 names nothing. The
// page holds at most `max_bytes` of messages. Nullopt after answering 400 with the reason.
std::optional<PageQuery> ReadPageQuery(HttpExchange& exchange, uint64_t max_bytes) {
  const std::string_view query = exchange.request().query;
  PageQuery page;
  int64_t count = 50;
  if (auto value = http::QueryParam(query, "before"); value && !ParseInt(*value, 0, &page.before)) {
    exchange.RespondError(400, "before must be a non-negative integer");
    return std::nullopt;
  }
  if (auto value = http::QueryParam(query, "seen"); value && !ParseInt(*value, 0, &page.seen)) {
    exchange.RespondError(400, "seen must be a non-negative integer");
    return std::nullopt;
  }
  if (auto value = http::QueryParam(query, "limit");
      value && (!ParseId(*value, &count) || count > RequestLimits::kMaxHistory)) {
    exchange.RespondError(400, "limit must be 1 to 200");
    return std::nullopt;
  }
  page.limit = {.count = uint32_t(count), .bytes = max_bytes};
  return page;
}

// A conversation's page for its members: {"<key>":[message, ...]}, the messages that fit in
// `max_bytes`; a page of history also says whether there is "more" (older messages, or some
// that did not fit).
storage::Reply<storage::Page> PageReply(HttpApi& api, const DeferredHttp& deferred,
                                        std::string_view key, uint64_t max_bytes, bool paged) {
  return StoreReply<storage::Page>(
      api, deferred,
      [key, max_bytes, paged](HttpApi& self, const DeferredHttp& deferred,
                              const storage::Page& page) {
        if (self.AnswerDenial(deferred, page.denial)) return;
        JsonWriter writer;
        writer.BeginObject().Key(key).BeginArray();
        const bool all = AppendMessagesWithin(writer, page.messages, max_bytes);
        writer.EndArray();
        if (paged) writer.Field("more", page.more || !all);
        self.Answer(deferred, 200, writer.EndObject().str());
      });
}

void MessagesPage(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  const auto page = ReadPageQuery(exchange, api.config().max_answer_bytes);
  if (!page) return;
  const storage::PageLimit limit = page->limit;
  DeferredHttp deferred = exchange.Defer();
  api.service().store().History(call.conv, call.auth.user, page->before, page->seen, limit,
                                PageReply(api, deferred, "messages", limit.bytes, true));
}

void ListPins(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  DeferredHttp deferred = exchange.Defer();
  api.service().store().ListPins(call.conv, call.auth.user,
                                 PageReply(api, deferred, "pins", UINT64_MAX, false));
}

// GET /api/conversations/{id}/threads/{root}: the WebSocket `thread` answer over HTTP, for a
// client that reads a thread without holding a connection (PROTOCOL.md, "Replies and threads").
void ThreadPage(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  const int64_t conv = call.conv;
  const int64_t root = call.root;
  const auto page = ReadPageQuery(exchange, api.config().max_answer_bytes);
  if (!page) return;
  const storage::PageLimit limit = page->limit;
  DeferredHttp deferred = exchange.Defer();
  api.service().store().Thread(
      conv, call.auth.user, root, page->before, page->seen, limit,
      StoreReply<storage::ThreadPage>(
          api, deferred,
          [conv, root, max_bytes = limit.bytes](HttpApi& self, const DeferredHttp& deferred,
                                                const storage::ThreadPage& thread) {
            switch (thread.page.denial) {
              case storage::Denial::kNone:
                return self.Answer(deferred, 200, EncodeThread(conv, root, thread, max_bytes));
              case storage::Denial::kForbidden:
                return self.AnswerError(deferred, 403, "not a member of this conversation");
              default:
                return self.AnswerError(
                    deferred, 404,
                    "no such conversation, or no such thread root (an ordinary message in no "
                    "thread)");
            }
          }));
}

}  // namespace

std::span<const HttpRoute> HistoryRoutes() {
  using http::Method;
  static constexpr HttpRoute kRows[] = {
      {Method::kGet, "/api/conversations/{id}/messages", RouteAccess::kBearer,
       OnApi<&MessagesPage>},
      {Method::kGet, "/api/conversations/{id}/pins", RouteAccess::kBearer, OnApi<&ListPins>},
      {Method::kGet, "/api/conversations/{id}/threads/{root}", RouteAccess::kBearer,
       OnApi<&ThreadPage>},
  };
  return kRows;
}

}  // namespace ringcast::chat
