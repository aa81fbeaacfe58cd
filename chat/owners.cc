// The cross-shard roles of a ChatShard: owner of conversations (fan-out in seq order), owner
// of users (presence, connection limit), and the receiving end of both on every shard.
#include <algorithm>
#include <bit>

#include "chat/chat_shard.h"
#include "core/log.h"
#include "core/net/shared_frame.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

// Messages an owner keeps per conversation with someone online: a history page or two.
constexpr size_t kRecentMessages = 64;
// Idle conversation records forgotten per sweep (once a second) at most: a long pause on the
// shard would cost more than the memory they hold for a few more seconds.
constexpr size_t kForgetPerSweep = 20000;
// Revoked token ids are kept this long past their token's exp (a wall-clock time): a wall clock
// that steps back by less does not bring a revoked token back to life.
constexpr int64_t kKeepRevokedPastExpiryMs = 3600 * 1000;

// One reference to a SharedFrame, released if the holder is dropped unrun (at shutdown).
class FrameRef {
 public:
  explicit FrameRef(SharedFrame* frame) : frame_(frame) {}
  FrameRef(FrameRef&& other) noexcept : frame_(std::exchange(other.frame_, nullptr)) {}
  FrameRef& operator=(FrameRef&&) = delete;
  ~FrameRef() {
    if (frame_ != nullptr) frame_->Release();
  }
  SharedFrame* Take() { return std::exchange(frame_, nullptr); }

 private:
  SharedFrame* frame_;
};

SharedFrame* EncodeText(std::string_view json) {
  return SharedFrame::EncodeMessage(ws::Opcode::kText,
                                    {reinterpret_cast<const uint8_t*>(json.data()), json.size()});
}

}  // namespace

// --- Conversation owner ----------------------------------------------------------------------

ChatShard::OwnedConv& ChatShard::UseOwnedConv(int64_t conv) {
  OwnedConv& owned = owned_convs_[conv];
  owned.last_used_ms = clock_.MonotonicMs();
  NoteIdle(conv, owned);
  return owned;
}

void ChatShard::NoteIdle(int64_t conv, OwnedConv& owned) {
  if (owned.shard_mask != 0 || owned.idle_listed) return;
  owned.idle_listed = true;
  idle_convs_.emplace_back(conv, clock_.MonotonicMs());
}

// A record with no shard joined holds only caches (the last seq published, watermarks seen):
// forgetting it costs at most a store write or a sync later, and keeps memory bounded by the
// conversations in use rather than by every conversation that ever had traffic.
void ChatShard::ForgetIdleConvs(int64_t now_ms) {
  const int64_t ttl_ms = int64_t{config_.idle_state_ttl_s} * 1000;
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

void ChatShard::OwnerJoin(int64_t conv, uint32_t shard, uint64_t token) {
  OwnedConv& owned = UseOwnedConv(conv);
  owned.shard_mask |= uint64_t{1} << shard;
  // Everything published after this answer reaches the shard, in order, behind it.
  service_.Post(shard, [conv, token, last = owned.last_published](ChatShard& self) {
    self.OnJoined(conv, token, last);
  });
}

void ChatShard::OwnerLeave(int64_t conv, uint32_t shard) {
  auto it = owned_convs_.find(conv);
  if (it == owned_convs_.end()) return;
  it->second.shard_mask &= ~(uint64_t{1} << shard);
  it->second.last_used_ms = clock_.MonotonicMs();
  // Nobody online in it: its messages are not worth memory until someone comes back.
  if (it->second.shard_mask == 0) {
    std::deque<storage::Message>().swap(it->second.recent);
    NoteIdle(conv, it->second);
  }
}

// Newest first, from the cache of recent messages when it holds the whole page, else from the
// store (a reader thread). Either way the answer ends the origin session's wait (FinishAnswer).
void ChatShard::OwnerHistory(ConnId origin, int64_t conv, int64_t user, int64_t before,
                             uint32_t limit) {
  const uint64_t max_bytes = config_.max_answer_bytes;
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
            if (!result.ok()) {
              return self.FinishAnswer(origin,
                                       EncodeError("unavailable", "storage unavailable, retry"));
            }
            if (result->denial != storage::Denial::kNone) {
              return self.FinishAnswer(
                  origin, EncodeError("forbidden", "not a member of this conversation"));
            }
            self.FinishAnswer(origin, EncodeHistory(conv, *result, max_bytes));
          }));
}

void ChatShard::OwnerCommitted(ConnId origin, std::string cid,
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
  const storage::Message& message = result->message;
  // A resend of a message never published is published now: its first attempt was committed
  // but answered unavailable (the database connection broke before the commit's answer).
  // (-1: the owner has published nothing since it started, so it cannot tell; sync finds it.)
  const int64_t published = UseOwnedConv(message.conv).last_published;
  if (!result->duplicate || (published >= 0 && message.seq > published)) {
    OwnedConv& owned = UseOwnedConv(message.conv);
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
    OwnerPublish(message.conv, message.seq, EncodeMessageEvent(message), 0, false);
  }
  // After the publication: on the sender's shard the message arrives before its ack.
  SendTo(origin, EncodeAck(cid, message));
}

// Receipts go through the conversation's owner, which remembers the watermarks it has seen
// committed: one that would not move them (a repeated or late "delivered", typically) costs no
// write at all.
void ChatShard::OwnerWatermark(ConnId origin, int64_t conv, int64_t user, bool read, int64_t seq) {
  Watermarks& known = UseOwnedConv(conv).watermarks[user];
  if (seq <= (read ? known.read : known.delivered)) return;
  service_.store().UpdateWatermarks(
      conv, user, read ? 0 : seq, read ? seq : 0,
      service_.ReplyOn<storage::WatermarkOutcome>(
          shard_.id(), [origin, conv, user](ChatShard& owner,
                                            storage::Result<storage::WatermarkOutcome> result) {
            if (!result.ok()) {
              return owner.SendTo(origin, EncodeError("unavailable", "storage unavailable"));
            }
            if (result->denial != storage::Denial::kNone) {
              return owner.SendTo(origin,
                                  EncodeError("forbidden", "not a member of this conversation"));
            }
            Watermarks& known = owner.UseOwnedConv(conv).watermarks[user];
            known.delivered = std::max(known.delivered, result->delivered);
            known.read = std::max(known.read, result->read);
            if (!result->delivered_moved && !result->read_moved) return;
            owner.OwnerPublish(
                conv, 0,
                EncodeReceipt(
                    conv, user,
                    result->delivered_moved ? std::optional(result->delivered) : std::nullopt,
                    result->read_moved ? std::optional(result->read) : std::nullopt),
                0, false);
          }));
}

void ChatShard::OwnerPublish(int64_t conv, int64_t seq, std::string_view json, int64_t except_user,
                             bool droppable) {
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
      self.DeliverLocal(conv, seq, ref.Take(), except_user, droppable);
    });
  }
}

void ChatShard::SendTo(ConnId conn, std::string json) {
  service_.Post(conn.shard, [conn, json = std::move(json)](ChatShard& self) {
    if (Session* session = self.FindSession(conn)) session->conn->SendText(json);
  });
}

void ChatShard::AnswerTo(ConnId conn, std::string json) {
  service_.Post(conn.shard,
                [conn, json = std::move(json)](ChatShard& self) { self.FinishAnswer(conn, json); });
}

// --- Every shard: the receiving end ------------------------------------------------------------

void ChatShard::OnJoined(int64_t conv, uint64_t token, int64_t last_published) {
  auto it = local_convs_.find(conv);
  if (it == local_convs_.end() || it->second.join_token != token) return;  // Left meanwhile.
  LocalConv& local = it->second;
  local.joined = true;
  local.last_seen = last_published;
  std::vector<Session*> sessions = local.sessions;
  for (Session* session : sessions) {
    GoLive(*session, conv, session->convs[conv]);
    MaybeReady(*session);
  }
}

void ChatShard::DeliverLocal(int64_t conv, int64_t seq, SharedFrame* frame, int64_t except_user,
                             bool droppable) {
  auto it = local_convs_.find(conv);
  if (it != local_convs_.end()) {
    LocalConv& local = it->second;
    if (seq > 0) local.last_seen = std::max(local.last_seen, seq);
    for (Session* session : local.sessions) {
      if (session->phase != Session::Phase::kReady || session->user == except_user) continue;
      ConvView& view = session->convs[conv];
      if (!view.live()) continue;
      if (seq > 0 && !view.TakeLive(seq)) continue;  // Already sent by a sync.
      frame->AddRefs(1);
      session->conn->SendFrame(frame, droppable ? Delivery::kDroppable : Delivery::kReliable);
    }
  }
  frame->Release();
}

void ChatShard::AnnounceMembers(const storage::ConversationState& state,
                                std::vector<int64_t> removed) {
  auto shared = std::make_shared<const std::pair<storage::ConversationState, std::vector<int64_t>>>(
      state, std::move(removed));
  service_.PostToEveryShard([&shared] {
    return [shared](ChatShard& self) { self.OnMembersChanged(shared->first, shared->second); };
  });
}

void ChatShard::OnMembersChanged(const storage::ConversationState& state,
                                 const std::vector<int64_t>& removed) {
  const int64_t conv = state.id;
  std::vector<int64_t> members;
  for (const storage::MemberState& member : state.members) members.push_back(member.user);
  std::string event = EncodeMembers(state);
  std::vector<Session*> notify;

  // Sessions already in the conversation watch the newcomers and stop watching who left.
  if (auto it = local_convs_.find(conv); it != local_convs_.end()) {
    LocalConv& local = it->second;
    for (Session* session : local.sessions) {
      for (int64_t user : members) {
        if (user != session->user &&
            !std::binary_search(local.members.begin(), local.members.end(), user)) {
          Watch(*session, user);
        }
      }
      for (int64_t user : local.members) {
        if (user != session->user && !std::binary_search(members.begin(), members.end(), user)) {
          Unwatch(*session, user);
        }
      }
    }
    local.members = members;
  }
  // Removed members' sessions leave it (and are told).
  for (int64_t user : removed) {
    auto sessions = by_user_.find(user);
    if (sessions == by_user_.end()) continue;
    for (Session* session : std::vector<Session*>(sessions->second)) {
      DropView(*session, conv);
      notify.push_back(session);
    }
  }
  // Members' sessions join it (a no-op for those already in).
  for (int64_t user : members) {
    auto sessions = by_user_.find(user);
    if (sessions == by_user_.end()) continue;
    for (Session* session : sessions->second) {
      if (session->phase == Session::Phase::kGone) continue;
      AddView(*session, conv, state.last_seq, members);
      notify.push_back(session);
    }
  }
  for (Session* session : notify) {
    if (session->phase == Session::Phase::kReady) session->conn->SendText(event);
  }
}

void ChatShard::OnRevoked(int64_t user, const std::string& jti, int64_t exp_ms) {
  revoked_.emplace(jti, exp_ms);
  auto sessions = by_user_.find(user);
  if (sessions == by_user_.end()) return;
  for (Session* session : std::vector<Session*>(sessions->second)) {
    if (session->jti == jti) CloseSession(*session, 1008, "token revoked");
  }
}

void ChatShard::ForgetExpiredRevocations() {
  const int64_t now = clock_.WallMs();
  std::erase_if(revoked_,
                [now](const auto& entry) { return now - entry.second > kKeepRevokedPastExpiryMs; });
}

void ChatShard::OnPresence(int64_t user, bool online, std::optional<int64_t> last_online,
                           SharedFrame* frame) {
  auto it = watchers_.find(user);
  // An offline user that no session here watches needs no replica (see presence_).
  if (online || it != watchers_.end()) {
    presence_[user] = Presence{online, last_online};
  } else {
    presence_.erase(user);
  }
  if (it != watchers_.end()) {
    for (Session* session : it->second) {
      if (session->phase != Session::Phase::kReady) continue;
      frame->AddRefs(1);
      session->conn->SendFrame(frame);
    }
  }
  frame->Release();
}

// --- User owner: presence and the per-user connection limit ---------------------------------

void ChatShard::OwnerAttach(int64_t user, ConnId conn) {
  std::optional<PresenceOwner::Change> came_online;
  bool accepted = presence_owner_.Attach(user, conn, &came_online);
  if (came_online) BroadcastPresence(*came_online);
  service_.Post(conn.shard, [conn, accepted](ChatShard& self) { self.OnAttached(conn, accepted); });
}

void ChatShard::OwnerDetach(int64_t user, ConnId conn) {
  presence_owner_.Detach(user, conn);
  if (config_.presence_grace_s == 0) OwnerSweepPresence();
}

void ChatShard::OwnerSweepPresence() {
  for (const PresenceOwner::Change& change : presence_owner_.Sweep()) {
    // Told once last_online is committed, so that a session starting after the event reads
    // the same last_online from the store. Skipped if the user came back meanwhile: its
    // online event has gone out already, and this one would contradict it.
    service_.store().SetLastOnline(
        change.user, *change.last_online,
        service_.ReplyOn<bool>(shard_.id(), [change](ChatShard& self, storage::Result<bool> r) {
          if (!r.ok() && r.status().errc() != storage::Errc::kUnavailable) {
            RC_LOG(kWarn, "last_online of user %lld not stored: %s",
                   static_cast<long long>(change.user), r.status().ToString().c_str());
          }
          if (!self.presence_owner_.online(change.user)) self.BroadcastPresence(change);
        }));
  }
}

void ChatShard::BroadcastPresence(const PresenceOwner::Change& change) {
  SharedFrame* frame = EncodeText(EncodePresence(change.user, change.online, change.last_online));
  uint32_t shards = service_.shard_count();
  if (shards > 1) frame->AddRefs(shards - 1);
  service_.PostToEveryShard([&] {
    return [user = change.user, online = change.online, last = change.last_online,
            ref = FrameRef(frame)](ChatShard& self) mutable {
      self.OnPresence(user, online, last, ref.Take());
    };
  });
}

}  // namespace ringcast::chat
