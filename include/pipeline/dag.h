// The DAG model: what a validated pipeline file means, independent of YAML.
//
// LoadDag() is the only way to build a Dag from a file: it reads, parses and
// validates everything before returning, so a Dag value is always complete and
// consistent (ids valid, dependencies resolved, acyclic, templates well-formed).
// docs/dag-format.md is the user-facing reference for every key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pipeline/diagnostic.h"

namespace pipeline {

enum class TriggerRule : uint8_t {
  kAllSuccess,  ///< every upstream succeeded (or was cached)
  kAllDone,     ///< every upstream finished, whatever its state
  kAllFailed,   ///< every upstream failed or was upstream_failed
  kOneSuccess,  ///< at least one upstream succeeded; fires as soon as one does
  kOneFailed,   ///< at least one upstream failed; fires as soon as one does
  kNoneFailed,  ///< every upstream finished and none failed (skipped is fine)
};
const char* TriggerRuleName(TriggerRule r);
/// Parses "all_success" etc.; false for anything else.
bool ParseTriggerRule(std::string_view s, TriggerRule* out);

/// A typed parameter value. |text| is the canonical text form that templates insert:
/// ints in decimal, floats in shortest round-trip form, booleans as true/false.
struct ParamValue {
  enum class Type : uint8_t { kString, kInt, kFloat, kBool };
  Type type = Type::kString;
  std::string text;
};
const char* ParamTypeName(ParamValue::Type t);  // "string", "integer", "number", "boolean"

/// What an artifact is, for lineage and retention. Outputs default to kDataset.
enum class ArtifactKind : uint8_t { kDataset, kModel, kMetrics, kReport, kCode, kOther };
const char* ArtifactKindName(ArtifactKind k);  ///< "dataset", "model", ...
bool ParseArtifactKind(std::string_view s, ArtifactKind* out);

/// `outputs: {raw: data/raw.csv}` or `outputs: {model: {path: data/model.json, kind: model}}`.
struct OutputDecl {
  std::string name;  ///< identifier; referenced as {{ outputs.NAME }} and TASK.NAME
  std::string path;  ///< template, relative to the task's working directory (or absolute)
  ArtifactKind kind = ArtifactKind::kDataset;
  int line = 0, col = 0;
};

/// `inputs: {raw: ingest.raw}` (an upstream task's output; implies depends_on) or
/// `inputs: {ref: {path: data/reference.csv}}` (a file from outside the DAG).
struct InputDecl {
  std::string name;    ///< identifier; referenced as {{ inputs.NAME }}
  std::string task;    ///< producing task id, "" for an external file
  std::string output;  ///< output name in |task|
  std::string path;    ///< template; for external inputs only
  int line = 0, col = 0;
};

/// `promote: {model: churn, alias: production, artifact: train.model}`: when the task
/// succeeds, the named artifact of this run becomes MODEL@ALIAS.
struct PromoteDecl {
  std::string model;   ///< identifier
  std::string alias;   ///< identifier
  std::string task;    ///< task whose output is promoted (this task or an upstream one)
  std::string output;  ///< output name of |task|
  int line = 0, col = 0;
};

struct Task {
  std::string id;
  int line = 0, col = 0;  ///< position of the task's key in the file
  std::string description;

  /// Exactly one of |command| (run by /bin/sh -c) and |argv| (exec'd directly) is set.
  /// Both hold unexpanded templates ("{{ params.n }}").
  std::string command;
  std::vector<std::string> argv;

  std::vector<std::string> depends_on;  ///< upstream ids as written, duplicates removed
  std::vector<int> upstream;            ///< indices into Dag::tasks
  std::vector<int> downstream;          ///< indices into Dag::tasks, ascending

  int retries = 0;                       ///< extra attempts after the first
  int64_t retry_delay_ms = 0;            ///< delay before the first retry; doubles each time
  int64_t max_retry_delay_ms = 3600000;  ///< cap on the doubled delay
  int64_t timeout_ms = 0;                ///< per attempt; 0 = none
  int64_t kill_grace_ms = 5000;          ///< SIGTERM -> SIGKILL grace on timeout/cancel
  TriggerRule trigger_rule = TriggerRule::kAllSuccess;

  /// Task env merged over the DAG's env, sorted by name. Values are templates.
  std::vector<std::pair<std::string, std::string>> env;
  std::string workdir;  ///< template; "" = the directory `pipeline` was started in
  std::string pool;     ///< "" = only the global -j slots

  int priority = 0;           ///< effective priority (higher runs first)
  bool priority_set = false;  ///< true if |priority| came from the file; else it is the
                              ///< length of the longest path from this task to a sink

  /// Param names this task's templates (and its `when:`) reference, sorted; part of the
  /// cache key.
  std::vector<std::string> params_used;

  // --- artifacts, caching and gates (docs/lineage.md, docs/caching.md) ---------------
  std::vector<OutputDecl> outputs;  ///< in file order
  std::vector<InputDecl> inputs;    ///< in file order; upstream ones are in |upstream| too
  std::vector<std::string> code;    ///< extra code files (paths relative to the start dir)
  bool cache = true;                ///< `cache: false` never reuses a previous result
  std::string metrics_file;         ///< template; a declared metrics JSON file, "" = none
  std::string when;                 ///< boolean expression (dag/expr.h), "" = always
  int when_line = 0, when_col = 0;  ///< position of the expression, for runtime errors
  bool has_promote = false;
  PromoteDecl promote;
};

struct Dag {
  std::string id;
  std::string description;
  std::string file;  ///< path as given to LoadDag

  /// Declared params with their defaults, after -p overrides were applied.
  std::map<std::string, ParamValue> params;
  std::vector<std::pair<std::string, std::string>> env;  ///< DAG-level env (sorted)
  std::map<std::string, int> pools;                     ///< named pool -> slots

  std::vector<Task> tasks;  ///< in file order
  std::unordered_map<std::string, int> task_index;

  /// Canonical JSON of the definition as written (before -p overrides): keys sorted,
  /// no whitespace, defaults resolved. SHA-256 of it identifies the DAG version.
  std::string canonical;

  const Task* FindTask(const std::string& task_id) const {
    auto it = task_index.find(task_id);
    return it == task_index.end() ? nullptr : &tasks[static_cast<size_t>(it->second)];
  }
};

struct LoadOptions {
  size_t max_file_bytes = 16u << 20;  ///< refuse larger files
  int max_depth = 64;                 ///< YAML nesting depth
  size_t max_nodes = 2000000;         ///< YAML nodes after alias expansion (billion laughs)
  /// -p name=value overrides; each must name a declared param and fit its type.
  std::vector<std::pair<std::string, std::string>> param_overrides;
};

/// Reads and fully validates |path|. On failure returns false and appends every problem
/// found (not just the first) to |errors|, each with file, line, column and source line.
bool LoadDag(const std::string& path, const LoadOptions& options, Dag* dag,
             std::vector<Diagnostic>* errors);

/// Same, from text already in memory; |path| is used in diagnostics only.
bool LoadDagFromString(const std::string& text, const std::string& path, const LoadOptions& options,
                       Dag* dag, std::vector<Diagnostic>* errors);

}  // namespace pipeline
