// The conversation owner: fan-out in seq order, receipts, the recent-message cache.
#include "chat/owners/conversation_owner.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "chat/frame_ref.h"
#include "chat/owners/delivery_mail.h"
#include "core/log.h"
#include "core/runtime/fan_out.h"
#include "core/runtime/shard.h"
#include "storage/message_kinds.h"

namespace ringcast::chat {
namespace {

// Messages an owner keeps per conversation with someone online: a history page or two.
constexpr size_t kRecentMessages = 64;
// Idle conversation records forgotten per sweep (once a second) at most: a long pause on the
// shard would cost more than the memory they hold for a few more seconds.
constexpr size_t kForgetPerSweep = 20000;

}  // namespace

ConversationOwner::ConversationOwner(Shard& shard, ChatService& service, ChatMetrics& metrics)
    : shard_(shard), service_(service), metrics_(metrics), cluster_(service.cluster()) {}

ConversationOwner::OwnedConv& ConversationOwner::Use(int64_t conv) {
  OwnedConv& owned = owned_convs_[conv];
  owned.last_used_ms = service_.clock().MonotonicMs();
  NoteIdle(conv, owned);
  return owned;
}

void ConversationOwner::NoteIdle(int64_t conv, OwnedConv& owned) {
  if (owned.shard_mask != 0 || owned.idle_listed) return;
  owned.idle_listed = true;
  idle_convs_.emplace_back(conv, service_.clock().MonotonicMs());
}

// A record with no shard joined holds only caches (the last seq published, watermarks seen):
// forgetting it costs at most a store write or a sync later, and keeps memory bounded by the
// conversations in use rather than by every conversation that ever had traffic.
void ConversationOwner::ForgetIdle(int64_t now_ms) {
  const int64_t ttl_ms = int64_t{service_.config().idle_state_ttl_s} * 1000;
  size_t forgotten = 0;
  while (!idle_convs_.empty() && now_ms - idle_convs_.front().second >= ttl_ms &&
         forgotten < kForgetPerSweep) {
    int64_t conv = idle_convs_.front().first;
    idle_convs_.pop_front();
    auto it = owned_convs_.find(conv);
    if (it == owned_convs_.end()) continue;
    OwnedConv& owned = it->second;
    owned.idle_listed = false;
    if (owned.shard_mask != 0) continue;  // Joined again; listed again when left.
    if (now_ms - owned.last_used_ms < ttl_ms) {
      owned.idle_listed = true;  // Used since it was listed: look again a whole TTL later.
      idle_convs_.emplace_back(conv, now_ms);
      continue;
    }
    owned_convs_.erase(it);
    ++forgotten;
  }
  // The bucket array does not shrink by itself after a wave of conversations went idle.
  if (forgotten > 0 && owned_convs_.size() * 4 < owned_convs_.bucket_count()) {
    owned_convs_.rehash(0);
  }
}

void ConversationOwner::Join(int64_t conv, uint32_t shard, uint64_t token, int64_t start_seq) {
  OwnedConv& owned = Use(conv);
  if (owned.shard_mask == 0) {
    // The first session here: from its start on, this owner publishes every seq in order.
    // What was committed up to that start is the session's sync's business; a commit that
    // reaches the owner beyond last_published + 1 opens a gap that the store fills. In
    // cluster mode, whatever was published between that start and the subscription is found
    // by the check its confirmation triggers (CheckHead).
    if (cluster_ != nullptr) cluster_->Follow(conv);
    if (owned.last_published < 0) owned.last_published = start_seq;
    owned.known_head = std::max(owned.known_head, owned.last_published);
  }
  owned.shard_mask |= uint64_t{1} << shard;
  // Everything published after this answer reaches the shard, in order, behind it; refused,
  // the answer and what follows it wait for the refill.
  if (!PostJoined(shard, conv, token, owned.last_published)) {
    owned.lag.JoinRefused(shard, token, owned.last_published);
    lagging_.insert(conv);
  }
}

bool ConversationOwner::PostJoined(uint32_t shard, int64_t conv, uint64_t token, int64_t last) {
  return service_.Post(shard, [conv, token, last](ChatShard& self) {
    self.sessions().local_convs().OnJoined(conv, token, last);
  });
}

void ConversationOwner::Leave(int64_t conv, uint32_t shard) {
  auto it = owned_convs_.find(conv);
  if (it == owned_convs_.end()) return;
  it->second.shard_mask &= ~(uint64_t{1} << shard);
  it->second.last_used_ms = service_.clock().MonotonicMs();
  ReleaseAcks(it->second.lag.Erase(shard));
  // Nobody online in it: its messages are not worth memory until someone comes back.
  if (it->second.shard_mask == 0) {
    std::deque<storage::Message>().swap(it->second.recent);
    StopOrdering(conv, it->second);
    NoteIdle(conv, it->second);
  }
}

// Newest first, from the cache of recent messages when it holds the whole page and what the
// client has seen, else from the store (a reader thread). Either way the answer ends the origin
// session's wait (FinishAnswer).
void ConversationOwner::History(ConnId origin, int64_t conv, int64_t user, int64_t before,
                                int64_t seen, uint32_t limit) {
  const uint64_t max_bytes = service_.config().max_answer_bytes;
  auto it = owned_convs_.find(conv);
  // In cluster mode a message another node acked may not have reached this one yet.
  if (it != owned_convs_.end() && !it->second.recent.empty() &&
      it->second.recent.back().seq == it->second.last_published &&
      it->second.last_published >= seen) {
    const std::deque<storage::Message>& recent = it->second.recent;
    int64_t newest = recent.back().seq;
    int64_t high = before > 0 ? std::min(before - 1, newest) : newest;
    int64_t low = std::max<int64_t>(1, high - int64_t{limit} + 1);
    if (high < 1 || low >= recent.front().seq) {
      storage::Page page;
      for (int64_t seq = high; seq >= low; --seq) {
        page.messages.push_back(recent[size_t(seq - recent.front().seq)]);
      }
      page.more = high >= 1 && low > 1;
      return AnswerTo(origin, EncodeHistory(conv, page, max_bytes));
    }
  }
  service_.store().History(
      conv, user, before, seen, {.count = limit, .bytes = max_bytes},
      service_.ReplyOn<storage::Page>(origin.shard, [origin, conv, max_bytes](ChatShard& self,
                                                                              auto result) {
        SessionHost& sessions = self.sessions();
        if (!result.ok()) {
          return sessions.FinishWithError(origin, "unavailable", "storage unavailable, retry");
        }
        if (result->denial != storage::Denial::kNone) {
          return sessions.FinishWithError(origin, "forbidden", "not a member of this conversation");
        }
        sessions.FinishAnswer(origin, EncodeHistory(conv, *result, max_bytes));
      }));
}

void ConversationOwner::OnAppended(ConnId origin, int64_t conv, std::string cid,
                                   int64_t received_us,
                                   storage::Result<storage::AppendOutcome> result) {
  Settle(origin, conv, std::move(cid), received_us, std::move(result), /*publish=*/true);
}

void ConversationOwner::Settle(ConnId origin, int64_t conv, std::string cid, int64_t received_us,
                               storage::Result<storage::AppendOutcome> result, bool publish) {
  if (!result.ok()) {
    // An unreachable database is logged once by the store, not once per message.
    if (result.status().errc() != storage::Errc::kUnavailable) {
      RC_LOG(kWarn, "shard %u: message not stored: %s", shard_.id(),
             result.status().ToString().c_str());
    }
    // It may have been committed all the same (a timeout, a connection lost before the
    // commit's answer). If no later message shows the gap, the check does.
    CheckHead(conv);
    return SendError(origin, "unavailable", "storage unavailable, retry", cid);
  }
  if (result->denial != storage::Denial::kNone) {
    const auto [code, why] = RefusalOf(result->denial);
    return SendError(origin, code, why, cid);
  }
  if (!result->duplicate) FollowRewind(result->message);
  // Every node follows its own order (docs/cluster.md); a duplicate is published again in
  // case its first publication never happened (a receiver drops what it has).
  if (cluster_ != nullptr && publish) cluster_->PublishMessage(result->message);
  Accept(result->message, Ack{origin, std::move(cid), received_us});
  // Mention events and jobs, once, on the node that committed it (notify/README.md): here,
  // unless a writer node committed it (publish false), which did them there.
  if (publish && !result->duplicate) service_.AfterCommit(result->message);
}

void ConversationOwner::SendAck(const Ack& ack, const storage::Message& message) {
  Rider rider = MakeRider(ack, message);
  SendRider(rider, message);
}

ConversationOwner::Rider ConversationOwner::MakeRider(const Ack& ack,
                                                      const storage::Message& message) {
  ++metrics_.acks;
  metrics_.ack_latency.Observe(double(service_.clock().MonotonicUs() - ack.received_us) / 1e6);
  return {ack.origin, EncodeAck(ack.cid, message)};
}

void ConversationOwner::SendRider(Rider& rider, const storage::Message& message) {
  if (rider.json.empty()) return;  // Carried by a delivery.
  auto it = owned_convs_.find(message.conv);
  if (it == owned_convs_.end() || it->second.last_published < 0) {
    return SendTo(rider.origin, std::move(rider.json));  // Not ordered here: nothing to wait for.
  }
  OwnedConv& owned = it->second;
  // Behind its message: it waits while the sender's shard lags, or when it is refused itself.
  if (owned.lag.lagging(rider.origin.shard) || !PostText(rider.origin, rider.json)) {
    owned.lag.HoldAck(rider.origin.shard, message.seq, rider.origin, std::move(rider.json),
                      owned.last_published);
    lagging_.insert(message.conv);
  }
}

void ConversationOwner::SendAcks(std::vector<Ack>& acks, const storage::Message& message) {
  for (const Ack& ack : acks) SendAck(ack, message);
  acks.clear();
}

// What a refused send or change (proto/PROTOCOL.md, "Changes to messages") answers.
std::pair<std::string_view, std::string_view> ConversationOwner::RefusalOf(storage::Denial denial) {
  switch (denial) {
    case storage::Denial::kNotFound:
      return {"not_found", "no such message in this conversation (or it is itself a change)"};
    case storage::Denial::kNotAuthor:
      return {"forbidden",
              "only its author may edit a message, and its author or a group admin delete it"};
    case storage::Denial::kTooLate:
      return {"edit_window", "the message is older than --edit-window allows to edit"};
    case storage::Denial::kGone:
      return {"gone", "the message is deleted"};
    case storage::Denial::kTooManyPins:
      return {"too_many_pins", "the conversation has --max-pins pinned messages already"};
    case storage::Denial::kTooMany:
      return {"too_many_reactions", "the message has --max-reactions different reactions already"};
    default:
      return {"forbidden", "not a member of this conversation"};
  }
}

void ConversationOwner::SendError(ConnId conn, std::string_view code, std::string_view message,
                                  std::string_view cid) {
  metrics_.CountError(code);
  SendTo(conn, EncodeError(code, message, cid));
}

void ConversationOwner::OnTick(int64_t now_ms) {
  if (cluster_ != nullptr) ExpireForwards(now_ms);
  const int64_t delay = service_.config().gap_fill_delay_ms;
  for (int64_t conv : std::vector<int64_t>(gaps_.begin(), gaps_.end())) {
    auto it = owned_convs_.find(conv);
    if (it == owned_convs_.end()) {
      gaps_.erase(conv);
      continue;
    }
    OwnedConv& owned = it->second;
    if (!owned.filling && owned.gap_since_ms >= 0 && now_ms - owned.gap_since_ms >= delay) {
      Fill(conv, owned);
    }
  }
  for (int64_t conv : std::vector<int64_t>(lagging_.begin(), lagging_.end())) {
    auto it = owned_convs_.find(conv);
    if (it == owned_convs_.end()) {
      lagging_.erase(conv);
      continue;
    }
    Refill(conv, it->second);
  }
  if (cluster_ != nullptr && now_ms >= next_full_check_ms_) {
    // The safety net: a last publication lost without any sign (docs/cluster.md).
    next_full_check_ms_ = now_ms + int64_t{service_.config().cluster_check_interval_s} * 1000;
    for (const auto& [conv, owned] : owned_convs_) {
      if (owned.shard_mask != 0) to_check_.insert(conv);
    }
  }
  RunChecks(now_ms);
}

void ConversationOwner::OnCommitted(const storage::Message& message, std::vector<Rider>* riders) {
  OwnedConv& owned = Use(message.conv);
  owned.last_published = message.seq;
  // Contiguous: Accept publishes seq by seq, and a Leave that stops the ordering empties it.
  // A change (edit, delete) makes the cached copy of its target stale, and an edit or a
  // deletion also the quotes of the cached replies to it; a thread reply makes its root's
  // counts stale. The cache gives up everything from its front to the newest stale message, so
  // that it stays contiguous and the store answers for those in their current state.
  int64_t stale = std::max(message.target, message.thread_root);
  if (message.kind == storage::kEditKind || message.kind == storage::kDeleteKind) {
    for (const storage::Message& cached : owned.recent) {
      if (cached.reply_to == message.target) stale = std::max(stale, cached.seq);
    }
  }
  while (stale != 0 && !owned.recent.empty() && owned.recent.front().seq <= stale) {
    owned.recent.pop_front();
  }
  owned.recent.push_back(message);
  if (owned.recent.size() > kRecentMessages) owned.recent.pop_front();
  // The store moved the sender's read watermark with its message (schema v2); keep the cache
  // in step so that a receipt at or below it costs no write. No receipt is published: the
  // message event itself says its sender has read up to its seq (proto/PROTOCOL.md).
  if (auto known = owned.watermarks.find(message.from); known != owned.watermarks.end()) {
    known->second.read = std::max(known->second.read, message.seq);
    known->second.delivered = std::max(known->second.delivered, message.seq);
  }
  Publish(message.conv, message.seq, EncodeMessageEvent(message), 0, false, riders);
  // Every node tells its own sessions of the members mentioned (a mentioned member with a
  // session here has it in this conversation, so its shard is in the mask).
  if (!message.mentions.empty()) {
    struct Mention {
      std::string event;
      std::vector<int64_t> users;
    };
    auto mention = std::make_shared<const Mention>(EncodeMention(message), message.mentions);
    ShardMask(owned.shard_mask).ForEach([&](uint32_t target) {
      service_.PostOrHold(target, [mention](ChatShard& self) {
        for (int64_t user : mention->users) self.sessions().SendToUser(user, mention->event);
      });
    });
  }
}

// Receipts go through the conversation's owner, which remembers the watermarks it has seen
// committed: one that would not move them (a repeated or late "delivered", typically) costs no
// write at all.
void ConversationOwner::Watermark(ConnId origin, int64_t conv, int64_t user, bool read,
                                  int64_t seq) {
  Watermarks& known = Use(conv).watermarks[user];
  if (seq <= (read ? known.read : known.delivered)) return;
  service_.store().UpdateWatermarks(
      conv, user, read ? 0 : seq, read ? seq : 0,
      service_.ReplyOn<storage::WatermarkOutcome>(
          shard_.id(),
          [origin, conv, user](ChatShard& self, storage::Result<storage::WatermarkOutcome> result) {
            ConversationOwner& owner = self.conversations();
            if (!result.ok()) {
              return owner.SendError(origin, "unavailable", "storage unavailable");
            }
            if (result->denial != storage::Denial::kNone) {
              return owner.SendError(origin, "forbidden", "not a member of this conversation");
            }
            Watermarks& known = owner.Use(conv).watermarks[user];
            known.delivered = std::max(known.delivered, result->delivered);
            known.read = std::max(known.read, result->read);
            if (!result->delivered_moved && !result->read_moved) return;
            const auto delivered =
                result->delivered_moved ? std::optional(result->delivered) : std::nullopt;
            const auto read = result->read_moved ? std::optional(result->read) : std::nullopt;
            owner.Publish(conv, 0, EncodeReceipt(conv, user, delivered, read), 0, false);
            if (owner.cluster_ != nullptr) {
              owner.cluster_->PublishReceipt(conv, user, delivered, read);
            }
          }));
}

void ConversationOwner::Typing(int64_t conv, int64_t user, bool start) {
  const std::string json = EncodeTyping(conv, user, start);
  Publish(conv, 0, json, user, true);
  if (cluster_ != nullptr) cluster_->PublishTyping(conv, user, json);
}

void ConversationOwner::Publish(int64_t conv, int64_t seq, std::string_view json,
                                int64_t except_user, bool droppable, std::vector<Rider>* riders) {
  auto it = owned_convs_.find(conv);
  if (it == owned_convs_.end()) return;
  // A lagging shard gets its messages from the refill, in order; it misses receipts and typing
  // meanwhile (delivery_lag.h).
  const ShardMask targets =
      ShardMask(it->second.shard_mask).Without(ShardMask(it->second.lag.mask()));
  if (targets.empty()) return;
  const int64_t published_us = seq > 0 ? service_.clock().MonotonicUs() : 0;
  // Encoded once; every shard gets a reference to the same bytes.
  SharedFrame* frame = EncodeText(json);
  const ShardMask refused = FanOut(targets, frame, [&](uint32_t target) {
    Rider* rider = nullptr;
    for (size_t i = 0; riders != nullptr && i < riders->size() && rider == nullptr; ++i) {
      if ((*riders)[i].origin.shard == target && !(*riders)[i].json.empty()) {
        rider = &(*riders)[i];
      }
    }
    Delivery delivery{.conv = conv,
                      .seq = seq,
                      .except_user = except_user,
                      .droppable = droppable,
                      .frame = frame,
                      .published_us = published_us};
    if (rider != nullptr) {
      delivery.ack_to = rider->origin;
      delivery.ack = std::exchange(rider->json, std::string());  // Empty: carried.
    }
    const Mail mail = DeliveryMail::Pack(delivery);
    if (service_.PostMail(target, mail)) return true;
    // Refused (that shard is far behind): the ack goes back to its rider, for SendRider to
    // hold (FanOut releases the frame's reference).
    Delivery back = DeliveryMail::Unpack(mail, 0);
    if (rider != nullptr) rider->json = std::move(back.ack);
    return false;
  });
  // A refused message is refilled from the recent ones or the store; a receipt or typing event
  // is not.
  if (seq > 0 && !refused.empty()) {
    refused.ForEach([&](uint32_t target) { it->second.lag.DeliveryRefused(target, seq); });
    lagging_.insert(conv);
  }
}

bool ConversationOwner::PostDelivery(uint32_t shard, const storage::Message& message) {
  Delivery delivery{.conv = message.conv,
                    .seq = message.seq,
                    .frame = EncodeText(EncodeMessageEvent(message)),
                    .published_us = service_.clock().MonotonicUs()};
  const Mail mail = DeliveryMail::Pack(delivery);
  if (service_.PostMail(shard, mail)) return true;
  DeliveryMail::Release(mail);
  return false;
}

bool ConversationOwner::PostText(ConnId conn, const std::string& json) {
  return service_.Post(conn.shard,
                       [conn, json](ChatShard& self) { self.sessions().SendText(conn, json); });
}

// --- Refilling lagging shards (delivery_lag.h) ---------------------------------------------

void ConversationOwner::Refill(int64_t conv, OwnedConv& owned) {
  std::vector<uint32_t> done;
  for (DeliveryLag::Entry& entry : owned.lag.entries()) {
    if (RefillShard(conv, owned, entry)) done.push_back(entry.shard);
  }
  for (uint32_t shard : done) ReleaseAcks(owned.lag.Erase(shard));
  if (owned.lag.empty()) lagging_.erase(conv);
}

bool ConversationOwner::RefillShard(int64_t conv, OwnedConv& owned, DeliveryLag::Entry& entry) {
  if (entry.join_token != 0) {
    if (!PostJoined(entry.shard, conv, entry.join_token, entry.join_last)) return false;
    entry.join_token = 0;
  }
  for (;;) {
    // An ack goes once its message has.
    while (!entry.acks.empty() &&
           (entry.acks.front().seq < entry.next_seq || entry.next_seq > owned.last_published)) {
      if (!PostText(entry.acks.front().origin, entry.acks.front().json)) return false;
      entry.acks.pop_front();
    }
    if (entry.next_seq > owned.last_published) return true;
    const std::deque<storage::Message>& recent = owned.recent;
    if (recent.empty() || entry.next_seq < recent.front().seq) {
      ReadForRefill(conv, entry);
      return false;
    }
    if (!PostDelivery(entry.shard, recent[size_t(entry.next_seq - recent.front().seq)])) {
      return false;
    }
    ++entry.next_seq;
  }
}

// Older than the recent messages: read from the store, sent as they come, and the refill goes
// on at the next tick.
void ConversationOwner::ReadForRefill(int64_t conv, DeliveryLag::Entry& entry) {
  if (entry.reading) return;
  entry.reading = true;
  service_.store().ReadRange(
      conv, entry.next_seq - 1, kFillLimit,
      service_.ReplyOn<std::vector<storage::Message>>(
          shard_.id(), [conv, shard = entry.shard](
                           ChatShard& self, storage::Result<std::vector<storage::Message>> r) {
            ConversationOwner& owner = self.conversations();
            auto it = owner.owned_convs_.find(conv);
            if (it == owner.owned_convs_.end()) return;
            DeliveryLag::Entry* entry = it->second.lag.Find(shard);
            if (entry == nullptr) return;  // Left meanwhile.
            entry->reading = false;
            if (!r.ok()) return;  // Read again at the next tick.
            for (const storage::Message& message : *r) {
              if (message.seq < entry->next_seq) continue;
              if (message.seq > entry->next_seq || message.seq > it->second.last_published ||
                  !owner.PostDelivery(shard, message)) {
                break;
              }
              ++entry->next_seq;
            }
          }));
}

void ConversationOwner::ReleaseAcks(std::deque<DeliveryLag::HeldAck> acks) {
  for (DeliveryLag::HeldAck& ack : acks) SendTo(ack.origin, std::move(ack.json));
}

void ConversationOwner::SendTo(ConnId conn, std::string json) {
  service_.PostOrHold(conn.shard, [conn, json = std::move(json)](ChatShard& self) {
    self.sessions().SendText(conn, json);
  });
}

void ConversationOwner::AnswerTo(ConnId conn, std::string json) {
  service_.PostOrHold(conn.shard, [conn, json = std::move(json)](ChatShard& self) {
    self.sessions().FinishAnswer(conn, json);
  });
}

}  // namespace ringcast::chat
