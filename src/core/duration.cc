#include "core/duration.h"

#include <cstdio>
#include <limits>

namespace pipeline {

bool ParseDuration(std::string_view text, int64_t* ms, std::string* err) {
  auto fail = [&](const std::string& why) {
    *err = "invalid duration '" + std::string(text) + "': " + why +
           " (expected a duration like 500ms, 30s, 10m or 1h30m)";
    return false;
  };
  if (text.empty()) return fail("empty");
  int64_t total = 0;
  size_t i = 0;
  bool any_unit = false;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') return fail("expected a digit at position " + std::to_string(i + 1));
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (n > (std::numeric_limits<int64_t>::max() - 9) / 10) return fail("number too large");
      n = n * 10 + (text[i] - '0');
      ++i;
    }
    int64_t unit;
    if (i == text.size()) {
      if (any_unit) return fail("missing unit after the last number");
      unit = 1000;  // a bare number is seconds
    } else if (text.substr(i, 2) == "ms") {
      unit = 1;
      i += 2;
    } else {
      switch (text[i]) {
        case 's': unit = 1000; break;
        case 'm': unit = 60 * 1000; break;
        case 'h': unit = 3600 * 1000; break;
        case 'd': unit = 24 * 3600 * 1000; break;
        default: return fail(std::string("unknown unit '") + text[i] + "'");
      }
      ++i;
    }
    any_unit = true;
    if (n > 0 && unit > (std::numeric_limits<int64_t>::max() - total) / n) return fail("too large");
    total += n * unit;
  }
  // A year is far beyond any sensible timeout or delay; larger values are typos.
  if (total > int64_t{366} * 24 * 3600 * 1000) return fail("longer than a year");
  *ms = total;
  return true;
}

std::string FormatDuration(int64_t ms) {
  char buf[32];
  if (ms < 0) ms = 0;
  if (ms < 60 * 1000) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  } else if (ms < 3600 * 1000) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60000),
                  static_cast<long long>((ms / 1000) % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(ms / 3600000),
                  static_cast<long long>((ms / 60000) % 60));
  }
  return buf;
}

}  // namespace pipeline
