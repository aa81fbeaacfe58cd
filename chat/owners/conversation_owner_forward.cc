// The conversation owner, cluster mode: sends committed by the node that writes their
// conversation (docs/cluster.md, "Writers").
//
// The database assigns seq, so any node may commit any conversation's messages; but nodes
// committing the same conversations wait on one another's row locks and make more, smaller
// commits. One writer per conversation (rendezvous hashing over the live nodes) keeps each
// conversation's commits in one node's batches. Forwarding is only ever an optimisation: a
// writer that does not answer within --forward-timeout-ms, or Redis away, and the send is
// committed here, which the sender's cid makes safe (a send the writer did commit comes back
// as a duplicate with the original seq).
#include <utility>

#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "chat/owners/conversation_owner.h"
#include "core/runtime/shard.h"

namespace ringcast::chat {
namespace {

// Sends waiting for their writer per owner shard at most; past it, sends are committed here.
constexpr size_t kMaxForwarded = 65536;

}  // namespace

void ConversationOwner::Send(ConnId origin, storage::NewMessage message, int64_t received_us) {
  std::string writer;
  if (service_.config().forward_sends && forwarded_.size() < kMaxForwarded) {
    writer = cluster_->Writer(message.conv);
  }
  const int64_t now_ms = service_.clock().MonotonicMs();
  if (!writer.empty()) {
    auto it = unresponsive_writers_.find(writer);
    if (it != unresponsive_writers_.end()) {
      if (now_ms < it->second)
        writer.clear();
      else
        unresponsive_writers_.erase(it);
    }
  }
  if (writer.empty()) return AppendHere(origin, std::move(message), received_us);
  const uint64_t id = next_forward_id_++;
  ++metrics_.forwarded_sends;
  cluster_->ForwardSend(writer, id, message);
  const int64_t deadline_ms = now_ms + service_.config().forward_timeout_ms;
  forwarded_.emplace(id, Forwarded{origin, received_us, std::move(writer), std::move(message)});
  forward_deadlines_.emplace_back(deadline_ms, id);
}

void ConversationOwner::AppendHere(ConnId origin, storage::NewMessage message,
                                   int64_t received_us) {
  std::string cid = message.cid;
  const int64_t conv = message.conv;
  service_.store().Append(
      std::move(message),
      service_.ReplyOn<storage::AppendOutcome>(
          shard_.id(), [origin, conv, cid = std::move(cid), received_us](
                           ChatShard& self, storage::Result<storage::AppendOutcome> r) mutable {
            self.conversations().OnAppended(origin, conv, std::move(cid), received_us,
                                            std::move(r));
          }));
}

void ConversationOwner::OnForwardedSend(std::string from_node, uint64_t forward_id,
                                        storage::NewMessage message) {
  ++metrics_.forwarded_appends;
  const int64_t conv = message.conv;
  service_.store().Append(
      std::move(message),
      service_.ReplyOn<storage::AppendOutcome>(
          shard_.id(), [from_node = std::move(from_node), forward_id, conv](
                           ChatShard& self, storage::Result<storage::AppendOutcome> r) {
            ConversationOwner& owner = self.conversations();
            // The message first, then the answer: both leave on the bus's one connection, so
            // the forwarding node (which follows the conversation) sees them in that order.
            if (r.ok() && r->denial == storage::Denial::kNone) {
              owner.cluster_->PublishMessage(r->message);
              owner.Accept(r->message, std::nullopt);
              if (!r->duplicate) owner.service_.AfterCommit(r->message);
            }
            owner.cluster_->AnswerForward(from_node, forward_id, conv, r);
          }));
}

void ConversationOwner::OnForwardAnswer(uint64_t forward_id,
                                        storage::Result<storage::AppendOutcome> result) {
  auto it = forwarded_.find(forward_id);
  if (it == forwarded_.end()) return;  // Timed out: committed here meanwhile (or being).
  Forwarded forwarded = std::move(it->second);
  forwarded_.erase(it);
  Settle(forwarded.origin, forwarded.message.conv, std::move(forwarded.message.cid),
         forwarded.received_us, std::move(result), /*publish=*/false);
}

void ConversationOwner::ExpireForwards(int64_t now_ms) {
  // Every forward has the same timeout, so deadlines come in the order the forwards went.
  while (!forward_deadlines_.empty() && forward_deadlines_.front().first <= now_ms) {
    const uint64_t id = forward_deadlines_.front().second;
    forward_deadlines_.pop_front();
    auto it = forwarded_.find(id);
    if (it == forwarded_.end()) continue;  // Answered.
    Forwarded forwarded = std::move(it->second);
    forwarded_.erase(it);
    ++metrics_.forward_timeouts;
    // Until the registry drops it (a dead node) or it answers again, its conversations are
    // written here rather than each send waiting out the timeout.
    unresponsive_writers_[forwarded.writer] = now_ms + int64_t{service_.config().node_ttl_s} * 1000;
    AppendHere(forwarded.origin, std::move(forwarded.message), forwarded.received_us);
  }
}

}  // namespace ringcast::chat
