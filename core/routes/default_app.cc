#include "core/routes/default_app.h"

#include <atomic>
#include <string>

#include "core/cluster/cluster_node.h"
#include "core/metrics/metrics_scrape.h"
#include "core/net/connection.h"
#include "core/routes/static_files.h"
#include "core/runtime/shard.h"
#include "proto/json_writer.h"

namespace ringcast {
namespace {

constexpr std::string_view kRawPrefix = "/raw/";
constexpr size_t kMaxChannelName = 256;

// /echo: every data message comes back with the same opcode and payload. A binary message that
// arrived in one frame is unmasked straight into the reply (one pass over its bytes).
class EchoHandler final : public WebSocketHandler {
 public:
  void OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) override {
    conn.SendMessage(opcode, payload);
  }
  bool TakesMaskedBinary() const override { return true; }
  void OnMaskedBinary(Connection& conn, const ws::MaskedPayload& payload) override {
    conn.SendMessage(ws::Opcode::kBinary, payload);
  }
};

// /raw/{channel}: every data message is published verbatim to every subscriber of the channel,
// the sender included, on every shard and, in cluster mode, on every node (through Redis: at
// most once, in each publisher's order; nothing is stored). conn.user_data holds the
// subscription token.
class RawChannelHandler final : public WebSocketHandler {
 public:
  explicit RawChannelHandler(TopicTable& topics) : topics_(topics) {}

  void Subscribe(Connection& conn, std::string_view channel) {
    topics_.Subscribe(channel, &conn, &conn.user_data);
  }
  void OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) override {
    if (cluster::ClusterNode* node = Shard::Current()->cluster()) {
      node->PublishRaw(topics_.TopicOf(conn.user_data), opcode, payload);
    }
    topics_.PublishToTopicOf(conn.user_data, SharedFrame::EncodeMessage(opcode, payload));
  }
  void OnClose(Connection& conn) override { topics_.Unsubscribe(&conn.user_data); }

 private:
  TopicTable& topics_;
};

// /health: asks every shard for its connection count (a round of mail, which also shows every
// shard's loop is turning) and answers once all have replied. A shard so far behind that mail
// to or from it is refused (Shard::Post) makes the answer 503, or none at all when the reply
// is the refused mail (the request then meets --handshake-timeout); the check is freed by
// whichever shard lets go of it last.
class HealthCheck {
 public:
  static void Start(Shard& shard, const DeferredHttp& deferred) {
    auto* check = new HealthCheck{deferred, shard.id(), shard.shard_count()};
    for (uint32_t target = 0; target < shard.shard_count(); ++target) {
      if (!shard.Post(target, Mail{&HealthCheck::Count, check})) check->Finish(shard, false);
    }
  }

 private:
  HealthCheck(const DeferredHttp& deferred, uint32_t origin, uint32_t shards)
      : deferred_(deferred), origin_(origin), pending_(shards), shards_(shards) {}

  static void Count(Shard& shard, const Mail& mail) {
    auto* check = static_cast<HealthCheck*>(mail.ptr);
    if (!shard.Post(check->origin_, Mail{&HealthCheck::Add, check, shard.connection_count()})) {
      check->Finish(shard, false);
    }
  }
  static void Add(Shard& shard, const Mail& mail) {
    auto* check = static_cast<HealthCheck*>(mail.ptr);
    check->connections_ += mail.a;  // Only on the origin shard.
    check->Finish(shard, true);
  }
  // One shard's part is over (replied or not). The last one answers, on the origin shard.
  void Finish(Shard& shard, bool replied) {
    if (!replied) failed_.store(true, std::memory_order_relaxed);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (shard.id() == origin_) {
      bool ok = !failed_.load(std::memory_order_relaxed);
      JsonWriter body;
      body.BeginObject()
          .Field("status", ok ? "ok" : "shard not keeping up")
          .Field("shard", uint64_t{shard.id()})
          .Field("shards", uint64_t{shards_})
          .Field("connections", connections_);
      if (cluster::ClusterNode* node = shard.cluster()) {
        // Cluster mode: this node's link to the others (docs/cluster.md). Counters since start.
        const cluster::RedisBusStats bus = node->bus().stats();
        body.Field("node", node->node_id())
            .Key("redis")
            .BeginObject()
            .Field("connected", bus.connected)
            .Field("subscribed", bus.subscribed)
            .Field("published", bus.published)
            .Field("writes", bus.writes)
            .Field("received", bus.received)
            .Field("dropped", bus.dropped)
            .Field("unconfirmed", bus.unconfirmed)
            .Field("reconnects", bus.reconnects)
            .EndObject();
      }
      body.EndObject();
      shard.AnswerDeferred(deferred_, ok ? 200 : 503, "application/json", body.str());
    }
    delete this;
  }

  DeferredHttp deferred_;
  uint32_t origin_;
  std::atomic<uint32_t> pending_;  // Shards whose part is not over yet.
  std::atomic<bool> failed_{false};
  uint32_t shards_;
  uint64_t connections_ = 0;
};

class DefaultApp final : public Application {
 public:
  explicit DefaultApp(Shard& shard) : shard_(shard), raw_(shard.topics()), static_files_(shard) {}

  void OnRequest(HttpExchange& exchange) override {
    const http::Request& request = exchange.request();
    std::string_view path = request.path;
    if (path == "/health") {
      exchange.SetRoute("/health");
      if (exchange.AllowGetOrHead()) HealthCheck::Start(shard_, exchange.Defer());
      return;
    }
    if (path == "/metrics" && shard_.config().metrics_on_main_port) {
      exchange.SetRoute("/metrics");
      if (exchange.AllowGetOrHead()) AnswerMetrics(shard_, exchange.Defer());
      return;
    }
    if (path == "/echo") {
      exchange.SetRoute("/echo");
      // Off by default: unauthenticated, it would let anyone spend the server's CPU (with
      // --ws-deflate, inflating and compressing again every message).
      if (!shard_.config().echo) {
        return exchange.RespondError(404, "no such route: /echo is off (--echo)");
      }
      if (AllowGet(exchange)) exchange.Upgrade(&echo_);
      return;
    }
    if (path.starts_with(kRawPrefix)) exchange.SetRoute("/raw/{channel}");
    if (path.starts_with(kRawPrefix) && shard_.config().raw_channels) {
      std::string_view channel = path.substr(kRawPrefix.size());
      if (channel.empty() || channel.size() > kMaxChannelName) {
        exchange.RespondError(400, "channel name must be 1 to 256 bytes");
        return;
      }
      if (AllowGet(exchange) && exchange.Upgrade(&raw_)) {
        raw_.Subscribe(exchange.connection(), channel);
      }
      return;
    }
    // Reserved for the route even while it is off: a file never answers there.
    if (path.starts_with(kRawPrefix)) return exchange.RespondError(404, "no such route");
    static_files_.OnRequest(exchange);
  }

 private:
  // A WebSocket handshake is a GET (RFC 6455 §4.1).
  static bool AllowGet(HttpExchange& exchange) {
    if (exchange.request().method == http::Method::kGet) return true;
    exchange.RespondError(405, "method not allowed", "Allow: GET\r\n");
    return false;
  }

  Shard& shard_;
  EchoHandler echo_;
  RawChannelHandler raw_;
  StaticFiles static_files_;  // Everything no route above took (--web-root).
};

}  // namespace

std::unique_ptr<Application> MakeDefaultApp(Shard& shard) {
  return std::make_unique<DefaultApp>(shard);
}

}  // namespace ringcast
