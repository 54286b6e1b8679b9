#include "pipeline/diagnostic.h"

#include <gtest/gtest.h>

namespace pipeline {

TEST(Diagnostic, CompilerStyleWithCaret) {
  Diagnostic d{"dags/x.yaml", 3, 5, "unknown key 'retires'", "    retires: 3"};
  EXPECT_EQ(FormatDiagnostic(d, 7),
            "dags/x.yaml:3:5: error: unknown key 'retires'\n"
            "        retires: 3\n"
            "        ^~~~~~~\n");
}

TEST(Diagnostic, NoPosition) {
  Diagnostic d{"", 0, 0, "-p x=1: unknown param 'x'", ""};
  EXPECT_EQ(FormatDiagnostic(d), "error: -p x=1: unknown param 'x'\n");
}

TEST(Diagnostic, LineOf) {
  EXPECT_EQ(LineOf("a\nbb\r\nccc", 2), "bb");
  EXPECT_EQ(LineOf("a\nbb\nccc", 3), "ccc");
  EXPECT_EQ(LineOf("a", 5), "");
}

}  // namespace pipeline
