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
#include "tools/bench/chat_scenario.h"

#include <CLI/CLI.hpp>
#include <cstring>

namespace ringcast::bench {
namespace {

constexpr int64_t kSecondNs = 1'000'000'000;
// An `unavailable` answer (the store's queue is full) is retried with the same cid after this,
// as PROTOCOL.md asks; the latency keeps counting from the intended send time.
constexpr int64_t kRetryDelayNs = 10'000'000;
constexpr std::string_view kPing = R"({"type":"ping"})";

std::string RandomPrefix() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device random;
  std::string out = "rb";
  for (int i = 0; i < 6; ++i) out += kChars[random() % (sizeof(kChars) - 1)];
  return out + "-";
}

}  // namespace

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
  const Histogram& ack = result.ack_latency;
  const Histogram& delivery = result.delivery_latency;
  const bool next = rate_steps_.EndStep(
      result.rate, ack, drained, quiet_,
      "acks/s " + WithCommas(uint64_t(result.acks_per_s)) + ", ack p50 " +
          Duration(ack.Percentile(50)) + " p99 " + Duration(ack.Percentile(99)) + " max " +
          Duration(ack.max()) + "; delivery p50 " + Duration(delivery.Percentile(50)) + " p99 " +
          Duration(delivery.Percentile(99)));
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
