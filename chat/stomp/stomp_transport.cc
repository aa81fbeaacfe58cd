#include "chat/stomp/stomp_transport.h"

#include <algorithm>
#include <charconv>

#include "chat/stomp/stomp_gateway.h"
#include "core/net/shared_frame.h"
#include "core/version.h"
#include "proto/ws_frame.h"

namespace ringcast::chat {
namespace {

using stomp::Command;
using stomp::Header;

// The once-a-second sweep that times activity (StompGateway::Sweep).
constexpr int64_t kBeatPeriodMs = 1000;

std::string_view Text(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace

StompTransport::StompTransport(StompGateway& gateway, Connection& conn, std::string address,
                               uint64_t cid_prefix, int64_t now_ms)
    : gateway_(gateway),
      conn_(conn),
      address_(std::move(address)),
      cid_prefix_(cid_prefix),
      opened_ms_(now_ms),
      last_received_ms_(now_ms),
      last_sent_ms_(now_ms) {}

void StompTransport::Opened(int64_t user, uint64_t device, uint32_t server_ms,
                            uint32_t send_every_ms, uint32_t expect_every_ms) {
  phase_ = Phase::kOpening;
  user_ = user;
  device_ = device;
  server_heartbeat_ms_ = server_ms;
  send_every_ms_ = send_every_ms;
  expect_every_ms_ = expect_every_ms;
}

// --- The session's output ------------------------------------------------------------------------

void StompTransport::Send(std::string_view json) {
  if (phase_ == Phase::kOpening && json.starts_with(R"({"type":"hello")")) {
    // The session is ready: CONNECTED now (a client that subscribes at CONNECTED misses
    // nothing a sync would not give it), the hello for the first /user/queue/events.
    phase_ = Phase::kReady;
    hello_.assign(json);
    const std::string heart_beat =
        std::to_string(server_heartbeat_ms_) + "," + std::to_string(server_heartbeat_ms_);
    const std::string server = std::string("ringcast/") + kVersion;
    const std::string user = std::to_string(user_);
    const std::string session = std::to_string(device_);
    const Header headers[] = {{"version", "1.2"},
                              {"heart-beat", heart_beat},
                              {"server", server},
                              {"user-name", user},
                              {"session", session}};
    SendFrame(Command::kConnected, headers);
    if (!held_.empty()) gateway_.ScheduleReplay(conn_.id());
    return;
  }
  Route(json, Delivery::kReliable);
}

void StompTransport::SendShared(SharedFrame* frame, Delivery delivery) {
  // The event was encoded once for every recipient as a WebSocket text frame; its payload is
  // the JSON, which each STOMP subscriber gets inside its own MESSAGE frame.
  ws::FrameHeader header;
  const std::span<const uint8_t> bytes = frame->bytes();
  if (ws::ParseFrameHeader(bytes, &header).status == ws::HeaderStatus::kOk &&
      header.header_size + header.payload_size == bytes.size()) {
    Route(Text(bytes.subspan(header.header_size)), delivery);
  }
  frame->Release();
}

void StompTransport::Close(uint16_t code, std::string_view reason) {
  if (phase_ != Phase::kClosed) SendError(reason, {}, {});
  CloseAfterError(code, reason);
}

void StompTransport::Route(std::string_view json, Delivery delivery) {
  if (phase_ == Phase::kClosed) return;
  const stomp_map::EventHead head = stomp_map::ScanEvent(json);
  if (head.conv > 0) {
    auto topic = topics_.find(head.conv);
    if (topic == topics_.end()) return;  // Not subscribed: this client does not want it.
    SendMessage(*topic->second, stomp_map::TopicOf(head.conv), json, delivery);
    return;
  }
  std::string receipt = head.has_cid ? Answered(head.cid_json) : std::string();
  if (head.type == "error") return SendChatError(json, receipt);
  for (size_t i = 0; i < stomp_map::kQueues; ++i) {
    const auto queue = static_cast<stomp_map::Queue>(i);
    if (queues_[i] != nullptr && stomp_map::QueueTakes(queue, head.type)) {
      SendMessage(*queues_[i], stomp_map::QueueDestination(queue), json, delivery);
    }
  }
  // After the queues: a client that reads its acks when the RECEIPT comes finds this one there.
  if (head.type == "ack" && !receipt.empty()) SendReceipt(receipt);
  if (disconnecting_ && pending_sends_.empty()) FinishDisconnect();
}

void StompTransport::SendChatError(std::string_view json, std::string_view receipt_id) {
  bool taken = false;
  for (size_t i = 0; i < stomp_map::kQueues; ++i) {
    const auto queue = static_cast<stomp_map::Queue>(i);
    if (queues_[i] != nullptr && stomp_map::QueueTakes(queue, "error")) {
      SendMessage(*queues_[i], stomp_map::QueueDestination(queue), json, Delivery::kReliable,
                  receipt_id);
      taken = true;
    }
  }
  if (!taken) {
    // Nothing subscribed takes it: STOMP's own way, ERROR and close.
    const std::string message = stomp_map::ErrorText(json);
    SendError(message, receipt_id, json);
    return CloseAfterError(uint16_t(ws::CloseCode::kPolicyViolation), message);
  }
  if (disconnecting_ && pending_sends_.empty()) FinishDisconnect();
}

void StompTransport::SendMessage(std::string_view subscription, std::string_view destination,
                                 std::string_view json, Delivery delivery,
                                 std::string_view receipt_id) {
  char message_id[24];
  const auto end = std::to_chars(message_id, message_id + sizeof(message_id), ++next_message_id_);
  Header headers[] = {{"subscription", subscription},
                      {"message-id", std::string_view(message_id, end.ptr - message_id)},
                      {"destination", destination},
                      {"content-type", "application/json"},
                      {"receipt-id", receipt_id}};
  SendFrame(Command::kMessage, std::span(headers, receipt_id.empty() ? 4 : 5), json, delivery);
}

void StompTransport::SendFrame(Command command, std::span<const Header> headers,
                               std::string_view body, Delivery delivery) {
  const size_t size = stomp::EncodedFrameSize(command, headers, body);
  const size_t total = ws::HeaderSize(size, false) + size;
  SharedFrame* frame = SharedFrame::Build(total, [&](uint8_t* out, size_t) {
    const size_t header = ws::EncodeHeader(out, ws::Opcode::kText, true, size);
    return header +
           stomp::EncodeFrame(reinterpret_cast<char*>(out + header), command, headers, body);
  });
  const SendStatus status = conn_.SendFrame(frame, delivery);
  sent_ |= status == SendStatus::kQueued || status == SendStatus::kBackpressure;
}

void StompTransport::SendReceipt(std::string_view receipt_id) {
  const Header headers[] = {{"receipt-id", receipt_id}};
  SendFrame(Command::kReceipt, headers);
}

void StompTransport::SendError(std::string_view message, std::string_view receipt_id,
                               std::string_view body) {
  Header headers[3];
  size_t count = 0;
  headers[count++] = {"message", message};
  if (!body.empty()) headers[count++] = {"content-type", "application/json"};
  if (!receipt_id.empty()) headers[count++] = {"receipt-id", receipt_id};
  SendFrame(Command::kError, std::span(headers, count), body);
}

void StompTransport::CloseAfterError(uint16_t code, std::string_view reason) {
  phase_ = Phase::kClosed;
  conn_.Close(code, reason);
}

// --- The gateway's side --------------------------------------------------------------------------

void StompTransport::Fail(std::string_view message, std::string_view receipt_id) {
  if (phase_ == Phase::kClosed) return;
  SendError(message, receipt_id, {});
  CloseAfterError(uint16_t(ws::CloseCode::kPolicyViolation), message);
}

bool StompTransport::AwaitAck(std::string_view cid, std::string_view receipt) {
  if (pending_sends_.size() >= kMaxPendingSends) return false;
  pending_sends_.emplace_back(stomp_map::CidAsJson(cid), receipt);
  return true;
}

std::string StompTransport::MakeCid() {
  char text[48];
  auto [end, ec] = std::to_chars(text, text + sizeof(text), cid_prefix_, 16);
  *end++ = '.';
  end = std::to_chars(end, text + sizeof(text), ++next_cid_).ptr;
  return std::string("stomp.").append(text, end);
}

std::string StompTransport::Answered(std::string_view cid_json) {
  auto it = std::find_if(pending_sends_.begin(), pending_sends_.end(),
                         [&](const auto& pending) { return pending.first == cid_json; });
  if (it == pending_sends_.end()) return {};
  std::string receipt = std::move(it->second);
  pending_sends_.erase(it);
  return receipt;
}

bool StompTransport::Subscribe(std::string_view id, const stomp_map::Subscribable& what) {
  if (HolderOf(what) != nullptr) return false;
  auto [it, inserted] = subscriptions_.try_emplace(std::string(id), what);
  if (!inserted) return false;
  const std::string* held_id = &it->first;
  if (what.topic) {
    topics_[what.conv] = held_id;
  } else {
    queues_[size_t(what.queue)] = held_id;
  }
  if (!what.topic && what.queue == stomp_map::Queue::kEvents && !hello_.empty()) {
    // Once: the hello came before any subscription could take it.
    const std::string hello = std::move(hello_);
    hello_.clear();
    SendMessage(id, stomp_map::QueueDestination(what.queue), hello, Delivery::kReliable);
  }
  return true;
}

bool StompTransport::Unsubscribe(std::string_view id) {
  auto it = subscriptions_.find(std::string(id));
  if (it == subscriptions_.end()) return false;
  const stomp_map::Subscribable& what = it->second;
  if (what.topic) {
    topics_.erase(what.conv);
  } else {
    queues_[size_t(what.queue)] = nullptr;
  }
  subscriptions_.erase(it);
  return true;
}

bool StompTransport::HasSubscription(std::string_view id) const {
  return subscriptions_.contains(std::string(id));
}

const std::string* StompTransport::HolderOf(const stomp_map::Subscribable& what) const {
  if (!what.topic) return queues_[size_t(what.queue)];
  auto topic = topics_.find(what.conv);
  return topic == topics_.end() ? nullptr : topic->second;
}

void StompTransport::Disconnect(std::string_view receipt_id, int64_t now_ms) {
  if (disconnecting_ || phase_ == Phase::kClosed) return;
  disconnecting_ = true;
  disconnect_receipt_.assign(receipt_id);
  disconnect_ms_ = now_ms;
  if (pending_sends_.empty()) FinishDisconnect();
}

void StompTransport::FinishDisconnect() {
  disconnecting_ = false;
  if (!disconnect_receipt_.empty()) SendReceipt(disconnect_receipt_);
  phase_ = Phase::kClosed;
  conn_.Close(uint16_t(ws::CloseCode::kNormal), "disconnect");
}

void StompTransport::Beat(int64_t now_ms, int64_t disconnect_wait_ms) {
  if (phase_ == Phase::kClosed) return;
  if (std::exchange(received_, false)) last_received_ms_ = now_ms;
  if (std::exchange(sent_, false)) last_sent_ms_ = now_ms;
  if (disconnecting_ && now_ms - disconnect_ms_ >= disconnect_wait_ms) {
    disconnect_receipt_.clear();  // Not every SEND before it was answered: no RECEIPT.
    return FinishDisconnect();
  }
  if (phase_ != Phase::kReady) return;
  if (expect_every_ms_ > 0 && now_ms - last_received_ms_ > 2 * int64_t{expect_every_ms_}) {
    return Fail("no frame or heart-beat from the client for twice its heart-beat interval");
  }
  // The last send happened up to a beat period before it was timed: beat early by that much,
  // so that the client never waits longer than the interval it asked for.
  if (send_every_ms_ > 0 && now_ms - last_sent_ms_ + kBeatPeriodMs >= send_every_ms_) {
    if (conn_.SendText("\n") == SendStatus::kQueued) last_sent_ms_ = now_ms;
  }
}

}  // namespace ringcast::chat
