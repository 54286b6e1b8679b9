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
  return kExitBadInput;
}
