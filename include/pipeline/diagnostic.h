// Compiler-style diagnostics for bad input: "file:line:col: message", then the
// source line and a caret under the column (as gcc and ninja print them).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pipeline {

struct Diagnostic {
  std::string file;     ///< as the user named it; "" for command-line input
  int line = 0;         ///< 1-based; 0 when the error has no position
  int col = 0;          ///< 1-based
  std::string message;  ///< what is wrong and what was expected
  std::string source_line;  ///< the text of |line|, without its newline
};

/// Renders one diagnostic, e.g.
///   dags/x.yaml:12:5: error: unknown key 'retires' in task 'train'; did you mean 'retries'?
///       retires: 3
///       ^~~~~~~
/// |underline| is the number of characters to mark (at least 1).
std::string FormatDiagnostic(const Diagnostic& d, int underline = 1);

/// Returns line |line| (1-based) of |text|, or "" if out of range.
std::string_view LineOf(std::string_view text, int line);

}  // namespace pipeline
