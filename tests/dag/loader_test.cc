#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "dag/expr.h"
#include "pipeline/dag.h"
#include "testing/temp_dir.h"

namespace pipeline {
namespace {

constexpr char kFull[] = R"(dag: ml_pipeline
description: Nightly churn model
params: {n_rows: 1000, min_accuracy: 0.8, name: abc, flag: true, id: "123", big: 1e5}
env: {PYTHONUNBUFFERED: "1", NUM: 5, WHO: "{{ params.name }}"}
defaults: {retries: 1, retry_delay: 2s, timeout: 10m, trigger_rule: all_done, kill_grace: 3s, max_retry_delay: 2m, pool: cpu}
pools: {gpu: 1, cpu: 4}
tasks:
  ingest:
    command: python3 examples/ml/ingest.py --rows {{ params.n_rows }}
  validate:
    depends_on: [ingest]
    argv: [python3, examples/ml/validate.py, "{{ params.min_accuracy }}"]
    retries: 3
    retry_delay: 1s
    max_retry_delay: 5m
    timeout: 30s
    kill_grace: 5s
    trigger_rule: one_failed
    env: {LEVEL: strict, NUM: "6"}
    workdir: examples/{{ params.name }}
    pool: gpu
    priority: 10
    description: text
  train:
    depends_on: validate
    command: echo {{ ds }}
)";

// Every artifact, caching and gate key.
constexpr char kArtifacts[] = R"(dag: ml
params: {min_accuracy: 0.8, split: 0.2, out: data}
defaults: {cache: false}
tasks:
  ingest:
    command: python3 ingest.py --out {{ outputs.raw }}
    outputs: {raw: "{{ params.out }}/raw.csv"}
    cache: true
  features:
    argv: [python3, f.py, "{{ inputs.raw }}", "{{ outputs.table }}"]
    inputs: {raw: ingest.raw}
    outputs: {table: {path: "data/features-{{ params.split }}.parquet"}}
    env: {TABLE: "{{ outputs.table }}"}
  train:
    depends_on: [features]
    inputs: {table: features.table, ref: {path: ./data/reference.csv}}
    outputs:
      model: {path: data/model.json, kind: model}
      report: {path: reports/train/, kind: report}
    code: [examples/ml/train.py, examples/ml/common.py, examples/ml/train.py]
    metrics: "{{ outputs.report }}/metrics.json"
    command: python3 train.py --in {{ inputs.table }} --ref {{ inputs.ref }} --model {{ outputs.model }}
  deploy:
    command: echo deploy
    depends_on: [train]
    when: metrics.train.accuracy >= params.min_accuracy and (production.metrics.train.accuracy == null or metrics.train.accuracy >= production.metrics.train.accuracy)
    promote: {model: churn, alias: production, artifact: train.model}
  all_kinds:
    command: x
    outputs:
      a: {path: a, kind: dataset}
      b: {path: b, kind: metrics}
      c: {path: c, kind: code}
      d: {path: d, kind: other}
      e: {path: e}
    code: single.py
    when: 'models.churn.production.metrics["my.task"].f1 != null or not params.min_accuracy > 1'
)";

bool Load(const std::string& text, Dag* dag, std::vector<Diagnostic>* errors,
          const LoadOptions& options = {}) {
  return LoadDagFromString(text, "x.yaml", options, dag, errors);
}

std::vector<Diagnostic> Errors(const std::string& text, const LoadOptions& options = {}) {
  Dag dag;
  std::vector<Diagnostic> errors;
  EXPECT_FALSE(Load(text, &dag, &errors, options)) << "loaded unexpectedly:\n" << text;
  return errors;
}

std::string Dump(const std::vector<Diagnostic>& errors) {
  std::string out;
  for (const Diagnostic& d : errors) out += FormatDiagnostic(d);
  return out;
}

// True if some error has exactly |message| at |line|:|col|.
::testing::AssertionResult Has(const std::vector<Diagnostic>& errors, int line, int col,
                               const std::string& message) {
  for (const Diagnostic& d : errors) {
    if (d.line == line && d.col == col && d.message == message)
      return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no error " << line << ":" << col << " '" << message
                                       << "' among:\n"
                                       << Dump(errors);
}

// Minimal valid DAG with extra task text appended.
std::string WithTasks(const std::string& tasks) { return "dag: d\ntasks:\n" + tasks; }

TEST(LoaderTest, FullFileWithEveryKey) {
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load(kFull, &dag, &errors)) << Dump(errors);
  EXPECT_EQ(dag.id, "ml_pipeline");
  EXPECT_EQ(dag.description, "Nightly churn model");
  EXPECT_EQ(dag.file, "x.yaml");
  ASSERT_EQ(dag.params.size(), 6u);
  EXPECT_EQ(dag.params["n_rows"].type, ParamValue::Type::kInt);
  EXPECT_EQ(dag.params["n_rows"].text, "1000");
  EXPECT_EQ(dag.params["min_accuracy"].type, ParamValue::Type::kFloat);
  EXPECT_EQ(dag.params["min_accuracy"].text, "0.8");
  EXPECT_EQ(dag.params["big"].type, ParamValue::Type::kFloat);
  EXPECT_EQ(dag.params["name"].type, ParamValue::Type::kString);
  EXPECT_EQ(dag.params["flag"].type, ParamValue::Type::kBool);
  EXPECT_EQ(dag.params["id"].type, ParamValue::Type::kString);
  EXPECT_EQ(dag.params["id"].text, "123");
  EXPECT_EQ(dag.env, (std::vector<std::pair<std::string, std::string>>{
                         {"NUM", "5"}, {"PYTHONUNBUFFERED", "1"}, {"WHO", "{{ params.name }}"}}));
  EXPECT_EQ(dag.pools, (std::map<std::string, int>{{"cpu", 4}, {"gpu", 1}}));
  ASSERT_EQ(dag.tasks.size(), 3u);

  const Task& ingest = dag.tasks[0];
  EXPECT_EQ(ingest.id, "ingest");
  EXPECT_EQ(ingest.line, 8);
  EXPECT_EQ(ingest.col, 3);
  EXPECT_EQ(ingest.command, "python3 examples/ml/ingest.py --rows {{ params.n_rows }}");
  EXPECT_TRUE(ingest.argv.empty());
  EXPECT_EQ(ingest.retries, 1);
  EXPECT_EQ(ingest.retry_delay_ms, 2000);
  EXPECT_EQ(ingest.max_retry_delay_ms, 120000);
  EXPECT_EQ(ingest.timeout_ms, 600000);
  EXPECT_EQ(ingest.kill_grace_ms, 3000);
  EXPECT_EQ(ingest.trigger_rule, TriggerRule::kAllDone);
  EXPECT_EQ(ingest.pool, "cpu");
  EXPECT_EQ(ingest.downstream, std::vector<int>{1});
  EXPECT_EQ(ingest.params_used, (std::vector<std::string>{"n_rows", "name"}));
  EXPECT_FALSE(ingest.priority_set);
  EXPECT_EQ(ingest.priority, 3);

  const Task& validate = dag.tasks[1];
  EXPECT_EQ(validate.argv, (std::vector<std::string>{"python3", "examples/ml/validate.py",
                                                     "{{ params.min_accuracy }}"}));
  EXPECT_TRUE(validate.command.empty());
  EXPECT_EQ(validate.depends_on, std::vector<std::string>{"ingest"});
  EXPECT_EQ(validate.upstream, std::vector<int>{0});
  EXPECT_EQ(validate.downstream, std::vector<int>{2});
  EXPECT_EQ(validate.retries, 3);
  EXPECT_EQ(validate.retry_delay_ms, 1000);
  EXPECT_EQ(validate.max_retry_delay_ms, 300000);
  EXPECT_EQ(validate.timeout_ms, 30000);
  EXPECT_EQ(validate.kill_grace_ms, 5000);
  EXPECT_EQ(validate.trigger_rule, TriggerRule::kOneFailed);
  EXPECT_EQ(validate.env, (std::vector<std::pair<std::string, std::string>>{
                              {"LEVEL", "strict"},
                              {"NUM", "6"},
                              {"PYTHONUNBUFFERED", "1"},
                              {"WHO", "{{ params.name }}"}}));
  EXPECT_EQ(validate.workdir, "examples/{{ params.name }}");
  EXPECT_EQ(validate.pool, "gpu");
  EXPECT_TRUE(validate.priority_set);
  EXPECT_EQ(validate.priority, 10);
  EXPECT_EQ(validate.params_used, (std::vector<std::string>{"min_accuracy", "name"}));

  const Task& train = dag.tasks[2];
  EXPECT_EQ(train.depends_on, std::vector<std::string>{"validate"});
  EXPECT_EQ(train.upstream, std::vector<int>{1});
  EXPECT_TRUE(train.downstream.empty());
  EXPECT_EQ(train.priority, 1);
  EXPECT_EQ(dag.FindTask("train"), &dag.tasks[2]);
  EXPECT_EQ(dag.FindTask("nope"), nullptr);
  EXPECT_FALSE(dag.canonical.empty());
}

TEST(LoaderTest, DefaultsWithoutDefaultsSection) {
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load(WithTasks("  a: {command: x}\n"), &dag, &errors)) << Dump(errors);
  const Task& a = dag.tasks[0];
  EXPECT_EQ(a.retries, 0);
  EXPECT_EQ(a.retry_delay_ms, 0);
  EXPECT_EQ(a.max_retry_delay_ms, 3600000);
  EXPECT_EQ(a.timeout_ms, 0);
  EXPECT_EQ(a.kill_grace_ms, 5000);
  EXPECT_EQ(a.trigger_rule, TriggerRule::kAllSuccess);
  EXPECT_EQ(a.pool, "");
  EXPECT_EQ(a.priority, 1);
}

TEST(LoaderTest, FormatDiagnosticShape) {
  auto errors = Errors("dag: d\ntasks:\n  train:\n    command: x\n    retires: 3\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(FormatDiagnostic(errors[0], 7),
            "x.yaml:5:5: error: unknown key 'retires' in task 'train'; did you mean 'retries'?\n"
            "        retires: 3\n"
            "        ^~~~~~~\n");
}

TEST(LoaderTest, MissingRequiredKeys) {
  auto errors = Errors("description: x\n");
  EXPECT_TRUE(Has(errors, 1, 1, "missing required key 'dag' (the DAG's id)"));
  EXPECT_TRUE(Has(errors, 1, 1, "missing required key 'tasks' (a map of task id -> task)"));
  errors = Errors("dag: ~\ntasks:\n");
  EXPECT_TRUE(Has(errors, 1, 6, "'dag' has no value; expected a string"));
  EXPECT_TRUE(Has(errors, 3, 1, "'tasks' is empty; a DAG needs at least one task"));
  errors = Errors("dag: d\ntasks: {}\n");
  EXPECT_TRUE(Has(errors, 2, 8, "'tasks' is empty; a DAG needs at least one task"));
}

TEST(LoaderTest, EmptyAndNonMapFiles) {
  auto errors = Errors("");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "empty file; expected a mapping with 'dag' and 'tasks'");
  errors = Errors("# nothing\n\n");
  EXPECT_EQ(errors[0].message, "empty file; expected a mapping with 'dag' and 'tasks'");
  errors = Errors("- a\n- b\n");
  EXPECT_TRUE(Has(errors, 1, 1,
                  "expected a mapping with 'dag' and 'tasks' at the top level, got a list"));
}

TEST(LoaderTest, UnknownKeysEverywhere) {
  auto errors = Errors(
      "dag: d\n"
      "taks: {}\n"
      "defaults: {retires: 1}\n"
      "tasks:\n"
      "  train:\n"
      "    command: x\n"
      "    retires: 3\n"
      "    zzzzzz: 1\n");
  EXPECT_TRUE(Has(errors, 2, 1, "unknown key 'taks' at the top level; did you mean 'tasks'?"));
  EXPECT_TRUE(Has(errors, 3, 12, "unknown key 'retires' in 'defaults'; did you mean 'retries'?"));
  EXPECT_TRUE(Has(errors, 7, 5, "unknown key 'retires' in task 'train'; did you mean 'retries'?"));
  EXPECT_TRUE(Has(errors, 8, 5,
                  "unknown key 'zzzzzz' in task 'train' (allowed: command, argv, depends_on, "
                  "retries, retry_delay, max_retry_delay, timeout, kill_grace, trigger_rule, env, "
                  "workdir, pool, priority, description, outputs, inputs, code, metrics, cache, "
                  "when, promote)"));
  EXPECT_EQ(errors.size(), 4u) << Dump(errors);
}

TEST(LoaderTest, IntegerFieldsAreStrict) {
  auto errors = Errors(WithTasks(
      "  a: {command: x, retries: \"3\"}\n"
      "  b: {command: x, retries: 3x}\n"
      "  c: {command: x, retries: -1}\n"
      "  d: {command: x, retries: 1e309}\n"
      "  e: {command: x, retries: 1180591620717411303424}\n"
      "  f: {command: x, retries: 1.5}\n"
      "  g: {command: x, retries: 101}\n"
      "  h: {command: x, retries: ~}\n"
      "  i: {command: x, retries: [1]}\n"));
  EXPECT_TRUE(Has(errors, 3, 28,
                  "'retries' in task 'a' must be an integer, got the quoted string '3' (remove "
                  "the quotes)"));
  EXPECT_TRUE(Has(errors, 4, 28, "'retries' in task 'b' must be an integer, got '3x'"));
  EXPECT_TRUE(Has(errors, 5, 28, "'retries' in task 'c' must be between 0 and 100, got '-1'"));
  EXPECT_TRUE(Has(errors, 6, 28, "'retries' in task 'd' must be an integer, got '1e309'"));
  EXPECT_TRUE(Has(errors, 7, 28,
                  "'retries' in task 'e' must be between 0 and 100, got "
                  "'1180591620717411303424'"));
  EXPECT_TRUE(Has(errors, 8, 28, "'retries' in task 'f' must be an integer, got '1.5'"));
  EXPECT_TRUE(Has(errors, 9, 28, "'retries' in task 'g' must be between 0 and 100, got '101'"));
  EXPECT_TRUE(Has(errors, 10, 28, "'retries' in task 'h' has no value; expected an integer"));
  EXPECT_TRUE(Has(errors, 11, 28, "'retries' in task 'i' must be an integer, got a list"));
  EXPECT_EQ(errors.size(), 9u) << Dump(errors);
}

TEST(LoaderTest, DurationsAndTriggerRules) {
  auto errors = Errors(WithTasks(
      "  a:\n"
      "    command: x\n"
      "    timeout: 0\n"
      "    kill_grace: 0s\n"
      "    retry_delay: soon\n"
      "    max_retry_delay: {a: 1}\n"
      "    trigger_rule: all_sucess\n"));
  EXPECT_TRUE(Has(errors, 5, 14,
                  "'timeout' in task 'a' must be greater than 0; omit it for no timeout"));
  EXPECT_TRUE(Has(errors, 6, 17, "'kill_grace' in task 'a' must be greater than 0"));
  ASSERT_TRUE(Has(errors, 7, 18,
                  "'retry_delay' in task 'a': invalid duration 'soon': expected a digit at "
                  "position 1 (expected a duration like 500ms, 30s, 10m or 1h30m)"));
  EXPECT_TRUE(Has(errors, 8, 22,
                  "'max_retry_delay' in task 'a' must be a duration like 30s, 10m or 1h30m, got "
                  "a map"));
  EXPECT_TRUE(Has(errors, 9, 19,
                  "'trigger_rule' in task 'a': unknown trigger rule 'all_sucess'; did you mean "
                  "'all_success'?"));
  EXPECT_EQ(errors.size(), 5u) << Dump(errors);
}

TEST(LoaderTest, EveryTriggerRuleParses) {
  for (const char* name :
       {"all_success", "all_done", "all_failed", "one_success", "one_failed", "none_failed"}) {
    Dag dag;
    std::vector<Diagnostic> errors;
    ASSERT_TRUE(Load(WithTasks(std::string("  a: {command: x, trigger_rule: ") + name + "}\n"),
                     &dag, &errors))
        << Dump(errors);
    EXPECT_STREQ(TriggerRuleName(dag.tasks[0].trigger_rule), name);
  }
  TriggerRule r;
  EXPECT_FALSE(ParseTriggerRule("All_Success", &r));
  EXPECT_STREQ(ParamTypeName(ParamValue::Type::kFloat), "number");
}

TEST(LoaderTest, CommandAndArgv) {
  auto errors = Errors(WithTasks(
      "  both: {command: x, argv: [y]}\n"
      "  neither: {retries: 1}\n"
      "  empty_argv: {argv: []}\n"
      "  bad_argv: {argv: [a, [b], ~]}\n"
      "  argv_str: {argv: a b}\n"
      "  empty_cmd: {command: \"\"}\n"
      "  null_cmd: {command: ~}\n"
      "  nulltask:\n"
      "  listtask: [a]\n"));
  EXPECT_TRUE(Has(errors, 3, 22,
                  "task 'both' sets both 'command' and 'argv'; use exactly one (argv runs "
                  "without a shell)"));
  EXPECT_TRUE(Has(errors, 4, 3, "task 'neither' needs 'command' or 'argv'"));
  EXPECT_TRUE(Has(errors, 5, 22, "'argv' in task 'empty_argv' must not be empty"));
  EXPECT_TRUE(Has(errors, 6, 24, "item 2 of 'argv' in task 'bad_argv' must be a string, got a list"));
  EXPECT_TRUE(Has(errors, 6, 29, "item 3 of 'argv' in task 'bad_argv' has no value; expected a string"));
  EXPECT_TRUE(Has(errors, 7, 20,
                  "'argv' in task 'argv_str' must be a non-empty list of strings, got 'a b'"));
  EXPECT_TRUE(Has(errors, 8, 24, "'command' in task 'empty_cmd' must not be empty"));
  EXPECT_TRUE(Has(errors, 9, 23, "'command' in task 'null_cmd' has no value; expected a string"));
  EXPECT_TRUE(Has(errors, 10, 3,
                  "task 'nulltask' is empty; expected a map with 'command' or 'argv'"));
  EXPECT_TRUE(Has(errors, 11, 13, "task 'listtask' must be a map, got a list"));
}

TEST(LoaderTest, InvalidIds) {
  auto errors = Errors(
      "dag: ../x\n"
      "params: {9lives: 1, ok: 2}\n"
      "env: {BAD-NAME: x}\n"
      "pools: {\"a b\": 1, gpu: 0}\n"
      "tasks:\n"
      "  a/b: {command: x}\n"
      "  \"<img onerror=x>\": {command: x}\n"
      "  \"\": {command: x}\n"
      "  " + std::string(129, 'x') + ": {command: x}\n");
  EXPECT_TRUE(Has(errors, 1, 6,
                  "invalid dag id '../x': use 1-128 letters, digits, '_', '.' or '-'"));
  EXPECT_TRUE(Has(errors, 2, 10,
                  "invalid param name '9lives': use letters, digits and '_', not starting with "
                  "a digit"));
  EXPECT_TRUE(Has(errors, 3, 7,
                  "invalid env name 'BAD-NAME' at the top level: use letters, digits and '_', "
                  "not starting with a digit"));
  EXPECT_TRUE(Has(errors, 4, 9,
                  "invalid pool name 'a b': use letters, digits and '_', not starting with a "
                  "digit"));
  EXPECT_TRUE(Has(errors, 4, 24, "pool 'gpu' must be between 1 and 1000000, got '0'"));
  EXPECT_TRUE(Has(errors, 6, 3,
                  "invalid task id 'a/b': use 1-128 letters, digits, '_', '.' or '-'"));
  EXPECT_TRUE(Has(errors, 7, 3,
                  "invalid task id '<img onerror=x>': use 1-128 letters, digits, '_', '.' or '-'"));
  EXPECT_TRUE(Has(errors, 8, 3, "invalid task id '': use 1-128 letters, digits, '_', '.' or '-'"));
  EXPECT_EQ(errors.size(), 9u) << Dump(errors);
}

TEST(LoaderTest, PoolsMustBeDeclared) {
  auto errors = Errors(
      "dag: d\npools: {gpu: 2}\ndefaults: {pool: cpu}\ntasks:\n  a: {command: x, pool: gpus}\n");
  EXPECT_TRUE(Has(errors, 3, 18, "pool 'cpu' in 'defaults' is not declared; did you mean 'gpu'?"));
  EXPECT_TRUE(Has(errors, 5, 25, "pool 'gpus' in task 'a' is not declared; did you mean 'gpu'?"));
  errors = Errors("dag: d\ntasks:\n  a: {command: x, pool: accelerators}\n");
  EXPECT_TRUE(Has(errors, 3, 25,
                  "pool 'accelerators' in task 'a' is not declared (declare it under top-level "
                  "'pools:', e.g. pools: {accelerators: 1})"));
}

TEST(LoaderTest, ParamTyping) {
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load("dag: d\nparams: {i: -42, f: 100.0, e: 1.5e3, s: hello world, q: '7', "
                   "b: false, t: \"true\", z: 007, hex: 0x1F}\ntasks:\n  a: {command: x}\n",
                   &dag, &errors))
      << Dump(errors);
  EXPECT_EQ(dag.params["i"].type, ParamValue::Type::kInt);
  EXPECT_EQ(dag.params["i"].text, "-42");
  EXPECT_EQ(dag.params["f"].type, ParamValue::Type::kFloat);
  EXPECT_EQ(dag.params["f"].text, "100.0");
  EXPECT_EQ(dag.params["e"].text, "1500.0");
  EXPECT_EQ(dag.params["s"].text, "hello world");
  EXPECT_EQ(dag.params["q"].type, ParamValue::Type::kString);
  EXPECT_EQ(dag.params["b"].type, ParamValue::Type::kBool);
  EXPECT_EQ(dag.params["t"].type, ParamValue::Type::kString);
  EXPECT_EQ(dag.params["z"].type, ParamValue::Type::kInt);
  EXPECT_EQ(dag.params["z"].text, "7");
  EXPECT_EQ(dag.params["hex"].type, ParamValue::Type::kString);

  errors = Errors(
      "dag: d\n"
      "params:\n"
      "  a: yes\n"
      "  b: 1e309\n"
      "  c: 1180591620717411303424\n"
      "  d: ~\n"
      "  e: [1]\n"
      "  f: .inf\n"
      "  g: Off\n"
      "tasks:\n  a: {command: x}\n");
  EXPECT_TRUE(Has(errors, 3, 6,
                  "param 'a': ambiguous YAML 1.1 boolean 'yes'; quote it or write true/false"));
  EXPECT_TRUE(Has(errors, 4, 6,
                  "param 'b': number out of range (not a finite 64-bit number): '1e309'"));
  EXPECT_TRUE(Has(errors, 5, 6, "param 'c': integer out of range (64-bit)"));
  EXPECT_TRUE(Has(errors, 6, 6, "param 'd' has no default value; write \"\" for an empty string"));
  EXPECT_TRUE(Has(errors, 7, 6, "param 'e' must be a string, number or boolean, got a list"));
  EXPECT_TRUE(Has(errors, 8, 6, "param 'f': not a finite number: '.inf'; quote it for a string"));
  EXPECT_TRUE(Has(errors, 9, 6,
                  "param 'g': ambiguous YAML 1.1 boolean 'Off'; quote it or write true/false"));
}

TEST(LoaderTest, EnvValues) {
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load("dag: d\nenv: {A: 1.50, B: true, C: plain}\ntasks:\n  a: {command: x, env: {A: "
                   "override}}\n",
                   &dag, &errors))
      << Dump(errors);
  EXPECT_EQ(dag.tasks[0].env, (std::vector<std::pair<std::string, std::string>>{
                                  {"A", "override"}, {"B", "true"}, {"C", "plain"}}));
  errors = Errors("dag: d\nenv: {A: ~, B: [x]}\ntasks:\n  a: {command: x}\n");
  EXPECT_TRUE(Has(errors, 2, 10,
                  "env 'A' at the top level has no value; write \"\" for an empty string"));
  EXPECT_TRUE(Has(errors, 2, 16, "env 'B' at the top level must be a string, got a list"));
}

TEST(LoaderTest, DuplicateKeysAtEveryLevel) {
  auto errors = Errors(
      "dag: d\n"
      "params: {n: 1, n: 2}\n"
      "tasks:\n"
      "  a:\n"
      "    command: x\n"
      "    command: y\n"
      "  b: {command: x}\n"
      "  a: {command: z}\n"
      "tasks: {}\n");
  EXPECT_TRUE(Has(errors, 2, 16, "duplicate key 'n' (first defined at line 2)"));
  EXPECT_TRUE(Has(errors, 6, 5, "duplicate key 'command' (first defined at line 5)"));
  EXPECT_TRUE(Has(errors, 8, 3, "duplicate key 'a' (first defined at line 4)"));
  EXPECT_TRUE(Has(errors, 9, 1, "duplicate key 'tasks' (first defined at line 3)"));
  EXPECT_EQ(errors.size(), 4u) << Dump(errors);
}

TEST(LoaderTest, ManyDuplicateTaskIds) {
  std::string text = "dag: d\ntasks:\n";
  for (int i = 0; i < 50; ++i) text += "  t" + std::to_string(i) + ": {command: x}\n";
  text += "  t3: {command: y}\n";  // line 53
  auto errors = Errors(text);
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  EXPECT_TRUE(Has(errors, 53, 3, "duplicate key 't3' (first defined at line 6)"));
}

TEST(LoaderTest, TabInIndentation) {
  auto errors = Errors("dag: d\ntasks:\n\ta: {command: x}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(Has(errors, 3, 1, "tab character in indentation (YAML allows only spaces)"));
  errors = Errors("dag: d\ntasks:\n  a:\n  \t command: x\n");
  EXPECT_TRUE(Has(errors, 4, 3, "tab character in indentation (YAML allows only spaces)"));
  // Tabs inside a block scalar's content and after a key are data, not indentation.
  Dag dag;
  std::vector<Diagnostic> ok_errors;
  EXPECT_TRUE(Load("dag: d\ntasks:\n  a:\n    command: |\n      if true; then\n      \techo "
                   "hi\n      fi\n    retries:\t2\n",
                   &dag, &ok_errors))
      << Dump(ok_errors);
  EXPECT_EQ(dag.tasks[0].command, "if true; then\n\techo hi\nfi\n");
}

TEST(LoaderTest, SyntaxErrorHasPosition) {
  auto errors = Errors("dag: d\ntasks:\n  a: {command: x\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_GT(errors[0].line, 0);
  EXPECT_EQ(errors[0].message.rfind("YAML syntax error: ", 0), 0u) << errors[0].message;
}

TEST(LoaderTest, DeepNestingIsAnErrorNotACrash) {
  auto errors = Errors(std::string(20000, '['));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "nesting deeper than 64 levels");
  EXPECT_EQ(errors[0].line, 1);
  errors = Errors("dag: " + std::string(20000, '{') + "x");
  ASSERT_EQ(errors.size(), 1u);
  errors = Errors(std::string(20000, '[') + "x" + std::string(20000, ']'));
  ASSERT_EQ(errors.size(), 1u);
  LoadOptions deep;
  deep.max_depth = 100000;  // yaml-cpp's own guard must still hold
  errors = Errors(std::string(20000, '['), deep);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("nesting too deep"), std::string::npos) << errors[0].message;
}

TEST(LoaderTest, BillionLaughsFailsFast) {
  std::string text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i <= 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) text += (j ? ", " : "") + prev;
    text += "]\n";
  }
  text += "dag: d\ntasks: {a: {command: x}}\n";
  auto start = std::chrono::steady_clock::now();
  auto errors = Errors(text);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  EXPECT_NE(errors[0].message.find("alias expansion exceeds 2000000 nodes"), std::string::npos)
      << errors[0].message;
  EXPECT_EQ(errors[0].line, 7);  // a6 is the first level past two million
  // Not a timing assertion on speed, only a guard against exponential work.
  EXPECT_LT(elapsed, std::chrono::seconds(20));
}

TEST(LoaderTest, SelfReferentialAnchor) {
  auto errors = Errors("dag: d\nx: &a [1, *a]\ntasks: {a: {command: x}}\n");
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  EXPECT_TRUE(Has(errors, 2, 11,
                  "alias '*a' refers to a node that contains it (a recursive alias would never "
                  "end)"));
  errors = Errors("dag: d\ntasks: &t {a: {command: x, env: *t}}\n");
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  errors = Errors("dag: *nope\n");
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
}

TEST(LoaderTest, AliasesWork) {
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load("dag: d\ntasks:\n  a: &base {command: echo hi, retries: 2}\n  b: *base\n",
                   &dag, &errors))
      << Dump(errors);
  ASSERT_EQ(dag.tasks.size(), 2u);
  EXPECT_EQ(dag.tasks[1].command, "echo hi");
  EXPECT_EQ(dag.tasks[1].retries, 2);
}

TEST(LoaderTest, MultipleDocuments) {
  auto errors = Errors("dag: d\ntasks: {a: {command: x}}\n---\ndag: e\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].line, 3);
  EXPECT_EQ(errors[0].message,
            "more than one YAML document in the file (a second '---'); a DAG file holds exactly "
            "one");
}

TEST(LoaderTest, FileSizeLimit) {
  LoadOptions small;
  small.max_file_bytes = 10;
  auto errors = Errors(WithTasks("  a: {command: x}\n"), small);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "file is 32 bytes; the limit is 10");

  testing::TempDir dir;
  std::string path = dir.Write("big.yaml", WithTasks("  a: {command: x}\n"));
  Dag dag;
  errors.clear();
  EXPECT_FALSE(LoadDag(path, small, &dag, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].file, path);
  EXPECT_EQ(errors[0].message, "file is 32 bytes; the limit is 10");
}

TEST(LoaderTest, LoadDagFromFile) {
  testing::TempDir dir;
  std::string path = dir.Write("dags/x.yaml", kFull);
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(LoadDag(path, {}, &dag, &errors)) << Dump(errors);
  EXPECT_EQ(dag.file, path);
  EXPECT_EQ(dag.tasks.size(), 3u);
  EXPECT_FALSE(LoadDag(dir / "missing.yaml", {}, &dag, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message.rfind("cannot read the DAG file: ", 0), 0u) << errors[0].message;

  std::string bad = dir.Write("bad.yaml", "dag: d\ntasks:\n  a: {command: x, retries: x}\n");
  errors.clear();
  EXPECT_FALSE(LoadDag(bad, {}, &dag, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].file, bad);
  EXPECT_EQ(errors[0].source_line, "  a: {command: x, retries: x}");
}

TEST(LoaderTest, DependsOnErrors) {
  auto errors = Errors(WithTasks(
      "  ingest: {command: x}\n"
      "  train:\n"
      "    command: x\n"
      "    depends_on: [ingst, train, ingest, ingest, zzzzzzzz]\n"
      "  c: {command: x, depends_on: {a: 1}}\n"));
  EXPECT_TRUE(Has(errors, 6, 18,
                  "task 'train' depends on unknown task 'ingst'; did you mean 'ingest'?"));
  EXPECT_TRUE(Has(errors, 6, 25, "task 'train' depends on itself"));
  EXPECT_TRUE(Has(errors, 6, 48, "task 'train' depends on unknown task 'zzzzzzzz'"));
  EXPECT_TRUE(Has(errors, 7, 31, "'depends_on' in task 'c' must be a list of task ids, got a map"));
  EXPECT_EQ(errors.size(), 4u) << Dump(errors);
}

TEST(LoaderTest, DependsOnDuplicatesRemoved) {
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load(WithTasks("  a: {command: x}\n  b: {command: x, depends_on: [a, a]}\n"), &dag,
                   &errors));
  EXPECT_EQ(dag.tasks[1].depends_on, std::vector<std::string>{"a"});
  EXPECT_EQ(dag.tasks[1].upstream, std::vector<int>{0});
}

TEST(LoaderTest, TwoNodeCycle) {
  auto errors = Errors(WithTasks(
      "  a: {command: x, depends_on: [b]}\n"
      "  b: {command: x, depends_on: [a]}\n"));
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  EXPECT_TRUE(Has(errors, 3, 32, "cycle: a \xE2\x86\x92 b \xE2\x86\x92 a"));
}

TEST(LoaderTest, ThreeNodeCyclePath) {
  // b runs after a, c after b, and a after c.
  auto errors = Errors(WithTasks(
      "  a: {command: x, depends_on: [c]}\n"
      "  b: {command: x, depends_on: [a]}\n"
      "  c: {command: x, depends_on: [b]}\n"
      "  d: {command: x, depends_on: [c]}\n"));
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  EXPECT_TRUE(Has(errors, 3, 32, "cycle: a \xE2\x86\x92 b \xE2\x86\x92 c \xE2\x86\x92 a"));
}

TEST(LoaderTest, SelfLoop) {
  auto errors = Errors(WithTasks("  a: {command: x, depends_on: a}\n"));
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  EXPECT_TRUE(Has(errors, 3, 31, "task 'a' depends on itself"));
}

TEST(LoaderTest, OneCyclePerComponent) {
  auto errors = Errors(WithTasks(
      "  a: {command: x, depends_on: [b]}\n"
      "  b: {command: x, depends_on: [a]}\n"
      "  c: {command: x, depends_on: [d, a]}\n"
      "  d: {command: x, depends_on: [c]}\n"));
  ASSERT_EQ(errors.size(), 2u) << Dump(errors);
  EXPECT_TRUE(Has(errors, 3, 32, "cycle: a \xE2\x86\x92 b \xE2\x86\x92 a"));
  EXPECT_TRUE(Has(errors, 5, 32, "cycle: c \xE2\x86\x92 d \xE2\x86\x92 c"));
}

TEST(LoaderTest, TenThousandNodeCycle) {
  const int n = 10000;
  std::string text = "dag: d\ntasks:\n";
  for (int i = 0; i < n; ++i) {
    text += "  t" + std::to_string(i) + ": {command: x, depends_on: t" +
            std::to_string((i + n - 1) % n) + "}\n";
  }
  auto errors = Errors(text);
  ASSERT_EQ(errors.size(), 1u);
  const std::string& m = errors[0].message;
  EXPECT_EQ(m.rfind("cycle: t0 \xE2\x86\x92 t1 \xE2\x86\x92 t2", 0), 0u) << m.substr(0, 100);
  EXPECT_NE(m.find("t9999 \xE2\x86\x92 t0"), std::string::npos);
  EXPECT_EQ(errors[0].line, 3);  // t0's depends_on entry names t9999
}

TEST(LoaderTest, LongChainHasCriticalPathPriorities) {
  const int n = 10000;
  std::string text = "dag: d\ntasks:\n";
  for (int i = 0; i < n; ++i) {
    text += "  t" + std::to_string(i) + ": {command: x";
    if (i) text += ", depends_on: t" + std::to_string(i - 1);
    text += "}\n";
  }
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load(text, &dag, &errors)) << Dump(errors);
  EXPECT_EQ(dag.tasks[0].priority, n);
  EXPECT_EQ(dag.tasks[n - 1].priority, 1);
}

TEST(LoaderTest, PriorityIsCriticalPath) {
  Dag dag;
  std::vector<Diagnostic> errors;
  // a -> b -> c -> d, a -> e; f alone; g explicit.
  ASSERT_TRUE(Load(WithTasks("  a: {command: x}\n"
                             "  b: {command: x, depends_on: a}\n"
                             "  c: {command: x, depends_on: b}\n"
                             "  d: {command: x, depends_on: [c, a]}\n"
                             "  e: {command: x, depends_on: a}\n"
                             "  f: {command: x}\n"
                             "  g: {command: x, depends_on: e, priority: -5}\n"),
                   &dag, &errors))
      << Dump(errors);
  std::vector<int> prio;
  for (const Task& t : dag.tasks) prio.push_back(t.priority);
  EXPECT_EQ(prio, (std::vector<int>{4, 3, 2, 1, 2, 1, -5}));
  EXPECT_EQ(dag.tasks[0].downstream, (std::vector<int>{1, 3, 4}));
  EXPECT_EQ(dag.tasks[3].upstream, (std::vector<int>{2, 0}));
}

TEST(LoaderTest, MultipleErrorsAtOnceInFileOrder) {
  auto errors = Errors(
      "dag: d\n"
      "tasks:\n"
      "  a: {command: x, retries: many}\n"
      "  b: {command: x, depends_on: [nope]}\n"
      "  c: {comand: x}\n");
  ASSERT_EQ(errors.size(), 4u) << Dump(errors);
  EXPECT_EQ(errors[0].line, 3);
  EXPECT_EQ(errors[1].line, 4);
  EXPECT_EQ(errors[2].line, 5);
  EXPECT_EQ(errors[3].line, 5);
  EXPECT_TRUE(Has(errors, 5, 3, "task 'c' needs 'command' or 'argv'"));
  EXPECT_TRUE(Has(errors, 5, 7, "unknown key 'comand' in task 'c'; did you mean 'command'?"));
}

TEST(LoaderTest, TemplateErrorsPointInsideTheScalar) {
  auto errors = Errors(
      "dag: d\n"
      "params: {n_rows: 1}\n"
      "env: {A: \"{{ bogus }}\"}\n"
      "tasks:\n"
      "  a:\n"
      "    command: echo {{ params.n_rws }}\n"
      "    argv_like: 1\n"
      "  b:\n"
      "    argv: [echo, \"x {{ ds\"]\n"
      "    workdir: \"{{ parms.n_rows }}\"\n"
      "    env: {B: \"{{ tsk }}\"}\n"
      "  c:\n"
      "    command: |\n"
      "      echo {{ nope }}\n");
  EXPECT_TRUE(Has(errors, 3, 14,
                  "env 'A': unknown template variable 'bogus' (known: run_id, dag, task, attempt, "
                  "logical_date, ds, params.NAME)"));
  EXPECT_TRUE(Has(errors, 6, 22,
                  "'command' in task 'a': undeclared param 'n_rws' in template; did you mean "
                  "'params.n_rows'?"));
  EXPECT_TRUE(Has(errors, 9, 21,
                  "item 2 of 'argv' in task 'b': unterminated '{{' (missing '}}'; write {{ "
                  "\"{{\" }} for a literal '{{')"));
  EXPECT_TRUE(Has(errors, 10, 18,
                  "'workdir' in task 'b': unknown template variable 'parms.n_rows'; did you mean "
                  "'params.n_rows'?"));
  EXPECT_TRUE(Has(errors, 11, 18,
                  "env 'B' in task 'b': unknown template variable 'tsk'; did you mean 'task'?"));
  // Block scalars: the position is the scalar's.
  EXPECT_TRUE(Has(errors, 13, 14,
                  "'command' in task 'c': unknown template variable 'nope'; did you mean "
                  "'ds'?") ||
              Has(errors, 13, 14,
                  "'command' in task 'c': unknown template variable 'nope' (known: run_id, dag, "
                  "task, attempt, logical_date, ds, params.NAME)"));
}

TEST(LoaderTest, ParamOverrides) {
  LoadOptions options;
  options.param_overrides = {{"n_rows", "5"}, {"min_accuracy", "1"}, {"flag", "false"},
                             {"name", "\"; rm -rf ~ #"}};
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load(kFull, &dag, &errors, options)) << Dump(errors);
  EXPECT_EQ(dag.params["n_rows"].text, "5");
  EXPECT_EQ(dag.params["min_accuracy"].text, "1.0");
  EXPECT_EQ(dag.params["min_accuracy"].type, ParamValue::Type::kFloat);
  EXPECT_EQ(dag.params["flag"].text, "false");
  EXPECT_EQ(dag.params["name"].text, "\"; rm -rf ~ #");
  // The canonical text describes the file, not this run.
  Dag plain;
  ASSERT_TRUE(Load(kFull, &plain, &errors));
  EXPECT_EQ(dag.canonical, plain.canonical);

  options.param_overrides = {{"n_rws", "5"}, {"n_rows", "5x"}, {"n_rows", "99999999999999999999"},
                             {"min_accuracy", "nan"}, {"flag", "yes"}};
  errors = Errors(kFull, options);
  ASSERT_EQ(errors.size(), 5u) << Dump(errors);
  EXPECT_TRUE(Has(errors, 0, 0, "-p n_rws=5: unknown param 'n_rws'; did you mean 'n_rows'?"));
  EXPECT_TRUE(Has(errors, 0, 0, "-p n_rows=5x: param 'n_rows' is integer: expected a decimal integer"));
  EXPECT_TRUE(Has(errors, 0, 0,
                  "-p n_rows=99999999999999999999: param 'n_rows' is integer: integer out of "
                  "range (64-bit)"));
  EXPECT_TRUE(Has(errors, 0, 0, "-p min_accuracy=nan: param 'min_accuracy' is number: expected a number"));
  EXPECT_TRUE(Has(errors, 0, 0, "-p flag=yes: param 'flag' is boolean: expected true or false"));
  EXPECT_EQ(errors[0].file, "");
}

void ExpectSameModel(const Dag& a, const Dag& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.description, b.description);
  ASSERT_EQ(a.params.size(), b.params.size());
  for (const auto& [name, value] : a.params) {
    ASSERT_TRUE(b.params.count(name)) << name;
    EXPECT_EQ(value.type, b.params.at(name).type) << name;
    EXPECT_EQ(value.text, b.params.at(name).text) << name;
  }
  EXPECT_EQ(a.env, b.env);
  EXPECT_EQ(a.pools, b.pools);
  ASSERT_EQ(a.tasks.size(), b.tasks.size());
  for (size_t i = 0; i < a.tasks.size(); ++i) {
    const Task& x = a.tasks[i];
    const Task& y = b.tasks[i];
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.command, y.command);
    EXPECT_EQ(x.argv, y.argv);
    EXPECT_EQ(x.depends_on, y.depends_on);
    EXPECT_EQ(x.upstream, y.upstream);
    EXPECT_EQ(x.downstream, y.downstream);
    EXPECT_EQ(x.retries, y.retries);
    EXPECT_EQ(x.retry_delay_ms, y.retry_delay_ms);
    EXPECT_EQ(x.max_retry_delay_ms, y.max_retry_delay_ms);
    EXPECT_EQ(x.timeout_ms, y.timeout_ms);
    EXPECT_EQ(x.kill_grace_ms, y.kill_grace_ms);
    EXPECT_EQ(x.trigger_rule, y.trigger_rule);
    EXPECT_EQ(x.env, y.env);
    EXPECT_EQ(x.workdir, y.workdir);
    EXPECT_EQ(x.pool, y.pool);
    EXPECT_EQ(x.priority, y.priority);
    EXPECT_EQ(x.priority_set, y.priority_set);
    EXPECT_EQ(x.params_used, y.params_used);
    ASSERT_EQ(x.outputs.size(), y.outputs.size());
    for (size_t j = 0; j < x.outputs.size(); ++j) {
      EXPECT_EQ(x.outputs[j].name, y.outputs[j].name);
      EXPECT_EQ(x.outputs[j].path, y.outputs[j].path);
      EXPECT_EQ(x.outputs[j].kind, y.outputs[j].kind);
    }
    ASSERT_EQ(x.inputs.size(), y.inputs.size());
    for (size_t j = 0; j < x.inputs.size(); ++j) {
      EXPECT_EQ(x.inputs[j].name, y.inputs[j].name);
      EXPECT_EQ(x.inputs[j].task, y.inputs[j].task);
      EXPECT_EQ(x.inputs[j].output, y.inputs[j].output);
      EXPECT_EQ(x.inputs[j].path, y.inputs[j].path);
    }
    EXPECT_EQ(x.code, y.code);
    EXPECT_EQ(x.cache, y.cache);
    EXPECT_EQ(x.metrics_file, y.metrics_file);
    EXPECT_EQ(x.when, y.when);
    EXPECT_EQ(x.has_promote, y.has_promote);
    EXPECT_EQ(x.promote.model, y.promote.model);
    EXPECT_EQ(x.promote.alias, y.promote.alias);
    EXPECT_EQ(x.promote.task, y.promote.task);
    EXPECT_EQ(x.promote.output, y.promote.output);
  }
}

TEST(LoaderTest, CanonicalRoundTrip) {
  const std::string texts[] = {
      kFull,
      "dag: r\nparams: {s: \"123\", t: \"true\", u: \"1.5\", w: \"\", q: \"a\\\"b\\\\c\\n\\td\", "
      "neg: -0.0, tiny: 5e-324, z: 1e+300}\n"
      "tasks:\n"
      "  z9: {command: \"printf '%s' \\\"{{ params.q }}\\\" \\u00e9\", timeout: 1500ms, "
      "retry_delay: 0, max_retry_delay: 90s, kill_grace: 1d, priority: 0}\n"
      "  a1: {argv: [\"\", \"{{ \\\"{{\\\" }}\"], depends_on: z9, workdir: /tmp, trigger_rule: "
      "none_failed, description: \"multi\\nline\"}\n",
      kArtifacts,
  };
  for (const std::string& text : texts) {
    Dag first;
    std::vector<Diagnostic> errors;
    ASSERT_TRUE(Load(text, &first, &errors)) << Dump(errors);
    Dag second;
    ASSERT_TRUE(Load(first.canonical, &second, &errors))
        << Dump(errors) << "\ncanonical: " << first.canonical;
    EXPECT_EQ(first.canonical, second.canonical);
    ExpectSameModel(first, second);
    Dag third;
    ASSERT_TRUE(Load(second.canonical, &third, &errors));
    EXPECT_EQ(second.canonical, third.canonical);
  }
}

TEST(LoaderTest, CanonicalIsCompactSortedJson) {
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load("tasks:\n  b: {command: x, retries: 2}\n  a: {argv: [y], depends_on: b}\n"
                   "dag: d\nparams: {s: \"1\", i: 1}\n",
                   &dag, &errors))
      << Dump(errors);
  EXPECT_EQ(dag.canonical,
            "{\"dag\":\"d\",\"env\":{},\"params\":{\"i\":1,\"s\":\"1\"},\"pools\":{},\"tasks\":{"
            "\"b\":{\"command\":\"x\",\"depends_on\":[],\"env\":{},\"kill_grace\":\"5s\","
            "\"max_retry_delay\":\"1h\",\"retries\":2,\"retry_delay\":\"0ms\",\"trigger_rule\":"
            "\"all_success\"},"
            "\"a\":{\"argv\":[\"y\"],\"depends_on\":[\"b\"],\"env\":{},\"kill_grace\":\"5s\","
            "\"max_retry_delay\":\"1h\",\"retries\":0,\"retry_delay\":\"0ms\",\"trigger_rule\":"
            "\"all_success\"}}}");
}

TEST(LoaderTest, ErrorsLeaveAnEmptyDag) {
  Dag dag;
  dag.id = "stale";
  std::vector<Diagnostic> errors;
  EXPECT_FALSE(Load(WithTasks("  a: {command: x, retries: x}\n"), &dag, &errors));
  EXPECT_TRUE(dag.tasks.empty());
  EXPECT_TRUE(dag.id.empty());
  EXPECT_TRUE(dag.canonical.empty());
}

// --- outputs, inputs, code, cache, metrics, when, promote ---------------------------------

TEST(LoaderTest, ArtifactKeys) {
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load(kArtifacts, &dag, &errors)) << Dump(errors);
  ASSERT_EQ(dag.tasks.size(), 5u);
  const Task& ingest = dag.tasks[0];
  ASSERT_EQ(ingest.outputs.size(), 1u);
  EXPECT_EQ(ingest.outputs[0].name, "raw");
  EXPECT_EQ(ingest.outputs[0].path, "{{ params.out }}/raw.csv");
  EXPECT_EQ(ingest.outputs[0].kind, ArtifactKind::kDataset);
  EXPECT_EQ(ingest.outputs[0].line, 7);
  EXPECT_EQ(ingest.outputs[0].col, 15);
  EXPECT_TRUE(ingest.cache);  // the task's value beats defaults
  EXPECT_EQ(ingest.params_used, std::vector<std::string>{"out"});
  EXPECT_EQ(ingest.downstream, std::vector<int>{1});

  const Task& features = dag.tasks[1];
  EXPECT_FALSE(features.cache);  // from defaults
  // inputs imply depends_on, recorded there too.
  EXPECT_EQ(features.depends_on, std::vector<std::string>{"ingest"});
  EXPECT_EQ(features.upstream, std::vector<int>{0});
  ASSERT_EQ(features.inputs.size(), 1u);
  EXPECT_EQ(features.inputs[0].name, "raw");
  EXPECT_EQ(features.inputs[0].task, "ingest");
  EXPECT_EQ(features.inputs[0].output, "raw");
  EXPECT_EQ(features.inputs[0].path, "");
  EXPECT_EQ(features.inputs[0].line, 11);
  EXPECT_EQ(features.inputs[0].col, 14);
  EXPECT_EQ(features.params_used, std::vector<std::string>{"split"});

  const Task& train = dag.tasks[2];
  EXPECT_EQ(train.depends_on, std::vector<std::string>{"features"});
  EXPECT_EQ(train.upstream, std::vector<int>{1});
  ASSERT_EQ(train.inputs.size(), 2u);
  EXPECT_EQ(train.inputs[0].task, "features");
  EXPECT_EQ(train.inputs[0].output, "table");
  EXPECT_EQ(train.inputs[1].name, "ref");
  EXPECT_EQ(train.inputs[1].task, "");
  EXPECT_EQ(train.inputs[1].path, "./data/reference.csv");
  ASSERT_EQ(train.outputs.size(), 2u);
  EXPECT_EQ(train.outputs[0].kind, ArtifactKind::kModel);
  EXPECT_EQ(train.outputs[1].path, "reports/train/");
  EXPECT_EQ(train.outputs[1].kind, ArtifactKind::kReport);
  EXPECT_EQ(train.code, (std::vector<std::string>{"examples/ml/train.py", "examples/ml/common.py"}));
  EXPECT_EQ(train.metrics_file, "{{ outputs.report }}/metrics.json");
  EXPECT_TRUE(train.when.empty());
  EXPECT_FALSE(train.has_promote);

  const Task& deploy = dag.tasks[3];
  // The short alias form is stored with its model made explicit (docs/expressions.md).
  EXPECT_EQ(deploy.when,
            "metrics.train.accuracy >= params.min_accuracy and "
            "(models.churn.production.metrics.train.accuracy == null or metrics.train.accuracy >= "
            "models.churn.production.metrics.train.accuracy)");
  EXPECT_EQ(deploy.when_line, 26);
  EXPECT_EQ(deploy.when_col, 11);
  EXPECT_EQ(deploy.params_used, std::vector<std::string>{"min_accuracy"});
  ASSERT_TRUE(deploy.has_promote);
  EXPECT_EQ(deploy.promote.model, "churn");
  EXPECT_EQ(deploy.promote.alias, "production");
  EXPECT_EQ(deploy.promote.task, "train");
  EXPECT_EQ(deploy.promote.output, "model");
  EXPECT_EQ(deploy.promote.line, 27);
  Expression e;
  std::string err;
  size_t off = 0;
  ASSERT_TRUE(Expression::Parse(deploy.when, &e, &err, &off)) << err;
  bool saw_alias = false;
  for (const ExprRef& r : e.refs()) {
    if (r.kind != ExprRef::Kind::kAliasMetric) continue;
    saw_alias = true;
    EXPECT_EQ(r.model, "churn");
    EXPECT_EQ(r.alias, "production");
  }
  EXPECT_TRUE(saw_alias);

  const Task& all = dag.tasks[4];
  ASSERT_EQ(all.outputs.size(), 5u);
  EXPECT_EQ(all.outputs[0].kind, ArtifactKind::kDataset);
  EXPECT_EQ(all.outputs[1].kind, ArtifactKind::kMetrics);
  EXPECT_EQ(all.outputs[2].kind, ArtifactKind::kCode);
  EXPECT_EQ(all.outputs[3].kind, ArtifactKind::kOther);
  EXPECT_EQ(all.outputs[4].kind, ArtifactKind::kDataset);
  EXPECT_EQ(all.code, std::vector<std::string>{"single.py"});
  EXPECT_EQ(all.when_col, 12);  // inside the quotes
  EXPECT_EQ(all.params_used, std::vector<std::string>{"min_accuracy"});
}

TEST(LoaderTest, ArtifactKindNames) {
  for (ArtifactKind k : {ArtifactKind::kDataset, ArtifactKind::kModel, ArtifactKind::kMetrics,
                         ArtifactKind::kReport, ArtifactKind::kCode, ArtifactKind::kOther}) {
    ArtifactKind back = ArtifactKind::kOther;
    ASSERT_TRUE(ParseArtifactKind(ArtifactKindName(k), &back)) << ArtifactKindName(k);
    EXPECT_EQ(back, k);
  }
  EXPECT_STREQ(ArtifactKindName(ArtifactKind::kModel), "model");
  ArtifactKind k;
  EXPECT_FALSE(ParseArtifactKind("Model", &k));
  EXPECT_FALSE(ParseArtifactKind("", &k));
}

TEST(LoaderTest, InputsImplyDependsOnAndEdges) {
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load(WithTasks("  c: {command: x, inputs: {p: a.o, q: b.o, r: a.o2}, depends_on: [b]}\n"
                             "  a: {command: x, outputs: {o: a.txt, o2: a2.txt}}\n"
                             "  b: {command: x, outputs: {o: b.txt}}\n"),
                   &dag, &errors))
      << Dump(errors);
  // Written depends_on first, then implied ones in input order, without duplicates.
  EXPECT_EQ(dag.tasks[0].depends_on, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(dag.tasks[0].upstream, (std::vector<int>{2, 1}));
  EXPECT_EQ(dag.tasks[1].downstream, std::vector<int>{0});
  EXPECT_EQ(dag.tasks[2].downstream, std::vector<int>{0});
  EXPECT_EQ(dag.tasks[1].priority, 2);  // critical path counts implied edges
  EXPECT_NE(dag.canonical.find("\"depends_on\":[\"b\",\"a\"]"), std::string::npos) << dag.canonical;
}

TEST(LoaderTest, CycleThroughInputs) {
  auto errors = Errors(WithTasks("  a: {command: x, inputs: {i: b.o}, outputs: {o: a.txt}}\n"
                                 "  b: {command: x, inputs: {i: a.o}, outputs: {o: b.txt}}\n"));
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  // The closing edge b -> a is a's input.
  EXPECT_TRUE(Has(errors, 3, 31, "cycle: a \xE2\x86\x92 b \xE2\x86\x92 a"));
  // Mixed: a depends_on c, c reads b, b reads a.
  errors = Errors(WithTasks("  a: {command: x, depends_on: [c], outputs: {o: a.txt}}\n"
                            "  b: {command: x, inputs: {i: a.o}, outputs: {o: b.txt}}\n"
                            "  c: {command: x, inputs: {i: b.o}}\n"));
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  EXPECT_TRUE(Has(errors, 3, 32, "cycle: a \xE2\x86\x92 b \xE2\x86\x92 c \xE2\x86\x92 a"));
}

TEST(LoaderTest, OutputErrors) {
  auto errors = Errors(WithTasks(
      "  a:\n"                                            // 3
      "    command: x\n"                                  // 4
      "    outputs:\n"                                    // 5
      "      bad-name: x.csv\n"                           // 6
      "      empty: \"\"\n"                               // 7
      "      none:\n"                                     // 8 (null)
      "      kinded: {path: m.json, kind: modl}\n"         // 9
      "      typo: {pth: m.json}\n"                        // 10
      "      nopath: {kind: model}\n"                      // 11
      "      listy: [a, b]\n"                              // 12
      "      raw: data/raw.csv\n"                          // 13
      "      again: ./data/raw.csv\n"                      // 14
      "  b:\n"                                            // 15
      "    command: x\n"                                  // 16
      "    outputs: {copy: data/raw.csv, dir: out/, tmpl: \"{{ ds }}/raw.csv\"}\n"  // 17
      "  c:\n"                                            // 18
      "    command: x\n"                                  // 19
      "    workdir: elsewhere\n"                          // 20
      "    outputs: {same: data/raw.csv, dir: out}\n"      // 21
      "  d: {command: x, outputs: []}\n"                  // 22
      "  e: {command: x, outputs: {dir: out}}\n"));       // 23
  EXPECT_TRUE(Has(errors, 6, 7,
                  "invalid output name 'bad-name' in task 'a': use letters, digits and '_', not "
                  "starting with a digit"));
  EXPECT_TRUE(Has(errors, 7, 14, "output 'empty' in task 'a' must not be empty"));
  EXPECT_TRUE(Has(errors, 8, 7, "output 'none' in task 'a' has no value; expected a path"));
  EXPECT_TRUE(Has(errors, 9, 36,
                  "'kind' of output 'kinded' in task 'a': unknown artifact kind 'modl'; did you "
                  "mean 'model'?"));
  EXPECT_TRUE(Has(errors, 10, 14,
                  "unknown key 'pth' in output 'typo' in task 'a'; did you mean 'path'?"));
  EXPECT_TRUE(Has(errors, 11, 15, "output 'nopath' in task 'a' is missing 'path'"));
  EXPECT_TRUE(Has(errors, 12, 14,
                  "output 'listy' in task 'a' must be a path or a map with 'path' and 'kind', got "
                  "a list"));
  EXPECT_TRUE(Has(errors, 14, 14,
                  "output path ./data/raw.csv is declared twice in task 'a' (outputs 'raw' (line "
                  "13) and 'again')"));
  EXPECT_TRUE(Has(errors, 17, 21,
                  "output path data/raw.csv is declared by both 'a' (line 13) and 'b'"));
  EXPECT_TRUE(Has(errors, 22, 28, "'outputs' in task 'd' must be a map, got a list"));
  EXPECT_TRUE(Has(errors, 23, 34, "output path out is declared by both 'b' (line 17) and 'e'"));
  // A template path is never compared; another workdir is another file.
  EXPECT_EQ(errors.size(), 11u) << Dump(errors);
}

TEST(LoaderTest, InputErrors) {
  auto errors = Errors(WithTasks(
      "  src: {command: x, outputs: {table: t.csv, model: m.json}}\n"  // 3
      "  bare: {command: x}\n"                                          // 4
      "  t:\n"                                                          // 5
      "    command: x\n"                                                // 6
      "    outputs: {o: o.txt}\n"                                       // 7
      "    inputs:\n"                                                   // 8
      "      nodot: src\n"                                              // 9
      "      unknown: srcc.table\n"                                      // 10
      "      badout: src.tabl\n"                                       // 11
      "      other: src.zzz\n"                                          // 12
      "      none: bare.x\n"                                            // 13
      "      self: t.o\n"                                               // 14
      "      ext: {path: \"\"}\n"                                       // 15
      "      extkey: {file: a}\n"                                       // 16
      "      nothing:\n"                                                   // 17
      "      9lives: src.table\n"                                       // 18
      "      map: [src.table]\n"));                                     // 19
  EXPECT_TRUE(Has(errors, 9, 14,
                  "input 'nodot' in task 't' must be TASK.OUTPUT (an output of an upstream task) "
                  "or {path: FILE} (a file from outside the DAG), got 'src'"));
  EXPECT_TRUE(Has(errors, 10, 16,
                  "input 'unknown' in task 't' reads unknown task 'srcc'; did you mean 'src'?"));
  EXPECT_TRUE(Has(errors, 11, 19,
                  "input 'badout' in task 't': task 'src' declares no output 'tabl'; did you "
                  "mean 'table'?"));
  EXPECT_TRUE(Has(errors, 12, 18,
                  "input 'other' in task 't': task 'src' declares no output 'zzz' (it declares: "
                  "table, model)"));
  EXPECT_TRUE(Has(errors, 13, 18,
                  "input 'none' in task 't': task 'bare' declares no outputs (add 'outputs:' to "
                  "it)"));
  EXPECT_TRUE(Has(errors, 14, 13,
                  "input 'self' in task 't' reads an output of task 't' itself; inputs come from "
                  "upstream tasks, or {path: FILE} for a file from outside the DAG"));
  EXPECT_TRUE(Has(errors, 15, 19, "'path' of input 'ext' in task 't' must not be empty"));
  EXPECT_TRUE(Has(errors, 16, 16, "unknown key 'file' in input 'extkey' in task 't' (allowed: path)"));
  EXPECT_TRUE(Has(errors, 17, 7,
                  "input 'nothing' in task 't' has no value; expected TASK.OUTPUT or {path: FILE}"));
  EXPECT_TRUE(Has(errors, 18, 7,
                  "invalid input name '9lives' in task 't': use letters, digits and '_', not "
                  "starting with a digit"));
  EXPECT_TRUE(Has(errors, 19, 12,
                  "input 'map' in task 't' must be TASK.OUTPUT or {path: FILE}, got a list"));
  EXPECT_EQ(errors.size(), 11u) << Dump(errors);
}

TEST(LoaderTest, CodeCacheMetricsErrors) {
  auto errors = Errors(
      "dag: d\n"
      "defaults: {cache: yes}\n"
      "tasks:\n"
      "  a: {command: x, cache: \"false\", code: {a: b}}\n"
      "  b: {command: x, cache: 1, code: [ok.py, \"\"], metrics: \"\"}\n"
      "  c: {command: x, cache: , metrics: \"{{ outputs.nope }}\"}\n");
  EXPECT_TRUE(Has(errors, 2, 19,
                  "'cache' in 'defaults' must be true or false, got the ambiguous YAML 1.1 "
                  "boolean 'yes'"));
  EXPECT_TRUE(Has(errors, 4, 26,
                  "'cache' in task 'a' must be true or false, got the quoted string 'false' "
                  "(remove the quotes)"));
  EXPECT_TRUE(Has(errors, 4, 41, "'code' in task 'a' must be a list of paths, got a map"));
  EXPECT_TRUE(Has(errors, 5, 26, "'cache' in task 'b' must be true or false, got '1'"));
  EXPECT_TRUE(Has(errors, 5, 43, "item 2 of 'code' in task 'b' must not be empty"));
  EXPECT_TRUE(Has(errors, 5, 57, "'metrics' in task 'b' must not be empty"));
  EXPECT_TRUE(Has(errors, 6, 26, "'cache' in task 'c' has no value; expected true or false"));
  EXPECT_TRUE(Has(errors, 6, 41,
                  "'metrics' in task 'c': unknown output 'nope': the task declares no outputs "
                  "(add 'outputs:' to the task)"));
  EXPECT_EQ(errors.size(), 8u) << Dump(errors);
}

TEST(LoaderTest, OutputAndInputTemplateVariables) {
  auto errors = Errors(
      "dag: d\n"
      "params: {p: 1}\n"
      "env: {TOP: \"{{ outputs.o }}\"}\n"
      "tasks:\n"
      "  src: {command: x, outputs: {table: t.csv}}\n"
      "  t:\n"
      "    command: cp {{ inputs.tabel }} {{ outputs.modle }} {{ output.model }}\n"
      "    inputs: {table: src.table, ext: {path: \"x/{{ inputs.table }}\"}}\n"
      "    outputs: {model: \"{{ params.p }}/{{ outputs.model }}\", log: \"{{ ds }}.log\"}\n"
      "    workdir: \"{{ outputs.log }}\"\n"
      "    argv_is_not_here: 1\n"
      "  u: {command: \"{{ outputs.x }} {{ inputs.y }}\", outputs: {o: u.txt}}\n");
  EXPECT_TRUE(Has(errors, 3, 16,
                  "env 'TOP': 'outputs.o' cannot be used here: outputs and inputs are only "
                  "available in a task's own command, argv, env and metrics (not in output or "
                  "input paths, workdir or the top-level env)"));
  EXPECT_TRUE(Has(errors, 7, 20,
                  "'command' in task 't': unknown input 'tabel' in template; did you mean "
                  "'inputs.table'?"));
  EXPECT_TRUE(Has(errors, 8, 50,
                  "input 'ext' in task 't': 'inputs.table' cannot be used here: outputs and "
                  "inputs are only available in a task's own command, argv, env and metrics (not "
                  "in output or input paths, workdir or the top-level env)"));
  EXPECT_TRUE(Has(errors, 9, 41,
                  "output 'model' in task 't': 'outputs.model' cannot be used here: outputs and "
                  "inputs are only available in a task's own command, argv, env and metrics (not "
                  "in output or input paths, workdir or the top-level env)"));
  EXPECT_TRUE(Has(errors, 10, 18,
                  "'workdir' in task 't': 'outputs.log' cannot be used here: outputs and inputs "
                  "are only available in a task's own command, argv, env and metrics (not in "
                  "output or input paths, workdir or the top-level env)"));
  EXPECT_TRUE(Has(errors, 12, 20,
                  "'command' in task 'u': unknown output 'x' in template; did you mean "
                  "'outputs.o'?"));
  EXPECT_EQ(errors.size(), 7u) << Dump(errors);  // + the unknown key on line 11

  // Only the first problem of one template is reported; the others show once it is fixed.
  errors = Errors(WithTasks(
      "  t: {command: \"{{ outputs.o }} {{ outputs.modl }} {{ output.model }}\", "
      "outputs: {o: a, model: b}}\n"));
  EXPECT_TRUE(Has(errors, 3, 36,
                  "'command' in task 't': unknown output 'modl' in template; did you mean "
                  "'outputs.model'?"));
  errors = Errors(WithTasks(
      "  t: {command: \"{{ output.model }}\", outputs: {o: a, model: b}}\n"));
  EXPECT_TRUE(Has(errors, 3, 20,
                  "'command' in task 't': unknown template variable 'output.model'; did you mean "
                  "'outputs.model'?"));
}

TEST(LoaderTest, PromoteErrors) {
  auto errors = Errors(WithTasks(
      "  train: {command: x, outputs: {model: m.json}}\n"                            // 3
      "  other: {command: x, outputs: {model: o.json}}\n"                            // 4
      "  p1: {command: x, depends_on: [train], promote: {model: churn, alias: prod, artifact: "
      "train.modl}}\n"                                                              // 5
      "  p2: {command: x, promote: {model: churn, alias: prod, artifact: other.model}}\n"  // 6
      "  p3: {command: x, promote: {model: churn, alias: prod, artifact: trai.model}}\n"   // 7
      "  p4: {command: x, promote: {model: churn, artifcat: train.model}}\n"            // 8
      "  p5: {command: x, promote: {model: bad-name, alias: metrics, artifact: nodot}}\n"  // 9
      "  p6: {command: x, promote: churn}\n"                                          // 10
      "  p7: {command: x, outputs: {m: m7}, promote: {model: churn, alias: prod, artifact: "
      "p7.m}}\n"));                                                                  // 11
  EXPECT_TRUE(Has(errors, 5, 94,
                  "'artifact' of 'promote' in task 'p1': task 'train' declares no output 'modl'; "
                  "did you mean 'model'?"));
  EXPECT_TRUE(Has(errors, 6, 67,
                  "'artifact' of 'promote' in task 'p2': 'other.model' is produced by 'other', "
                  "which is not upstream of 'p2' (promote an output of this task or of one it "
                  "depends on)"));
  EXPECT_TRUE(Has(errors, 7, 67,
                  "'artifact' of 'promote' in task 'p3': unknown task 'trai'; did you mean "
                  "'train'?"));
  EXPECT_TRUE(Has(errors, 8, 44,
                  "unknown key 'artifcat' in 'promote' in task 'p4'; did you mean 'artifact'?"));
  EXPECT_TRUE(Has(errors, 8, 29,
                  "'promote' in task 'p4' is missing 'alias', 'artifact' (expected {model: NAME, "
                  "alias: NAME, artifact: TASK.OUTPUT})"));
  EXPECT_TRUE(Has(errors, 9, 37,
                  "'model' of 'promote' in task 'p5' must be an identifier (letters, digits and "
                  "'_', not starting with a digit), got 'bad-name'"));
  EXPECT_TRUE(Has(errors, 9, 54,
                  "'alias' of 'promote' in task 'p5': 'metrics' is reserved in 'when' "
                  "expressions; choose another alias"));
  EXPECT_TRUE(Has(errors, 9, 73,
                  "'artifact' of 'promote' in task 'p5' must be TASK.OUTPUT (an output of this "
                  "task or an upstream one), got 'nodot'"));
  EXPECT_TRUE(Has(errors, 10, 29, "'promote' in task 'p6' must be a map, got 'churn'"));
  EXPECT_EQ(errors.size(), 9u) << Dump(errors);  // p7 promotes its own output: fine
}

TEST(LoaderTest, PromoteFromTransitiveUpstream) {
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load(WithTasks("  a: {command: x, outputs: {m: m.json}}\n"
                             "  b: {command: x, inputs: {m: a.m}}\n"
                             "  c: {command: x, depends_on: b, promote: {model: m, alias: x, "
                             "artifact: a.m}}\n"),
                   &dag, &errors))
      << Dump(errors);
}

TEST(LoaderTest, WhenErrors) {
  auto errors = Errors(
      "dag: d\n"
      "params: {min_accuracy: 0.8}\n"
      "tasks:\n"
      "  train: {command: x, outputs: {model: m.json}}\n"                                  // 4
      "  side: {command: x}\n"                                                              // 5
      "  a: {command: x, depends_on: train, when: metrics.train.acc >= params.min_accurac}\n"   // 6
      "  b: {command: x, depends_on: train, when: \"metrics.side.acc > 1 or metrics.trai.acc > 1\"}\n"  // 7
      "  c: {command: x, when: metrics.c.acc > 1}\n"                                       // 8
      "  d: {command: x, when: 'metrics.train.acc >= (1'}\n"                               // 9
      "  e:\n"                                                                             // 10
      "    command: x\n"                                                                   // 11
      "    when: |\n"                                                                      // 12
      "      metrics.train.acc >\n"                                                        // 13
      "  f: {command: x, when: prod.metrics.train.acc == null}\n"                          // 14
      "  g: {command: x, when: \"\"}\n");                                                  // 15
  EXPECT_TRUE(Has(errors, 6, 65,
                  "'when' in task 'a': undeclared param 'min_accurac'; did you mean "
                  "'params.min_accuracy'?"));
  EXPECT_TRUE(Has(errors, 7, 45,
                  "'when' in task 'b' reads metrics of 'side', which is not upstream of it (add "
                  "it to depends_on)"));
  EXPECT_TRUE(Has(errors, 7, 69,
                  "'when' in task 'b' reads metrics of unknown task 'trai'; did you mean "
                  "'train'?"));
  EXPECT_TRUE(Has(errors, 8, 25,
                  "'when' in task 'c' reads metrics of 'c', which is not upstream of it ('when' "
                  "is decided before the task runs)"));
  EXPECT_TRUE(Has(errors, 9, 47, "'when' in task 'd': unclosed '('"));
  // A block scalar: the position is the scalar's.
  EXPECT_TRUE(Has(errors, 12, 11,
                  "'when' in task 'e': expected a value after '>'"));
  EXPECT_TRUE(Has(errors, 14, 25,
                  "'when' in task 'f': 'prod.metrics.train.acc' names no model, and no task in "
                  "the DAG promotes one; write models.MODEL.prod.metrics.train.acc"));
  EXPECT_TRUE(Has(errors, 15, 25, "'when' in task 'g' must not be empty"));
  EXPECT_EQ(errors.size(), 8u) << Dump(errors);
}

TEST(LoaderTest, WhenReadsTransitiveUpstreamMetrics) {
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load(WithTasks("  a: {command: x}\n"
                             "  b: {command: x, depends_on: a}\n"
                             "  c: {command: x, depends_on: b, when: 'metrics.a.x > 1 and "
                             "metrics[\"b\"].y > 1'}\n"),
                   &dag, &errors))
      << Dump(errors);
  EXPECT_EQ(dag.tasks[2].when, "metrics.a.x > 1 and metrics[\"b\"].y > 1");
}

TEST(LoaderTest, WhenAliasNeedsExactlyOnePromotedModel) {
  const std::string two_models =
      "  train: {command: x, outputs: {m: m.json}}\n"
      "  p1: {command: x, depends_on: train, promote: {model: churn, alias: prod, artifact: "
      "train.m}}\n"
      "  p2: {command: x, depends_on: train, promote: {model: upsell, alias: prod, artifact: "
      "train.m}}\n";
  auto errors = Errors(WithTasks(two_models +
                                 "  g: {command: x, depends_on: train, when: "
                                 "'metrics.train.a > 0 and prod.metrics.train.a == null'}\n"));
  ASSERT_EQ(errors.size(), 1u) << Dump(errors);
  EXPECT_TRUE(Has(errors, 6, 69,
                  "'when' in task 'g': 'prod.metrics.train.a' is ambiguous: the DAG promotes 2 "
                  "models ('churn', 'upsell'); use models.MODEL.ALIAS.metrics.TASK.NAME, e.g. "
                  "models.churn.prod.metrics.train.a"));
  // The explicit form is fine, and the task need not be in this DAG.
  Dag dag;
  ASSERT_TRUE(Load(WithTasks(two_models +
                             "  g: {command: x, when: "
                             "'models.upsell.prod.metrics.gone.a == null'}\n"),
                   &dag, &errors))
      << Dump(errors);
  EXPECT_EQ(dag.tasks[3].when, "models.upsell.prod.metrics.gone.a == null");
}

TEST(LoaderTest, NewKeysInDefaults) {
  auto errors = Errors("dag: d\ndefaults: {outputs: {a: b}}\ntasks:\n  a: {command: x}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(Has(errors, 2, 12,
                  "unknown key 'outputs' in 'defaults' (allowed: retries, retry_delay, "
                  "max_retry_delay, timeout, kill_grace, trigger_rule, pool, cache)"));
}

TEST(LoaderTest, ArtifactCanonicalForm) {
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load(WithTasks("  a: {command: x, outputs: {z: z.csv, m: {path: m.json, kind: model}}, "
                             "cache: false, code: c.py, metrics: r.json}\n"
                             "  b: {command: y, inputs: {i: a.z, e: {path: e.csv}}, when: "
                             "'metrics.a.q > 1', promote: {model: mm, alias: al, artifact: a.m}}\n"),
                   &dag, &errors))
      << Dump(errors);
  // Outputs and inputs keep file order (as tasks do), so a reload yields the same model.
  EXPECT_EQ(dag.canonical,
            "{\"dag\":\"d\",\"env\":{},\"params\":{},\"pools\":{},\"tasks\":{"
            "\"a\":{\"cache\":false,\"code\":[\"c.py\"],\"command\":\"x\",\"depends_on\":[],"
            "\"env\":{},\"kill_grace\":\"5s\",\"max_retry_delay\":\"1h\",\"metrics\":\"r.json\","
            "\"outputs\":{\"z\":{\"kind\":\"dataset\",\"path\":\"z.csv\"},\"m\":{\"kind\":"
            "\"model\",\"path\":\"m.json\"}},\"retries\":0,\"retry_delay\":\"0ms\","
            "\"trigger_rule\":\"all_success\"},"
            "\"b\":{\"command\":\"y\",\"depends_on\":[\"a\"],\"env\":{},\"inputs\":{\"i\":"
            "\"a.z\",\"e\":{\"path\":\"e.csv\"}},\"kill_grace\":\"5s\",\"max_retry_delay\":"
            "\"1h\",\"promote\":{\"alias\":\"al\",\"artifact\":\"a.m\",\"model\":\"mm\"},"
            "\"retries\":0,\"retry_delay\":\"0ms\",\"trigger_rule\":\"all_success\","
            "\"when\":\"metrics.a.q > 1\"}}}");
}

TEST(LoaderTest, ManyGatedTasksStayFast) {
  // 5,000 gates each reading metrics of a chain's head: one walk from the source.
  std::string text = "dag: d\ntasks:\n  t0: {command: x}\n";
  for (int i = 1; i < 5000; ++i) {
    text += "  t" + std::to_string(i) + ": {command: x, depends_on: t" + std::to_string(i - 1) +
            ", when: 'metrics.t0.m > 1'}\n";
  }
  Dag dag;
  std::vector<Diagnostic> errors;
  ASSERT_TRUE(Load(text, &dag, &errors)) << Dump(errors);
}

}  // namespace
}  // namespace pipeline
