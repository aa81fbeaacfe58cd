// The conversation owner's reorder buffer (chat/README.md, "Publishing in seq order";
// docs/cluster.md): every committed message is accepted here in any order and published in seq
// order; a missing seq is filled from the store, and the store is asked for the newest seq when
// publications may have been missed.
#include <algorithm>
#include <optional>
#include <utility>

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "chat/owners/conversation_owner.h"
#include "core/log.h"
#include "core/runtime/fan_out.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

// Cluster mode: messages from other nodes buffered ahead of a gap per conversation at most;
// past it they are dropped, and the gap fill reads them from the store.
constexpr size_t kMaxEarly = 1024;
// Conversations compared with the store per LastSeqs query at most.
constexpr size_t kCheckBatch = 10000;
// After a failed LastSeqs, the next one waits this long (monotonic ms).
constexpr int64_t kCheckRetryMs = 1000;

}  // namespace

void ConversationOwner::Accept(const storage::Message& message, std::optional<Ack> ack) {
  // Reads on a replica must not be older than what this node acks or delivers.
  service_.store().NoteCommitted(message.conv, message.seq);
  OwnedConv& owned = Use(message.conv);
  // Nobody here to deliver to (or not followed yet): nothing to order. Published already (a
  // duplicate, or a gap fill that came first): nothing to publish. A local send's ack still
  // goes out.
  if (owned.shard_mask == 0 || owned.last_published < 0 || message.seq <= owned.last_published) {
    if (ack) SendAck(*ack, message);
    return;
  }
  owned.known_head = std::max(owned.known_head, message.seq);
  if (message.seq == owned.last_published + 1) {
    // The ack rides with the delivery to its sender's shard, after the message; else it goes
    // after the publication, so that on the sender's shard the message arrives first.
    std::vector<Rider> riders;
    if (ack) riders.push_back(MakeRider(*ack, message));
    OnCommitted(message, &riders);
    for (Rider& rider : riders) SendRider(rider, message);
    return Drain(message.conv, owned);
  }
  // Ahead of a gap: wait for the missing seq from Redis, or fill it from the store.
  auto [it, added] = owned.early.try_emplace(message.seq);
  if (!it->second.have_message && (ack || owned.early.size() <= kMaxEarly)) {
    it->second.message = message;
    it->second.have_message = true;
  }
  if (ack) it->second.acks.push_back(std::move(*ack));
  if (!it->second.have_message && it->second.acks.empty()) owned.early.erase(it);
  if (owned.gap_since_ms < 0) {
    owned.gap_since_ms = service_.clock().MonotonicMs();
    gaps_.insert(message.conv);
  }
}

void ConversationOwner::FollowRewind(const storage::Message& message) {
  auto it = owned_convs_.find(message.conv);
  if (it == owned_convs_.end()) return;
  OwnedConv& owned = it->second;
  if (owned.last_published < 0 || message.seq > owned.last_published) return;
  // A fresh commit at a seq already published: the same message when its answer came after a
  // gap fill or the first join's start_seq had covered it, else the database lost commits it
  // had acknowledged (an asynchronous standby promoted) and hands their seqs out again. Only
  // the cache can tell: a seq it does not hold is taken for the former.
  std::deque<storage::Message>& recent = owned.recent;
  if (recent.empty() || message.seq < recent.front().seq || message.seq > recent.back().seq) {
    return;
  }
  // Ids are handed out again too (the id sequence lost its increments with the commits): the
  // same message also has the same sender, time and body.
  const storage::Message& cached = recent[size_t(message.seq - recent.front().seq)];
  if (cached.id == message.id && cached.from == message.from && cached.ts == message.ts &&
      cached.body == message.body) {
    return;
  }
  RC_LOG(kWarn,
         "shard %u: conversation %lld: the store gave seq %lld to a new message after seq %lld "
         "was published: it lost acknowledged commits (a failover to a standby that lacked "
         "them); following it from seq %lld",
         shard_.id(), static_cast<long long>(message.conv), static_cast<long long>(message.seq),
         static_cast<long long>(owned.last_published), static_cast<long long>(message.seq));
  ++metrics_.seq_rewinds;
  // What was published from that seq on is gone from the database: publish from there again.
  owned.last_published = message.seq - 1;
  owned.known_head = std::min(owned.known_head, owned.last_published);
  while (!recent.empty() && recent.back().seq > owned.last_published) recent.pop_back();
  // The shards' sessions go back too (posted ahead of the publication, in the same mailbox);
  // a shard too far behind to take the mail keeps what it has.
  ShardMask(owned.shard_mask).ForEach([&](uint32_t shard) {
    const int64_t conv = message.conv, last = owned.last_published;
    if (!service_.Post(shard, [conv, last](ChatShard& self) {
          self.sessions().local_convs().OnRewind(conv, last);
        })) {
      RC_LOG(kWarn, "shard %u: conversation %lld: shard %u did not take the rewind", shard_.id(),
             static_cast<long long>(conv), shard);
    }
  });
  // Messages waiting behind a gap came from the lost history too; their sends were committed
  // there, so their acks go out as they are.
  while (!owned.early.empty() && owned.early.rbegin()->first >= message.seq) {
    auto node = owned.early.extract(std::prev(owned.early.end()));
    if (node.mapped().have_message) SendAcks(node.mapped().acks, node.mapped().message);
  }
}

void ConversationOwner::Drain(int64_t conv, OwnedConv& owned) {
  while (!owned.early.empty() && owned.early.begin()->first <= owned.last_published + 1) {
    auto node = owned.early.extract(owned.early.begin());
    Early& early = node.mapped();
    if (node.key() == owned.last_published + 1) {
      if (!early.have_message) {
        // Its message was dropped (the buffer was full): only the store has it.
        owned.early.insert(std::move(node));
        break;
      }
      std::vector<Rider> riders;
      for (const Ack& ack : early.acks) riders.push_back(MakeRider(ack, early.message));
      early.acks.clear();
      OnCommitted(early.message, &riders);
      for (Rider& rider : riders) SendRider(rider, early.message);
    }
    SendAcks(early.acks, early.message);
  }
  if (owned.known_head <= owned.last_published && owned.early.empty()) {
    owned.gap_since_ms = -1;
    gaps_.erase(conv);
  } else if (owned.gap_since_ms < 0) {
    owned.gap_since_ms = service_.clock().MonotonicMs();
    gaps_.insert(conv);
  }
}

void ConversationOwner::StopOrdering(int64_t conv, OwnedConv& owned) {
  if (cluster_ != nullptr) cluster_->Unfollow(conv);
  for (auto& [seq, early] : owned.early) SendAcks(early.acks, early.message);
  owned.early.clear();
  for (DeliveryLag::Entry& entry : owned.lag.entries()) ReleaseAcks(std::move(entry.acks));
  owned.lag.Clear();
  lagging_.erase(conv);
  owned.last_published = -1;
  owned.known_head = 0;
  owned.gap_since_ms = -1;
  gaps_.erase(conv);
  to_check_.erase(conv);
}

void ConversationOwner::OnRemoteMessage(storage::Message message) { Accept(message, std::nullopt); }

void ConversationOwner::OnRemoteReceipt(int64_t conv, int64_t user,
                                        std::optional<int64_t> delivered,
                                        std::optional<int64_t> read) {
  Watermarks& known = Use(conv).watermarks[user];
  if (delivered) known.delivered = std::max(known.delivered, *delivered);
  if (read) known.read = std::max(known.read, *read);
  Publish(conv, 0, EncodeReceipt(conv, user, delivered, read), 0, false);
}

void ConversationOwner::CheckHead(int64_t conv) {
  auto it = owned_convs_.find(conv);
  if (it == owned_convs_.end() || it->second.shard_mask == 0) return;
  to_check_.insert(conv);
}

void ConversationOwner::Fill(int64_t conv, OwnedConv& owned) {
  owned.filling = true;
  ++metrics_.gap_fills;
  service_.store().ReadRange(
      conv, owned.last_published, kFillLimit,
      service_.ReplyOn<std::vector<storage::Message>>(
          shard_.id(), [conv](ChatShard& self, storage::Result<std::vector<storage::Message>> r) {
            ConversationOwner& owner = self.conversations();
            auto it = owner.owned_convs_.find(conv);
            if (it == owner.owned_convs_.end()) return;
            it->second.filling = false;
            if (!r.ok()) {
              // Tried again after another delay; an unreachable database is logged by the store.
              it->second.gap_since_ms = owner.service_.clock().MonotonicMs();
              return;
            }
            for (const storage::Message& message : *r) owner.Accept(message, std::nullopt);
            // Settles the gap also when the store had nothing new (Accept adds no record, so
            // `it` is still valid).
            if (it->second.shard_mask != 0) owner.Drain(conv, it->second);
          }));
}

void ConversationOwner::RunChecks(int64_t now_ms) {
  if (checking_ || to_check_.empty() || now_ms < next_check_ms_) return;
  std::vector<int64_t> convs;
  for (auto it = to_check_.begin(); it != to_check_.end() && convs.size() < kCheckBatch;) {
    convs.push_back(*it);
    it = to_check_.erase(it);
  }
  checking_ = true;
  service_.store().LastSeqs(
      convs, service_.ReplyOn<std::vector<std::pair<int64_t, int64_t>>>(
                 shard_.id(), [convs](ChatShard& self,
                                      storage::Result<std::vector<std::pair<int64_t, int64_t>>> r) {
                   ConversationOwner& owner = self.conversations();
                   owner.checking_ = false;
                   if (!r.ok()) {
                     // Asked again a second later: a store that is away answers every query with
                     // `unavailable` after --db-timeout-ms anyway, and some of these conversations
                     // may hold a commit whose answer was lost (nothing else would find it on one
                     // node).
                     owner.next_check_ms_ = owner.service_.clock().MonotonicMs() + kCheckRetryMs;
                     for (int64_t conv : convs) owner.CheckHead(conv);
                     return;
                   }
                   for (const auto& [conv, head] : *r) {
                     auto it = owner.owned_convs_.find(conv);
                     if (it == owner.owned_convs_.end()) continue;
                     OwnedConv& owned = it->second;
                     if (owned.shard_mask == 0 || owned.last_published < 0 ||
                         head <= owned.last_published) {
                       continue;
                     }
                     owned.known_head = std::max(owned.known_head, head);
                     // Committed and never seen here: no reason to wait for Redis.
                     if (owned.gap_since_ms < 0) owner.gaps_.insert(conv);
                     owned.gap_since_ms = 0;
                   }
                 }));
}

}  // namespace ringcast::chat
