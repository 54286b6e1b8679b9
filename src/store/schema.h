// The run store's embedded, forward-only migrations. docs/schema.md explains every table;
// this is the single source of the DDL.
//
// Policy: script N takes PRAGMA user_version from N-1 to N. A shipped script is never
// edited (schema_migrations keeps its SHA-256, so an edit is visible); changes go into a
// new script. Migration 1 already holds the tables the lineage/cache issue will fill
// (artifacts, events, metrics, cache_entries, blessings, model aliases, audit_log, outbox).
#pragma once

#include <cstdint>
#include <vector>

namespace pipeline {

/// PRAGMA application_id of every pipeline database ("PIPE").
constexpr int32_t kApplicationId = 0x50495045;

struct Migration {
  int version;       ///< user_version after this script
  const char* name;  ///< short description, stored in schema_migrations
  const char* sql;   ///< one or more statements, run inside the migration transaction
};

/// Every migration in order; the last one's version is Store::SchemaVersion().
const std::vector<Migration>& Migrations();

}  // namespace pipeline
