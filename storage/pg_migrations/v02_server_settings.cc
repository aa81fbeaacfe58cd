#include "storage/pg_migrations/pg_migrations.h"

namespace ringcast::storage::pg_migrations {

// Version 2: settings every node of a cluster must share; today the token signing secret
// (chat/service.cc), so that a token from one node is accepted by all of them.
const char kSchemaV2[] = R"sql(
CREATE TABLE server_settings (
  name  text PRIMARY KEY,
  value text NOT NULL
);
)sql";

}  // namespace ringcast::storage::pg_migrations
