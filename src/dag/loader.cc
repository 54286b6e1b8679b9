// LoadDag: YAML text -> YamlDoc (yaml_doc.cc) -> validated Dag.
//
// The checker walks a fixed schema (top level, params, env, defaults, pools, tasks and
// their fields), so its depth is bounded by the schema, not by the input. It collects
// every problem it can find before returning; only a YAML syntax error stops it early.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "core/duration.h"
#include "core/strings.h"
#include "dag/expr.h"
#include "dag/graph.h"
#include "dag/template.h"
#include "dag/yaml_doc.h"
#include "pipeline/dag.h"

namespace pipeline {
namespace {

using Kind = YamlNode::Kind;

const std::vector<std::string>& TopKeys() {
  static const std::vector<std::string> k = {"dag",      "description", "params", "env",
                                             "defaults", "pools",       "tasks"};
  return k;
}
const std::vector<std::string>& TaskKeys() {
  static const std::vector<std::string> k = {
      "command", "argv",         "depends_on", "retries", "retry_delay", "max_retry_delay",
      "timeout", "kill_grace",   "trigger_rule", "env",   "workdir",     "pool",
      "priority", "description", "outputs",     "inputs", "code",        "metrics",
      "cache",    "when",        "promote"};
  return k;
}
const std::vector<std::string>& DefaultKeys() {
  static const std::vector<std::string> k = {"retries",    "retry_delay",  "max_retry_delay",
                                             "timeout",    "kill_grace",   "trigger_rule",
                                             "pool",       "cache"};
  return k;
}
const std::vector<std::string>& ArtifactKindNames() {
  static const std::vector<std::string> k = {"dataset", "model", "metrics",
                                             "report",  "code",  "other"};
  return k;
}
const std::vector<std::string>& TriggerRuleNames() {
  static const std::vector<std::string> k = {"all_success", "all_done",   "all_failed",
                                             "one_success", "one_failed", "none_failed"};
  return k;
}

constexpr int kMaxRetries = 100;
constexpr int kMaxPoolSlots = 1000000;
constexpr int kMaxPriority = 1000000;

bool IsDecimalInteger(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// YAML 1.2 core-schema float syntax (without .inf/.nan, which are handled apart).
bool IsFloatSyntax(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++exp;
    if (exp == 0) return false;
  }
  return i == s.size();
}

bool IsNonFiniteFloat(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return s == ".inf" || s == ".Inf" || s == ".INF" || s == ".nan" || s == ".NaN" || s == ".NAN";
}

// YAML 1.1 booleans other than true/false: what a reader may think is a boolean.
bool IsAmbiguousBool(std::string_view s) {
  static constexpr std::string_view kWords[] = {"yes", "Yes", "YES", "no",    "No",    "NO",
                                                "on",  "On",  "ON",  "off",   "Off",   "OFF",
                                                "y",   "Y",   "n",   "N",     "True",  "TRUE",
                                                "False", "FALSE"};
  return std::find(std::begin(kWords), std::end(kWords), s) != std::end(kWords);
}

bool ParseInt64(std::string_view s, int64_t* out) {
  if (!IsDecimalInteger(s)) return false;
  if (s[0] == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Shortest text that reads back as the same double, and still reads as a float (so
// 100.0 stays "100.0", not the integer "100").
std::string FormatFloat(double v) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, ec == std::errc() ? p : buf);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

// 0 -> "0ms"; whole hours, minutes, seconds in their unit; ParseDuration reads it back.
std::string DurationText(int64_t ms) {
  if (ms > 0 && ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms > 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms > 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// Parses a -p value or a file value into |*out| of type |type|. Returns "" or a reason.
std::string ParamFromText(std::string_view text, ParamValue::Type type, ParamValue* out) {
  out->type = type;
  switch (type) {
    case ParamValue::Type::kString:
      out->text = std::string(text);
      return "";
    case ParamValue::Type::kBool:
      if (text != "true" && text != "false") return "expected true or false";
      out->text = std::string(text);
      return "";
    case ParamValue::Type::kInt: {
      int64_t v;
      if (!IsDecimalInteger(text)) return "expected a decimal integer";
      if (!ParseInt64(text, &v)) return "integer out of range (64-bit)";
      out->text = std::to_string(v);
      return "";
    }
    case ParamValue::Type::kFloat: {
      if (!IsFloatSyntax(text)) return "expected a number";
      std::string_view t = text;
      if (t[0] == '+') t.remove_prefix(1);
      double v = 0;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec != std::errc() || p != t.data() + t.size() || !std::isfinite(v))
        return "number out of range";
      out->text = FormatFloat(v);
      return "";
    }
  }
  return "bad type";
}

// Effective values shared by 'defaults' and tasks; unset fields fall through.
struct Settings {
  std::optional<int> retries;
  std::optional<int64_t> retry_delay_ms, max_retry_delay_ms, timeout_ms, kill_grace_ms;
  std::optional<TriggerRule> trigger_rule;
  std::optional<std::string> pool;
  int pool_node = -1;
  std::optional<bool> cache;
};

// What the loader remembers about a task beyond the model, for later checks.
struct TaskExtra {
  Settings settings;
  std::vector<int> dep_nodes;  // one per depends_on entry as written
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<int> env_value_nodes;
  int command_node = -1, workdir_node = -1;
  std::vector<int> argv_nodes;
  std::optional<std::string> description;
  std::vector<int> dep_targets;       // resolved task index per dep_nodes entry, -1 if none
  std::vector<int> output_path_nodes;  // one per task.outputs entry
  std::vector<int> input_nodes;        // one per task.inputs entry: TASK.OUTPUT or path value
  int metrics_node = -1, when_node = -1, promote_node = -1, artifact_node = -1;
  std::optional<Expression> when;      // parsed; set only if the syntax is valid
};

// "TASK.OUTPUT" -> (TASK, OUTPUT), split at the last '.' (task ids may hold dots, output
// names never do). False if there is no '.' or either side is empty.
bool SplitArtifact(std::string_view s, std::string* task, std::string* output) {
  const size_t dot = s.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == s.size()) return false;
  *task = std::string(s.substr(0, dot));
  *output = std::string(s.substr(dot + 1));
  return true;
}

// The key under which two literal output paths are the same file: leading "./" and
// trailing "/" dropped; relative paths are qualified by the task's workdir text.
std::string OutputPathKey(std::string_view path, const std::string& workdir) {
  while (path.size() > 2 && path.substr(0, 2) == "./") {
    path.remove_prefix(2);
    while (!path.empty() && path[0] == '/') path.remove_prefix(1);
  }
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (!path.empty() && path[0] == '/') return std::string(path);
  std::string key = workdir;
  key += '\0';
  key += path;
  return key;
}

// Field descriptions ("'retries' in task 'train'") are only needed for messages, so
// callers may pass a lambda that builds one on the error path instead of a string.
inline const std::string& Describe(const std::string& s) { return s; }
inline std::string Describe(const char* s) { return s; }
template <typename F>
std::string Describe(const F& f) {
  return f();
}

class Loader {
 public:
  Loader(std::string_view text, const std::string& file, std::vector<Diagnostic>* errors)
      : text_(text), file_(file), errors_(errors) {}

  void ErrorAt(int line, int col, std::string message) {
    Diagnostic d;
    d.file = file_;
    d.line = line;
    d.col = col;
    d.message = std::move(message);
    if (line > 0) d.source_line = std::string(SourceLine(line));
    errors_->push_back(std::move(d));
    ++error_count_;
  }

  bool Run(const YamlDoc& doc, const LoadOptions& options, Dag* dag);

 private:
  std::string_view SourceLine(int line) {
    // Line starts are indexed on the first error only: valid files never pay for it, and
    // thousands of errors stay linear.
    if (line_starts_.empty()) {
      line_starts_.push_back(0);
      for (size_t i = 0; i < text_.size(); ++i)
        if (text_[i] == '\n') line_starts_.push_back(i + 1);
    }
    if (line < 1 || static_cast<size_t>(line) > line_starts_.size()) return {};
    size_t b = line_starts_[static_cast<size_t>(line - 1)];
    size_t e = text_.find('\n', b);
    std::string_view l = text_.substr(b, e == std::string_view::npos ? text_.size() - b : e - b);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    return l;
  }

  void Error(int node, std::string message) {
    const YamlNode& n = doc_->node(node);
    ErrorAt(n.line, n.col, std::move(message));
  }

  std::string Quoted(std::string_view s) const {
    // Keep messages one line and bounded even for a huge bad value.
    std::string out(s.substr(0, 60));
    for (char& c : out)
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (s.size() > 60) out += "...";
    return "'" + out + "'";
  }

  std::string Got(int node) const {
    int r = doc_->Resolve(node);
    const YamlNode& n = doc_->node(r);
    if (n.kind == Kind::kScalar) {
      return n.plain ? Quoted(doc_->Text(r)) : "the quoted string " + Quoted(doc_->Text(r));
    }
    return std::string(DescribeKind(n.kind));
  }

  template <typename WhatFn>
  bool ExpectMap(int node, WhatFn what) {
    Kind k = doc_->KindOf(node);
    if (k == Kind::kMap) return true;
    Error(node, Describe(what) + " must be a map, got " + Got(node));
    return false;
  }

  template <typename WhatFn>
  bool GetString(int node, WhatFn what, std::string* out, bool allow_empty = true) {
    int r = doc_->Resolve(node);
    Kind k = doc_->node(r).kind;
    if (k == Kind::kNull) {
      Error(node, Describe(what) + " has no value; expected a string");
      return false;
    }
    if (k != Kind::kScalar) {
      Error(node, Describe(what) + " must be a string, got " + Got(node));
      return false;
    }
    *out = std::string(doc_->Text(r));
    if (!allow_empty && out->empty()) {
      Error(node, Describe(what) + " must not be empty");
      return false;
    }
    return true;
  }

  template <typename WhatFn>
  bool GetInt(int node, WhatFn what, int64_t lo, int64_t hi, int64_t* out) {
    int r = doc_->Resolve(node);
    const YamlNode& n = doc_->node(r);
    if (n.kind == Kind::kNull) {
      Error(node, Describe(what) + " has no value; expected an integer");
      return false;
    }
    if (n.kind != Kind::kScalar) {
      Error(node, Describe(what) + " must be an integer, got " + Got(node));
      return false;
    }
    std::string_view t = doc_->Text(r);
    if (!n.plain) {
      Error(node, Describe(what) + " must be an integer, got the quoted string " + Quoted(t) +
                      (IsDecimalInteger(t) ? " (remove the quotes)" : ""));
      return false;
    }
    if (!IsDecimalInteger(t)) {
      Error(node, Describe(what) + " must be an integer, got " + Quoted(t));
      return false;
    }
    int64_t v;
    if (!ParseInt64(t, &v) || v < lo || v > hi) {
      Error(node, Describe(what) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                      ", got " + Quoted(t));
      return false;
    }
    *out = v;
    return true;
  }

  template <typename WhatFn>
  bool GetBool(int node, WhatFn what, bool* out) {
    int r = doc_->Resolve(node);
    const YamlNode& n = doc_->node(r);
    if (n.kind == Kind::kNull) {
      Error(node, Describe(what) + " has no value; expected true or false");
      return false;
    }
    if (n.kind != Kind::kScalar) {
      Error(node, Describe(what) + " must be true or false, got " + Got(node));
      return false;
    }
    std::string_view t = doc_->Text(r);
    if (n.plain && (t == "true" || t == "false")) {
      *out = t == "true";
      return true;
    }
    if (!n.plain) {
      Error(node, Describe(what) + " must be true or false, got the quoted string " + Quoted(t) +
                      (t == "true" || t == "false" ? " (remove the quotes)" : ""));
    } else if (IsAmbiguousBool(t)) {
      Error(node, Describe(what) + " must be true or false, got the ambiguous YAML 1.1 boolean " +
                      Quoted(t));
    } else {
      Error(node, Describe(what) + " must be true or false, got " + Quoted(t));
    }
    return false;
  }

  template <typename WhatFn>
  bool GetDuration(int node, WhatFn what, bool allow_zero, int64_t* out) {
    int r = doc_->Resolve(node);
    Kind k = doc_->node(r).kind;
    if (k == Kind::kNull) {
      Error(node, Describe(what) + " has no value; expected a duration like 30s, 10m or 1h30m");
      return false;
    }
    if (k != Kind::kScalar) {
      Error(node, Describe(what) + " must be a duration like 30s, 10m or 1h30m, got " + Got(node));
      return false;
    }
    std::string err;
    int64_t ms = 0;
    if (!ParseDuration(doc_->Text(r), &ms, &err)) {
      Error(node, Describe(what) + ": " + err);
      return false;
    }
    if (!allow_zero && ms == 0) {
      Error(node, Describe(what) + " must be greater than 0" +
                      (Describe(what).rfind("'timeout'", 0) == 0 ? "; omit it for no timeout" : ""));
      return false;
    }
    *out = ms;
    return true;
  }

  void UnknownKey(int key, const std::string& where, const std::vector<std::string>& allowed) {
    std::string_view k = doc_->Text(key);
    if (k == "<<") {
      Error(key, "merge keys ('<<') are not supported " + where +
                     "; use 'defaults' for settings shared by tasks");
      return;
    }
    std::string msg = "unknown key " + Quoted(k) + " " + where + DidYouMean(k, allowed);
    if (msg.find("did you mean") == std::string::npos) msg += " (allowed: " + Join(allowed, ", ") + ")";
    Error(key, msg);
  }

  // Parses one key shared by defaults and tasks. Returns false if |key| is not one.
  bool ParseSetting(std::string_view key, int value, const std::string& where, Settings* s) {
    auto what = [&] { return "'" + std::string(key) + "' " + where; };
    int64_t v = 0;
    if (key == "retries") {
      if (GetInt(value, what, 0, kMaxRetries, &v)) s->retries = static_cast<int>(v);
    } else if (key == "retry_delay") {
      if (GetDuration(value, what, true, &v)) s->retry_delay_ms = v;
    } else if (key == "max_retry_delay") {
      if (GetDuration(value, what, true, &v)) s->max_retry_delay_ms = v;
    } else if (key == "timeout") {
      if (GetDuration(value, what, false, &v)) s->timeout_ms = v;
    } else if (key == "kill_grace") {
      if (GetDuration(value, what, false, &v)) s->kill_grace_ms = v;
    } else if (key == "trigger_rule") {
      std::string name;
      if (GetString(value, what, &name)) {
        TriggerRule rule;
        if (ParseTriggerRule(name, &rule)) {
          s->trigger_rule = rule;
        } else {
          std::string msg = Describe(what) + ": unknown trigger rule " + Quoted(name) +
                            DidYouMean(name, TriggerRuleNames());
          if (msg.find("did you mean") == std::string::npos)
            msg += " (one of: " + Join(TriggerRuleNames(), ", ") + ")";
          Error(value, msg);
        }
      }
    } else if (key == "cache") {
      bool b;
      if (GetBool(value, what, &b)) s->cache = b;
    } else if (key == "pool") {
      std::string name;
      if (GetString(value, what, &name, false)) {
        s->pool = name;
        s->pool_node = value;
      }
    } else {
      return false;
    }
    return true;
  }

  void CheckPool(const Settings& s, const std::string& where, const Dag& dag) {
    if (!s.pool || dag.pools.count(*s.pool)) return;
    std::vector<std::string> names;
    for (const auto& [k, v] : dag.pools) names.push_back(k);
    std::string msg = "pool " + Quoted(*s.pool) + " " + where + " is not declared";
    std::string guess = SpellCheck(*s.pool, names);
    if (!guess.empty()) {
      msg += "; did you mean '" + guess + "'?";
    } else {
      msg += " (declare it under top-level 'pools:', e.g. pools: {" + *s.pool + ": 1})";
    }
    Error(s.pool_node, msg);
  }

  // Checks one template string, recording params; points inside the scalar when the
  // source text is the value verbatim (single-line plain or simply quoted).
  template <typename WhatFn>
  void CheckTemplateAt(int node, const std::string& value, WhatFn what,
                       const std::map<std::string, ParamValue>& params,
                       std::vector<std::string>* used, const TemplateScope& scope = {}) {
    std::string err;
    size_t off = 0;
    if (CheckTemplate(value, params, scope, used, &err, &off)) return;
    ErrorInside(node, value, off, Describe(what) + ": " + err);
  }

  // Column of byte |off| of |value| (the text of scalar |node|) when the source holds the
  // value verbatim (single-line plain or simply quoted); else the node's column.
  int ColumnAt(int node, std::string_view value, size_t off) const {
    const YamlNode& n = doc_->node(doc_->Resolve(node));
    const YamlNode& at = doc_->node(node);
    if (n.kind == Kind::kScalar && &n == &at) {
      size_t o = n.offset;
      if (text_.substr(o, value.size()) == value && value.find('\n') == std::string_view::npos) {
        return n.col + static_cast<int>(off);
      }
      if (o < text_.size() && (text_[o] == '"' || text_[o] == '\'') &&
          text_.substr(o + 1, value.size()) == value) {
        return n.col + 1 + static_cast<int>(off);
      }
    }
    return at.col;
  }

  void ErrorInside(int node, std::string_view value, size_t off, std::string message) {
    ErrorAt(doc_->node(node).line, ColumnAt(node, value, off), std::move(message));
  }

  void ParseParams(int node, Dag* dag);
  void ParseEnv(int node, const std::string& where, std::vector<std::pair<std::string, std::string>>* env,
                std::vector<int>* value_nodes);
  void ParseTask(int key, int value, Task* task, TaskExtra* extra);
  void ParseOutputs(int node, const std::string& where, Task* task, TaskExtra* extra);
  void ParseInputs(int node, const std::string& where, Task* task, TaskExtra* extra);
  void ParsePromote(int node, const std::string& where, Task* task, TaskExtra* extra);
  void CheckWhen(size_t t, const std::vector<std::string>& promoted, Dag* dag);
  // "task 'x' declares no output 'y'; did you mean 'z'?" and the like.
  static std::string OutputMissing(const Task& producer, const std::string& output);

  // A deferred check that task |t| is a transitive upstream of task |x| (Resolve runs them
  // once the graph is complete); |message| is reported at |line|:|col| if it is not.
  struct UpstreamQuery {
    int x = 0, t = 0;
    int line = 0, col = 0;
    std::string message;
  };
  void RunUpstreamQueries(const Dag& dag, const std::vector<std::vector<int>>& downstream);
  std::vector<UpstreamQuery> queries_;
  // Did-you-mean over task ids, built on first use.
  std::string TaskDidYouMean(const std::string& id, const Dag& dag);
  std::vector<std::string> task_ids_;
  void Resolve(const LoadOptions& options, Dag* dag);
  std::string Canonical(const Dag& dag) const;

  std::string_view text_;
  const std::string& file_;
  std::vector<Diagnostic>* errors_;
  const YamlDoc* doc_ = nullptr;
  std::vector<size_t> line_starts_;
  size_t error_count_ = 0;

  Settings defaults_;
  std::vector<int> dag_env_nodes_;
  std::vector<TaskExtra> extras_;
};

void Loader::ParseParams(int node, Dag* dag) {
  if (!ExpectMap(node, "'params'")) return;
  int m = doc_->Resolve(node);
  for (size_t i = 0; i < doc_->node(m).size; ++i) {
    int k = doc_->Key(m, i), v = doc_->Value(m, i);
    std::string name(doc_->Text(k));
    if (!IsValidIdentifier(name)) {
      Error(k, "invalid param name " + Quoted(name) +
                   ": use letters, digits and '_', not starting with a digit");
      continue;
    }
    const std::string what = "param '" + name + "'";
    int r = doc_->Resolve(v);
    const YamlNode& n = doc_->node(r);
    if (n.kind == Kind::kNull) {
      Error(v, what + " has no default value; write \"\" for an empty string");
      continue;
    }
    if (n.kind != Kind::kScalar) {
      Error(v, what + " must be a string, number or boolean, got " + Got(v));
      continue;
    }
    std::string_view t = doc_->Text(r);
    ParamValue pv;
    std::string err;
    if (!n.plain) {
      err = ParamFromText(t, ParamValue::Type::kString, &pv);
    } else if (t == "true" || t == "false") {
      err = ParamFromText(t, ParamValue::Type::kBool, &pv);
    } else if (IsAmbiguousBool(t)) {
      err = "ambiguous YAML 1.1 boolean " + Quoted(t) + "; quote it or write true/false";
    } else if (IsDecimalInteger(t)) {
      err = ParamFromText(t, ParamValue::Type::kInt, &pv);
    } else if (IsFloatSyntax(t)) {
      err = ParamFromText(t, ParamValue::Type::kFloat, &pv);
      if (!err.empty()) err += " (not a finite 64-bit number): " + Quoted(t);
    } else if (IsNonFiniteFloat(t)) {
      err = "not a finite number: " + Quoted(t) + "; quote it for a string";
    } else {
      err = ParamFromText(t, ParamValue::Type::kString, &pv);
    }
    if (!err.empty()) {
      Error(v, what + ": " + err);
      continue;
    }
    dag->params[name] = std::move(pv);
  }
}

void Loader::ParseEnv(int node, const std::string& where,
                      std::vector<std::pair<std::string, std::string>>* env,
                      std::vector<int>* value_nodes) {
  if (!ExpectMap(node, "'env' " + where)) return;
  int m = doc_->Resolve(node);
  for (size_t i = 0; i < doc_->node(m).size; ++i) {
    int k = doc_->Key(m, i), v = doc_->Value(m, i);
    std::string name(doc_->Text(k));
    if (!IsValidIdentifier(name)) {
      Error(k, "invalid env name " + Quoted(name) + " " + where +
                   ": use letters, digits and '_', not starting with a digit");
      continue;
    }
    int r = doc_->Resolve(v);
    Kind kind = doc_->node(r).kind;
    if (kind == Kind::kNull) {
      Error(v, "env '" + name + "' " + where + " has no value; write \"\" for an empty string");
      continue;
    }
    if (kind != Kind::kScalar) {
      Error(v, "env '" + name + "' " + where + " must be a string, got " + Got(v));
      continue;
    }
    env->emplace_back(std::move(name), std::string(doc_->Text(r)));
    value_nodes->push_back(v);
  }
}

void Loader::ParseTask(int key, int value, Task* task, TaskExtra* extra) {
  const std::string where = "in task '" + task->id + "'";
  if (doc_->KindOf(value) == Kind::kNull) {
    Error(key, "task '" + task->id + "' is empty; expected a map with 'command' or 'argv'");
    return;
  }
  if (!ExpectMap(value, "task '" + task->id + "'")) return;
  int m = doc_->Resolve(value);
  int argv_key = -1;
  for (size_t i = 0; i < doc_->node(m).size; ++i) {
    int k = doc_->Key(m, i), v = doc_->Value(m, i);
    std::string_view name = doc_->Text(k);
    auto what = [&] { return "'" + std::string(name) + "' " + where; };
    if (ParseSetting(name, v, where, &extra->settings)) continue;
    if (name == "command") {
      if (GetString(v, what, &task->command, false)) extra->command_node = v;
    } else if (name == "argv") {
      argv_key = k;
      int r = doc_->Resolve(v);
      if (doc_->node(r).kind != Kind::kSeq) {
        Error(v, what() + " must be a non-empty list of strings, got " + Got(v));
        continue;
      }
      if (doc_->node(r).size == 0) {
        Error(v, what() + " must not be empty");
        continue;
      }
      for (size_t j = 0; j < doc_->node(r).size; ++j) {
        int item = doc_->Item(r, j);
        std::string s;
        if (GetString(item, [&] { return "item " + std::to_string(j + 1) + " of " + what(); }, &s)) {
          task->argv.push_back(std::move(s));
          extra->argv_nodes.push_back(item);
        }
      }
    } else if (name == "depends_on") {
      int r = doc_->Resolve(v);
      Kind kind = doc_->node(r).kind;
      if (kind == Kind::kScalar) {
        task->depends_on.emplace_back(doc_->Text(r));
        extra->dep_nodes.push_back(v);
      } else if (kind == Kind::kSeq) {
        for (size_t j = 0; j < doc_->node(r).size; ++j) {
          int item = doc_->Item(r, j);
          std::string s;
          if (GetString(item, [&] { return "item " + std::to_string(j + 1) + " of " + what(); }, &s)) {
            task->depends_on.push_back(std::move(s));
            extra->dep_nodes.push_back(item);
          }
        }
      } else if (kind != Kind::kNull) {
        Error(v, what() + " must be a list of task ids, got " + Got(v));
      }
    } else if (name == "env") {
      ParseEnv(v, where, &extra->env, &extra->env_value_nodes);
    } else if (name == "workdir") {
      if (GetString(v, what, &task->workdir, false)) extra->workdir_node = v;
    } else if (name == "priority") {
      int64_t p;
      if (GetInt(v, what, -kMaxPriority, kMaxPriority, &p)) {
        task->priority = static_cast<int>(p);
        task->priority_set = true;
      }
    } else if (name == "description") {
      std::string d;
      if (GetString(v, what, &d)) {
        task->description = d;
        extra->description = std::move(d);
      }
    } else if (name == "outputs") {
      if (doc_->KindOf(v) != Kind::kNull) ParseOutputs(v, where, task, extra);
    } else if (name == "inputs") {
      if (doc_->KindOf(v) != Kind::kNull) ParseInputs(v, where, task, extra);
    } else if (name == "code") {
      int r = doc_->Resolve(v);
      Kind kind = doc_->node(r).kind;
      auto add = [&](const std::string& s) {  // duplicates dropped, like depends_on
        if (std::find(task->code.begin(), task->code.end(), s) == task->code.end())
          task->code.push_back(s);
      };
      if (kind == Kind::kScalar) {
        std::string s;
        if (GetString(v, what, &s, false)) add(s);
      } else if (kind == Kind::kSeq) {
        for (size_t j = 0; j < doc_->node(r).size; ++j) {
          int item = doc_->Item(r, j);
          std::string s;
          if (GetString(item, [&] { return "item " + std::to_string(j + 1) + " of " + what(); }, &s,
                        false))
            add(s);
        }
      } else if (kind != Kind::kNull) {
        Error(v, what() + " must be a list of paths, got " + Got(v));
      }
    } else if (name == "metrics") {
      if (GetString(v, what, &task->metrics_file, false)) extra->metrics_node = v;
    } else if (name == "when") {
      if (GetString(v, what, &task->when, false)) {
        extra->when_node = v;
        task->when_line = doc_->node(v).line;
        task->when_col = ColumnAt(v, task->when, 0);
        Expression e;
        std::string err;
        size_t off = 0;
        if (Expression::Parse(task->when, &e, &err, &off)) {
          extra->when = std::move(e);
        } else {
          ErrorInside(v, task->when, off, what() + ": " + err);
        }
      }
    } else if (name == "promote") {
      ParsePromote(v, where, task, extra);
    } else {
      UnknownKey(k, where, TaskKeys());
    }
  }
  const bool has_command = extra->command_node >= 0 || !task->command.empty();
  const bool has_argv = argv_key >= 0;
  if (has_command && has_argv) {
    Error(argv_key, "task '" + task->id +
                        "' sets both 'command' and 'argv'; use exactly one (argv runs without a "
                        "shell)");
  } else if (!has_command && !has_argv) {
    // A bad command value was reported already; only report what is truly missing.
    bool had_command_key = false;
    for (size_t i = 0; i < doc_->node(m).size; ++i)
      if (doc_->Text(doc_->Key(m, i)) == "command") had_command_key = true;
    if (!had_command_key) Error(key, "task '" + task->id + "' needs 'command' or 'argv'");
  }
}

void Loader::ParseOutputs(int node, const std::string& where, Task* task, TaskExtra* extra) {
  if (!ExpectMap(node, [&] { return "'outputs' " + where; })) return;
  static const std::vector<std::string> kKeys = {"path", "kind"};
  int m = doc_->Resolve(node);
  for (size_t i = 0; i < doc_->node(m).size; ++i) {
    int k = doc_->Key(m, i), v = doc_->Value(m, i);
    OutputDecl out;
    out.name = std::string(doc_->Text(k));
    out.line = doc_->node(k).line;
    out.col = doc_->node(k).col;
    if (!IsValidIdentifier(out.name)) {
      Error(k, "invalid output name " + Quoted(out.name) + " " + where +
                   ": use letters, digits and '_', not starting with a digit");
      continue;
    }
    auto what = [&] { return "output '" + out.name + "' " + where; };
    int path_node = -1;
    int r = doc_->Resolve(v);
    Kind kind = doc_->node(r).kind;
    if (kind == Kind::kNull) {  // reported at the key: a null's position is the next token's
      Error(k, what() + " has no value; expected a path");
      continue;
    } else if (kind == Kind::kScalar) {
      if (!GetString(v, what, &out.path, false)) continue;
      path_node = v;
    } else if (kind == Kind::kMap) {
      bool ok = true;
      for (size_t j = 0; j < doc_->node(r).size; ++j) {
        int k2 = doc_->Key(r, j), v2 = doc_->Value(r, j);
        std::string_view key = doc_->Text(k2);
        if (key == "path") {
          if (GetString(v2, [&] { return "'path' of " + what(); }, &out.path, false)) {
            path_node = v2;
          } else {
            ok = false;
          }
        } else if (key == "kind") {
          std::string kind_name;
          if (!GetString(v2, [&] { return "'kind' of " + what(); }, &kind_name)) {
            ok = false;
          } else if (!ParseArtifactKind(kind_name, &out.kind)) {
            std::string msg = "'kind' of " + what() + ": unknown artifact kind " + Quoted(kind_name) +
                              DidYouMean(kind_name, ArtifactKindNames());
            if (msg.find("did you mean") == std::string::npos)
              msg += " (one of: " + Join(ArtifactKindNames(), ", ") + ")";
            Error(v2, msg);
            ok = false;
          }
        } else {
          UnknownKey(k2, "in " + what(), kKeys);
          ok = false;
        }
      }
      if (path_node < 0) {
        if (ok) Error(v, what() + " is missing 'path'");
        continue;
      }
      if (!ok) continue;
    } else {
      Error(v, what() + " must be a path or a map with 'path' and 'kind', got " + Got(v));
      continue;
    }
    task->outputs.push_back(std::move(out));
    extra->output_path_nodes.push_back(path_node);
  }
}

void Loader::ParseInputs(int node, const std::string& where, Task* task, TaskExtra* extra) {
  if (!ExpectMap(node, [&] { return "'inputs' " + where; })) return;
  static const std::vector<std::string> kKeys = {"path"};
  int m = doc_->Resolve(node);
  for (size_t i = 0; i < doc_->node(m).size; ++i) {
    int k = doc_->Key(m, i), v = doc_->Value(m, i);
    InputDecl in;
    in.name = std::string(doc_->Text(k));
    in.line = doc_->node(k).line;
    in.col = doc_->node(k).col;
    if (!IsValidIdentifier(in.name)) {
      Error(k, "invalid input name " + Quoted(in.name) + " " + where +
                   ": use letters, digits and '_', not starting with a digit");
      continue;
    }
    auto what = [&] { return "input '" + in.name + "' " + where; };
    int value_node = -1;
    int r = doc_->Resolve(v);
    Kind kind = doc_->node(r).kind;
    if (kind == Kind::kNull) {
      Error(k, what() + " has no value; expected TASK.OUTPUT or {path: FILE}");
      continue;
    } else if (kind == Kind::kScalar) {
      std::string ref(doc_->Text(r));
      if (!SplitArtifact(ref, &in.task, &in.output)) {
        Error(v, what() + " must be TASK.OUTPUT (an output of an upstream task) or {path: FILE} "
                          "(a file from outside the DAG), got " + Quoted(ref));
        continue;
      }
      value_node = v;
    } else if (kind == Kind::kMap) {
      bool ok = true;
      for (size_t j = 0; j < doc_->node(r).size; ++j) {
        int k2 = doc_->Key(r, j), v2 = doc_->Value(r, j);
        if (doc_->Text(k2) == "path") {
          if (GetString(v2, [&] { return "'path' of " + what(); }, &in.path, false)) {
            value_node = v2;
          } else {
            ok = false;
          }
        } else {
          UnknownKey(k2, "in " + what(), kKeys);
          ok = false;
        }
      }
      if (value_node < 0) {
        if (ok) Error(v, what() + " is missing 'path'");
        continue;
      }
      if (!ok) continue;
    } else {
      Error(v, what() + " must be TASK.OUTPUT or {path: FILE}, got " + Got(v));
      continue;
    }
    task->inputs.push_back(std::move(in));
    extra->input_nodes.push_back(value_node);
  }
}

void Loader::ParsePromote(int node, const std::string& where, Task* task, TaskExtra* extra) {
  if (!ExpectMap(node, [&] { return "'promote' " + where; })) return;
  static const std::vector<std::string> kKeys = {"model", "alias", "artifact"};
  int m = doc_->Resolve(node);
  PromoteDecl p;
  p.line = doc_->node(node).line;
  p.col = doc_->node(node).col;
  // Keys seen, whatever their value: a bad value is reported by itself, not as missing.
  bool ok = true, has_model = false, has_alias = false, has_artifact = false;
  for (size_t i = 0; i < doc_->node(m).size; ++i) {
    int k = doc_->Key(m, i), v = doc_->Value(m, i);
    std::string_view key = doc_->Text(k);
    auto what = [&] { return "'" + std::string(key) + "' of 'promote' " + where; };
    if (key == "model" || key == "alias") {
      std::string* out = key == "model" ? &p.model : &p.alias;
      (key == "model" ? has_model : has_alias) = true;
      if (!GetString(v, what, out, false)) {
        ok = false;
      } else if (!IsValidIdentifier(*out)) {
        Error(v, what() + " must be an identifier (letters, digits and '_', not starting with a "
                          "digit), got " + Quoted(*out));
        ok = false;
      } else if (key == "alias" && (*out == "params" || *out == "metrics" || *out == "models")) {
        Error(v, what() + ": " + Quoted(*out) +
                     " is reserved in 'when' expressions; choose another alias");
        ok = false;
      }
    } else if (key == "artifact") {
      has_artifact = true;
      std::string artifact;
      if (!GetString(v, what, &artifact, false)) {
        ok = false;
      } else if (!SplitArtifact(artifact, &p.task, &p.output)) {
        Error(v, what() + " must be TASK.OUTPUT (an output of this task or an upstream one), "
                          "got " + Quoted(artifact));
        ok = false;
      } else {
        extra->artifact_node = v;
      }
    } else {
      UnknownKey(k, "in 'promote' " + where, kKeys);
      ok = false;
    }
  }
  std::vector<std::string> missing;
  if (!has_model) missing.push_back("'model'");
  if (!has_alias) missing.push_back("'alias'");
  if (!has_artifact) missing.push_back("'artifact'");
  if (!missing.empty()) {
    Error(node, "'promote' " + where + " is missing " + Join(missing, ", ") +
                    " (expected {model: NAME, alias: NAME, artifact: TASK.OUTPUT})");
    ok = false;
  }
  if (!ok) return;
  task->has_promote = true;
  task->promote = std::move(p);
  extra->promote_node = node;
}

bool Loader::Run(const YamlDoc& doc, const LoadOptions& options, Dag* dag) {
  doc_ = &doc;
  if (doc.root() < 0) {
    ErrorAt(0, 0, "empty file; expected a mapping with 'dag' and 'tasks'");
    return false;
  }
  const int root = doc.Resolve(doc.root());
  if (doc.node(root).kind != Kind::kMap) {
    Error(doc.root(), "expected a mapping with 'dag' and 'tasks' at the top level, got " +
                          Got(doc.root()));
    return false;
  }
  int dag_node = -1, description_node = -1, params_node = -1, env_node = -1, defaults_node = -1,
      pools_node = -1, tasks_node = -1;
  for (size_t i = 0; i < doc.node(root).size; ++i) {
    int k = doc.Key(root, i), v = doc.Value(root, i);
    std::string_view name = doc.Text(k);
    if (name == "dag") dag_node = v;
    else if (name == "description") description_node = v;
    else if (name == "params") params_node = v;
    else if (name == "env") env_node = v;
    else if (name == "defaults") defaults_node = v;
    else if (name == "pools") pools_node = v;
    else if (name == "tasks") tasks_node = v;
    else UnknownKey(k, "at the top level", TopKeys());
  }

  if (dag_node < 0) {
    Error(root, "missing required key 'dag' (the DAG's id)");
  } else if (GetString(dag_node, "'dag'", &dag->id, false) && !IsValidId(dag->id)) {
    Error(dag_node, "invalid dag id " + Quoted(dag->id) +
                        ": use 1-128 letters, digits, '_', '.' or '-'");
  }
  if (description_node >= 0) GetString(description_node, "'description'", &dag->description);
  if (params_node >= 0 && doc.KindOf(params_node) != Kind::kNull) ParseParams(params_node, dag);
  if (env_node >= 0 && doc.KindOf(env_node) != Kind::kNull) {
    ParseEnv(env_node, "at the top level", &dag->env, &dag_env_nodes_);
  }
  if (pools_node >= 0 && doc.KindOf(pools_node) != Kind::kNull && ExpectMap(pools_node, "'pools'")) {
    int m = doc.Resolve(pools_node);
    for (size_t i = 0; i < doc.node(m).size; ++i) {
      int k = doc.Key(m, i), v = doc.Value(m, i);
      std::string name(doc.Text(k));
      if (!IsValidIdentifier(name)) {
        Error(k, "invalid pool name " + Quoted(name) +
                     ": use letters, digits and '_', not starting with a digit");
        continue;
      }
      int64_t slots;
      if (GetInt(v, "pool '" + name + "'", 1, kMaxPoolSlots, &slots)) {
        dag->pools[name] = static_cast<int>(slots);
      }
    }
  }
  if (defaults_node >= 0 && doc.KindOf(defaults_node) != Kind::kNull &&
      ExpectMap(defaults_node, "'defaults'")) {
    int m = doc.Resolve(defaults_node);
    for (size_t i = 0; i < doc.node(m).size; ++i) {
      int k = doc.Key(m, i), v = doc.Value(m, i);
      if (!ParseSetting(doc.Text(k), v, "in 'defaults'", &defaults_)) {
        UnknownKey(k, "in 'defaults'", DefaultKeys());
      }
    }
    CheckPool(defaults_, "in 'defaults'", *dag);
  }

  if (tasks_node < 0) {
    Error(root, "missing required key 'tasks' (a map of task id -> task)");
  } else if (doc.KindOf(tasks_node) == Kind::kNull) {
    Error(tasks_node, "'tasks' is empty; a DAG needs at least one task");
  } else if (ExpectMap(tasks_node, "'tasks'")) {
    int m = doc.Resolve(tasks_node);
    const size_t n = doc.node(m).size;
    if (n == 0) Error(tasks_node, "'tasks' is empty; a DAG needs at least one task");
    dag->tasks.reserve(n);
    extras_.reserve(n);
    dag->task_index.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      int k = doc.Key(m, i), v = doc.Value(m, i);
      Task task;
      task.id = std::string(doc.Text(k));
      task.line = doc.node(k).line;
      task.col = doc.node(k).col;
      if (!IsValidId(task.id)) {
        Error(k, "invalid task id " + Quoted(task.id) +
                     ": use 1-128 letters, digits, '_', '.' or '-'");
        continue;
      }
      TaskExtra extra;
      ParseTask(k, v, &task, &extra);
      dag->task_index.emplace(task.id, static_cast<int>(dag->tasks.size()));
      dag->tasks.push_back(std::move(task));
      extras_.push_back(std::move(extra));
    }
  }

  Resolve(options, dag);
  if (error_count_ == 0) dag->canonical = Canonical(*dag);

  // -p overrides apply after the canonical text: it describes the file, not this run.
  for (const auto& [name, value] : options.param_overrides) {
    auto it = dag->params.find(name);
    const std::string prefix = "-p " + name + "=" + value + ": ";
    if (it == dag->params.end()) {
      std::vector<std::string> names;
      for (const auto& [k, v] : dag->params) names.push_back(k);
      std::string msg = prefix + "unknown param '" + name + "'" + DidYouMean(name, names);
      if (names.empty()) msg += " (the DAG declares no params)";
      Diagnostic d;
      d.message = std::move(msg);
      errors_->push_back(std::move(d));
      ++error_count_;
      continue;
    }
    ParamValue pv;
    std::string err = ParamFromText(value, it->second.type, &pv);
    if (!err.empty()) {
      Diagnostic d;
      d.message = prefix + "param '" + name + "' is " + ParamTypeName(it->second.type) + ": " + err;
      errors_->push_back(std::move(d));
      ++error_count_;
      continue;
    }
    it->second = std::move(pv);
  }
  return error_count_ == 0;
}

std::string Loader::TaskDidYouMean(const std::string& id, const Dag& dag) {
  if (task_ids_.empty()) {
    task_ids_.reserve(dag.tasks.size());
    for (const Task& other : dag.tasks) task_ids_.push_back(other.id);
  }
  return DidYouMean(id, task_ids_);
}

std::string Loader::OutputMissing(const Task& producer, const std::string& output) {
  if (producer.outputs.empty()) {
    return "task '" + producer.id + "' declares no outputs (add 'outputs:' to it)";
  }
  std::vector<std::string> names;
  names.reserve(producer.outputs.size());
  for (const OutputDecl& o : producer.outputs) names.push_back(o.name);
  std::string msg = "task '" + producer.id + "' declares no output '" + output + "'";
  std::string guess = SpellCheck(output, names);
  if (!guess.empty()) return msg + "; did you mean '" + guess + "'?";
  return msg + " (it declares: " + Join(names, ", ") + ")";
}

bool HasOutput(const Task& task, const std::string& name) {
  for (const OutputDecl& o : task.outputs)
    if (o.name == name) return true;
  return false;
}

// Checks the references of task |t|'s parsed `when:`; queues upstream checks; makes
// short-form alias references explicit in Task::when (docs/expressions.md).
void Loader::CheckWhen(size_t t, const std::vector<std::string>& promoted, Dag* dag) {
  Task& task = dag->tasks[t];
  TaskExtra& extra = extras_[t];
  const Expression& e = *extra.when;
  const int node = extra.when_node;
  const std::string what = "'when' in task '" + task.id + "'";
  bool short_form = false, short_ok = true;
  for (const ExprRef& r : e.refs()) {
    switch (r.kind) {
      case ExprRef::Kind::kParam: {
        if (dag->params.count(r.param)) {
          task.params_used.push_back(r.param);
          break;
        }
        std::vector<std::string> names;
        for (const auto& [k, v] : dag->params) names.push_back(k);
        std::string msg = what + ": undeclared param '" + r.param + "'";
        std::string guess = SpellCheck(r.param, names);
        if (!guess.empty()) {
          msg += "; did you mean 'params." + guess + "'?";
        } else if (names.empty()) {
          msg += " (declare it under 'params:' at the top of the file)";
        }
        ErrorInside(node, task.when, r.offset, msg);
        break;
      }
      case ExprRef::Kind::kMetric: {
        auto it = dag->task_index.find(r.task);
        if (it == dag->task_index.end()) {
          ErrorInside(node, task.when, r.offset,
                      what + " reads metrics of unknown task " + Quoted(r.task) +
                          TaskDidYouMean(r.task, *dag));
          break;
        }
        const std::string msg = what + " reads metrics of '" + r.task +
                                "', which is not upstream of it";
        if (it->second == static_cast<int>(t)) {
          ErrorInside(node, task.when, r.offset, msg + " ('when' is decided before the task runs)");
          break;
        }
        UpstreamQuery q;
        q.x = static_cast<int>(t);
        q.t = it->second;
        q.line = doc_->node(node).line;
        q.col = ColumnAt(node, task.when, r.offset);
        q.message = msg + " (add it to depends_on)";
        queries_.push_back(std::move(q));
        break;
      }
      case ExprRef::Kind::kAliasMetric: {
        if (!r.model.empty()) break;
        short_form = true;
        if (promoted.size() == 1) break;
        short_ok = false;
        const std::string explicit_form = "models.MODEL." + r.text;
        if (promoted.empty()) {
          ErrorInside(node, task.when, r.offset,
                      what + ": " + Quoted(r.text) + " names no model, and no task in the DAG "
                             "promotes one; write " + explicit_form);
        } else {
          ErrorInside(node, task.when, r.offset,
                      what + ": " + Quoted(r.text) + " is ambiguous: the DAG promotes " +
                          std::to_string(promoted.size()) + " models ('" + Join(promoted, "', '") +
                          "'); use models.MODEL.ALIAS.metrics.TASK.NAME, e.g. models." +
                          promoted.front() + "." + r.text);
        }
        break;
      }
    }
  }
  if (short_form && short_ok) task.when = e.QualifiedText(promoted.front());
}

void Loader::RunUpstreamQueries(const Dag& dag, const std::vector<std::vector<int>>& downstream) {
  // A direct upstream answers at once (the common case: a gate reads the task it depends
  // on). The rest are grouped by whichever side has fewer distinct tasks, with one graph
  // walk per group (downstream from each source, or upstream from each asker):
  // O((V + E) * groups). Indirect reads are rare, so this stays linear in practice.
  queries_.erase(std::remove_if(queries_.begin(), queries_.end(),
                                [&](const UpstreamQuery& q) {
                                  const std::vector<int>& up =
                                      dag.tasks[static_cast<size_t>(q.x)].upstream;
                                  return std::find(up.begin(), up.end(), q.t) != up.end();
                                }),
                 queries_.end());
  if (queries_.empty()) return;
  std::vector<int> xs, ts;
  for (const UpstreamQuery& q : queries_) {
    xs.push_back(q.x);
    ts.push_back(q.t);
  }
  for (std::vector<int>* v : {&xs, &ts}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  const bool from_sources = ts.size() <= xs.size();
  std::sort(queries_.begin(), queries_.end(), [&](const UpstreamQuery& a, const UpstreamQuery& b) {
    return from_sources ? a.t < b.t : a.x < b.x;
  });
  const size_t n = dag.tasks.size();
  std::vector<int> mark(n, -1);
  std::vector<int> stack;
  int group = -1;
  for (const UpstreamQuery& q : queries_) {
    const int start = from_sources ? q.t : q.x;
    if (start != group) {
      group = start;
      stack.assign(1, start);
      mark[static_cast<size_t>(start)] = start;
      while (!stack.empty()) {
        const size_t u = static_cast<size_t>(stack.back());
        stack.pop_back();
        const std::vector<int>& next = from_sources ? downstream[u] : dag.tasks[u].upstream;
        for (int w : next) {
          if (mark[static_cast<size_t>(w)] == start) continue;
          mark[static_cast<size_t>(w)] = start;
          stack.push_back(w);
        }
      }
    }
    const int other = from_sources ? q.x : q.t;
    if (mark[static_cast<size_t>(other)] != start) ErrorAt(q.line, q.col, q.message);
  }
}

void Loader::Resolve(const LoadOptions& /*options*/, Dag* dag) {
  const size_t n = dag->tasks.size();

  // Templates of the DAG-level env are checked once; tasks inherit their params.
  TemplateScope no_artifacts;
  no_artifacts.allow_artifacts = false;
  std::vector<std::vector<std::string>> dag_env_params(dag->env.size());
  for (size_t i = 0; i < dag->env.size(); ++i) {
    CheckTemplateAt(dag_env_nodes_[i], dag->env[i].second,
                    [&] { return "env '" + dag->env[i].first + "'"; }, dag->params,
                    &dag_env_params[i], no_artifacts);
  }
  // Models promoted anywhere in the DAG: a short-form alias reference needs exactly one.
  std::vector<std::string> promoted;
  for (const Task& task : dag->tasks)
    if (task.has_promote) promoted.push_back(task.promote.model);
  std::sort(promoted.begin(), promoted.end());
  promoted.erase(std::unique(promoted.begin(), promoted.end()), promoted.end());
  // Literal output paths seen so far -> (task, output), for the duplicate check.
  std::unordered_map<std::string, std::pair<size_t, size_t>> output_paths;
  // Sort the DAG env by name (stable: order of dag_env_params follows).
  std::vector<size_t> env_order(dag->env.size());
  for (size_t i = 0; i < env_order.size(); ++i) env_order[i] = i;
  std::stable_sort(env_order.begin(), env_order.end(),
                   [&](size_t a, size_t b) { return dag->env[a].first < dag->env[b].first; });
  {
    std::vector<std::pair<std::string, std::string>> sorted;
    std::vector<std::vector<std::string>> sorted_params;
    for (size_t i : env_order) {
      sorted.push_back(std::move(dag->env[i]));
      sorted_params.push_back(std::move(dag_env_params[i]));
    }
    dag->env = std::move(sorted);
    dag_env_params = std::move(sorted_params);
  }

  std::vector<std::vector<int>> downstream(n);
  for (size_t t = 0; t < n; ++t) {
    Task& task = dag->tasks[t];
    TaskExtra& extra = extras_[t];
    const std::string where = "in task '" + task.id + "'";

    // Dependencies: drop duplicates, resolve ids.
    std::vector<std::string> deps;
    deps.reserve(task.depends_on.size());
    extra.dep_targets.assign(extra.dep_nodes.size(), -1);
    for (size_t j = 0; j < task.depends_on.size(); ++j) {
      const std::string& dep = task.depends_on[j];
      const int node = extra.dep_nodes[j];
      if (dep == task.id) {
        Error(node, "task '" + task.id + "' depends on itself");
        continue;
      }
      auto it = dag->task_index.find(dep);
      if (it == dag->task_index.end()) {
        Error(node, "task '" + task.id + "' depends on unknown task " + Quoted(dep) +
                        TaskDidYouMean(dep, *dag));
        continue;
      }
      extra.dep_targets[j] = it->second;
      if (std::find(task.upstream.begin(), task.upstream.end(), it->second) != task.upstream.end())
        continue;
      task.upstream.push_back(it->second);
      downstream[static_cast<size_t>(it->second)].push_back(static_cast<int>(t));
    }
    for (const std::string& dep : task.depends_on)
      if (std::find(deps.begin(), deps.end(), dep) == deps.end()) deps.push_back(dep);

    // Inputs read upstream outputs: each producer is an implied dependency, recorded in
    // depends_on too (so the canonical form and `graph` show it).
    for (size_t j = 0; j < task.inputs.size(); ++j) {
      const InputDecl& in = task.inputs[j];
      if (in.task.empty()) continue;
      const int node = extra.input_nodes[j];
      const std::string_view value = doc_->Text(node);
      const std::string what = "input '" + in.name + "' " + where;
      if (in.task == task.id) {
        ErrorInside(node, value, 0,
                    what + " reads an output of task '" + task.id +
                        "' itself; inputs come from upstream tasks, or {path: FILE} for a file "
                        "from outside the DAG");
        continue;
      }
      auto it = dag->task_index.find(in.task);
      if (it == dag->task_index.end()) {
        ErrorInside(node, value, 0,
                    what + " reads unknown task " + Quoted(in.task) + TaskDidYouMean(in.task, *dag));
        continue;
      }
      const Task& producer = dag->tasks[static_cast<size_t>(it->second)];
      if (!HasOutput(producer, in.output)) {
        ErrorInside(node, value, in.task.size() + 1, what + ": " + OutputMissing(producer, in.output));
        continue;
      }
      extra.dep_nodes.push_back(node);
      extra.dep_targets.push_back(it->second);
      if (std::find(deps.begin(), deps.end(), in.task) == deps.end()) deps.push_back(in.task);
      if (std::find(task.upstream.begin(), task.upstream.end(), it->second) == task.upstream.end()) {
        task.upstream.push_back(it->second);
        downstream[static_cast<size_t>(it->second)].push_back(static_cast<int>(t));
      }
    }
    task.depends_on = std::move(deps);

    // Defaults apply where the task is silent.
    const Settings& s = extra.settings;
    task.retries = s.retries.value_or(defaults_.retries.value_or(0));
    task.retry_delay_ms = s.retry_delay_ms.value_or(defaults_.retry_delay_ms.value_or(0));
    task.max_retry_delay_ms =
        s.max_retry_delay_ms.value_or(defaults_.max_retry_delay_ms.value_or(3600000));
    task.timeout_ms = s.timeout_ms.value_or(defaults_.timeout_ms.value_or(0));
    task.kill_grace_ms = s.kill_grace_ms.value_or(defaults_.kill_grace_ms.value_or(5000));
    task.trigger_rule = s.trigger_rule.value_or(defaults_.trigger_rule.value_or(TriggerRule::kAllSuccess));
    task.cache = s.cache.value_or(defaults_.cache.value_or(true));
    if (s.pool) {
      CheckPool(s, where, *dag);
      task.pool = *s.pool;
    } else if (defaults_.pool) {
      task.pool = *defaults_.pool;
    }

    TemplateScope scope;  // the task's own outputs and inputs
    scope.outputs = &task.outputs;
    scope.inputs = &task.inputs;
    TemplateScope path_scope = scope;  // for paths resolved before outputs/inputs exist
    path_scope.allow_artifacts = false;

    // Env: task entries over DAG entries, sorted by name.
    std::vector<size_t> task_env_order(extra.env.size());
    for (size_t i = 0; i < task_env_order.size(); ++i) task_env_order[i] = i;
    std::stable_sort(task_env_order.begin(), task_env_order.end(), [&](size_t a, size_t b) {
      return extra.env[a].first < extra.env[b].first;
    });
    task.env.clear();
    task.env.reserve(dag->env.size() + extra.env.size());
    size_t di = 0, ti = 0;
    while (di < dag->env.size() || ti < task_env_order.size()) {
      const bool take_task =
          ti < task_env_order.size() &&
          (di == dag->env.size() || extra.env[task_env_order[ti]].first <= dag->env[di].first);
      if (take_task) {
        const size_t e = task_env_order[ti++];
        if (di < dag->env.size() && dag->env[di].first == extra.env[e].first) ++di;  // task wins
        CheckTemplateAt(extra.env_value_nodes[e], extra.env[e].second,
                        [&] { return "env '" + extra.env[e].first + "' " + where; }, dag->params,
                        &task.params_used, scope);
        task.env.push_back(extra.env[e]);
      } else {
        task.params_used.insert(task.params_used.end(), dag_env_params[di].begin(),
                                dag_env_params[di].end());
        task.env.push_back(dag->env[di++]);
      }
    }

    if (extra.command_node >= 0) {
      CheckTemplateAt(extra.command_node, task.command, [&] { return "'command' " + where; },
                      dag->params, &task.params_used, scope);
    }
    for (size_t j = 0; j < task.argv.size(); ++j) {
      CheckTemplateAt(
          extra.argv_nodes[j], task.argv[j],
          [&] { return "item " + std::to_string(j + 1) + " of 'argv' " + where; }, dag->params,
          &task.params_used, scope);
    }
    if (extra.workdir_node >= 0) {
      CheckTemplateAt(extra.workdir_node, task.workdir, [&] { return "'workdir' " + where; },
                      dag->params, &task.params_used, path_scope);
    }
    for (size_t j = 0; j < task.outputs.size(); ++j) {
      const OutputDecl& out = task.outputs[j];
      CheckTemplateAt(extra.output_path_nodes[j], out.path,
                      [&] { return "output '" + out.name + "' " + where; }, dag->params,
                      &task.params_used, path_scope);
      if (out.path.find("{{") != std::string::npos) continue;
      auto [it, inserted] =
          output_paths.emplace(OutputPathKey(out.path, task.workdir), std::make_pair(t, j));
      if (inserted) continue;
      const Task& first = dag->tasks[it->second.first];
      const OutputDecl& first_out = first.outputs[it->second.second];
      if (it->second.first == t) {
        Error(extra.output_path_nodes[j],
              "output path " + out.path + " is declared twice in task '" + task.id +
                  "' (outputs '" + first_out.name + "' (line " + std::to_string(first_out.line) +
                  ") and '" + out.name + "')");
      } else {
        Error(extra.output_path_nodes[j],
              "output path " + out.path + " is declared by both '" + first.id + "' (line " +
                  std::to_string(first_out.line) + ") and '" + task.id + "'");
      }
    }
    for (size_t j = 0; j < task.inputs.size(); ++j) {
      const InputDecl& in = task.inputs[j];
      if (!in.task.empty()) continue;
      CheckTemplateAt(extra.input_nodes[j], in.path,
                      [&] { return "input '" + in.name + "' " + where; }, dag->params,
                      &task.params_used, path_scope);
    }
    if (extra.metrics_node >= 0) {
      CheckTemplateAt(extra.metrics_node, task.metrics_file, [&] { return "'metrics' " + where; },
                      dag->params, &task.params_used, scope);
    }
    if (extra.when) CheckWhen(t, promoted, dag);
    if (task.has_promote) {
      const PromoteDecl& p = task.promote;
      const int node = extra.artifact_node;
      const std::string_view value = doc_->Text(node);
      const std::string what = "'artifact' of 'promote' " + where;
      auto it = dag->task_index.find(p.task);
      if (it == dag->task_index.end()) {
        ErrorInside(node, value, 0,
                    what + ": unknown task " + Quoted(p.task) + TaskDidYouMean(p.task, *dag));
      } else if (!HasOutput(dag->tasks[static_cast<size_t>(it->second)], p.output)) {
        ErrorInside(node, value, p.task.size() + 1,
                    what + ": " + OutputMissing(dag->tasks[static_cast<size_t>(it->second)], p.output));
      } else if (it->second != static_cast<int>(t)) {
        UpstreamQuery q;
        q.x = static_cast<int>(t);
        q.t = it->second;
        q.line = doc_->node(node).line;
        q.col = ColumnAt(node, value, 0);
        q.message = what + ": '" + p.task + "." + p.output + "' is produced by '" + p.task +
                    "', which is not upstream of '" + task.id +
                    "' (promote an output of this task or of one it depends on)";
        queries_.push_back(std::move(q));
      }
    }
    std::sort(task.params_used.begin(), task.params_used.end());
    task.params_used.erase(std::unique(task.params_used.begin(), task.params_used.end()),
                           task.params_used.end());
  }

  // Cycles: one report per strongly connected component, at the depends_on entry that
  // closes it. Arrows run upstream -> downstream (the order tasks would run in).
  bool cyclic = false;
  for (const std::vector<int>& cycle : FindCycles(downstream)) {
    cyclic = true;
    std::string path = "cycle: ";
    for (int v : cycle) path += dag->tasks[static_cast<size_t>(v)].id + " \xE2\x86\x92 ";
    path += dag->tasks[static_cast<size_t>(cycle.front())].id;
    // The closing edge cycle.back() -> cycle.front() is written in front's depends_on.
    const Task& first = dag->tasks[static_cast<size_t>(cycle.front())];
    const TaskExtra& extra = extras_[static_cast<size_t>(cycle.front())];
    const int closing_index = cycle.back();
    int node = -1;
    for (size_t j = 0; j < extra.dep_nodes.size(); ++j) {
      if (extra.dep_targets[j] == closing_index) {
        node = extra.dep_nodes[j];
        break;
      }
    }
    if (node >= 0) {
      Error(node, path);
    } else {
      ErrorAt(first.line, first.col, path);
    }
  }
  RunUpstreamQueries(*dag, downstream);

  // Priority: explicit, else the critical-path length to a sink.
  std::vector<int> length;
  if (!cyclic && LongestPathToSink(downstream, &length)) {
    for (size_t t = 0; t < n; ++t) {
      if (!dag->tasks[t].priority_set) dag->tasks[t].priority = length[t];
    }
  }
  for (size_t t = 0; t < n; ++t) dag->tasks[t].downstream = std::move(downstream[t]);
}

std::string Loader::Canonical(const Dag& dag) const {
  // Keys in byte order; no whitespace. Tasks keep file order (it breaks scheduling ties),
  // so a reload yields the same Dag. Durations are written as text ParseDuration reads.
  std::string out;
  out.reserve(256 + dag.tasks.size() * 256);
  auto env_json = [&](const std::vector<std::pair<std::string, std::string>>& env) {
    out += '{';
    for (size_t i = 0; i < env.size(); ++i) {
      if (i) out += ',';
      out += JsonQuote(env[i].first);
      out += ':';
      out += JsonQuote(env[i].second);
    }
    out += '}';
  };
  out += "{\"dag\":" + JsonQuote(dag.id);
  if (!dag.description.empty()) out += ",\"description\":" + JsonQuote(dag.description);
  out += ",\"env\":";
  env_json(dag.env);
  out += ",\"params\":{";
  bool first = true;
  for (const auto& [name, value] : dag.params) {
    if (!first) out += ',';
    first = false;
    out += JsonQuote(name) + ':';
    out += value.type == ParamValue::Type::kString ? JsonQuote(value.text) : value.text;
  }
  out += "},\"pools\":{";
  first = true;
  for (const auto& [name, slots] : dag.pools) {
    if (!first) out += ',';
    first = false;
    out += JsonQuote(name) + ':' + std::to_string(slots);
  }
  out += "},\"tasks\":{";
  for (size_t t = 0; t < dag.tasks.size(); ++t) {
    const Task& task = dag.tasks[t];
    const TaskExtra& extra = extras_[t];
    if (t) out += ',';
    out += JsonQuote(task.id) + ":{";
    // Keys in byte order. Exactly one of argv/command is present, so "argv" opens the
    // object when there is one, else "cache"/"code"/"command" does.
    bool first_key = true;
    auto key = [&](const char* name) {
      if (!first_key) out += ',';
      first_key = false;
      out += '"';
      out += name;
      out += "\":";
    };
    if (!task.argv.empty()) {
      key("argv");
      out += '[';
      for (size_t j = 0; j < task.argv.size(); ++j) {
        if (j) out += ',';
        out += JsonQuote(task.argv[j]);
      }
      out += ']';
    }
    if (!task.cache) {  // only when off, so files without the key keep their canonical text
      key("cache");
      out += "false";
    }
    if (!task.code.empty()) {
      key("code");
      out += '[';
      for (size_t j = 0; j < task.code.size(); ++j) {
        if (j) out += ',';
        out += JsonQuote(task.code[j]);
      }
      out += ']';
    }
    if (task.argv.empty()) {
      key("command");
      out += JsonQuote(task.command);
    }
    key("depends_on");
    out += '[';
    for (size_t j = 0; j < task.depends_on.size(); ++j) {
      if (j) out += ',';
      out += JsonQuote(task.depends_on[j]);
    }
    out += ']';
    if (extra.description) out += ",\"description\":" + JsonQuote(*extra.description);
    out += ",\"env\":";
    env_json(task.env);
    // Outputs and inputs keep file order, like tasks, so a reload yields the same model.
    if (!task.inputs.empty()) {
      out += ",\"inputs\":{";
      for (size_t j = 0; j < task.inputs.size(); ++j) {
        const InputDecl& in = task.inputs[j];
        if (j) out += ',';
        out += JsonQuote(in.name) + ':';
        if (in.task.empty()) {
          out += "{\"path\":" + JsonQuote(in.path) + '}';
        } else {
          out += JsonQuote(in.task + "." + in.output);
        }
      }
      out += '}';
    }
    out += ",\"kill_grace\":\"" + DurationText(task.kill_grace_ms) + '"';
    out += ",\"max_retry_delay\":\"" + DurationText(task.max_retry_delay_ms) + '"';
    if (!task.metrics_file.empty()) out += ",\"metrics\":" + JsonQuote(task.metrics_file);
    if (!task.outputs.empty()) {
      out += ",\"outputs\":{";
      for (size_t j = 0; j < task.outputs.size(); ++j) {
        const OutputDecl& o = task.outputs[j];
        if (j) out += ',';
        out += JsonQuote(o.name) + ":{\"kind\":\"";
        out += ArtifactKindName(o.kind);
        out += "\",\"path\":" + JsonQuote(o.path) + '}';
      }
      out += '}';
    }
    if (!task.pool.empty()) out += ",\"pool\":" + JsonQuote(task.pool);
    if (task.priority_set) out += ",\"priority\":" + std::to_string(task.priority);
    if (task.has_promote) {
      const PromoteDecl& p = task.promote;
      out += ",\"promote\":{\"alias\":" + JsonQuote(p.alias) +
             ",\"artifact\":" + JsonQuote(p.task + "." + p.output) +
             ",\"model\":" + JsonQuote(p.model) + '}';
    }
    out += ",\"retries\":" + std::to_string(task.retries);
    out += ",\"retry_delay\":\"" + DurationText(task.retry_delay_ms) + '"';
    if (task.timeout_ms > 0) out += ",\"timeout\":\"" + DurationText(task.timeout_ms) + '"';
    out += ",\"trigger_rule\":\"";
    out += TriggerRuleName(task.trigger_rule);
    out += '"';
    if (!task.when.empty()) out += ",\"when\":" + JsonQuote(task.when);
    if (!task.workdir.empty()) out += ",\"workdir\":" + JsonQuote(task.workdir);
    out += '}';
  }
  out += "}}";
  return out;
}

bool LoadImpl(const std::string& text, const std::string& path, const LoadOptions& options,
              Dag* dag, std::vector<Diagnostic>* errors) {
  *dag = Dag();
  dag->file = path;
  const size_t first_error = errors->size();
  Loader loader(text, path, errors);
  if (text.size() > options.max_file_bytes) {
    loader.ErrorAt(0, 0, "file is " + std::to_string(text.size()) + " bytes; the limit is " +
                             std::to_string(options.max_file_bytes));
    return false;
  }
  YamlDoc doc;
  std::vector<YamlError> yaml_errors;
  const bool parsed = ParseYaml(text, YamlLimits{options.max_depth, options.max_nodes}, &doc,
                                &yaml_errors);
  for (const YamlError& e : yaml_errors) loader.ErrorAt(e.line, e.col, e.message);
  if (!parsed) return false;
  bool ok = loader.Run(doc, options, dag) && errors->size() == first_error;
  // Report in file order (the checker visits keys in several passes).
  std::stable_sort(errors->begin() + static_cast<std::ptrdiff_t>(first_error), errors->end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return a.line != b.line ? a.line < b.line : a.col < b.col;
                   });
  if (!ok) {
    std::string file = dag->file;
    *dag = Dag();
    dag->file = std::move(file);
  }
  return ok;
}

}  // namespace

bool LoadDagFromString(const std::string& text, const std::string& path, const LoadOptions& options,
                       Dag* dag, std::vector<Diagnostic>* errors) {
  return LoadImpl(text, path, options, dag, errors);
}

bool LoadDag(const std::string& path, const LoadOptions& options, Dag* dag,
             std::vector<Diagnostic>* errors) {
  auto fail = [&](std::string message) {
    *dag = Dag();
    dag->file = path;
    Diagnostic d;
    d.file = path;
    d.message = std::move(message);
    errors->push_back(std::move(d));
    return false;
  };
  std::error_code ec;
  // Check the size before reading, so a huge file is refused without loading it.
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return fail("cannot read the DAG file: " + ec.message());
  if (size > options.max_file_bytes) {
    return fail("file is " + std::to_string(size) + " bytes; the limit is " +
                std::to_string(options.max_file_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(std::string("cannot open the DAG file: ") + std::strerror(errno));
  std::string text(static_cast<size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<size_t>(in.gcount()));
  return LoadImpl(text, path, options, dag, errors);
}

}  // namespace pipeline
