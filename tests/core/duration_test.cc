#include "core/duration.h"

#include <gtest/gtest.h>

namespace pipeline {

TEST(Duration, ParsesUnits) {
  int64_t ms = 0;
  std::string err;
  ASSERT_TRUE(ParseDuration("500ms", &ms, &err));
  EXPECT_EQ(ms, 500);
  ASSERT_TRUE(ParseDuration("2s", &ms, &err));
  EXPECT_EQ(ms, 2000);
  ASSERT_TRUE(ParseDuration("10m", &ms, &err));
  EXPECT_EQ(ms, 600000);
  ASSERT_TRUE(ParseDuration("1h30m", &ms, &err));
  EXPECT_EQ(ms, 5400000);
  ASSERT_TRUE(ParseDuration("1d", &ms, &err));
  EXPECT_EQ(ms, 86400000);
  ASSERT_TRUE(ParseDuration("30", &ms, &err));  // bare number = seconds
  EXPECT_EQ(ms, 30000);
  ASSERT_TRUE(ParseDuration("0s", &ms, &err));
  EXPECT_EQ(ms, 0);
}

TEST(Duration, RejectsGarbage) {
  int64_t ms = 0;
  std::string err;
  for (const char* bad : {"", "3x", "-1s", "1.5s", "s", "10m5", "99999999999999999999s", "400d"}) {
    EXPECT_FALSE(ParseDuration(bad, &ms, &err)) << bad;
    EXPECT_NE(err.find("expected a duration"), std::string::npos) << err;
  }
}

TEST(Duration, Formats) {
  EXPECT_EQ(FormatDuration(400), "0.4s");
  EXPECT_EQ(FormatDuration(12345), "12.3s");
  EXPECT_EQ(FormatDuration(245000), "4m05s");
  EXPECT_EQ(FormatDuration(7380000), "2h03m");
}

}  // namespace pipeline
