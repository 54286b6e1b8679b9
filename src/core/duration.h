// Durations as users write them: "500ms", "2s", "10m", "1h30m", "1d".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pipeline {

/// Parses a duration into milliseconds. Accepts one or more <integer><unit> groups with
/// units ms, s, m, h, d (e.g. "1h30m"), or a bare non-negative integer meaning seconds.
/// Returns false with a message in |*err| ("expected a duration like 30s, 10m or 1h30m").
bool ParseDuration(std::string_view text, int64_t* ms, std::string* err);

/// Short human form: 0.4s, 12.3s, 4m05s, 2h03m.
std::string FormatDuration(int64_t ms);

}  // namespace pipeline
