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

// Validates a variable name; on success sets |*param| to the param name for params.X.
bool CheckName(std::string_view name, const std::map<std::string, ParamValue>& params,
               std::string_view* param, std::string* err) {
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
  std::vector<std::string> candidates(std::begin(kBuiltins), std::end(kBuiltins));
  for (const auto& [k, v] : params) candidates.push_back("params." + k);
  *err = "unknown template variable '" + std::string(name) + "'" + DidYouMean(name, candidates);
  if (err->find("did you mean") == std::string::npos) {
    *err += " (known: run_id, dag, task, attempt, logical_date, ds, params.NAME)";
  }
  return false;
}

}  // namespace

bool CheckTemplate(std::string_view text, const std::map<std::string, ParamValue>& params,
                   std::vector<std::string>* params_used, std::string* err, size_t* err_offset) {
  size_t pos = 0;
  Placeholder ph;
  while (true) {
    int r = NextPlaceholder(text, pos, &ph, err, err_offset);
    if (r == 0) return true;
    if (r < 0) return false;
    if (!ph.literal) {
      std::string_view param;
      if (!CheckName(ph.body, params, &param, err)) {
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
    if (!CheckName(ph.body, params, &param, err)) return false;
    std::string value;
    if (!param.empty()) {
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
