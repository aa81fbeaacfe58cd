#include "core/routes/default_app.h"

#include <string>

#include "core/net/connection.h"
#include "core/runtime/shard.h"

namespace ringcast {
namespace {

constexpr std::string_view kRawPrefix = "/raw/";
constexpr size_t kMaxChannelName = 256;

// /echo: every data message comes back with the same opcode and payload.
class EchoHandler final : public WebSocketHandler {
 public:
  void OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) override {
    conn.SendMessage(opcode, payload);
  }
};

// /raw/{channel}: every data message is published verbatim to every subscriber of the channel,
// the sender included, on every shard. conn.user_data holds the subscription token.
class RawChannelHandler final : public WebSocketHandler {
 public:
  explicit RawChannelHandler(TopicTable& topics) : topics_(topics) {}

  void Subscribe(Connection& conn, std::string_view channel) {
    topics_.Subscribe(channel, &conn, &conn.user_data);
  }
  void OnMessage(Connection& conn, ws::Opcode opcode, std::span<const uint8_t> payload) override {
    topics_.PublishToTopicOf(conn.user_data, SharedFrame::EncodeMessage(opcode, payload));
  }
  void OnClose(Connection& conn) override { topics_.Unsubscribe(&conn.user_data); }

 private:
  TopicTable& topics_;
};

class DefaultApp final : public Application {
 public:
  explicit DefaultApp(Shard& shard) : shard_(shard), raw_(shard.topics()) {}

  void OnRequest(HttpExchange& exchange) override {
    const http::Request& request = exchange.request();
    std::string_view path = request.path;
    if (path == "/health") {
      if (!AllowGet(exchange)) return;
      std::string body = "{\"status\":\"ok\",\"shard\":" + std::to_string(shard_.id()) +
                         ",\"shards\":" + std::to_string(shard_.shard_count()) +
                         ",\"connections\":" + std::to_string(shard_.connection_count()) + "}";
      exchange.Respond(200, "application/json", body);
      return;
    }
    if (path == "/echo") {
      if (AllowGet(exchange)) exchange.Upgrade(&echo_);
      return;
    }
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
    exchange.RespondError(404, "no such route");
  }

 private:
  static bool AllowGet(HttpExchange& exchange) {
    if (exchange.request().method == http::Method::kGet) return true;
    exchange.RespondError(405, "method not allowed", "Allow: GET\r\n");
    return false;
  }

  Shard& shard_;
  EchoHandler echo_;
  RawChannelHandler raw_;
};

}  // namespace

std::unique_ptr<Application> MakeDefaultApp(Shard& shard) {
  return std::make_unique<DefaultApp>(shard);
}

}  // namespace ringcast
