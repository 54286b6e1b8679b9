// {{ }} templates in command, argv, env, workdir, output/input paths and metrics.
//
// Syntax: "{{ NAME }}" with optional spaces inside the braces, where NAME is one of
// run_id, dag, task, attempt, logical_date, ds, params.<param>, or (in a task that
// declares them) outputs.<output> and inputs.<input>, the resolved artifact paths. A literal "{{" is
// written as {{ "{{" }} (a quoted string inside braces is inserted as-is).
// Expansion is one pass: substituted values are never scanned again, so a param whose
// value is "{{ run_id }}" stays that text. In shell commands every substituted value is
// shell-quoted (core/strings.h ShellQuote), so params are data, never code.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/dag.h"

namespace pipeline {

/// Values available while expanding one attempt's templates.
struct TemplateContext {
  const std::map<std::string, ParamValue>* params = nullptr;
  std::string run_id;
  std::string dag;
  std::string task;
  int attempt = 1;
  std::string logical_date;  ///< ISO 8601, e.g. 2026-11-22T00:00:00Z
  std::string ds;            ///< YYYY-MM-DD
  /// Resolved paths of the task's declared outputs / inputs (name -> path), for
  /// {{ outputs.NAME }} and {{ inputs.NAME }}. Null, or a name missing from the map, makes
  /// such a placeholder an expansion error.
  const std::map<std::string, std::string>* outputs = nullptr;
  const std::map<std::string, std::string>* inputs = nullptr;
};

/// The artifact names a template may refer to: those the task declares.
struct TemplateScope {
  const std::vector<OutputDecl>* outputs = nullptr;  ///< null = the task declares none
  const std::vector<InputDecl>* inputs = nullptr;    ///< null = the task declares none
  /// False where paths are not resolved yet (output and input paths themselves, workdir)
  /// or there is no task (top-level env): any outputs.X / inputs.X there is an error.
  bool allow_artifacts = true;
};

/// Checks |text| at load time: braces balanced, every variable known, every params.X
/// declared in |params|. Adds each referenced param name to |*params_used| (may repeat).
/// On error returns false with |*err| (e.g. "unknown template variable 'parms.n'; did you
/// mean 'params.n'?") and |*err_offset| = byte offset in |text| where the problem starts.
bool CheckTemplate(std::string_view text, const std::map<std::string, ParamValue>& params,
                   std::vector<std::string>* params_used, std::string* err, size_t* err_offset);

/// Same, also accepting outputs.NAME / inputs.NAME for the names in |scope| (unknown
/// names get a did-you-mean).
bool CheckTemplate(std::string_view text, const std::map<std::string, ParamValue>& params,
                   const TemplateScope& scope, std::vector<std::string>* params_used,
                   std::string* err, size_t* err_offset);

/// Expands |text|. If |shell_quote|, every substituted value is passed through ShellQuote.
/// Returns false with |*err| for anything CheckTemplate would reject.
bool ExpandTemplate(std::string_view text, const TemplateContext& ctx, bool shell_quote,
                    std::string* out, std::string* err);

}  // namespace pipeline
