#include "dag/template.h"

#include <algorithm>

#include "core/strings.h"

namespace pipeline {
namespace {

constexpr std::string_view kBuiltins[] = {"run_id", "dag", "task", "attempt", "logical_date", "ds"};

// One "{{ ... }}" placeholder, as found by NextPlaceholder.
struct Placeholder {
  size_t start = 0;  // offset of "{{"
  size_t end = 0;    // offset just past "}}"
  bool literal = false;
  std::string_view body;  // the variable name, or the literal's content
  size_t body_offset = 0;
};

// Finds the next placeholder at or after |from|. Returns 0 if there is none, 1 if found,
// -1 on a syntax error (|*err|, |*err_offset| set).
int NextPlaceholder(std::string_view text, size_t from, Placeholder* ph, std::string* err,
                    size_t* err_offset) {
  size_t open = text.find("{{", from);
  if (open == std::string_view::npos) return 0;
  ph->start = open;
  size_t p = open + 2;
  while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
  size_t close_search = p;
  if (p < text.size() && (text[p] == '"' || text[p] == '\'')) {
    // A quoted literal: its content may hold "}}" or "{{", so find its closing quote first.
    char q = text[p];
    size_t qend = text.find(q, p + 1);
    if (qend == std::string_view::npos) {
      *err = "unterminated quoted literal in '{{ }}'";
      *err_offset = p;
      return -1;
    }
    ph->literal = true;
    ph->body = text.substr(p + 1, qend - p - 1);
    ph->body_offset = p + 1;
    close_search = qend + 1;
    size_t c = close_search;
    while (c < text.size() && (text[c] == ' ' || text[c] == '\t')) ++c;
    if (text.substr(c, 2) != "}}") {
      *err = "expected '}}' after the quoted literal";
      *err_offset = c;
      return -1;
    }
    ph->end = c + 2;
    return 1;
  }
  size_t close = text.find("}}", close_search);
  if (close == std::string_view::npos) {
    *err = "unterminated '{{' (missing '}}'; write {{ \"{{\" }} for a literal '{{')";
    *err_offset = open;
    return -1;
  }
  ph->literal = false;
  ph->end = close + 2;
  std::string_view inner = text.substr(p, close - p);
  while (!inner.empty() && (inner.back() == ' ' || inner.back() == '\t')) inner.remove_suffix(1);
  ph->body = inner;
  ph->body_offset = p;
  if (inner.empty()) {
    *err = "empty placeholder '{{ }}'";
    *err_offset = open;
    return -1;
  }
  return 1;
}

bool IsBuiltin(std::string_view name) {
  return std::find(std::begin(kBuiltins), std::end(kBuiltins), name) != std::end(kBuiltins);
}

// Checks outputs.X / inputs.X against the task's declarations. |kind| is "output" or "input".
template <typename Decl>
bool CheckArtifactName(std::string_view kind, std::string_view name, const std::vector<Decl>* decls,
                       const TemplateScope& scope, std::string* err) {
  const std::string full = std::string(kind) + "s." + std::string(name);
  if (!scope.allow_artifacts) {
    *err = "'" + full + "' cannot be used here: outputs and inputs are only available in a "
           "task's own command, argv, env and metrics (not in output or input paths, workdir or "
           "the top-level env)";
    return false;
  }
  if (decls) {
    for (const Decl& d : *decls)
      if (d.name == name) return true;
  }
  if (!decls || decls->empty()) {
    *err = "unknown " + std::string(kind) + " '" + std::string(name) + "': the task declares no " +
           std::string(kind) + "s (add '" + std::string(kind) + "s:' to the task)";
    return false;
  }
  std::vector<std::string> names;
  names.reserve(decls->size());
  for (const Decl& d : *decls) names.push_back(d.name);
  *err = "unknown " + std::string(kind) + " '" + std::string(name) + "' in template";
  std::string guess = SpellCheck(name, names);
  if (!guess.empty()) {
    *err += "; did you mean '" + std::string(kind) + "s." + guess + "'?";
  } else {
    *err += " (the task declares: " + Join(names, ", ") + ")";
  }
  return false;
}

// Validates a variable name; on success sets |*param| to the param name for params.X.
bool CheckName(std::string_view name, const std::map<std::string, ParamValue>& params,
               const TemplateScope& scope, std::string_view* param, std::string* err) {
  *param = {};
  if (IsBuiltin(name)) return true;
  if (name.substr(0, 7) == "params.") {
    std::string_view p = name.substr(7);
    if (params.count(std::string(p))) {
      *param = p;
      return true;
    }
    std::vector<std::string> names;
    names.reserve(params.size());
    for (const auto& [k, v] : params) names.push_back(k);
    *err = "undeclared param '" + std::string(p) + "' in template";
    std::string guess = SpellCheck(p, names);
    if (!guess.empty()) {
      *err += "; did you mean 'params." + guess + "'?";
    } else if (names.empty()) {
      *err += " (declare it under 'params:' at the top of the file)";
    }
    return false;
  }
  if (name.substr(0, 8) == "outputs.") {
    return CheckArtifactName("output", name.substr(8), scope.outputs, scope, err);
  }
  if (name.substr(0, 7) == "inputs.") {
    return CheckArtifactName("input", name.substr(7), scope.inputs, scope, err);
  }
  std::vector<std::string> candidates(std::begin(kBuiltins), std::end(kBuiltins));
  for (const auto& [k, v] : params) candidates.push_back("params." + k);
  if (scope.allow_artifacts) {
    if (scope.outputs)
      for (const OutputDecl& o : *scope.outputs) candidates.push_back("outputs." + o.name);
    if (scope.inputs)
      for (const InputDecl& i : *scope.inputs) candidates.push_back("inputs." + i.name);
  }
  *err = "unknown template variable '" + std::string(name) + "'" + DidYouMean(name, candidates);
  if (err->find("did you mean") == std::string::npos) {
    *err += " (known: run_id, dag, task, attempt, logical_date, ds, params.NAME";
    if (scope.allow_artifacts && scope.outputs && !scope.outputs->empty()) *err += ", outputs.NAME";
    if (scope.allow_artifacts && scope.inputs && !scope.inputs->empty()) *err += ", inputs.NAME";
    *err += ")";
  }
  return false;
}

}  // namespace

bool CheckTemplate(std::string_view text, const std::map<std::string, ParamValue>& params,
                   std::vector<std::string>* params_used, std::string* err, size_t* err_offset) {
  return CheckTemplate(text, params, TemplateScope(), params_used, err, err_offset);
}

bool CheckTemplate(std::string_view text, const std::map<std::string, ParamValue>& params,
                   const TemplateScope& scope, std::vector<std::string>* params_used,
                   std::string* err, size_t* err_offset) {
  size_t pos = 0;
  Placeholder ph;
  while (true) {
    int r = NextPlaceholder(text, pos, &ph, err, err_offset);
    if (r == 0) return true;
    if (r < 0) return false;
    if (!ph.literal) {
      std::string_view param;
      if (!CheckName(ph.body, params, scope, &param, err)) {
        *err_offset = ph.body_offset;
        return false;
      }
      if (!param.empty() && params_used) params_used->emplace_back(param);
    }
    pos = ph.end;
  }
}

bool ExpandTemplate(std::string_view text, const TemplateContext& ctx, bool shell_quote,
                    std::string* out, std::string* err) {
  static const std::map<std::string, ParamValue> kNoParams;
  const std::map<std::string, ParamValue>& params = ctx.params ? *ctx.params : kNoParams;
  out->clear();
  out->reserve(text.size() + 32);
  size_t pos = 0;
  size_t err_offset = 0;
  Placeholder ph;
  while (true) {
    int r = NextPlaceholder(text, pos, &ph, err, &err_offset);
    if (r < 0) return false;
    if (r == 0) {
      out->append(text.substr(pos));
      return true;
    }
    out->append(text.substr(pos, ph.start - pos));
    pos = ph.end;
    if (ph.literal) {
      // Author-written text, not data: inserted as-is (this is how one writes "{{").
      out->append(ph.body);
      continue;
    }
    std::string_view param;
    std::string value;
    const bool is_output = ph.body.substr(0, 8) == "outputs.";
    if (is_output || ph.body.substr(0, 7) == "inputs.") {
      // Names were checked at load time against the task; here the engine's map decides.
      const std::map<std::string, std::string>* paths = is_output ? ctx.outputs : ctx.inputs;
      const std::string name(ph.body.substr(is_output ? 8 : 7));
      const std::string* found = nullptr;
      if (paths) {
        auto it = paths->find(name);
        if (it != paths->end()) found = &it->second;
      }
      if (!found) {
        *err = "'" + std::string(ph.body) + "' is not available here (no resolved path for " +
               (is_output ? "output '" : "input '") + name + "')";
        return false;
      }
      value = *found;
    } else if (!CheckName(ph.body, params, TemplateScope(), &param, err)) {
      return false;
    } else if (!param.empty()) {
      value = params.find(std::string(param))->second.text;
    } else if (ph.body == "run_id") {
      value = ctx.run_id;
    } else if (ph.body == "dag") {
      value = ctx.dag;
    } else if (ph.body == "task") {
      value = ctx.task;
    } else if (ph.body == "attempt") {
      value = std::to_string(ctx.attempt);
    } else if (ph.body == "logical_date") {
      value = ctx.logical_date;
    } else {
      value = ctx.ds;
    }
    // One pass: |value| is appended and never scanned again, whatever it contains.
    if (shell_quote) {
      out->append(ShellQuote(value));
    } else {
      out->append(value);
    }
  }
}

}  // namespace pipeline
