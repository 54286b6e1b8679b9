// Small string helpers shared by every module.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pipeline {

/// Edit distance counting an adjacent swap as one edit (optimal string alignment), giving
/// up (returning max_distance + 1) past |max_distance|.
int EditDistance(std::string_view a, std::string_view b, int max_distance = 1 << 20);

/// The candidate closest to |word| if it is a plausible typo (ninja's SpellcheckString),
/// else "". Used for "did you mean 'retries'?".
std::string SpellCheck(std::string_view word, const std::vector<std::string>& candidates);

/// " Did you mean 'x'?" or "" — appended to error messages.
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

/// POSIX shell single-quoting: abc -> abc, a b -> 'a b', it's -> 'it'\''s'.
/// The result is always one word whose value is exactly |s|, whatever it holds.
std::string ShellQuote(std::string_view s);

/// True if |s| matches [A-Za-z0-9_.-]{1,128} (dag and task ids; safe in paths).
bool IsValidId(std::string_view s);

/// True if |s| matches [A-Za-z_][A-Za-z0-9_]{0,127} (param and pool names; env-safe).
bool IsValidIdentifier(std::string_view s);

std::vector<std::string> Split(std::string_view s, char sep);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
std::string_view Trim(std::string_view s);
std::string ToUpper(std::string_view s);

/// JSON string literal with quotes and escapes (for hand-built canonical JSON).
std::string JsonQuote(std::string_view s);

}  // namespace pipeline

namespace pipeline {
/// "SIGTERM" for 15; "signal 99" for numbers without a name.
std::string SignalName(int sig);
}  // namespace pipeline
