// PgChatStore's appends (pg_chat_store.h), apart from pg_chat_store.cc to keep each file to one
// job: new messages batched into one statement per transaction on their conversation's lane
// (append_batch, pg_schema.cc), and changes to messages (edits, deletions, reactions, pins), one
// call of rc_change_message each on the same lane.
#include <algorithm>
#include <charconv>
#include <memory>
#include <utility>

#include "storage/mentions.h"
#include "storage/message_kinds.h"
#include "storage/pg_store_internal.h"

namespace ringcast::storage {

namespace {

using namespace pg_internal;  // NOLINT: the backend's shared helpers (pg_store_internal.h).

class AppendJob final : public PgJob {
 public:
  AppendJob(NewMessage message, Reply<AppendOutcome> reply)
      : message(std::move(message)), reply(std::move(reply)) {
    batchable = true;
  }
  void BuildQueries(std::vector<PgQuery>& queries) override;
  bool transaction() const override { return true; }
  // Idempotent by (sender, cid): a retry of a batch that committed finds its messages stored.
  bool retry_safe() const override { return true; }
  Status Consume(PgResults results) override;
  void Finish(Status status) override {
    if (status.ok()) {
      reply(Result<AppendOutcome>(std::move(out)));
    } else {
      reply(Result<AppendOutcome>(std::move(status)));
    }
  }

  NewMessage message;
  Reply<AppendOutcome> reply;
  AppendOutcome out;
};

void BuildAppendQueries(std::span<AppendJob* const> jobs, std::vector<PgQuery>& queries) {
  std::vector<int64_t> convs, senders, times, reply_tos, threads;
  std::vector<const std::string*> cids, kinds, bodies, attachments;
  // The attachment rows (sender, cid, position, upload), for append_attachments.
  std::vector<int64_t> attach_senders, attach_positions;
  std::vector<const std::string*> attach_cids, attach_uploads;
  for (const AppendJob* job : jobs) {
    convs.push_back(job->message.conv);
    senders.push_back(job->message.sender);
    times.push_back(job->message.ts);
    reply_tos.push_back(job->message.reply_to);
    threads.push_back(job->message.thread ? 1 : 0);
    cids.push_back(&job->message.cid);
    kinds.push_back(&job->message.kind);
    bodies.push_back(&job->message.body);
    attachments.push_back(&job->message.attachments);
    for (size_t i = 0; i < job->message.attachment_ids.size(); ++i) {
      attach_senders.push_back(job->message.sender);
      attach_cids.push_back(&job->message.cid);
      attach_positions.push_back(static_cast<int64_t>(i));
      attach_uploads.push_back(&job->message.attachment_ids[i]);
    }
  }
  std::vector<int64_t> locked = convs;
  std::sort(locked.begin(), locked.end());
  locked.erase(std::unique(locked.begin(), locked.end()), locked.end());
  queries.clear();
  queries.push_back(PgQuery{.statement = "lock_conversations",
                            .values = {pg::Int8ArrayBinary(locked)},
                            .binary = {true}});
  queries.push_back(PgQuery{
      .statement = "append_batch",
      .values = {pg::Int8ArrayBinary(convs), pg::Int8ArrayBinary(senders),
                 pg::TextArrayBinary(cids), pg::TextArrayBinary(kinds), pg::TextArrayBinary(bodies),
                 pg::Int8ArrayBinary(times), pg::TextArrayBinary(attachments),
                 pg::Int8ArrayBinary(reply_tos), pg::Int8ArrayBinary(threads)},
      .binary = std::vector<bool>(9, true)});
  if (std::optional<PgQuery> mentions =
          AppendMentionsQuery(jobs, [](const AppendJob* job) { return &job->message; })) {
    queries.push_back(std::move(*mentions));
  }
  if (attach_senders.empty()) return;
  queries.push_back(PgQuery{
      .statement = "append_attachments",
      .values = {pg::Int8ArrayBinary(attach_senders), pg::TextArrayBinary(attach_cids),
                 pg::Int8ArrayBinary(attach_positions), pg::TextArrayBinary(attach_uploads)},
      .binary = std::vector<bool>(4, true)});
}

Status ConsumeAppendRows(std::span<AppendJob* const> jobs, PgResults results) {
  // Further results: append_mentions' (when the batch may mention), then append_attachments'
  // (when it carries files; no rows).
  bool files = false;
  for (const AppendJob* job : jobs) files |= !job->message.attachment_ids.empty();
  const size_t extra = results.size() < 2 ? 9 : results.size() - 2;
  if (extra > 2 || (files && extra == 0)) return Unexpected("append result count");
  const bool mentions = extra == (files ? 2u : 1u);
  const PGresult* rows = results[1];
  if (PQntuples(rows) != static_cast<int>(jobs.size()) || PQnfields(rows) != 12) {
    return Unexpected("append rows");
  }
  for (AppendJob* job : jobs) job->out = AppendOutcome{};
  std::vector<std::pair<size_t, size_t>> repeats;  // (row's job, its first's job).
  for (int r = 0; r < PQntuples(rows); ++r) {
    const Row row{rows, r};
    const int64_t ord = row.Int(0), first = row.Int(8);
    if (ord < 1 || ord > static_cast<int64_t>(jobs.size()) || first < 1 || first > ord) {
      return Unexpected("append ord");
    }
    AppendJob& job = *jobs[static_cast<size_t>(ord - 1)];
    const NewMessage& in = job.message;
    AppendOutcome& out = job.out;
    switch (row.View(1).empty() ? 'f' : row.View(1)[0]) {
      case 'i':
        out.message = in.Stored(row.Int(2), row.Int(3));
        out.message.quote = ParseQuote(row.View(11));
        out.message.thread_root = row.Int(10);
        if (out.message.quote) out.message.reply_to = in.reply_to;
        break;
      case 'n':
        out.denial = Denial::kNotFound;  // A reply to no ordinary message of the conversation.
        break;
      case 'd':
        out.duplicate = true;
        out.message = Message{.id = row.Int(2),
                              .conv = row.Int(4),
                              .seq = row.Int(3),
                              .from = in.sender,
                              .kind = row.Text(5),
                              .body = row.Text(6),
                              .ts = row.Int(7),
                              .attachments = row.Text(9)};
        break;
      case 'b':
        repeats.emplace_back(static_cast<size_t>(ord - 1), static_cast<size_t>(first - 1));
        break;
      default:
        out.denial = Denial::kForbidden;
        break;
    }
  }
  if (mentions) {
    ReadAppendedMentions(results[2], jobs, [](AppendJob* job) { return &job->out.message; });
  }
  // The same cid again in this batch: whatever became of the first, this is its repeat.
  for (auto [repeat, first] : repeats) {
    AppendOutcome& out = jobs[repeat]->out;
    out = jobs[first]->out;
    out.duplicate = out.denial == Denial::kNone;
  }
  return Status();
}

void AppendJob::BuildQueries(std::vector<PgQuery>& queries) {
  AppendJob* self = this;
  BuildAppendQueries({&self, 1}, queries);
}

Status AppendJob::Consume(PgResults results) {
  AppendJob* self = this;
  return ConsumeAppendRows({&self, 1}, results);
}

class AppendBatch final : public PgJob {
 public:
  explicit AppendBatch(std::vector<std::unique_ptr<PgJob>> jobs) {
    members_.reserve(jobs.size());
    for (auto& job : jobs) members_.push_back(static_cast<AppendJob*>(job.release()));
    deadline = members_.front()->deadline;
  }
  ~AppendBatch() override {
    for (AppendJob* job : members_) delete job;
  }
  void BuildQueries(std::vector<PgQuery>& queries) override {
    BuildAppendQueries(members_, queries);
  }
  bool transaction() const override { return true; }
  bool retry_safe() const override { return true; }
  Status Consume(PgResults results) override { return ConsumeAppendRows(members_, results); }
  void Finish(Status status) override {
    for (AppendJob* job : members_) job->Finish(status);
  }
  std::vector<std::unique_ptr<PgJob>> Split() override {
    std::vector<std::unique_ptr<PgJob>> jobs;
    if (members_.size() < 2) return jobs;
    for (AppendJob* job : members_) jobs.emplace_back(job);
    members_.clear();
    return jobs;
  }

 private:
  std::vector<AppendJob*> members_;  // Owned (raw, to be a span of AppendJob*).
};

// rc_change_message's one-letter refusals (pg_migrations/v11_message_changes.sql); an unknown
// letter refuses.
Denial ChangeDenial(char outcome) {
  static constexpr std::pair<char, Denial> kDenials[] = {
      {'n', Denial::kNotFound}, {'g', Denial::kGone},    {'a', Denial::kNotAuthor},
      {'w', Denial::kTooLate},  {'r', Denial::kTooMany}, {'p', Denial::kTooManyPins}};
  for (const auto& [letter, denial] : kDenials) {
    if (letter == outcome) return denial;
  }
  return Denial::kForbidden;
}

// A change (edit, delete) is one call of rc_change_message (pg_migrations/v11_message_changes.sql),
// on the conversation's lane as its appends are, so that the replies keep the submission order.
void AppendChange(PgPipeline& pipeline, uint32_t lane, NewMessage message,
                  Reply<AppendOutcome> reply) {
  std::vector<std::string> names = MentionedNames(message.body);
  std::vector<const std::string*> name_refs;
  for (const std::string& name : names) name_refs.push_back(&name);
  PgQuery change{.statement = "change_message",
                 .values = {Int(message.conv), Int(message.sender), message.cid, message.kind,
                            message.body, Int(message.ts), Int(message.target),
                            Int(message.edit_window_ms), pg::Int8ArrayBinary(message.mentions),
                            pg::TextArrayBinary(name_refs), message.reaction_on ? "true" : "false",
                            Int(message.max_reactions), Int(message.max_pins)},
                 .binary = {false, false, false, false, false, false, false, false, true, true,
                            false, false, false}};
  Submit(
      pipeline, lane, Kind::kIdempotentWrite, {std::move(change)},
      [message = std::move(message)](PgResults results, AppendOutcome& out) {
        if (PQntuples(results[0]) != 1) return Unexpected("change rows");
        const Row row{results[0], 0};
        const char outcome = row.View(0).empty() ? 'f' : row.View(0)[0];
        if (outcome != 'i' && outcome != 'd') {
          out.denial = ChangeDenial(outcome);
          return Status();
        }
        out.duplicate = outcome == 'd';
        out.message = Message{.id = row.Int(1),
                              .conv = message.conv,
                              .seq = row.Int(2),
                              .from = message.sender,
                              .kind = row.Text(3),
                              .body = row.Text(4),
                              .ts = row.Int(5),
                              .mentions = row.Ints(6),
                              .target = message.target};
        if (out.message.kind == kReactionKind) out.message.reaction_on = message.reaction_on;
        return Status();
      },
      std::move(reply));
}

}  // namespace

std::unique_ptr<PgJob> pg_internal::MakeAppendBatch(std::vector<std::unique_ptr<PgJob>> jobs) {
  return std::make_unique<AppendBatch>(std::move(jobs));
}

void PgChatStore::Append(NewMessage message, Reply<AppendOutcome> reply) {
  const uint32_t lane = LaneOf(message.conv);
  if (message.target != 0)
    return AppendChange(*pipeline_, lane, std::move(message), std::move(reply));
  pipeline_->Submit(lane, std::make_unique<AppendJob>(std::move(message), std::move(reply)));
}

}  // namespace ringcast::storage
