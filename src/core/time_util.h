// UTC calendar formatting and parsing (no time zones here; cron gets its own module).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pipeline {

/// "2026-11-22T18:30:45Z" (second precision, UTC).
std::string FormatIso8601(int64_t ms_since_epoch);
/// "2026-11-22".
std::string FormatDate(int64_t ms_since_epoch);
/// "2026-11-22 18:30:45" for tables.
std::string FormatLocalish(int64_t ms_since_epoch);

/// Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS][Z]" or with a space instead of T, as UTC.
/// Returns false for anything else, including impossible dates (2026-02-30).
bool ParseIso8601(std::string_view text, int64_t* ms_since_epoch);

/// A new run id: "20261122T183045-3fa9c2" (UTC start time + 24 random bits); sortable,
/// safe as a path component.
std::string NewRunId(int64_t now_ms);

}  // namespace pipeline
