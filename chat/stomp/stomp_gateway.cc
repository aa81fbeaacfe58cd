#include "chat/stomp/stomp_gateway.h"

#include <algorithm>
#include <vector>

#include "chat/api/http_api.h"
#include "chat/chat_shard.h"
#include "chat/ops/wire.h"
#include "chat/protocol.h"
#include "chat/sessions/session_host.h"
#include "chat/stomp/stomp_mapping.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

using stomp::Command;

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Whether the comma-separated `list` (accept-version) names `item`.
bool ListHas(std::string_view list, std::string_view item) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (list.substr(0, comma) == item) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// The SEND destinations, for the error that names a wrong one: the registry's.
std::string StompDestinations() {
  std::string list;
  for (const ops::Wire& wire : ops::Wires()) {
    if (wire.stomp_destination.empty()) continue;
    list.append(list.empty() ? "" : ", ").append(wire.stomp_destination);
  }
  return list;
}

}  // namespace

StompGateway::StompGateway(Shard& shard, ChatService& service, SessionHost& sessions)
    : shard_(shard),
      service_(service),
      sessions_(sessions),
      config_(service.config()),
      // A frame's head is bounded as an HTTP request's is; its body as a chat message's.
      parser_(
          {.max_header_bytes = config_.max_header_bytes, .max_body_bytes = config_.max_chat_body}),
      cid_prefixes_(std::random_device{}()) {}

StompGateway::~StompGateway() = default;

StompGateway::Entry* StompGateway::Find(const Connection& conn) {
  auto it = entries_.find(conn.slot());
  return it == entries_.end() ? nullptr : &it->second;
}

Session* StompGateway::SessionOf(Connection& conn) {
  return reinterpret_cast<Session*>(conn.user_data);
}

void StompGateway::Open(Connection& conn, std::string address) {
  auto client = std::make_unique<StompTransport>(*this, conn, std::move(address), cid_prefixes_(),
                                                 service_.clock().MonotonicMs());
  Entry& entry = entries_[conn.slot()];
  entry.transport = client.get();
  entry.owned = std::move(client);
}

void StompGateway::OnMessage(Connection& conn, ws::Opcode opcode,
                             std::span<const uint8_t> payload) {
  Entry* entry = Find(conn);
  if (entry == nullptr) return;
  StompTransport& client = *entry->transport;
  if (client.phase() == StompTransport::Phase::kClosed || client.disconnecting()) return;
  client.NoteReceived();
  // Any STOMP traffic, heart-beats included, is the session's heartbeat (--presence-timeout).
  if (entry->owned == nullptr) sessions_.connections().OnHeartbeat(conn);
  if (opcode != ws::Opcode::kText) return client.Fail("STOMP frames travel in text messages");
  Consume(conn, *entry,
          std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
}

void StompGateway::Consume(Connection& conn, Entry& entry, std::string_view text) {
  StompTransport& client = *entry.transport;
  if (client.phase() == StompTransport::Phase::kOpening) {
    if (!client.held().Push(text)) client.Fail("too many frames before CONNECTED");
    return;
  }
  // A frame begun in an earlier message: completed here (the common case, a whole frame per
  // message, is parsed in place).
  std::string joined = std::move(client.partial());
  client.partial().clear();
  std::string_view input = text;
  if (!joined.empty()) input = joined.append(text);
  for (;;) {
    if (client.phase() == StompTransport::Phase::kClosed || client.disconnecting()) return;
    if (client.phase() == StompTransport::Phase::kOpening) {
      // CONNECT taken: what came behind it waits for the session (CONNECTED).
      if (!input.empty() && !client.held().Push(input)) {
        client.Fail("too many frames before CONNECTED");
      }
      return;
    }
    stomp::Frame frame;
    const stomp::ParseResult result = parser_.Parse(input, &frame);
    input.remove_prefix(result.consumed);
    if (result.status == stomp::Status::kError) return client.Fail(result.error_reason);
    if (result.status == stomp::Status::kNeedMore) {
      if (client.phase() == StompTransport::Phase::kAwaitingConnect &&
          input.size() > config_.max_header_bytes) {
        return client.Fail("more than --max-header-bytes before a whole CONNECT frame");
      }
      client.partial().assign(input);
      return;
    }
    HandleFrame(conn, entry, frame);
  }
}

void StompGateway::HandleFrame(Connection& conn, Entry& entry, const stomp::Frame& frame) {
  StompTransport& client = *entry.transport;
  if (client.phase() == StompTransport::Phase::kAwaitingConnect) {
    return HandleConnect(conn, entry, frame);
  }
  const std::string_view receipt = frame.Find("receipt").value_or("");
  switch (frame.command) {
    case Command::kConnect:
    case Command::kStomp:
      return client.Fail("already connected", receipt);
    case Command::kSend:
      return HandleSend(conn, client, frame);
    case Command::kSubscribe:
      return HandleSubscribe(conn, client, frame);
    case Command::kUnsubscribe:
      return HandleUnsubscribe(client, frame);
    case Command::kAck:
    case Command::kNack:
      return client.Fail("ACK and NACK are not supported: every subscription is ack:auto", receipt);
    case Command::kBegin:
    case Command::kCommit:
    case Command::kAbort:
      return client.Fail("transactions (BEGIN, COMMIT, ABORT) are not supported", receipt);
    case Command::kDisconnect:
      return client.Disconnect(receipt, service_.clock().MonotonicMs());
    case Command::kConnected:
    case Command::kMessage:
    case Command::kReceipt:
    case Command::kError:
      return client.Fail(std::string(stomp::CommandName(frame.command)) +
                             " is a server frame; a client may not send it",
                         receipt);
  }
}

// STOMP 1.2, "Connecting": the version, the token, the heart-beats; then the session starts and
// CONNECTED goes out with its hello (StompTransport::Send).
void StompGateway::HandleConnect(Connection& conn, Entry& entry, const stomp::Frame& frame) {
  StompTransport& client = *entry.transport;
  if (frame.command != Command::kConnect && frame.command != Command::kStomp) {
    return client.Fail("the first frame must be CONNECT (or STOMP)");
  }
  // No accept-version: a STOMP 1.0 client (spec, "Protocol Negotiation").
  if (!ListHas(frame.Find("accept-version").value_or("1.0"), "1.2")) {
    return client.Fail("this server speaks STOMP 1.2 only: accept-version must include 1.2");
  }
  std::optional<std::string_view> token = stomp_map::TokenOf(frame);
  if (!token) {
    return client.Fail(
        "missing token: give it in CONNECT's passcode header, or as \"Authorization: Bearer "
        "<token>\"");
  }
  std::string error;
  std::optional<HttpApi::Authenticated> auth =
      HttpApi::VerifyToken(service_, sessions_, *token, &error);
  if (!auth) return client.Fail(error);
  std::pair<uint32_t, uint32_t> client_beats{0, 0};
  if (std::optional<std::string_view> heart_beat = frame.Find("heart-beat")) {
    auto parsed = stomp_map::ParseHeartBeat(*heart_beat);
    if (!parsed) return client.Fail("heart-beat must be two non-negative integers: cx,cy");
    client_beats = *parsed;
  }
  // Spec, "Heart-beating": each way the larger of what one side offers and the other wants;
  // none when either says 0.
  const uint32_t server_ms = config_.stomp_heartbeat_ms;
  const auto [client_sends, client_wants] = client_beats;
  const uint32_t send_every = server_ms && client_wants ? std::max(server_ms, client_wants) : 0;
  const uint32_t expect_every = server_ms && client_sends ? std::max(server_ms, client_sends) : 0;
  const int64_t user = auth->user;
  sessions_.connections().Open(conn, user, std::move(auth->jti), auth->exp, client.TakeAddress(),
                               std::move(entry.owned));
  client.Opened(user, SessionOf(conn)->device, server_ms, send_every, expect_every);
}

void StompGateway::HandleSend(Connection& conn, StompTransport& client, const stomp::Frame& frame) {
  const std::string_view receipt = frame.Find("receipt").value_or("");
  if (frame.Find("transaction")) {
    return client.Fail("transactions (BEGIN, COMMIT, ABORT) are not supported", receipt);
  }
  std::optional<std::string_view> destination = frame.Find("destination");
  if (!destination) return client.Fail("SEND needs a destination header", receipt);
  const ops::Wire* wire = ops::FindStompWire(*destination);
  if (wire == nullptr) {
    return client.Fail("no such destination for SEND: " + std::string(*destination) + " (" +
                           StompDestinations() + ")",
                       receipt);
  }
  // A send is acked by cid (the frame's, else one made up) on /user/queue/acks; the rest are
  // answered on their queues, and a receipt says the request was taken.
  const bool send = wire->type == "send";
  std::string cid;
  if (send) {
    std::optional<std::string_view> given = frame.Find("cid");
    cid = given ? std::string(*given) : client.MakeCid();
  }
  std::string error;
  std::optional<std::string> request = wire->from_stomp(frame, cid, &error);
  if (!request) return client.Fail(error, receipt);
  if (send && !client.AwaitAck(cid, receipt)) {
    return client.Fail("more than 1024 SENDs to /app/chat.send waiting for their ack", receipt);
  }
  // The chat request's own path: rate limit, pacing, membership, the store, the ack.
  sessions_.connections().OnMessage(conn, ws::Opcode::kText, Bytes(*request));
  if (!send && !receipt.empty() && client.phase() != StompTransport::Phase::kClosed) {
    client.SendReceipt(receipt);
  }
}

void StompGateway::HandleSubscribe(Connection& conn, StompTransport& client,
                                   const stomp::Frame& frame) {
  const std::string_view receipt = frame.Find("receipt").value_or("");
  std::optional<std::string_view> id = frame.Find("id");
  if (!id) return client.Fail("SUBSCRIBE needs an id header", receipt);
  if (id->size() > StompTransport::kMaxSubscriptionId) {
    return client.Fail("subscription id longer than " +
                           std::to_string(StompTransport::kMaxSubscriptionId) + " bytes",
                       receipt);
  }
  std::optional<std::string_view> destination = frame.Find("destination");
  if (!destination) return client.Fail("SUBSCRIBE needs a destination header", receipt);
  if (std::optional<std::string_view> ack = frame.Find("ack"); ack && *ack != "auto") {
    return client.Fail("only ack:auto subscriptions are supported (no ACK or NACK)", receipt);
  }
  std::optional<stomp_map::Subscribable> what = stomp_map::ParseSubscribable(*destination);
  if (!what) {
    return client.Fail("no such destination for SUBSCRIBE: " + std::string(*destination) +
                           " (/topic/conversation.{id}, /user/queue/events, acks, errors, "
                           "presence)",
                       receipt);
  }
  if (client.HasSubscription(*id)) {
    return client.Fail("subscription id " + std::string(*id) + " is in use", receipt);
  }
  if (client.subscription_count() >= config_.stomp_max_subscriptions) {
    return client.Fail("more than " + std::to_string(config_.stomp_max_subscriptions) +
                           " subscriptions (--stomp-max-subscriptions)",
                       receipt);
  }
  // One subscription per destination: a second would make every event cost another MESSAGE
  // (and another deflate) with nothing new in it.
  if (const std::string* holder = client.HolderOf(*what)) {
    return client.SendChatError(
        EncodeError("conflict",
                    "already subscribed to " + std::string(*destination) + " (subscription " +
                        *holder + "): one subscription per destination",
                    {}),
        receipt);
  }
  if (what->topic) {
    // The session's views are its conversations, kept current by membership changes.
    Session* session = SessionOf(conn);
    if (session == nullptr || !session->convs.contains(what->conv)) {
      return client.SendChatError(
          EncodeError("forbidden", "not a member of conversation " + std::to_string(what->conv),
                      {}),
          receipt);
    }
  }
  client.Subscribe(*id, *what);
  if (!receipt.empty()) client.SendReceipt(receipt);
}

void StompGateway::HandleUnsubscribe(StompTransport& client, const stomp::Frame& frame) {
  const std::string_view receipt = frame.Find("receipt").value_or("");
  std::optional<std::string_view> id = frame.Find("id");
  if (!id) return client.Fail("UNSUBSCRIBE needs an id header", receipt);
  if (!client.Unsubscribe(*id)) {
    return client.Fail("no subscription with id " + std::string(*id), receipt);
  }
  if (!receipt.empty()) client.SendReceipt(receipt);
}

void StompGateway::ScheduleReplay(ConnId id) {
  service_.PostOrHold(shard_.id(), [id](ChatShard& self) { self.stomp().Replay(id); });
}

void StompGateway::Replay(ConnId id) {
  Connection* conn = shard_.Find(id);
  Entry* entry = conn == nullptr ? nullptr : Find(*conn);
  if (entry == nullptr) return;
  StompTransport& client = *entry->transport;
  while (!client.held().empty() && client.phase() == StompTransport::Phase::kReady) {
    const std::string text = client.held().Pop();
    Consume(*conn, *entry, text);
  }
}

void StompGateway::OnHeartbeat(Connection& conn) {
  Entry* entry = Find(conn);
  if (entry == nullptr) return;
  entry->transport->NoteReceived();
  if (entry->owned == nullptr) sessions_.connections().OnHeartbeat(conn);
}

void StompGateway::OnDrain(Connection& conn) {
  Entry* entry = Find(conn);
  if (entry != nullptr && entry->owned == nullptr) sessions_.connections().OnDrain(conn);
}

void StompGateway::OnClose(Connection& conn) {
  auto it = entries_.find(conn.slot());
  if (it == entries_.end()) return;
  Entry entry = std::move(it->second);
  entries_.erase(it);
  if (entry.owned != nullptr) {  // No session yet: the address is still the connection's.
    return HttpApi::ConnectionClosed(service_, entry.owned->TakeAddress());
  }
  sessions_.connections().OnClose(conn);  // Destroys the session, and with it the transport.
}

std::string StompGateway::AccessLogUser(const Connection& conn) const {
  return sessions_.connections().UserOf(conn);
}

void StompGateway::Sweep(int64_t now_ms) {
  const int64_t connect_deadline_ms = int64_t{config_.handshake_timeout_s} * 1000;
  const int64_t disconnect_wait_ms = int64_t{config_.close_timeout_s} * 1000;
  std::vector<StompTransport*> late;
  // Closing defers each OnClose to the end of the loop iteration: entries_ stays as it is.
  for (auto& [slot, entry] : entries_) {
    StompTransport& client = *entry.transport;
    if (client.phase() != StompTransport::Phase::kAwaitingConnect) {
      client.Beat(now_ms, disconnect_wait_ms);
    } else if (now_ms - client.opened_ms() > connect_deadline_ms) {
      late.push_back(&client);
    }
  }
  for (StompTransport* client : late) client->Fail("no CONNECT frame within --handshake-timeout");
}

}  // namespace ringcast::chat
