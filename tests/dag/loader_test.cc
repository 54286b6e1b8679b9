#include <gtest/gtest.h>

#include <chrono>
#include <string>

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
                  "workdir, pool, priority, description)"));
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

}  // namespace
}  // namespace pipeline
