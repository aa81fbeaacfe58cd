// PgChatStore's uploads: their records, and the sweep of orphan uploads (--upload-orphan-ttl;
// storage/SCHEMA.md, "Orphan uploads"), apart from pg_chat_store.cc to keep that file the chat's.
// The same statements as sqlite_upload_store.cc, safe for several nodes sweeping at once.
#include "storage/pg_schema.h"
#include "storage/pg_store_internal.h"

namespace ringcast::storage {

using namespace pg_internal;  // NOLINT: the backend's shared helpers.

namespace {

constexpr PgStatement kUploadStatements[] = {
    // FOR UPDATE SKIP LOCKED: a row another transaction holds is left for the next pass, so
    // two nodes never wait on (or delete) the same rows, and an upload whose row an append's
    // foreign-key check has just locked (FOR KEY SHARE) is not deleted under that append.
    // NOT EXISTS is read in the statement's snapshot: an attachment committed before it keeps
    // the upload.
    {"delete_orphan_uploads",
     "DELETE FROM uploads u WHERE u.id IN (SELECT o.id FROM uploads o "
     "WHERE o.created_at >= $1::int8 AND o.created_at < $2::int8 AND NOT EXISTS ("
     "SELECT 1 FROM message_attachments a WHERE a.upload_id = o.id) "
     "AND NOT EXISTS (SELECT 1 FROM users p WHERE p.avatar_upload = o.id) "
     "ORDER BY o.created_at LIMIT $3::int8 FOR UPDATE SKIP LOCKED) "
     "RETURNING u.id, u.owner_id, u.size, u.sha256, u.thumb_sha256, u.created_at"},
    {"take_released_files",
     "DELETE FROM released_files WHERE sha256 IN (SELECT sha256 FROM released_files "
     "LIMIT $1::int8 FOR UPDATE SKIP LOCKED) RETURNING sha256"},
    {"unreferenced_files",
     "SELECT h FROM unnest($1::text[]) h WHERE "
     "NOT EXISTS (SELECT 1 FROM uploads WHERE sha256 = h) AND "
     "NOT EXISTS (SELECT 1 FROM uploads WHERE thumb_sha256 = h)"},
};

}  // namespace

std::span<const PgStatement> PgUploadStatements() { return kUploadStatements; }

void PgChatStore::DeleteOrphanUploads(int64_t created_from, int64_t created_before, uint32_t limit,
                                      Reply<std::vector<UploadRecord>> reply) {
  Submit(*pipeline_, LaneOf(0), Kind::kWrite,
         {Query("delete_orphan_uploads", {Int(created_from), Int(created_before), Int(limit)})},
         RowsInto([](const Row& row) {
           return UploadRecord{.id = row.Text(0),
                               .owner = row.Int(1),
                               .size = row.Int(2),
                               .sha256 = row.Text(3),
                               .created = row.Int(5),
                               .thumb_sha256 = row.Text(4)};
         }),
         std::move(reply));
}

void PgChatStore::UnreferencedFiles(std::vector<std::string> hashes,
                                    Reply<std::vector<std::string>> reply) {
  std::vector<const std::string*> pointers;
  for (const std::string& hash : hashes) pointers.push_back(&hash);
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead,
         {PgQuery{.statement = "unreferenced_files",
                  .values = {pg::TextArrayBinary(pointers)},
                  .binary = {true}}},
         RowsInto([](const Row& row) { return row.Text(0); }), std::move(reply));
}

void PgChatStore::TakeReleasedFiles(uint32_t limit, Reply<std::vector<std::string>> reply) {
  Submit(*pipeline_, LaneOf(0), Kind::kWrite, {Query("take_released_files", {Int(limit)})},
         RowsInto([](const Row& row) { return row.Text(0); }), std::move(reply));
}

// Upload records (issue 15).

namespace {
UploadRecord ReadUpload(const Row& row) {
  return UploadRecord{.id = row.Text(0),
                      .owner = row.Int(1),
                      .name = row.Text(2),
                      .size = row.Int(3),
                      .type = row.Text(4),
                      .sha256 = row.Text(5),
                      .created = row.Int(6),
                      .width = row.Int(7),
                      .height = row.Int(8),
                      .thumb_sha256 = row.Text(9),
                      .thumb_size = row.Int(10)};
}
}  // namespace

void PgChatStore::CreateUpload(UploadRecord r, uint64_t quota_bytes, Reply<UploadOutcome> reply) {
  const int64_t quota = static_cast<int64_t>(std::min<uint64_t>(quota_bytes, INT64_MAX));
  Submit(
      *pipeline_, LaneOf(r.owner), Kind::kWrite,
      {Query("create_upload",
             {std::move(r.id), Int(r.owner), std::move(r.name), Int(r.size), std::move(r.type),
              std::move(r.sha256), Int(r.created), Int(r.width), Int(r.height),
              std::move(r.thumb_sha256), Int(quota), Int(r.thumb_size)})},
      [](PgResults results, UploadOutcome& out) {
        ForEachRow(results[0], [&](const Row& row) {
          out.over_quota = row.Bool(0);
          out.used_bytes = row.Int(1);
        });
        return Status();
      },
      std::move(reply));
}

void PgChatStore::FindOwnedUploads(int64_t owner, std::vector<std::string> ids,
                                   Reply<std::vector<UploadRecord>> reply) {
  std::vector<const std::string*> pointers;
  for (const std::string& id : ids) pointers.push_back(&id);
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead,
         {PgQuery{.statement = "find_owned_uploads",
                  .values = {Int(owner), pg::TextArrayBinary(pointers)},
                  .binary = {false, true}}},
         RowsInto(ReadUpload), std::move(reply));
}

void PgChatStore::FindUpload(std::string id, int64_t user,
                             Reply<std::optional<UploadRecord>> reply) {
  Submit(*pipeline_, PgPipeline::kReaders, Kind::kRead,
         {Query("find_upload", {std::move(id), Int(user)})}, RowsInto(ReadUpload),
         std::move(reply));
}

}  // namespace ringcast::storage
