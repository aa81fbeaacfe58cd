// PgChatStore's mentions, mute and notification operations (issue 14; notify/README.md), apart
// from pg_chat_store.cc to keep each file to one job. Schema v4 and the statements in
// pg_schema.cc (kNotifyStatements).

#include "storage/pg_store_internal.h"

namespace ringcast::storage {

using namespace pg_internal;  // NOLINT: the backend's shared helpers.

void PgChatStore::ListMentions(int64_t user, int64_t before_id, uint32_t limit,
                               Reply<MentionPage> reply) {
  const int64_t below = PageBelow(before_id);
  Submit(
      *pipeline_, PgPipeline::kReaders, Kind::kRead,
      {Query("list_mentions", {Int(user), Int(below), Int(int64_t{limit} + 1)})},
      [limit](PgResults results, MentionPage& out) {
        // A page of mentions counts messages only.
        ReadPageRows(results[0], {.count = limit}, out.messages, out.more);
        return Status();
      },
      std::move(reply));
}

void PgChatStore::SetMute(int64_t conv, int64_t user, std::optional<int64_t> until,
                          Reply<Denial> reply) {
  // 0 stands for "unmuted" in the statement (a mute always ends after the epoch).
  Submit(
      *pipeline_, LaneOf(conv), Kind::kIdempotentWrite,
      {Query("set_mute", {Int(conv), Int(user), Int(until.value_or(0))})},
      [](PgResults results, Denial& out) {
        if (PQntuples(results[0]) != 1) return Unexpected("set_mute");
        const Row row{results[0], 0};
        if (row.Int(0) == 0) out = row.Bool(1) ? Denial::kForbidden : Denial::kNotFound;
        return Status();
      },
      std::move(reply));
}

void PgChatStore::DueNotifications(int64_t now_ms, int64_t delay_ms, uint32_t limit,
                                   Reply<std::vector<DueNotification>> reply) {
  Submit(
      *pipeline_, PgPipeline::kReaders, Kind::kRead,
      {Query("due_notifications", {Int(now_ms), Int(delay_ms), Int(limit)})},
      [now_ms](PgResults results, std::vector<DueNotification>& out) {
        ForEachRow(results[0], [&](const Row& row) {
          DueNotification item;
          item.conv = row.Int(0);
          item.user = row.Int(1);
          item.watermark = row.Int(2);
          item.muted = !row.Null(3) && row.Int(3) > now_ms;
          if (!row.Null(4)) item.conv_name = row.Text(4);
          item.group = row.Bool(5);
          item.covered_seq = row.Int(6);
          item.username = row.Text(7);
          item.mentions = row.Int(8);
          item.latest = row.ReadMessage(9);
          item.latest_sender_name = row.Text(9 + kPgMessageColumnCount);
          item.count = row.Int(10 + kPgMessageColumnCount);
          out.push_back(std::move(item));
        });
        return Status();
      },
      std::move(reply));
}

void PgChatStore::MarkNotified(int64_t conv, int64_t user, int64_t seq, Reply<bool> reply) {
  Submit(*pipeline_, LaneOf(conv), Kind::kIdempotentWrite,
         {Query("mark_notified", {Int(conv), Int(user), Int(seq)})}, Done, std::move(reply));
}

}  // namespace ringcast::storage
