// `pipeline`: argument parsing only; the work is in commands.cc.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"

using namespace pipeline::cli;

int main(int argc, char** argv) {
  CLI::App app{"pipeline: run ML pipelines defined in YAML, record every run in SQLite.\n"
               "One binary, one database file (.pipeline/pipeline.db), no server."};
  app.set_version_flag("--version", std::string("pipeline ") + PIPELINE_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  Globals g;
  const char* env_home = std::getenv("PIPELINE_HOME");
  g.home = env_home && *env_home ? env_home : ".pipeline";
  app.add_option("--home", g.home, "Directory for the database and logs (env PIPELINE_HOME)")
      ->capture_default_str();
  bool no_color = false;
  app.add_flag("--no-color", no_color, "Do not colour output (also env NO_COLOR)");

  RunArgs run_args;
  auto* run = app.add_subcommand("run", "Validate a DAG file, then run it");
  run->add_option("file", run_args.file, "DAG file (YAML)")->required();
  run->add_option("-p,--param", run_args.params, "Override a param: -p name=value (repeatable)");
  run->add_option("-j,--jobs", run_args.jobs, "Tasks to run at once (default: number of CPUs)")
      ->check(CLI::Range(1, 4096));
  run->add_flag("--dry-run", run_args.dry_run, "Validate and print what would run; record nothing");
  run->add_flag("--json", run_args.json, "Print a JSON summary on stdout (progress goes to stderr)");
  run->add_option("--logical-date", run_args.logical_date,
                  "The date the run is for (YYYY-MM-DD or ISO 8601, UTC); default: now");
  run->add_flag("--no-cache", run_args.no_cache, "Run every task even if an identical earlier result exists");
  run->add_option("--force", run_args.force, "Run this task even if it could be reused from the cache (repeatable)");

  RunArgs test_args;
  auto* test = app.add_subcommand("test", "Run one task alone, without its upstream (recorded as a test run)");
  test->add_option("file", test_args.file, "DAG file (YAML)")->required();
  test->add_option("task", test_args.task, "Task id")->required();
  test->add_option("-p,--param", test_args.params, "Override a param: -p name=value (repeatable)");
  test->add_option("--logical-date", test_args.logical_date, "The date the run is for");
  test->add_flag("--json", test_args.json, "Print a JSON summary on stdout");

  std::vector<std::string> validate_files;
  bool validate_quiet = false;
  auto* validate = app.add_subcommand("validate", "Check DAG files and report every problem; run nothing");
  validate->add_option("files", validate_files, "DAG files")->required();
  validate->add_flag("-q,--quiet", validate_quiet, "Print only errors");

  std::string runs_dag, runs_state;
  int runs_limit = 20;
  bool runs_json = false;
  auto* runs = app.add_subcommand("runs", "List recent runs, newest first");
  runs->add_option("--dag", runs_dag, "Only runs of this DAG");
  runs->add_option("--state", runs_state, "Only runs in this state")
      ->check(CLI::IsMember({"queued", "running", "success", "failed", "cancelled", "lost"}));
  runs->add_option("--limit", runs_limit, "How many runs")->check(CLI::Range(1, 100000))->capture_default_str();
  runs->add_flag("--json", runs_json, "JSON output");

  std::string show_run;
  bool show_json = false;
  auto* show = app.add_subcommand("show", "Show one run: tasks, attempts, durations, exit codes");
  show->add_option("run_id", show_run, "Run id (or a unique prefix)")->required();
  show->add_flag("--json", show_json, "JSON output");

  std::string logs_run, logs_task;
  int logs_attempt = 0;
  auto* logs = app.add_subcommand("logs", "Print a task's log");
  logs->add_option("run_id", logs_run, "Run id (or a unique prefix)")->required();
  logs->add_option("task", logs_task, "Task id")->required();
  logs->add_option("--attempt", logs_attempt, "Attempt number (default: the last)")->check(CLI::Range(1, 100000));

  std::string resume_run;
  int resume_jobs = 0;
  bool resume_json = false;
  auto* resume = app.add_subcommand("resume", "Finish a failed, cancelled or lost run; succeeded tasks are kept");
  resume->add_option("run_id", resume_run, "Run id (or a unique prefix)")->required();
  resume->add_option("-j,--jobs", resume_jobs, "Tasks to run at once")->check(CLI::Range(1, 4096));
  resume->add_flag("--json", resume_json, "Print a JSON summary on stdout");

  std::string graph_file;
  std::vector<std::string> graph_params;
  auto* graph = app.add_subcommand("graph", "Print the DAG as Graphviz DOT (pipe to `dot -Tsvg`)");
  graph->add_option("file", graph_file, "DAG file (YAML)")->required();
  graph->add_option("-p,--param", graph_params, "Override a param");

  std::string explain_run, explain_task;
  auto* explain = app.add_subcommand("explain", "Say why a task ran or was reused from the cache");
  explain->add_option("run_id", explain_run, "Run id (or a unique prefix)")->required();
  explain->add_option("task", explain_task, "Task id")->required();

  std::string metrics_dag, metrics_name;
  int metrics_limit = 50;
  bool metrics_json = false;
  auto* metrics = app.add_subcommand("metrics", "Metrics reported by tasks, across runs, newest first");
  metrics->add_option("--dag", metrics_dag, "DAG id")->required();
  metrics->add_option("--name", metrics_name, "Only this metric");
  metrics->add_option("--limit", metrics_limit, "How many rows")->check(CLI::Range(1, 1000000))->capture_default_str();
  metrics->add_flag("--json", metrics_json, "JSON output");

  bool models_history = false, models_json = false;
  auto* models = app.add_subcommand("models", "Model aliases (MODEL@ALIAS), what they point at and its metrics");
  models->add_flag("--history", models_history, "Show every change of each alias");
  models->add_flag("--json", models_json, "JSON output");

  std::string lineage_what, lineage_format = "text";
  bool lineage_up = false, lineage_down = false;
  auto* lineage = app.add_subcommand("lineage", "Where an artifact came from (--upstream, default) or where it went");
  lineage->add_option("artifact", lineage_what, "A path as recorded, a sha256 prefix, or MODEL@ALIAS")->required();
  lineage->add_flag("--upstream", lineage_up, "Data, code and tasks that produced it (default)");
  lineage->add_flag("--downstream", lineage_down, "Tasks that consumed it and what they produced");
  lineage->add_option("--format", lineage_format, "text | json | dot")
      ->check(CLI::IsMember({"text", "json", "dot"}))
      ->capture_default_str();

  std::string audit_since, audit_action;
  int audit_limit = 100;
  bool audit_json = false;
  auto* audit = app.add_subcommand("audit", "Who started, resumed, cancelled or promoted what, and when");
  audit->add_option("--since", audit_since, "A date (2026-11-01) or a duration ago (7d)");
  audit->add_option("--action", audit_action, "Only this action (run.start, alias.set, ...; 'run.' = all run actions)");
  audit->add_option("--limit", audit_limit, "How many entries")->capture_default_str();
  audit->add_flag("--json", audit_json, "JSON output");

  std::string gc_older = "30d";
  bool gc_dry = false;
  auto* gc = app.add_subcommand("gc", "Delete old runs' records, logs and stored artifacts; never anything a model alias depends on");
  gc->add_option("--older-than", gc_older, "Delete runs that ended longer ago than this")->capture_default_str();
  gc->add_flag("--dry-run", gc_dry, "Only list what would be deleted");

  std::string repro_run;
  int repro_jobs = 0;
  bool repro_json = false;
  auto* repro = app.add_subcommand(
      "reproduce", "Re-run a run's DAG version with its params and recorded inputs; report which outputs are identical");
  repro->add_option("run_id", repro_run, "Run id (or a unique prefix)")->required();
  repro->add_option("-j,--jobs", repro_jobs, "Tasks to run at once")->check(CLI::Range(1, 4096));
  repro->add_flag("--json", repro_json, "Print the new run's JSON summary on stdout");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitBadInput;
  }
  g.color = !no_color && std::getenv("NO_COLOR") == nullptr;

  if (*run) return CmdRun(g, run_args);
  if (*test) return CmdTest(g, test_args);
  if (*validate) return CmdValidate(g, validate_files, validate_quiet);
  if (*runs) return CmdRuns(g, runs_dag, runs_state, runs_limit, runs_json);
  if (*show) return CmdShow(g, show_run, show_json);
  if (*logs) return CmdLogs(g, logs_run, logs_task, logs_attempt);
  if (*resume) return CmdResume(g, resume_run, resume_jobs, resume_json);
  if (*graph) return CmdGraph(g, graph_file, graph_params);
  if (*explain) return CmdExplain(g, explain_run, explain_task);
  if (*metrics) return CmdMetrics(g, metrics_dag, metrics_name, metrics_limit, metrics_json);
  if (*models) return CmdModels(g, models_history, models_json);
  if (*lineage) {
    if (lineage_up && lineage_down) {
      std::cerr << "error: --upstream and --downstream are exclusive\n";
      return kExitBadInput;
    }
    return CmdLineage(g, lineage_what, lineage_down, lineage_format);
  }
  if (*audit) return CmdAudit(g, audit_since, audit_action, audit_limit, audit_json);
  if (*gc) return CmdGc(g, gc_older, gc_dry);
  if (*repro) return CmdReproduce(g, repro_run, repro_jobs, repro_json);
  return kExitBadInput;
}
