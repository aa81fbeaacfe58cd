// The SQL of each version of the PostgreSQL schema, one file each (vNN_*.cc), for the table in
// pg_migrations.cc. Rules for a new version: pg_schema.h's (append; never edit a shipped one).
#pragma once

namespace ringcast::storage::pg_migrations {

extern const char kSchemaV1[];
extern const char kSchemaV2[];
extern const char kSchemaV3[];
extern const char kSchemaV4[];
extern const char kSchemaV5[];
extern const char kSchemaV6[];
extern const char kSchemaV7[];
extern const char kSchemaV8[];
extern const char kSchemaV9[];
extern const char kSchemaV10[];
extern const char kSchemaV11[];
extern const char kSchemaV12[];
extern const char kSchemaV13[];
extern const char kSchemaV14[];
extern const char kSchemaV15[];
extern const char kSchemaV16[];
extern const char kSchemaV17[];

}  // namespace ringcast::storage::pg_migrations
