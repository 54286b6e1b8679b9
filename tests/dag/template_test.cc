#include "dag/template.h"

#include <gtest/gtest.h>
#include <stdio.h>

#include <string>

namespace pipeline {
namespace {

std::map<std::string, ParamValue> Params() {
  std::map<std::string, ParamValue> p;
  p["n_rows"] = ParamValue{ParamValue::Type::kInt, "1000"};
  p["name"] = ParamValue{ParamValue::Type::kString, "abc"};
  return p;
}

TemplateContext Ctx(const std::map<std::string, ParamValue>* params) {
  TemplateContext ctx;
  ctx.params = params;
  ctx.run_id = "20261122T183045-3fa9c2";
  ctx.dag = "ml";
  ctx.task = "train";
  ctx.attempt = 2;
  ctx.logical_date = "2026-11-22T00:00:00Z";
  ctx.ds = "2026-11-22";
  return ctx;
}

std::string Expand(std::string_view text, const std::map<std::string, ParamValue>& params,
                   bool shell_quote = false) {
  std::string out, err;
  EXPECT_TRUE(ExpandTemplate(text, Ctx(&params), shell_quote, &out, &err)) << err;
  return out;
}

TEST(TemplateTest, EveryVariable) {
  auto p = Params();
  EXPECT_EQ(Expand("{{run_id}}|{{ dag }}|{{  task  }}|{{ attempt }}|{{ logical_date }}|{{ ds }}|"
                   "{{ params.n_rows }}|{{params.name}}",
                   p),
            "20261122T183045-3fa9c2|ml|train|2|2026-11-22T00:00:00Z|2026-11-22|1000|abc");
}

TEST(TemplateTest, CheckRecordsParams) {
  auto p = Params();
  std::vector<std::string> used;
  std::string err;
  size_t off = 0;
  EXPECT_TRUE(CheckTemplate("a {{ params.name }} {{ ds }} {{ params.n_rows }} {{ params.name }}", p,
                            &used, &err, &off));
  EXPECT_EQ(used, (std::vector<std::string>{"name", "n_rows", "name"}));
}

TEST(TemplateTest, UnknownVariable) {
  auto p = Params();
  std::string err;
  size_t off = 0;
  EXPECT_FALSE(CheckTemplate("echo {{ run_di }}", p, nullptr, &err, &off));
  EXPECT_EQ(err, "unknown template variable 'run_di'; did you mean 'run_id'?");
  EXPECT_EQ(off, 8u);
  EXPECT_FALSE(CheckTemplate("{{ parms.name }}", p, nullptr, &err, &off));
  EXPECT_EQ(err, "unknown template variable 'parms.name'; did you mean 'params.name'?");
}

TEST(TemplateTest, UndeclaredParamDidYouMean) {
  auto p = Params();
  std::string err;
  size_t off = 0;
  EXPECT_FALSE(CheckTemplate("x {{ params.n_rws }}", p, nullptr, &err, &off));
  EXPECT_EQ(err, "undeclared param 'n_rws' in template; did you mean 'params.n_rows'?");
  EXPECT_EQ(off, 5u);
}

TEST(TemplateTest, Unterminated) {
  auto p = Params();
  std::string err, out;
  size_t off = 0;
  EXPECT_FALSE(CheckTemplate("echo {{ ds", p, nullptr, &err, &off));
  EXPECT_EQ(off, 5u);
  EXPECT_NE(err.find("unterminated '{{'"), std::string::npos) << err;
  EXPECT_FALSE(ExpandTemplate("echo {{ ds", Ctx(&p), false, &out, &err));
  EXPECT_FALSE(CheckTemplate("{{ }}", p, nullptr, &err, &off));
  EXPECT_EQ(err, "empty placeholder '{{ }}'");
}

TEST(TemplateTest, Literal) {
  auto p = Params();
  EXPECT_EQ(Expand("a {{ \"{{\" }} b }}", p), "a {{ b }}");
  EXPECT_EQ(Expand("{{\"}}\"}}", p), "}}");
  EXPECT_EQ(Expand("{{ '{{ ds }}' }}", p), "{{ ds }}");
  std::string err;
  size_t off = 0;
  std::vector<std::string> used;
  EXPECT_TRUE(CheckTemplate("{{ \"{{ params.nope }}\" }}", p, &used, &err, &off));
  EXPECT_TRUE(used.empty());
}

TEST(TemplateTest, OnePassOnly) {
  auto p = Params();
  p["evil"] = ParamValue{ParamValue::Type::kString, "{{ run_id }}"};
  EXPECT_EQ(Expand("v={{ params.evil }}", p), "v={{ run_id }}");
  EXPECT_EQ(Expand("v={{ params.evil }}", p, true), "v='{{ run_id }}'");
}

TEST(TemplateTest, ExpandOutputsAndInputs) {
  auto p = Params();
  std::map<std::string, std::string> outputs = {{"model", "runs/r1/model dir/m.json"}};
  std::map<std::string, std::string> inputs = {{"table", "data/t.csv"}};
  TemplateContext ctx = Ctx(&p);
  ctx.outputs = &outputs;
  ctx.inputs = &inputs;
  std::string out, err;
  ASSERT_TRUE(ExpandTemplate("train {{ inputs.table }} {{outputs.model}}", ctx, true, &out, &err))
      << err;
  EXPECT_EQ(out, "train data/t.csv 'runs/r1/model dir/m.json'");
  ASSERT_TRUE(ExpandTemplate("{{ outputs.model }}", ctx, false, &out, &err)) << err;
  EXPECT_EQ(out, "runs/r1/model dir/m.json");
  EXPECT_FALSE(ExpandTemplate("{{ outputs.nope }}", ctx, false, &out, &err));
  EXPECT_EQ(err, "'outputs.nope' is not available here (no resolved path for output 'nope')");
  ctx.inputs = nullptr;
  EXPECT_FALSE(ExpandTemplate("{{ inputs.table }}", ctx, false, &out, &err));
  EXPECT_EQ(err, "'inputs.table' is not available here (no resolved path for input 'table')");
}

TEST(TemplateTest, CheckOutputsAndInputs) {
  auto p = Params();
  std::vector<OutputDecl> outputs(2);
  outputs[0].name = "model";
  outputs[1].name = "report";
  std::vector<InputDecl> inputs(1);
  inputs[0].name = "table";
  TemplateScope scope;
  scope.outputs = &outputs;
  scope.inputs = &inputs;
  std::vector<std::string> used;
  std::string err;
  size_t off = 0;
  EXPECT_TRUE(CheckTemplate("{{ outputs.model }} {{ outputs.report }} {{ inputs.table }} "
                            "{{ params.name }}",
                            p, scope, &used, &err, &off))
      << err;
  EXPECT_EQ(used, std::vector<std::string>{"name"});
  EXPECT_FALSE(CheckTemplate("x {{ outputs.modl }}", p, scope, &used, &err, &off));
  EXPECT_EQ(err, "unknown output 'modl' in template; did you mean 'outputs.model'?");
  EXPECT_EQ(off, 5u);
  EXPECT_FALSE(CheckTemplate("{{ inputs.zzzzzz }}", p, scope, &used, &err, &off));
  EXPECT_EQ(err, "unknown input 'zzzzzz' in template (the task declares: table)");
  EXPECT_FALSE(CheckTemplate("{{ output.model }}", p, scope, &used, &err, &off));
  EXPECT_EQ(err, "unknown template variable 'output.model'; did you mean 'outputs.model'?");
  // Without declarations (the old overload): no outputs at all.
  EXPECT_FALSE(CheckTemplate("{{ outputs.model }}", p, &used, &err, &off));
  EXPECT_EQ(err, "unknown output 'model': the task declares no outputs (add 'outputs:' to the task)");
  // Not allowed at all, whatever is declared.
  scope.allow_artifacts = false;
  EXPECT_FALSE(CheckTemplate("a/{{ inputs.table }}", p, scope, &used, &err, &off));
  EXPECT_EQ(off, 5u);
  EXPECT_EQ(err.rfind("'inputs.table' cannot be used here", 0), 0u) << err;
  EXPECT_TRUE(CheckTemplate("{{ params.n_rows }}/{{ run_id }}/{{ ds }}", p, scope, &used, &err, &off));
}

// Runs |command| with /bin/sh -c and returns its stdout.
std::string RunShell(const std::string& command) {
  FILE* f = popen(command.c_str(), "r");
  if (!f) return "<popen failed>";
  std::string out;
  char buf[256];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

TEST(TemplateTest, ShellQuotingKeepsParamsAsData) {
  const std::string payloads[] = {
      "\"; rm -rf ~ #", "$(id)", "`id`", "a\nb", "it's", "'", "''; echo pwned '", "", " a  b ",
      "$HOME", "*", "a;b|c&d>e<f", "\\", "{{ run_id }}",
  };
  for (const std::string& value : payloads) {
    std::map<std::string, ParamValue> p;
    p["x"] = ParamValue{ParamValue::Type::kString, value};
    std::string cmd = Expand("printf '%s|' {{ params.x }}", p, true);
    EXPECT_EQ(RunShell(cmd), value + "|") << "command: " << cmd;
  }
}

}  // namespace
}  // namespace pipeline
