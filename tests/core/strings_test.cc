#include "core/strings.h"

#include <gtest/gtest.h>

namespace pipeline {

TEST(Strings, EditDistance) {
  EXPECT_EQ(EditDistance("retries", "retires"), 1);  // one swap
  EXPECT_EQ(EditDistance("trian", "train"), 1);
  EXPECT_EQ(EditDistance("abc", "ca"), 3);
  EXPECT_EQ(EditDistance("", "abc"), 3);
  EXPECT_EQ(EditDistance("same", "same"), 0);
  EXPECT_GT(EditDistance("completely", "different", 2), 2);
}

TEST(Strings, SpellCheckFindsCloseWordOnly) {
  std::vector<std::string> keys = {"command", "argv", "retries", "retry_delay", "timeout"};
  EXPECT_EQ(SpellCheck("retires", keys), "retries");
  EXPECT_EQ(SpellCheck("comand", keys), "command");
  EXPECT_EQ(SpellCheck("timoeut", keys), "timeout");
  EXPECT_EQ(SpellCheck("zzzzzz", keys), "");
  EXPECT_EQ(DidYouMean("timout", keys), "; did you mean 'timeout'?");
  EXPECT_EQ(DidYouMean("qqqqqq", keys), "");
}

TEST(Strings, ShellQuoteKeepsValuesData) {
  EXPECT_EQ(ShellQuote("abc"), "abc");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote("\"; rm -rf ~ #"), "'\"; rm -rf ~ #'");
  EXPECT_EQ(ShellQuote("$(id)"), "'$(id)'");
}

TEST(Strings, Ids) {
  EXPECT_TRUE(IsValidId("ml_pipeline"));
  EXPECT_TRUE(IsValidId("a.b-c_9"));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId(".."));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId("<img>"));
  EXPECT_FALSE(IsValidId(std::string(129, 'a')));
  EXPECT_TRUE(IsValidId(std::string(128, 'a')));
  EXPECT_TRUE(IsValidIdentifier("n_rows"));
  EXPECT_FALSE(IsValidIdentifier("1abc"));
  EXPECT_FALSE(IsValidIdentifier("a-b"));
}

TEST(Strings, SplitJoinTrim) {
  EXPECT_EQ(Split("a=b=c", '='), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(Join({"a", "b"}, ", "), "a, b");
  EXPECT_EQ(Trim("  x \n"), "x");
  EXPECT_EQ(ToUpper("n_rows"), "N_ROWS");
}

TEST(Strings, JsonQuote) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
  EXPECT_EQ(JsonQuote(std::string("\x01", 1)), "\"\\u0001\"");
}

}  // namespace pipeline
