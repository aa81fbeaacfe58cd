#include "storage/pg_migrations/pg_migrations.h"

namespace ringcast::storage::pg_migrations {

// Version 8: a message's mentions, read with the message (SQLite's version 7).
const char kSchemaV8[] = R"sql(
CREATE INDEX mentions_by_message ON mentions (message_id);
)sql";

}  // namespace ringcast::storage::pg_migrations
