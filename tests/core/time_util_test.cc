#include "core/time_util.h"

#include <gtest/gtest.h>

namespace pipeline {

TEST(TimeUtil, FormatsUtc) {
  EXPECT_EQ(FormatIso8601(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatIso8601(1795372245000), "2026-11-22T18:30:45Z");
  EXPECT_EQ(FormatDate(1795372245000), "2026-11-22");
}

TEST(TimeUtil, ParsesAndRoundTrips) {
  int64_t ms = 0;
  ASSERT_TRUE(ParseIso8601("2026-11-22T18:30:45Z", &ms));
  EXPECT_EQ(ms, 1795372245000);
  ASSERT_TRUE(ParseIso8601("2026-11-22", &ms));
  EXPECT_EQ(FormatIso8601(ms), "2026-11-22T00:00:00Z");
  ASSERT_TRUE(ParseIso8601("2024-02-29 01:02", &ms));
  EXPECT_EQ(FormatIso8601(ms), "2024-02-29T01:02:00Z");
  for (const char* bad : {"2026-02-30", "2025-02-29", "2026-13-01", "2026-1-01", "x", "2026-11-22T25:00",
                          "2026-11-22T10:00+02:00"})
    EXPECT_FALSE(ParseIso8601(bad, &ms)) << bad;
}

TEST(TimeUtil, RunIdsAreSortableAndUnique) {
  std::string a = NewRunId(1795372245000);
  std::string b = NewRunId(1795372245000);
  EXPECT_EQ(a.substr(0, 16), "20261122T183045-");
  EXPECT_EQ(a.size(), 22u);
  EXPECT_NE(a, b);
}

}  // namespace pipeline
