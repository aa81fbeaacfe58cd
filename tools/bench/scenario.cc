#include "tools/bench/scenario.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

namespace ringcast::bench {

namespace {

// 64 KiB of JSON chat events, made once: ids, sequence numbers, timestamps and short texts from
// a small vocabulary, as a chat server sends them (chat/protocol.h's "message" event shape).
const std::string& ChatEvents() {
  static const std::string events = [] {
    static constexpr const char* kWords[] = {
        "hi",    "hello", "ok",    "thanks", "see",  "you",   "tomorrow", "the",  "meeting",
        "is",    "at",    "three", "can",    "we",   "move",  "it",       "sure", "lunch?",
        "done",  "great", "👍",     "on",     "my",   "way",   "sounds",   "good", "deploy",
        "looks", "fine",  "ping",  "me",     "when", "ready", "ringcast", "cool", "later"};
    std::string out;
    uint64_t state = 0x9E3779B97F4A7C15ull;
    auto next = [&state] {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      return state;
    };
    for (uint64_t seq = 1000; out.size() < (64u << 10); ++seq) {
      std::string text;
      const uint64_t words = 3 + next() % 12;
      for (uint64_t i = 0; i < words; ++i) {
        if (i != 0) text += ' ';
        text += kWords[next() % std::size(kWords)];
      }
      char head[200];
      std::snprintf(head, sizeof(head),
                    R"({"type":"message","conv":%llu,"seq":%llu,"from":%llu,"cid":"c-%08llx",)"
                    R"("sent_at":%llu,"kind":"text","body":")",
                    static_cast<unsigned long long>(100 + next() % 900),
                    static_cast<unsigned long long>(seq),
                    static_cast<unsigned long long>(1 + next() % 5000),
                    static_cast<unsigned long long>(next() & 0xFFFFFFFF),
                    static_cast<unsigned long long>(1764000000000 + seq * 137));
      out += head;
      out += text;
      out += "\"}";
    }
    return out;
  }();
  return events;
}

}  // namespace

void FillPadding(const CommonOptions& options, uint8_t* out, size_t size, char fill,
                 uint64_t seed) {
  if (!options.chat_payload) {
    std::memset(out, fill, size);
    return;
  }
  const std::string& events = ChatEvents();
  size_t offset = static_cast<size_t>((seed * 2654435761u) % events.size());
  while (size > 0) {
    const size_t n = std::min(size, events.size() - offset);
    std::memcpy(out, events.data() + offset, n);
    out += n;
    size -= n;
    offset = 0;
  }
}

void RunShared::PublishWindow(const StepWindow& window) {
  start_ns_.store(window.start_ns, std::memory_order_relaxed);
  measure_ns_.store(window.measure_ns, std::memory_order_relaxed);
  end_ns_.store(window.end_ns, std::memory_order_relaxed);
  step_.store(window.index, std::memory_order_release);
}

StepWindow RunShared::Window() const {
  // The main thread writes a window only between steps, after the previous one has drained, so
  // a reader never mixes two windows in a way that matters; the acquire pairs with the release
  // in PublishWindow for the first read of a new step.
  StepWindow window;
  window.index = step_.load(std::memory_order_acquire);
  window.start_ns = start_ns_.load(std::memory_order_relaxed);
  window.measure_ns = measure_ns_.load(std::memory_order_relaxed);
  window.end_ns = end_ns_.load(std::memory_order_relaxed);
  return window;
}

void RunShared::Fail(std::string reason) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(errors_mutex_);
  if (errors_.size() < kMaxErrors) errors_.push_back(std::move(reason));
}

void RunShared::Fault(std::string reason) {
  if (!tolerate_faults) {
    Fail(std::move(reason));
    return;
  }
  faults_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(errors_mutex_);
  if (fault_examples_.size() < kMaxErrors) fault_examples_.push_back(std::move(reason));
}

std::vector<std::string> RunShared::fault_examples() const {
  std::lock_guard lock(errors_mutex_);
  return fault_examples_;
}

std::vector<std::string> RunShared::errors() const {
  std::lock_guard lock(errors_mutex_);
  std::vector<std::string> out = errors_;
  const uint64_t total = failures_.load(std::memory_order_relaxed);
  if (total > out.size()) {
    out.push_back("... and " + std::to_string(total - out.size()) + " more failures");
  }
  return out;
}

std::string WithCommas(uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  const size_t lead = digits.size() % 3;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && i >= lead && (i - lead) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string Fixed(double value, int decimals) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

std::string Duration(uint64_t ns) {
  if (ns < 1'000) return std::to_string(ns) + " ns";
  if (ns < 1'000'000) return Fixed(static_cast<double>(ns) / 1e3, 1) + " us";
  if (ns < 1'000'000'000) return Fixed(static_cast<double>(ns) / 1e6, 2) + " ms";
  return Fixed(static_cast<double>(ns) / 1e9, 2) + " s";
}

std::string MissingDeliveries(uint64_t expected, uint64_t received, uint64_t expected_cross,
                              uint64_t received_cross, uint32_t servers) {
  // Received can exceed expected only through a duplicate, which the scenario reports itself.
  const auto missing = [](uint64_t want, uint64_t got) { return want > got ? want - got : 0; };
  std::string out = WithCommas(missing(expected, received)) + " of " + WithCommas(expected) +
                    " deliveries missing";
  if (servers <= 1) return out;
  const uint64_t expected_same = expected - expected_cross;
  const uint64_t received_same = received - std::min(received, received_cross);
  const uint64_t missing_same = missing(expected_same, received_same);
  const uint64_t missing_cross = missing(expected_cross, received_cross);
  out += " (" + WithCommas(missing_same) + " of " + WithCommas(expected_same) +
         " on the sender's server, " + WithCommas(missing_cross) + " of " +
         WithCommas(expected_cross) + " on another server)";
  if (missing_same == 0 && missing_cross > 0) {
    out +=
        "; only deliveries across servers are missing: are the servers nodes of one cluster "
        "(--redis)?";
  }
  return out;
}

}  // namespace ringcast::bench
