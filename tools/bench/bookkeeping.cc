#include "tools/bench/bookkeeping.h"

#include <cmath>

namespace ringcast::bench {

void EchoTracker::WriteNext(uint8_t* payload, size_t size, int64_t now_ns) {
  if (size >= kEchoHeader) {
    StoreU64(payload, static_cast<uint64_t>(now_ns));
    StoreU64(payload + 8, sent_);
    std::memset(payload + kEchoHeader, 'e', size - kEchoHeader);
  } else {
    std::memset(payload, 'e', size);
  }
  ++sent_;
}

EchoTracker::Check EchoTracker::OnReply(std::span<const uint8_t> payload, size_t expected_size,
                                        int64_t* sent_ns) {
  *sent_ns = 0;
  if (received_ == sent_) return Check::kUnexpected;
  if (payload.size() != expected_size) return Check::kWrongSize;
  if (expected_size >= kEchoHeader) {
    if (LoadU64(payload.data() + 8) != received_) return Check::kWrongSequence;
    *sent_ns = static_cast<int64_t>(LoadU64(payload.data()));
  }
  ++received_;
  return Check::kOk;
}

void IterationBarrier::Begin(uint64_t iteration, uint64_t deliveries, int64_t now_ns) {
  remaining_.store(deliveries, std::memory_order_relaxed);
  started_ns_.store(now_ns, std::memory_order_relaxed);
  iteration_.store(iteration, std::memory_order_release);
}

IterationBarrier::Result IterationBarrier::Deliver(uint64_t n) {
  if (n == 0) return Result::kPending;
  const uint64_t before = remaining_.fetch_sub(n, std::memory_order_acq_rel);
  if (before < n) return Result::kTooMany;
  return before == n ? Result::kCompleted : Result::kPending;
}

BroadcastCheck CountBroadcast(BroadcastClient* client, uint64_t message_iteration, uint64_t current,
                              uint32_t clients) {
  if (message_iteration > current) return BroadcastCheck::kFutureIteration;
  if (message_iteration < current) return BroadcastCheck::kStaleIteration;
  if (client->iteration != current) {
    client->iteration = current;
    client->received = 0;
  }
  if (client->received >= clients) return BroadcastCheck::kTooMany;
  ++client->received;
  return BroadcastCheck::kOk;
}

void WriteFanout(uint8_t* payload, size_t size, const FanoutMessage& message) {
  StoreU64(payload, static_cast<uint64_t>(message.intended_ns));
  StoreU64(payload + 8, message.sequence);
  StoreU32(payload + 16, message.publisher);
  std::memcpy(payload + 20, &message.step, 2);
  payload[22] = message.flags;
  if (size > kFanoutHeader) std::memset(payload + kFanoutHeader, 'f', size - kFanoutHeader);
}

FanoutMessage ReadFanout(const uint8_t* payload) {
  FanoutMessage message;
  message.intended_ns = static_cast<int64_t>(LoadU64(payload));
  message.sequence = LoadU64(payload + 8);
  message.publisher = LoadU32(payload + 16);
  std::memcpy(&message.step, payload + 20, 2);
  message.flags = payload[22];
  return message;
}

uint64_t OpenLoopSchedule::DueBy(int64_t now_ns) const {
  if (now_ns < start_ns_) return 0;
  // Largest k with IntendedNs(k) <= now, plus one. The estimate from the inverse can be off by
  // one either way through rounding; settle it against IntendedNs itself.
  auto k = static_cast<uint64_t>(std::floor(static_cast<double>(now_ns - start_ns_) * rate_ / 1e9));
  while (k > 0 && IntendedNs(k) > now_ns) --k;
  while (IntendedNs(k + 1) <= now_ns) ++k;
  return k + 1;
}

void SequenceTracker::Reset(size_t receivers, uint32_t publishers_per_receiver) {
  slots_ = publishers_per_receiver;
  next_.assign(receivers * slots_, 0);
}

SequenceTracker::Check SequenceTracker::Observe(size_t receiver, uint32_t slot, uint64_t sequence) {
  uint64_t& next = next_[receiver * slots_ + slot];
  if (sequence == next) {
    ++next;
    return Check::kOk;
  }
  if (sequence > next) {
    next = sequence + 1;  // Resynchronise so one loss is reported once, not on every message.
    return Check::kGap;
  }
  return Check::kDuplicate;
}

int FirstBreakdown(std::span<const RateStep> steps, uint64_t limit_ns) {
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].p99_ns > limit_ns) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace ringcast::bench
