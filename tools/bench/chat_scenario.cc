// chat: the chat service end to end (proto/PROTOCOL.md, "The chat service"). Setup over HTTP
// registers and logs in U users and creates G groups of S members (round-robin, so every user is
// in about G*S/U of them); then one WebSocket per user (/ws?token=...), and traffic starts once
// every connection has its hello. Each (member, group) pair is a publisher; together they send
// R msgs/s open loop, each message stamped with its intended send time (as its cid and at the
// start of its body). Measured from that time: the ack (the message is committed) and every
// delivery to the other members. Counted: every message acked exactly once, and delivered to
// every member connection (the sender's too) exactly once, in seq order without gaps. Steps
// through --rates and reports the first rate whose ack p99 exceeds --p99-limit-ms.
//
// Several server URLs (a cluster's nodes): user u connects to server u mod N, so a group's
// members (consecutive users) land on different servers, and the delivery latency is also
// split by whether the member is on the sender's server or another one. The HTTP setup goes
// to the first server (accounts and groups live in the cluster's shared database).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <deque>
#include <random>
#include <unordered_map>

#include "tools/bench/bookkeeping.h"
#include "tools/bench/chat_protocol.h"
#include "tools/bench/chat_setup.h"
#include "tools/bench/rate_steps.h"
#include "tools/bench/runner.h"
#include "tools/bench/scenarios.h"
#include "tools/bench/step_seal.h"
#include "tools/bench/system_info.h"
#include "tools/bench/worker.h"

namespace ringcast::bench {
namespace {

constexpr int64_t kSecondNs = 1'000'000'000;
// An `unavailable` answer (the store's queue is full) is retried with the same cid after this,
// as PROTOCOL.md asks; the latency keeps counting from the intended send time.
constexpr int64_t kRetryDelayNs = 10'000'000;
constexpr std::string_view kPing = R"({"type":"ping"})";

struct ChatOptions {
  uint32_t users = 1000;
  uint32_t groups = 100;
  uint32_t group_size = 10;
  RateStepOptions steps{.p99_limit_ms = 20};
  uint32_t body_bytes = 100;
  uint32_t setup_threads = 8;
  std::string user_prefix;  // Empty: a random one per run.
  std::string password = "ringcast-bench";
  double heartbeat_s = 30;
  // Off (--no-retry): an `unavailable` answer is counted as refused and the message dropped,
  // for overload figures (the refused share, and the ack latency of what was admitted).
  bool retry_unavailable = true;
};

std::string RandomPrefix() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device random;
  std::string out = "rb";
  for (int i = 0; i < 6; ++i) out += kChars[random() % (sizeof(kChars) - 1)];
  return out + "-";
}

class ChatScenario final : public Scenario {
 public:
  explicit ChatScenario(const ChatOptions& options) : options_(options) {}
  const char* name() const override { return "chat"; }

  bool Setup(const CommonOptions& common, RunShared* run, std::string* error) override;
  uint32_t connection_count() const override { return options_.users; }
  std::string TargetFor(uint32_t conn) const override { return ws_target_ + tokens_[conn]; }
  int step_count() const override { return static_cast<int>(options_.steps.rates.size()); }
  bool Ready() const override { return hellos_.load(std::memory_order_acquire) == options_.users; }
  std::string ReadyProgress() const override {
    return WithCommas(hellos_.load(std::memory_order_relaxed)) + " hellos";
  }

  void OnOpen(Worker& /*worker*/, uint32_t conn, int64_t now) override {
    conns_[conn].last_send_ns = now;
  }
  void OnDropped(Worker& /*worker*/, uint32_t conn) override { conns_[conn].dropped = true; }

  void OnTick(Worker& worker, int64_t now) override {
    ThreadState& t = threads_[worker.index()];
    if (seal_.Tick(&t, *run_, now)) {
      t.schedule = OpenLoopSchedule(t.window.start_ns, options_.steps.rates[size_t(t.step)],
                                    layout_.publishers());
      t.next_k = 0;
    }
    Publish(worker, now);
    if (!t.retries.empty() && t.retries.front().due_ns <= now) Retry(worker, now);
    if (now >= t.next_heartbeat_ns) Heartbeat(worker, now);
  }

  int64_t NextWakeNs(const Worker& worker) const override {
    const ThreadState& t = threads_[worker.index()];
    const int64_t retry = t.retries.empty() ? INT64_MAX : t.retries.front().due_ns;
    return std::min({t.next_wake_ns, t.next_heartbeat_ns, retry});
  }

  void OnMessage(Worker& worker, uint32_t conn, ws::Opcode opcode, std::span<const uint8_t> payload,
                 int64_t now) override;

  bool Drained() const override {
    if (!StepSeal::AllPublished(threads_, run_->Window().index)) return false;
    uint64_t sent = 0;
    for (const auto& s : sent_) sent += s.load(std::memory_order_relaxed);
    uint64_t acks = 0;
    uint64_t receipts = 0;
    for (const ThreadState& t : threads_) {
      acks += t.acks.load(std::memory_order_relaxed);
      receipts += t.receipts.load(std::memory_order_relaxed);
    }
    uint64_t refused = 0;
    for (const ThreadState& t : threads_) refused += t.refused.load(std::memory_order_relaxed);
    return acks + refused == sent && receipts == (sent - refused) * options_.group_size;
  }

  std::string Outstanding() const override {
    uint64_t sent = 0;
    uint64_t expected_cross = 0;
    for (uint32_t p = 0; p < layout_.publishers(); ++p) {
      const uint64_t n = sent_[p].load(std::memory_order_relaxed);
      sent += n;
      expected_cross += n * (options_.group_size - same_server_members_[p]);
    }
    uint64_t acks = 0;
    uint64_t receipts = 0;
    uint64_t cross = 0;
    for (const ThreadState& t : threads_) {
      acks += t.acks.load(std::memory_order_relaxed);
      receipts += t.receipts.load(std::memory_order_relaxed);
      cross += t.cross_receipts.load(std::memory_order_relaxed);
    }
    return WithCommas(sent - std::min(sent, acks)) + " of " + WithCommas(sent) + " acks missing, " +
           MissingDeliveries(sent * options_.group_size, receipts, expected_cross, cross, servers_);
  }

  void BeginStep(const StepWindow& window) override {
    if (window.index == 0 && !quiet_) {
      fprintf(stderr, "           %u users, %u groups of %u, %u publishers (member, group)\n",
              options_.users, options_.groups, options_.group_size, layout_.publishers());
    }
  }

  bool EndStep(const StepWindow& window, bool drained) override;
  std::string Progress() override;
  void MakeReport(Report* report) override;

 private:
  struct Slot {
    uint32_t group;
    uint64_t next_seq;  // The conversation's next seq this connection must receive.
  };
  // Per connection (= user), owned by its worker.
  struct ConnState {
    std::vector<Slot> slots;  // One per group the user is in.
    bool hello = false;
    bool dropped = false;  // --tolerate-faults: lost to a fault; its counts prove nothing.
    int64_t last_send_ns = 0;
  };
  // Per publisher, owned by the worker of its user's connection.
  struct PublisherState {
    uint64_t sequence = 0;  // Messages sent, all steps.
    uint64_t acked = 0;
    std::vector<uint64_t> acked_bits;  // Bit n: message n was acked.
  };
  struct PendingRetry {
    int64_t due_ns;
    ChatStamp stamp;
  };
  // receipts counts deliveries to any member; delivery_latency measures other members only.
  struct alignas(64) ThreadState : StepCursor {
    uint64_t next_k = 0;  // Next message of the schedule (every worker walks all of them).
    int64_t next_heartbeat_ns = 0;
    uint64_t heartbeats = 0;
    std::deque<PendingRetry> retries;  // Due times ascending (each is now + a constant).
    uint64_t retried = 0;
    std::atomic<uint64_t> refused{0};  // With --no-retry: sends answered `unavailable`.
    std::vector<uint64_t> refused_per_step;
    std::atomic<uint64_t> acks{0};       // All steps, for Drained() and progress lines.
    std::vector<Histogram> ack_latency;  // Per step, measured messages.
    std::vector<uint64_t> sent, acks_per_step, acks_in_window, deliveries, deliveries_in_window;
    ChatEventParser parser;
    ChatEvent event;
    std::string scratch;
    std::string error;
  };
  struct StepResult {
    double rate = 0;
    uint64_t sent = 0;
    uint64_t acks = 0;
    uint64_t refused = 0;  // --no-retry: answered `unavailable`.
    double acks_per_s = 0;
    uint64_t deliveries = 0;
    double deliveries_per_s = 0;
    Histogram ack_latency;
    Histogram delivery_latency;
    Histogram same_server;
    Histogram cross_server;
  };

  void Publish(Worker& worker, int64_t now);
  void Heartbeat(Worker& worker, int64_t now);
  void Retry(Worker& worker, int64_t now);
  bool SendStamped(Worker& worker, ThreadState& t, const ChatStamp& stamp);
  void OnAck(Worker& worker, uint32_t conn, const ChatEvent& e, int64_t now);
  void OnChatMessage(Worker& worker, uint32_t conn, const ChatEvent& e, int64_t now);
  std::string Who(uint32_t conn) const {
    return "chat: connection " + std::to_string(conn) + " (user " +
           std::to_string(user_ids_[conn]) +
           (servers_ > 1 ? ", on " + server_names_[ServerFor(conn, servers_)] : "") + ")";
  }
  // A step this stamp may belong to: known, and not sealed by this worker yet.
  bool StepOpen(const ThreadState& t, uint16_t step) const {
    return step < options_.steps.rates.size() && int{step} > t.acked;
  }

  ChatOptions options_;
  bool quiet_ = false;
  uint32_t threads_count_ = 1;
  uint32_t servers_ = 1;
  std::vector<std::string> server_names_;  // host:port per server, for failure messages.
  ChatLayout layout_;
  std::vector<uint32_t> same_server_members_;  // Per publisher: its group's members on its server.
  std::string ws_target_;                      // "/ws?token=" (plus the token per connection).
  std::vector<uint64_t> user_ids_;
  std::vector<std::string> tokens_;
  std::vector<uint64_t> conv_ids_;                     // Per group.
  std::unordered_map<uint64_t, uint32_t> conv_group_;  // Conversation id → group; read-only.
  ChatSetupResult setup_;
  std::vector<ConnState> conns_;
  std::vector<PublisherState> publishers_;
  std::vector<std::atomic<uint64_t>> sent_;  // Per publisher, written by its worker.
  std::atomic<uint32_t> hellos_{0};
  std::vector<ThreadState> threads_;
  StepSeal seal_;
  std::vector<StepResult> results_;
  RateSteps rate_steps_{options_.steps, "ack p99"};
  ProgressRates<2> rates_;  // Of acks and deliveries.
};

bool ChatScenario::Setup(const CommonOptions& common, RunShared* run, std::string* error) {
  if (options_.group_size < 2 || options_.group_size > options_.users) {
    *error = "--group-size must be at least 2 and at most --users (members are distinct users)";
    return false;
  }
  if (auto problem = options_.steps.Check()) {
    *error = *problem;
    return false;
  }
  if (options_.user_prefix.empty()) options_.user_prefix = RandomPrefix();
  if (options_.user_prefix.size() + std::to_string(options_.users - 1).size() > 32) {
    *error = "--user-prefix is too long: usernames are at most 32 characters";
    return false;
  }
  if (common.url.tls) {
    // Its setup (registrations, logins) speaks plain HTTP; TLS is measured by echo and
    // broadcast, where nothing but the transport differs.
    *error = "the chat scenario takes ws:// only";
    return false;
  }
  BindRun(common, run);
  quiet_ = common.quiet;
  threads_count_ = common.threads;
  layout_ = ChatLayout{options_.users, options_.groups, options_.group_size};
  // "ws://host:port" → /ws; any other target is the WebSocket route itself.
  ws_target_ = common.url.target == "/" ? "/ws" : common.url.target;
  ws_target_ += ws_target_.find('?') == std::string::npos ? "?token=" : "&token=";

  ChatSetupPlan plan;
  if (!ResolveTarget(common.url, &plan.target, error)) return false;
  plan.host_header = common.url.HostHeader();  // The first server: setup goes there.
  plan.sources = common.sources;
  plan.prefix = options_.user_prefix;
  plan.password = options_.password;
  plan.layout = layout_;
  plan.threads = options_.setup_threads;
  plan.quiet = common.quiet;
  if (!quiet_) {
    fprintf(stderr, "[setup] registering %s users '%s0' ... over HTTP, %u at a time\n",
            WithCommas(options_.users).c_str(), options_.user_prefix.c_str(),
            options_.setup_threads);
  }
  std::string reason;
  if (!RunChatSetup(plan, &setup_, &reason)) {
    run->Fail("chat setup: " + reason);
    *error = "setup: " + reason;
    return false;
  }
  if (!quiet_) {
    fprintf(stderr, "[setup] %s users in %.1f s, %s groups in %.1f s\n",
            WithCommas(options_.users).c_str(), setup_.users_seconds,
            WithCommas(options_.groups).c_str(), setup_.groups_seconds);
  }
  user_ids_ = setup_.user_ids;
  tokens_ = std::move(setup_.tokens);
  conv_ids_ = setup_.conv_ids;
  for (uint32_t g = 0; g < options_.groups; ++g) {
    if (!conv_group_.emplace(conv_ids_[g], g).second) {
      run->Fail("chat setup: two groups got the same conversation id " +
                std::to_string(conv_ids_[g]));
      *error = "setup: the server gave two groups one conversation id";
      return false;
    }
  }
  servers_ = static_cast<uint32_t>(common.urls.size());
  for (const WsUrl& url : common.urls) server_names_.push_back(url.HostHeader());
  same_server_members_.assign(layout_.publishers(), 0);
  for (uint32_t p = 0; p < layout_.publishers(); ++p) {
    const uint32_t server = ServerFor(layout_.PublisherUser(p), servers_);
    const uint32_t group = layout_.PublisherGroup(p);
    for (uint32_t j = 0; j < options_.group_size; ++j) {
      if (ServerFor(layout_.Member(group, j), servers_) == server) ++same_server_members_[p];
    }
  }
  conns_ = std::vector<ConnState>(options_.users);
  const auto groups_of = layout_.GroupsOfUsers();
  for (uint32_t u = 0; u < options_.users; ++u) {
    for (uint32_t g : groups_of[u]) conns_[u].slots.push_back({g, 1});
  }
  publishers_ = std::vector<PublisherState>(layout_.publishers());
  sent_ = std::vector<std::atomic<uint64_t>>(layout_.publishers());
  threads_ = std::vector<ThreadState>(common.threads);
  const size_t steps = options_.steps.rates.size();
  for (ThreadState& t : threads_) {
    t.ack_latency.resize(steps);
    t.ResizeLatency(steps);
    for (auto* v : {&t.sent, &t.acks_per_step, &t.acks_in_window, &t.deliveries,
                    &t.deliveries_in_window, &t.refused_per_step}) {
      v->assign(steps, 0);
    }
  }
  return true;
}

void ChatScenario::Publish(Worker& worker, int64_t now) {
  ThreadState& t = threads_[worker.index()];
  t.next_wake_ns = INT64_MAX;
  if (t.step < 0 || t.step <= t.acked) return;
  const uint32_t publishers = layout_.publishers();
  while (true) {
    const int64_t intended = t.schedule.IntendedNs(t.next_k);
    if (intended >= t.window.end_ns) {
      t.published_step.store(t.step, std::memory_order_release);
      return;
    }
    if (intended > now) {
      t.next_wake_ns = intended;
      return;
    }
    const auto p = static_cast<uint32_t>(t.next_k % publishers);
    ++t.next_k;
    const uint32_t conn = layout_.PublisherUser(p);
    if (conn % threads_count_ != worker.index()) continue;
    PublisherState& ps = publishers_[p];
    ChatStamp stamp;
    stamp.publisher = p;
    stamp.sequence = ps.sequence;
    stamp.intended_ns = intended;
    stamp.step = static_cast<uint16_t>(t.step);
    stamp.measured = t.window.Measures(intended);
    if (!SendStamped(worker, t, stamp)) return;
    ++ps.sequence;
    sent_[p].store(ps.sequence, std::memory_order_relaxed);
    ++t.sent[size_t(t.step)];
    conns_[conn].last_send_ns = now;
  }
}

bool ChatScenario::SendStamped(Worker& worker, ThreadState& t, const ChatStamp& stamp) {
  const uint32_t conn = layout_.PublisherUser(stamp.publisher);
  t.scratch.clear();
  AppendChatSend(&t.scratch, conv_ids_[layout_.PublisherGroup(stamp.publisher)], stamp,
                 options_.body_bytes);
  if (!worker.Send(conn, ws::Opcode::kText, t.scratch.size(),
                   [&](uint8_t* out) { std::memcpy(out, t.scratch.data(), t.scratch.size()); })) {
    // Under --tolerate-faults the message counts as sent (never acked): the schedule goes on.
    worker.run().Fault(Who(conn) + " is not open");
    return worker.run().tolerate_faults;
  }
  return true;
}

void ChatScenario::Retry(Worker& worker, int64_t now) {
  ThreadState& t = threads_[worker.index()];
  while (!t.retries.empty() && t.retries.front().due_ns <= now) {
    const ChatStamp stamp = t.retries.front().stamp;
    t.retries.pop_front();
    if (!SendStamped(worker, t, stamp)) return;
    ++t.retried;
    conns_[layout_.PublisherUser(stamp.publisher)].last_send_ns = now;
  }
}

void ChatScenario::Heartbeat(Worker& worker, int64_t now) {
  // The server closes a connection silent for --presence-timeout (120 s by default); users in no
  // group, or between steps, would otherwise say nothing.
  ThreadState& t = threads_[worker.index()];
  t.next_heartbeat_ns = now + kSecondNs;
  const auto limit = static_cast<int64_t>(options_.heartbeat_s * 1e9);
  for (uint32_t conn : worker.conn_ids()) {
    ConnState& c = conns_[conn];
    if (now - c.last_send_ns < limit) continue;
    if (worker.Send(conn, ws::Opcode::kText, kPing.size(),
                    [](uint8_t* out) { std::memcpy(out, kPing.data(), kPing.size()); })) {
      c.last_send_ns = now;
      ++t.heartbeats;
    }
  }
}

void ChatScenario::OnMessage(Worker& worker, uint32_t conn, ws::Opcode opcode,
                             std::span<const uint8_t> payload, int64_t now) {
  ThreadState& t = threads_[worker.index()];
  if (opcode != ws::Opcode::kText) {
    worker.run().Fail(Who(conn) + " got a binary message");
    return;
  }
  ChatEvent& e = t.event;
  if (!t.parser.Parse(payload, &e, &t.error)) {
    worker.run().Fail(Who(conn) + " got an event that does not parse (" + t.error + "): " +
                      std::string(reinterpret_cast<const char*>(payload.data()),
                                  std::min<size_t>(payload.size(), 200)));
    return;
  }
  switch (e.type) {
    case ChatEventType::kMessage:
      OnChatMessage(worker, conn, e, now);
      break;
    case ChatEventType::kAck:
      OnAck(worker, conn, e, now);
      break;
    case ChatEventType::kHello: {
      ConnState& c = conns_[conn];
      if (c.hello || e.user != user_ids_[conn]) {
        worker.run().Fail(Who(conn) + (c.hello
                                           ? " got a second hello"
                                           : " got a hello for user " + std::to_string(e.user)));
        return;
      }
      c.hello = true;
      hellos_.fetch_add(1, std::memory_order_release);
      break;
    }
    case ChatEventType::kError: {
      ChatStamp s;
      if (e.code == "unavailable" && ReadChatStamp(e.cid, &s) &&
          s.publisher < layout_.publishers() && layout_.PublisherUser(s.publisher) == conn &&
          s.sequence < publishers_[s.publisher].sequence) {
        if (!options_.retry_unavailable) {
          t.refused.store(t.refused.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
          if (s.step < t.refused_per_step.size()) ++t.refused_per_step[s.step];
          break;
        }
        t.retries.push_back({now + kRetryDelayNs, s});
        break;
      }
      worker.run().Fail(
          Who(conn) + ": server error " + std::string(e.code) + ": " + std::string(e.message) +
          (e.cid.empty() ? "" : " (cid " + std::string(e.cid) + ")") +
          (e.code == "rate_limited" ? "; start the server with a higher --msg-rate" : ""));
      break;
    }
    case ChatEventType::kOther:
      break;  // presence, members, receipts, typing, pong: not what is measured.
  }
}

void ChatScenario::OnAck(Worker& worker, uint32_t conn, const ChatEvent& e, int64_t now) {
  ThreadState& t = threads_[worker.index()];
  ChatStamp s;
  if (!ReadChatStamp(e.cid, &s) || s.publisher >= layout_.publishers() ||
      layout_.PublisherUser(s.publisher) != conn) {
    worker.run().Fail(Who(conn) + " got an ack for a cid it did not send: '" + std::string(e.cid) +
                      "'");
    return;
  }
  PublisherState& ps = publishers_[s.publisher];
  if (s.sequence >= ps.sequence || e.conv != conv_ids_[layout_.PublisherGroup(s.publisher)] ||
      !StepOpen(t, s.step) || e.seq == 0) {
    worker.run().Fail(Who(conn) + " got an ack that does not match what was sent: cid " +
                      std::string(e.cid) + ", conv " + std::to_string(e.conv) + ", seq " +
                      std::to_string(e.seq));
    return;
  }
  const size_t word = s.sequence / 64;
  const uint64_t bit = uint64_t{1} << (s.sequence % 64);
  if (ps.acked_bits.size() <= word)
    ps.acked_bits.resize(std::max(word + 1, ps.acked_bits.size() * 2));
  if (ps.acked_bits[word] & bit) {
    worker.run().Fail(Who(conn) + " got a second ack for cid " + std::string(e.cid));
    return;
  }
  ps.acked_bits[word] |= bit;
  ++ps.acked;
  t.acks.store(t.acks.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  ++t.acks_per_step[s.step];
  if (t.window.Measures(now) && s.step == t.window.index) ++t.acks_in_window[s.step];
  if (s.measured) {
    if (now < s.intended_ns) {
      worker.run().Fail("chat: an ack arrived before its message's intended send time");
      return;
    }
    t.ack_latency[s.step].Record(static_cast<uint64_t>(now - s.intended_ns));
  }
}

void ChatScenario::OnChatMessage(Worker& worker, uint32_t conn, const ChatEvent& e, int64_t now) {
  ThreadState& t = threads_[worker.index()];
  const auto group = conv_group_.find(e.conv);
  if (group == conv_group_.end()) {
    worker.run().Fail(Who(conn) + " got a message in conversation " + std::to_string(e.conv) +
                      ", not one of the benchmark's groups");
    return;
  }
  Slot* slot = nullptr;
  for (Slot& s : conns_[conn].slots) {
    if (s.group == group->second) slot = &s;
  }
  if (slot == nullptr) {
    worker.run().Fail(Who(conn) + " got a message of group " + std::to_string(group->second) +
                      ", which its user is not in");
    return;
  }
  if (e.seq != slot->next_seq) {
    worker.run().Fail(Who(conn) + ": conversation " + std::to_string(e.conv) + " delivered seq " +
                      std::to_string(e.seq) + " where " + std::to_string(slot->next_seq) +
                      " was due (" +
                      (e.seq > slot->next_seq ? "lost or reordered" : "a duplicate") + ")" +
                      (servers_ > 1 && e.seq > slot->next_seq
                           ? "; with several servers: are they nodes of one cluster (--redis)?"
                           : ""));
    // Resynchronise so one loss is reported once, not on every later message.
    slot->next_seq = std::max(slot->next_seq, e.seq + 1);
    return;
  }
  ++slot->next_seq;
  ChatStamp s;
  if (!ReadChatStamp(e.body, &s) || s.publisher >= layout_.publishers() ||
      layout_.PublisherGroup(s.publisher) != group->second ||
      e.from != user_ids_[layout_.PublisherUser(s.publisher)] || !StepOpen(t, s.step)) {
    worker.run().Fail(Who(conn) +
                      " got a message whose body, sender or conversation is not "
                      "what was sent: from " +
                      std::to_string(e.from) + ", conv " + std::to_string(e.conv) + ", body '" +
                      std::string(e.body.substr(0, 80)) + "'");
    return;
  }
  const uint32_t sender = layout_.PublisherUser(s.publisher);
  const bool cross = ServerFor(sender, servers_) != ServerFor(conn, servers_);
  t.CountReceipt(cross);
  ++t.deliveries[s.step];
  if (t.window.Measures(now) && s.step == t.window.index) ++t.deliveries_in_window[s.step];
  if (s.measured && sender != conn) {
    if (now < s.intended_ns) {
      worker.run().Fail("chat: a message arrived before its intended send time");
      return;
    }
    // Sender and member are in this process: one monotonic clock times the whole path, across
    // servers too.
    t.RecordLatency(s.step, cross, static_cast<uint64_t>(now - s.intended_ns));
  }
}

bool ChatScenario::EndStep(const StepWindow& window, bool drained) {
  if (!seal_.Seal(run_, window.index, threads_, "chat")) return false;
  StepResult result;
  const auto step = static_cast<size_t>(window.index);
  result.rate = options_.steps.rates[step];
  uint64_t acks_in_window = 0;
  uint64_t deliveries_in_window = 0;
  for (const ThreadState& t : threads_) {
    result.ack_latency.Merge(t.ack_latency[step]);
    t.MergeLatency(step, &result.delivery_latency, &result.same_server, &result.cross_server);
    result.sent += t.sent[step];
    result.acks += t.acks_per_step[step];
    result.refused += t.refused_per_step[step];
    result.deliveries += t.deliveries[step];
    acks_in_window += t.acks_in_window[step];
    deliveries_in_window += t.deliveries_in_window[step];
  }
  result.acks_per_s = static_cast<double>(acks_in_window) / window.measured_seconds();
  result.deliveries_per_s = static_cast<double>(deliveries_in_window) / window.measured_seconds();
  const uint64_t p99 = result.ack_latency.Percentile(99);
  if (!quiet_) {
    fprintf(stderr,
            "           rate %s msg/s: acks/s %s, ack p50 %s p99 %s max %s; delivery p50 %s p99 "
            "%s%s\n",
            WithCommas(uint64_t(result.rate)).c_str(),
            WithCommas(uint64_t(result.acks_per_s)).c_str(),
            Duration(result.ack_latency.Percentile(50)).c_str(), Duration(p99).c_str(),
            Duration(result.ack_latency.max()).c_str(),
            Duration(result.delivery_latency.Percentile(50)).c_str(),
            Duration(result.delivery_latency.Percentile(99)).c_str(),
            rate_steps_.StepMarks(p99, drained).c_str());
  }
  const bool next = rate_steps_.StepDone(result.rate, result.ack_latency);
  results_.push_back(std::move(result));
  return next;
}

std::string ChatScenario::Progress() {
  uint64_t acks = 0;
  uint64_t receipts = 0;
  for (const ThreadState& t : threads_) {
    acks += t.acks.load(std::memory_order_relaxed);
    receipts += t.receipts.load(std::memory_order_relaxed);
  }
  std::string line;
  if (const auto per_s = rates_.Update({acks, receipts}, NowNs())) {
    const auto [acks_per_s, deliveries_per_s] = *per_s;
    line = WithCommas(static_cast<uint64_t>(acks_per_s)) + " acks/s, " +
           WithCommas(static_cast<uint64_t>(deliveries_per_s)) + " deliveries/s, ";
  }
  return line + options_.steps.OfferedRate(*run_);
}

void ChatScenario::MakeReport(Report* report) {
  report->config.Set("users", options_.users);
  report->config.Set("groups", options_.groups);
  report->config.Set("group_size", options_.group_size);
  report->config.Set("publishers", layout_.publishers());
  report->config.Set("body_bytes", options_.body_bytes);
  report->config.Set("p99_limit_ms", options_.steps.p99_limit_ms);
  report->config.Set("user_prefix", options_.user_prefix);
  report->config.Set("setup_threads", options_.setup_threads);
  report->config.Set("heartbeat_s", options_.heartbeat_s);
  report->config.Set("rates", options_.steps.RatesJson());

  Json setup = Json::Object();
  setup.Set("users_seconds", setup_.users_seconds);
  setup.Set("groups_seconds", setup_.groups_seconds);
  report->results.Set("setup", std::move(setup));
  report->Row("setup", WithCommas(options_.users) + " users registered and logged in in " +
                           Fixed(setup_.users_seconds, 1) + " s, " + WithCommas(options_.groups) +
                           " groups in " + Fixed(setup_.groups_seconds, 1) + " s");

  Json steps = Json::Array();
  double best_acks_per_s = 0;
  for (const StepResult& r : results_) {
    Json step = Json::Object();
    step.Set("rate", r.rate);
    step.Set("sent", r.sent);
    step.Set("acks", r.acks);
    step.Set("refused", r.refused);
    step.Set("acks_per_s", r.acks_per_s);
    step.Set("deliveries", r.deliveries);
    step.Set("deliveries_per_s", r.deliveries_per_s);
    step.Set("ack_latency_ns", HistogramToJson(r.ack_latency));
    step.Set("delivery_latency_ns", HistogramToJson(r.delivery_latency));
    if (servers_ > 1) {
      step.Set("delivery_latency_same_server_ns", HistogramToJson(r.same_server));
      step.Set("delivery_latency_cross_server_ns", HistogramToJson(r.cross_server));
    }
    steps.Push(std::move(step));
    const bool over = options_.steps.Over(r.ack_latency.Percentile(99));
    best_acks_per_s = std::max(best_acks_per_s, r.acks_per_s);
    report->Row("rate " + WithCommas(uint64_t(r.rate)) + " msg/s",
                WithCommas(uint64_t(r.acks_per_s)) + " acks/s  ack p50 " +
                    Duration(r.ack_latency.Percentile(50)) + " p99 " +
                    Duration(r.ack_latency.Percentile(99)) + "  delivery p50 " +
                    Duration(r.delivery_latency.Percentile(50)) + " p99 " +
                    Duration(r.delivery_latency.Percentile(99)) + "  " +
                    WithCommas(uint64_t(r.deliveries_per_s)) + " deliveries/s" +
                    (over ? "  (ack p99 over limit)" : ""));
    if (servers_ > 1) {
      report->Row("  delivery, same / other server", ServerSplit(r.same_server, r.cross_server));
    }
  }
  report->results.Set("steps", std::move(steps));
  report->results.Set("max_acks_per_s", best_acks_per_s);
  rate_steps_.MakeReport(report);

  // Totals over the whole run, and the per-conversation check: every member connection
  // received exactly the messages its conversation acked, no more, no fewer.
  uint64_t sent = 0, acked = 0, deliveries = 0, heartbeats = 0, retried = 0, refused = 0;
  for (const PublisherState& p : publishers_) {
    sent += p.sequence;
    acked += p.acked;
  }
  for (const ThreadState& t : threads_) {
    deliveries += t.receipts.load(std::memory_order_relaxed);
    heartbeats += t.heartbeats;
    retried += t.retried;
    refused += t.refused.load(std::memory_order_relaxed);
  }
  report->results.Set("messages_sent", sent);
  report->results.Set("messages_acked", acked);
  report->results.Set("deliveries", deliveries);
  report->results.Set("heartbeats", heartbeats);
  report->results.Set("retried_unavailable", retried);
  report->results.Set("refused_unavailable", refused);
  if (refused > 0) {
    report->Row("refused ('unavailable', --no-retry)",
                WithCommas(refused) + " of " + WithCommas(sent) + " sends (" +
                    Fixed(100.0 * double(refused) / double(std::max<uint64_t>(sent, 1)), 1) +
                    " %)");
  }
  if (retried > 0) {
    report->Row("retried after 'unavailable'",
                WithCommas(retried) + " sends (the store's queue was full; same cid)");
  }
  if (run_->failed()) return;  // The failures already say what went wrong.
  // Under faults a sender may lose its connection between a commit and its ack, so a member
  // may hold more than was acked, never less; members whose own connection dropped are left
  // out.
  const bool faults = run_->tolerate_faults;
  if (!faults &&
      (acked + refused != sent || deliveries != (sent - refused) * options_.group_size)) {
    report->errors.push_back("chat: " + WithCommas(sent) + " messages sent, " + WithCommas(acked) +
                             " acked, " + WithCommas(refused) + " refused, " +
                             WithCommas(deliveries) + " deliveries (expected " +
                             WithCommas((sent - refused) * options_.group_size) + ")");
  }
  std::vector<uint64_t> per_group(options_.groups, 0);
  for (uint32_t p = 0; p < layout_.publishers(); ++p) {
    per_group[layout_.PublisherGroup(p)] += publishers_[p].acked;
  }
  size_t wrong = 0;
  for (uint32_t u = 0; u < options_.users; ++u) {
    if (conns_[u].dropped) continue;
    for (const Slot& s : conns_[u].slots) {
      const uint64_t received = s.next_seq - 1;
      if (faults ? received >= per_group[s.group] : received == per_group[s.group]) continue;
      if (++wrong <= 5) {
        report->errors.push_back("chat: user " + std::to_string(user_ids_[u]) + " received " +
                                 WithCommas(s.next_seq - 1) + " messages of group " +
                                 std::to_string(s.group) + ", which acked " +
                                 WithCommas(per_group[s.group]));
      }
    }
  }
  if (wrong > 5) {
    report->errors.push_back("chat: ... and " + std::to_string(wrong - 5) +
                             " more (member, group) pairs with a wrong count");
  }
}

}  // namespace

void AddChatCommand(CLI::App* app, CommonOptions* common, std::unique_ptr<Scenario>* chosen) {
  auto [command, options] = AddScenarioCommand<ChatScenario, ChatOptions>(
      app, common, chosen, "chat",
      "The chat service: U users in G groups of S, one WebSocket each, open-loop sends at R "
      "msgs/s → persisted msgs/s, ack and delivery latency from the intended send time. URL: "
      "ws://host:port (WebSocket route /ws); several URLs (a cluster's nodes): user u connects "
      "to URL u mod N, the HTTP setup goes to the first");
  AddBoundedOption(command, "-u,--users", &options->users, "Users (one connection each)", 2,
                   1u << 22);
  AddBoundedOption(command, "-g,--groups", &options->groups, "Group conversations", 1, 1u << 20);
  AddBoundedOption(command, "-S,--group-size", &options->group_size, "Members per group", 2,
                   1u << 16);
  AddRateStepOptions(command, &options->steps,
                     "Total send rate(s), msgs/s over all senders; a list steps through them",
                     "ack p99");
  AddBoundedOption(command, "-b,--body-bytes", &options->body_bytes,
                   "Message body bytes (the stamp, then filler)", uint32_t(kChatStampMax),
                   1u << 20);
  AddBoundedOption(command, "--setup-threads", &options->setup_threads,
                   "Concurrent HTTP requests while registering users and creating groups", 1, 256);
  command->add_option("--user-prefix", options->user_prefix,
                      "Usernames are PREFIX0, PREFIX1, ... (default: random per run, so runs "
                      "against the same data directory do not collide)");
  command->add_option("--password", options->password, "Every user's password")
      ->capture_default_str();
  AddRealOption(command, "--heartbeat", &options->heartbeat_s,
                "Seconds of silence after which a connection sends a ping message",
                Sign::kPositive);
  command->add_flag("!--no-retry", options->retry_unavailable,
                    "Count an `unavailable` answer as refused instead of resending the message "
                    "(overload figures: the refused share, and the ack latency of what was "
                    "admitted)");
}

}  // namespace ringcast::bench
