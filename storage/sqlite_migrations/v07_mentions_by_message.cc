#include "storage/sqlite_migrations/sqlite_migrations.h"

namespace ringcast::storage::sqlite_migrations {

// Version 7: a message's mentions, read with the message (history, sync, the conversation list,
// the mentions list): the mentions table by message.
const char* const kSchemaV7 = R"sql(
CREATE INDEX mentions_by_message ON mentions(message_id);

INSERT INTO meta(key, value)
VALUES ('schema_v7_applied_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)sql";

}  // namespace ringcast::storage::sqlite_migrations
