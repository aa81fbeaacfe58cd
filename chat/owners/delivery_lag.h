// DeliveryLag: the shards that a conversation's owner could not reach, and what each still
// needs, in the order it needs it.
//
// A mail from the owner to a shard is refused when that shard is --max-mail-backlog mails behind
// (ChatService::Post). The owner never loses a message that way: the shard is marked lagging
// here, publications skip it (a later message must not overtake the missing one), and on every
// tick the owner refills it (ConversationOwner::Refill): first the join answer it missed, if
// any, then each message from `next_seq` on (from the recent messages, else from the store),
// and each held ack once its message has gone, in that order; when it has everything up to
// last_published it is no longer lagging. Receipts and typing events are not refilled (a later
// receipt carries the newer watermark; typing is droppable).
//
// Owner: one OwnedConv of a ConversationOwner, on the owner shard's thread. Pure bookkeeping,
// no I/O (tests/unit/chat/owners/delivery_lag_test.cc).
//
// Not the same record as ClusterLink's unchecked conversations, though both say "behind on C":
// there the owner itself missed another node's publication and only a CheckHead is owed, which
// the store answers; here a shard of this node is behind its owner, and what it lacks (a join
// answer, acks, in order with the messages) is known only here and is not all in the store
// (chat/README.md, "Refused mail").
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "core/net/connection.h"

namespace ringcast::chat {

class DeliveryLag {
 public:
  // An ack the origin's shard must receive after message `seq` (the sender sees its message
  // before its ack, as when nothing is refused).
  struct HeldAck {
    int64_t seq;
    ConnId origin;
    std::string json;
  };
  struct Entry {
    uint32_t shard;
    uint64_t join_token = 0;  // Non-zero: the join answer (OnJoined) is still to go.
    int64_t join_last = 0;    // The last_published that answer carries.
    int64_t next_seq = 0;     // The first message not sent to it yet.
    std::deque<HeldAck> acks;
    bool reading = false;  // A store read for its refill is on its way.
  };

  uint64_t mask() const { return mask_; }
  bool lagging(uint32_t shard) const { return (mask_ >> shard & 1) != 0; }
  bool empty() const { return entries_.empty(); }
  std::vector<Entry>& entries() { return entries_; }

  // The join answer to `shard` was refused: it goes first, then every message after
  // `last_published` (the seq it announces).
  void JoinRefused(uint32_t shard, uint64_t token, int64_t last_published) {
    Entry& entry = Mark(shard, last_published + 1);
    entry.join_token = token;
    entry.join_last = last_published;
  }
  // Message `seq` (the newest published) could not be sent to `shard`: it and every later one
  // go from the refill. Nothing changes for a shard lagging already.
  void DeliveryRefused(uint32_t shard, int64_t seq) { Mark(shard, seq); }
  // An ack for message `seq` that `shard` must not see before that message: waits here when
  // the shard lags, or when the ack itself was refused (`last_published`: what the shard has
  // been sent, then).
  void HoldAck(uint32_t shard, int64_t seq, ConnId origin, std::string json,
               int64_t last_published) {
    Mark(shard, last_published + 1).acks.push_back({seq, origin, std::move(json)});
  }
  Entry* Find(uint32_t shard) {
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [shard](const Entry& e) { return e.shard == shard; });
    return it == entries_.end() ? nullptr : &*it;
  }
  // `shard` has everything it lacked, or left: no longer lagging. Returns the acks it held
  // (for a shard that left: they still go, best effort).
  std::deque<HeldAck> Erase(uint32_t shard) {
    std::deque<HeldAck> acks;
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [shard](const Entry& e) { return e.shard == shard; });
    if (it == entries_.end()) return acks;
    acks = std::move(it->acks);
    entries_.erase(it);
    mask_ &= ~(uint64_t{1} << shard);
    return acks;
  }
  void Clear() {
    entries_.clear();
    mask_ = 0;
  }

 private:
  Entry& Mark(uint32_t shard, int64_t next_seq) {
    if (Entry* entry = Find(shard)) return *entry;
    mask_ |= uint64_t{1} << shard;
    entries_.push_back({.shard = shard, .next_seq = next_seq});
    return entries_.back();
  }

  uint64_t mask_ = 0;           // Bit per lagging shard.
  std::vector<Entry> entries_;  // One per lagging shard, in the order they started lagging.
};

}  // namespace ringcast::chat
