// SqliteChatStore's uploads: their records, and the sweep of orphan uploads (--upload-orphan-ttl;
// storage/SCHEMA.md, "Orphan uploads"), apart from sqlite_chat_store.cc to keep that file the
// chat's. Schema v6 adds the indexes these statements use.
#include <string>

#include "storage/sqlite_chat_store.h"
#include "storage/sqlite_job.h"

namespace ringcast::storage {

void SqliteChatStore::DeleteOrphanUploads(int64_t created_from, int64_t created_before,
                                          uint32_t limit, Reply<std::vector<UploadRecord>> reply) {
  Submit<std::vector<UploadRecord>>(
      Kind::kWrite,
      [created_from, created_before, limit](SqliteDb& db, std::vector<UploadRecord>& out) {
        // One statement on the single writer: a send's attachment rows are either committed
        // before it (the upload is kept) or written after it (and find no upload: the send
        // checked the upload's age first, chat/upload_sweeper.h).
        auto stmt = db.Prepare(
            "DELETE FROM uploads WHERE id IN (SELECT u.id FROM uploads u "
            "WHERE u.created_at >= ?1 AND u.created_at < ?2 AND NOT EXISTS ("
            "SELECT 1 FROM message_attachments a WHERE a.upload_id = u.id) "
            "AND NOT EXISTS (SELECT 1 FROM users p WHERE p.avatar_upload = u.id) "
            "ORDER BY u.created_at LIMIT ?3) "
            "RETURNING id, owner_id, size, sha256, thumb_sha256, created_at");
        stmt->Bind(created_from, created_before, limit);
        return ForEachSqliteRow(*stmt, [&](Statement& row) {
          out.push_back(UploadRecord{.id = std::string(row.ColumnText(0)),
                                     .owner = row.ColumnInt64(1),
                                     .size = row.ColumnInt64(2),
                                     .sha256 = std::string(row.ColumnText(3)),
                                     .created = row.ColumnInt64(5),
                                     .thumb_sha256 = std::string(row.ColumnText(4))});
        });
      },
      std::move(reply));
}

void SqliteChatStore::UnreferencedFiles(std::vector<std::string> hashes,
                                        Reply<std::vector<std::string>> reply) {
  Submit<std::vector<std::string>>(
      Kind::kRead,
      [hashes = std::move(hashes)](SqliteDb& db, std::vector<std::string>& out) {
        // Two index probes a hash (uploads_sha256, uploads_thumb_sha256).
        auto stmt = db.Prepare(
            "SELECT NOT EXISTS (SELECT 1 FROM uploads WHERE sha256 = ?1) AND "
            "NOT EXISTS (SELECT 1 FROM uploads WHERE thumb_sha256 = ?1)");
        for (const std::string& hash : hashes) {
          stmt->Reset();
          stmt->Bind(hash);
          bool unreferenced = false;
          Status s = ForEachSqliteRow(
              *stmt, [&](Statement& row) { unreferenced = row.ColumnInt64(0) != 0; });
          if (!s.ok()) return s;
          if (unreferenced) out.push_back(hash);
        }
        return Status();
      },
      std::move(reply));
}

void SqliteChatStore::TakeReleasedFiles(uint32_t limit, Reply<std::vector<std::string>> reply) {
  Submit<std::vector<std::string>>(
      Kind::kWrite,
      [limit](SqliteDb& db, std::vector<std::string>& out) {
        auto stmt = db.Prepare(
            "DELETE FROM released_files WHERE sha256 IN (SELECT sha256 FROM released_files "
            "LIMIT ?1) RETURNING sha256");
        stmt->Bind(limit);
        return ForEachSqliteRow(
            *stmt, [&](Statement& row) { out.push_back(std::string(row.ColumnText(0))); });
      },
      std::move(reply));
}

// Upload records (issue 15).

namespace {
// An uploads row read as SELECT id, owner_id, name, size, type, sha256, created_at, width,
// height, thumb_sha256, thumb_size.
UploadRecord ReadUpload(Statement& row) {
  return UploadRecord{.id = std::string(row.ColumnText(0)),
                      .owner = row.ColumnInt64(1),
                      .name = std::string(row.ColumnText(2)),
                      .size = row.ColumnInt64(3),
                      .type = std::string(row.ColumnText(4)),
                      .sha256 = std::string(row.ColumnText(5)),
                      .created = row.ColumnInt64(6),
                      .width = row.ColumnInt64(7),
                      .height = row.ColumnInt64(8),
                      .thumb_sha256 = std::string(row.ColumnText(9)),
                      .thumb_size = row.ColumnInt64(10)};
}
}  // namespace

void SqliteChatStore::CreateUpload(UploadRecord r, uint64_t quota_bytes,
                                   Reply<UploadOutcome> reply) {
  const int64_t quota = static_cast<int64_t>(std::min<uint64_t>(quota_bytes, INT64_MAX));
  Submit<UploadOutcome>(
      Kind::kWrite,
      [r = std::move(r), quota](SqliteDb& db, UploadOutcome& out) -> Status {
        // One writer: the check and the insert cannot interleave with another upload's.
        auto used = db.Prepare("SELECT coalesce(sum(size), 0) FROM uploads WHERE owner_id = ?1");
        used->Bind(r.owner);
        Status s =
            ForEachSqliteRow(*used, [&](Statement& row) { out.used_bytes = row.ColumnInt64(0); });
        if (!s.ok()) return s;
        if (out.used_bytes > quota - r.size) {
          out.over_quota = true;
          return Status();
        }
        out.used_bytes += r.size;
        return db.Run(
            "INSERT INTO uploads(id, owner_id, name, size, type, sha256, created_at, width, "
            "height, thumb_sha256, thumb_size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
            "?11)",
            r.id, r.owner, r.name, r.size, r.type, r.sha256, r.created, r.width, r.height,
            r.thumb_sha256, r.thumb_size);
      },
      std::move(reply));
}

void SqliteChatStore::FindOwnedUploads(int64_t owner, std::vector<std::string> ids,
                                       Reply<std::vector<UploadRecord>> reply) {
  Submit<std::vector<UploadRecord>>(
      Kind::kRead,
      [owner, ids = std::move(ids)](SqliteDb& db, std::vector<UploadRecord>& out) {
        auto stmt = db.Prepare(
            "SELECT id, owner_id, name, size, type, sha256, created_at, width, height, "
            "thumb_sha256, thumb_size FROM uploads WHERE id = ?1 AND owner_id = ?2");
        for (const std::string& id : ids) {
          stmt->Reset();
          stmt->Bind(id, owner);
          Status s =
              ForEachSqliteRow(*stmt, [&](Statement& row) { out.push_back(ReadUpload(row)); });
          if (!s.ok()) return s;
        }
        return Status();
      },
      std::move(reply));
}

void SqliteChatStore::FindUpload(std::string id, int64_t user,
                                 Reply<std::optional<UploadRecord>> reply) {
  Submit<std::optional<UploadRecord>>(
      Kind::kRead,
      [id = std::move(id), user](SqliteDb& db, std::optional<UploadRecord>& out) {
        auto stmt = db.Prepare(
            "SELECT u.id, u.owner_id, u.name, u.size, u.type, u.sha256, u.created_at, u.width, "
            "u.height, u.thumb_sha256, u.thumb_size FROM uploads u WHERE u.id = ?1 AND (?2 = 0 OR "
            "u.owner_id = ?2 OR EXISTS (SELECT 1 FROM message_attachments a JOIN "
            "users_conversations uc ON uc.conversation_id = a.conversation_id AND "
            "uc.user_id = ?2 WHERE a.upload_id = u.id) OR "
            "EXISTS (SELECT 1 FROM users p WHERE p.avatar_upload = u.id))");
        stmt->Bind(id, user);
        return ForEachSqliteRow(*stmt, [&](Statement& row) { out = ReadUpload(row); });
      },
      std::move(reply));
}

}  // namespace ringcast::storage
