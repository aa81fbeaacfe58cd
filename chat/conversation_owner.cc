// The conversation owner: fan-out in seq order, receipts, the recent-message cache.
#include "chat/conversation_owner.h"

#include <algorithm>
#include <bit>
#include <optional>

#include "chat/chat_shard.h"
#include "chat/frame_ref.h"
#include "core/log.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

// Messages an owner keeps per conversation with someone online: a history page or two.
constexpr size_t kRecentMessages = 64;
// Idle conversation records forgotten per sweep (once a second) at most: a long pause on the
// shard would cost more than the memory they hold for a few more seconds.
constexpr size_t kForgetPerSweep = 20000;

}  // namespace

ConversationOwner::ConversationOwner(Shard& shard, ChatService& service)
    : shard_(shard), service_(service) {}

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

void ConversationOwner::Join(int64_t conv, uint32_t shard, uint64_t token, int64_t /*start_seq*/) {
  OwnedConv& owned = Use(conv);
  owned.shard_mask |= uint64_t{1} << shard;
  // Everything published after this answer reaches the shard, in order, behind it.
  service_.Post(shard, [conv, token, last = owned.last_published](ChatShard& self) {
    self.sessions().OnJoined(conv, token, last);
  });
}

void ConversationOwner::Leave(int64_t conv, uint32_t shard) {
  auto it = owned_convs_.find(conv);
  if (it == owned_convs_.end()) return;
  it->second.shard_mask &= ~(uint64_t{1} << shard);
  it->second.last_used_ms = service_.clock().MonotonicMs();
  // Nobody online in it: its messages are not worth memory until someone comes back.
  if (it->second.shard_mask == 0) {
    std::deque<storage::Message>().swap(it->second.recent);
    NoteIdle(conv, it->second);
  }
}

// Newest first, from the cache of recent messages when it holds the whole page, else from the
// store (a reader thread). Either way the answer ends the origin session's wait (FinishAnswer).
void ConversationOwner::History(ConnId origin, int64_t conv, int64_t user, int64_t before,
                                uint32_t limit) {
  const uint64_t max_bytes = service_.config().max_answer_bytes;
  auto it = owned_convs_.find(conv);
  if (it != owned_convs_.end() && !it->second.recent.empty() &&
      it->second.recent.back().seq == it->second.last_published) {
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
      conv, user, before, {.count = limit, .bytes = max_bytes},
      service_.ReplyOn<storage::Page>(
          origin.shard, [origin, conv, max_bytes](ChatShard& self, auto result) {
            SessionHost& sessions = self.sessions();
            if (!result.ok()) {
              return sessions.FinishAnswer(
                  origin, EncodeError("unavailable", "storage unavailable, retry"));
            }
            if (result->denial != storage::Denial::kNone) {
              return sessions.FinishAnswer(
                  origin, EncodeError("forbidden", "not a member of this conversation"));
            }
            sessions.FinishAnswer(origin, EncodeHistory(conv, *result, max_bytes));
          }));
}

void ConversationOwner::OnAppended(ConnId origin, std::string cid,
                                   storage::Result<storage::AppendOutcome> result) {
  if (!result.ok()) {
    // An unreachable database is logged once by the store, not once per message.
    if (result.status().errc() != storage::Errc::kUnavailable) {
      RC_LOG(kWarn, "shard %u: message not stored: %s", shard_.id(),
             result.status().ToString().c_str());
    }
    return SendTo(origin, EncodeError("unavailable", "storage unavailable, retry", cid));
  }
  if (result->denial != storage::Denial::kNone) {
    return SendTo(origin, EncodeError("forbidden", "not a member of this conversation", cid));
  }
  OnCommitted(result->message, result->duplicate);
  // After the publication: on the sender's shard the message arrives before its ack.
  SendTo(origin, EncodeAck(cid, result->message));
}

void ConversationOwner::OnCommitted(const storage::Message& message, bool duplicate) {
  OwnedConv& owned = Use(message.conv);
  // A resend of a message never published is published now: its first attempt was committed
  // but answered unavailable (the database connection broke before the commit's answer).
  // (-1: the owner has published nothing since it started, so it cannot tell; sync finds it.)
  if (duplicate && (owned.last_published < 0 || message.seq <= owned.last_published)) return;
  owned.last_published = std::max(owned.last_published, message.seq);
  if (owned.shard_mask != 0) {
    // Contiguous by construction (commits reach the owner in seq order); a hole would mean a
    // lost reply, and then the cache starts over rather than answer with a gap.
    if (!owned.recent.empty() && owned.recent.back().seq + 1 != message.seq) {
      owned.recent.clear();
    }
    owned.recent.push_back(message);
    if (owned.recent.size() > kRecentMessages) owned.recent.pop_front();
  }
  // The store moved the sender's read watermark with its message (schema v2); keep the cache
  // in step so that a receipt at or below it costs no write. No receipt is published: the
  // message event itself says its sender has read up to its seq (proto/PROTOCOL.md).
  if (auto known = owned.watermarks.find(message.from); known != owned.watermarks.end()) {
    known->second.read = std::max(known->second.read, message.seq);
    known->second.delivered = std::max(known->second.delivered, message.seq);
  }
  Publish(message.conv, message.seq, EncodeMessageEvent(message), 0, false);
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
              return owner.SendTo(origin, EncodeError("unavailable", "storage unavailable"));
            }
            if (result->denial != storage::Denial::kNone) {
              return owner.SendTo(origin,
                                  EncodeError("forbidden", "not a member of this conversation"));
            }
            Watermarks& known = owner.Use(conv).watermarks[user];
            known.delivered = std::max(known.delivered, result->delivered);
            known.read = std::max(known.read, result->read);
            if (!result->delivered_moved && !result->read_moved) return;
            owner.Publish(
                conv, 0,
                EncodeReceipt(
                    conv, user,
                    result->delivered_moved ? std::optional(result->delivered) : std::nullopt,
                    result->read_moved ? std::optional(result->read) : std::nullopt),
                0, false);
          }));
}

void ConversationOwner::Typing(int64_t conv, int64_t user, bool start) {
  Publish(conv, 0, EncodeTyping(conv, user, start), user, true);
}

void ConversationOwner::Publish(int64_t conv, int64_t seq, std::string_view json,
                                int64_t except_user, bool droppable) {
  auto it = owned_convs_.find(conv);
  uint64_t mask = it == owned_convs_.end() ? 0 : it->second.shard_mask;
  if (mask == 0) return;
  // Encoded once; every shard gets a reference to the same bytes.
  SharedFrame* frame = EncodeText(json);
  int shards = std::popcount(mask);
  if (shards > 1) frame->AddRefs(uint32_t(shards - 1));
  for (uint32_t target = 0; mask != 0; ++target, mask >>= 1) {
    if ((mask & 1) == 0) continue;
    service_.Post(target, [conv, seq, except_user, droppable,
                           ref = FrameRef(frame)](ChatShard& self) mutable {
      self.sessions().DeliverLocal(conv, seq, ref.Take(), except_user, droppable);
    });
  }
}

void ConversationOwner::SendTo(ConnId conn, std::string json) {
  service_.Post(conn.shard, [conn, json = std::move(json)](ChatShard& self) {
    self.sessions().SendText(conn, json);
  });
}

void ConversationOwner::AnswerTo(ConnId conn, std::string json) {
  service_.Post(conn.shard, [conn, json = std::move(json)](ChatShard& self) {
    self.sessions().FinishAnswer(conn, json);
  });
}

}  // namespace ringcast::chat
