// SqliteChatStore's sweep of orphan uploads (--upload-orphan-ttl; storage/SCHEMA.md, "Orphan
// uploads"), apart from sqlite_chat_store.cc to keep that file the chat's. Schema v6 adds the
// indexes these statements use.
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

}  // namespace ringcast::storage
