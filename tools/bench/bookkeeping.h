// Scenario bookkeeping: payload layouts, counters and checks that decide whether a run's numbers
// add up. Pure logic (plus atomics for the cross-thread barrier), unit-tested without sockets.
//
// Payloads are little-endian fixed layouts at the start of each message; the rest of the message
// is filler. The receiving side re-derives what it should have seen and reports any mismatch as
// a lost, duplicated or reordered message instead of silently counting it.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace ringcast::bench {

inline void StoreU64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline void StoreU32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline uint64_t LoadU64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// --- echo -----------------------------------------------------------------------------------
// [send time ns: u64][sequence: u64][filler], when the message has room (>= 16 bytes); smaller
// messages carry only filler and are checked by size alone.
inline constexpr size_t kEchoHeader = 16;

// One connection's closed loop. The server echoes in order (one connection, one TCP stream), so
// the n-th reply must carry sequence n.
class EchoTracker {
 public:
  uint64_t in_flight() const { return sent_ - received_; }
  uint64_t sent() const { return sent_; }
  uint64_t received() const { return received_; }

  // Writes the payload of the next message and counts it as sent.
  void WriteNext(uint8_t* payload, size_t size, int64_t now_ns);
  enum class Check : uint8_t { kOk, kUnexpected, kWrongSize, kWrongSequence };
  // Checks a reply and counts it; *sent_ns is its send time (0 when it carries none).
  Check OnReply(std::span<const uint8_t> payload, size_t expected_size, int64_t* sent_ns);

 private:
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
};

// --- broadcast ------------------------------------------------------------------------------
// [iteration: u64][sender connection: u32][filler]
inline constexpr size_t kBroadcastHeader = 12;

// The N² barrier shared by every worker: an iteration is complete when all expected deliveries
// (clients × clients) have been counted. Exactly one Deliver() call, the one that brings the
// count to zero, returns kCompleted; that caller starts the next iteration.
class IterationBarrier {
 public:
  // Starts `iteration` (> the previous one). Stores the count before publishing the number with
  // release order, so a worker that sees the new number (acquire) also sees the new count.
  void Begin(uint64_t iteration, uint64_t deliveries, int64_t now_ns);
  enum class Result : uint8_t { kPending, kCompleted, kTooMany };
  Result Deliver(uint64_t n);

  uint64_t iteration() const { return iteration_.load(std::memory_order_acquire); }
  int64_t started_ns() const { return started_ns_.load(std::memory_order_relaxed); }
  uint64_t remaining() const { return remaining_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<uint64_t> remaining_{0};
  alignas(64) std::atomic<uint64_t> iteration_{0};
  std::atomic<int64_t> started_ns_{0};
};

// One client's receipts within the current iteration: every client must receive each of the
// `clients` messages exactly once (the server includes the sender).
struct BroadcastClient {
  uint64_t iteration = 0;  // Iteration these counts belong to.
  uint32_t received = 0;
};
enum class BroadcastCheck : uint8_t { kOk, kStaleIteration, kFutureIteration, kTooMany };
// `current` is the iteration this worker has started locally. A message for current + 1 is
// legal only after the caller has advanced (so it returns kFutureIteration for the caller to
// advance and retry).
BroadcastCheck CountBroadcast(BroadcastClient* client, uint64_t message_iteration, uint64_t current,
                              uint32_t clients);

// --- fanout ---------------------------------------------------------------------------------
// [intended send time ns: u64][publisher sequence: u64][publisher: u32][step: u16][flags: u8]
inline constexpr size_t kFanoutHeader = 23;
inline constexpr uint8_t kFanoutMeasured = 1;  // Intended time inside the step's window.

struct FanoutMessage {
  int64_t intended_ns = 0;
  uint64_t sequence = 0;
  uint32_t publisher = 0;
  uint16_t step = 0;
  uint8_t flags = 0;
};
void WriteFanout(uint8_t* payload, size_t size, const FanoutMessage& message);
FanoutMessage ReadFanout(const uint8_t* payload);

// The server of the index-th subscriber (or publisher) when C connections of that role are
// spread over `channels` channels (channel = index % channels) and `servers` servers. Plain
// index % servers would put a channel's whole audience on one server whenever the channel and
// server counts share a factor (10 channels, 2 servers: channel 0 is subscribers 0, 10, 20 ...,
// all even); staggering by the channel spreads every channel's subscribers round-robin over all
// servers, starting at a different server per channel, and keeps the totals even.
inline uint32_t FanoutServer(uint32_t index, uint32_t channels, uint32_t servers) {
  return (index / channels + index % channels) % servers;
}

// The open-loop plan: message k (k = 0, 1, ...) is due at start + k / rate seconds and is sent
// by publisher k mod publishers, whatever happened to earlier messages. Latency is measured
// from this intended time, so a stalled sender cannot hide the stall (no coordinated omission).
class OpenLoopSchedule {
 public:
  OpenLoopSchedule() = default;
  OpenLoopSchedule(int64_t start_ns, double rate_per_s, uint32_t publishers)
      : start_ns_(start_ns), rate_(rate_per_s), publishers_(publishers) {}

  int64_t IntendedNs(uint64_t k) const {
    return start_ns_ + static_cast<int64_t>(static_cast<double>(k) * 1e9 / rate_);
  }
  // First message index at or after `k0` that belongs to `publisher`.
  uint64_t FirstFor(uint32_t publisher, uint64_t k0 = 0) const {
    const uint64_t r = k0 % publishers_;
    return k0 - r + publisher + (publisher < r ? publishers_ : 0);
  }
  // Messages due by `now_ns` (indexes 0 .. result-1), all publishers together.
  uint64_t DueBy(int64_t now_ns) const;
  uint32_t publishers() const { return publishers_; }

 private:
  int64_t start_ns_ = 0;
  double rate_ = 1;
  uint32_t publishers_ = 1;
};

// In-order, gap-free delivery per (receiver, publisher): the server keeps one publisher's
// messages in order for each subscriber, so any jump is a loss and any step back a duplicate.
class SequenceTracker {
 public:
  // `publishers_per_receiver` slots for each of `receivers` receivers.
  void Reset(size_t receivers, uint32_t publishers_per_receiver);
  enum class Check : uint8_t { kOk, kGap, kDuplicate };
  Check Observe(size_t receiver, uint32_t slot, uint64_t sequence);
  uint64_t expected(size_t receiver, uint32_t slot) const {
    return next_[receiver * slots_ + slot];
  }

 private:
  std::vector<uint64_t> next_;
  uint32_t slots_ = 1;
};

struct RateStep {
  double rate = 0;
  uint64_t p99_ns = 0;
};
// Index of the first step whose p99 exceeds `limit_ns`, or -1 when none does.
int FirstBreakdown(std::span<const RateStep> steps, uint64_t limit_ns);

}  // namespace ringcast::bench
