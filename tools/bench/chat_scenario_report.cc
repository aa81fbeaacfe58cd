// The `chat` scenario's report (chat_scenario.cc): its configuration, a row per step, the run's
// totals, and the check that every member received exactly what its conversations acked.
#include <algorithm>

#include "tools/bench/chat_scenario.h"

namespace ringcast::bench {

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

  ReportSteps(report);
  rate_steps_.MakeReport(report);
  ReportTotals(report);
}

void ChatScenario::ReportSteps(Report* report) {
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
    SetDeliveryLatency(&step, "delivery_latency", r.delivery_latency, r.same_server, r.cross_server,
                       servers_);
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
}

void ChatScenario::ReportTotals(Report* report) {
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
  CheckDeliveries(report, sent, acked, refused, deliveries);
}

void ChatScenario::CheckDeliveries(Report* report, uint64_t sent, uint64_t acked, uint64_t refused,
                                   uint64_t deliveries) {
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

}  // namespace ringcast::bench
