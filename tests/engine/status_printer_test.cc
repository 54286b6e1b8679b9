// What a person sees while a run goes: on a terminal one status line redrawn in place
// with finished tasks printed above it; in a log or pipe plain lines and no escape codes.
#include "engine/status_printer.h"

#include <stdio.h>

#include <gtest/gtest.h>

#include <string>

#include "testing/dag_builder.h"
#include "testing/temp_dir.h"

namespace pipeline {
namespace {

using ::pipeline::testing::DagBuilder;
using ::pipeline::testing::TempDir;

/// A StatusPrinter writing to memory.
class Screen {
 public:
  Screen(bool smart, bool color) {
    out_ = open_memstream(&buf_, &len_);
    printer_ = std::make_unique<StatusPrinter>(out_, smart, color);
  }
  ~Screen() {
    printer_.reset();
    fclose(out_);
    free(buf_);
  }
  StatusPrinter& p() { return *printer_; }
  /// Everything written so far.
  std::string text() {
    fflush(out_);
    return std::string(buf_, len_);
  }
  /// What is written from now on, by |f|.
  template <typename F>
  std::string During(F&& f) {
    size_t before = text().size();
    f();
    return text().substr(before);
  }

 private:
  char* buf_ = nullptr;
  size_t len_ = 0;
  FILE* out_ = nullptr;
  std::unique_ptr<StatusPrinter> printer_;
};

TaskSummary Done(const std::string& task, TaskState state, int64_t ms = 1500, int attempts = 1) {
  TaskSummary s;
  s.task = task;
  s.state = state;
  s.duration_ms = ms;
  s.attempts = attempts;
  return s;
}

Dag ThreeTasks() {
  DagBuilder b("train");
  b.Add("ingest");
  b.Add("features", {"ingest"});
  b.Add("fit", {"ingest"});
  return b.Build();
}

TEST(StatusPrinterTest, TerminalRedrawsOneStatusLineAndPrintsFinishedTasksAboveIt) {
  Dag dag = ThreeTasks();
  Screen s(/*smart=*/true, /*color=*/false);
  EXPECT_EQ(s.During([&] { s.p().RunStarted("r1", dag, 3); }),
            "run r1 of train (3 tasks)\n\r\x1b[K[0/3] waiting");
  EXPECT_EQ(s.During([&] { s.p().TaskStarted(0, 1); }), "\r\x1b[K[0/3] running: ingest");
  // The finished task replaces the status line, then the status line comes back below it.
  EXPECT_EQ(s.During([&] { s.p().TaskFinished(0, Done("ingest", TaskState::kSuccess), 0); }),
            "\r\x1b[K[1/3] ok      ingest (1.5s)\n\r\x1b[K[1/3] waiting");
  s.p().TaskStarted(1, 1);
  EXPECT_EQ(s.During([&] { s.p().TaskStarted(2, 1); }), "\r\x1b[K[1/3] running: features, fit");
  // A retry: the task stays on the status line as pending, the count does not move.
  TaskSummary retry = Done("fit", TaskState::kUpForRetry);
  retry.exit_code = 3;
  EXPECT_EQ(s.During([&] { s.p().TaskFinished(2, retry, 2000); }),
            "\r\x1b[K[1/3] retry   fit (1.5s): exit 3; attempt 1 failed, retrying in 2.0s\n"
            "\r\x1b[K[1/3] running: features; retry pending: fit");
  EXPECT_EQ(s.During([&] { s.p().TaskStarted(2, 2); }), "\r\x1b[K[1/3] running: features, fit");
  s.p().TaskFinished(1, Done("features", TaskState::kSuccess), 0);
  s.p().TaskFinished(2, Done("fit", TaskState::kSuccess, 1500, 2), 0);
  RunSummary sum;
  sum.run_id = "r1";
  sum.state = "success";
  sum.duration_ms = 4200;
  sum.tasks = {Done("ingest", TaskState::kSuccess), Done("features", TaskState::kSuccess),
               Done("fit", TaskState::kSuccess, 1500, 2)};
  std::string end = s.During([&] { s.p().RunFinished(sum); });
  EXPECT_EQ(end.substr(0, 4), "\r\x1b[K") << "the status line is cleared before the table";
  EXPECT_NE(end.find("fit       success          2         1.5s"), std::string::npos) << end;
  EXPECT_NE(end.find("run r1 success in 4.2s"), std::string::npos) << end;
}

TEST(StatusPrinterTest, PipeGetsPlainLinesWithoutEscapes) {
  Dag dag = ThreeTasks();
  Screen s(/*smart=*/false, /*color=*/false);
  s.p().RunStarted("r1", dag, 3);
  s.p().TaskStarted(0, 1);
  s.p().TaskFinished(0, Done("ingest", TaskState::kSuccess), 0);
  s.p().TaskStarted(1, 1);
  TaskSummary failed = Done("features", TaskState::kUpForRetry);
  failed.exit_code = 1;
  s.p().TaskFinished(1, failed, 1000);
  s.p().TaskStarted(1, 2);
  s.p().TaskFinished(1, Done("features", TaskState::kSuccess, 200, 2), 0);
  TaskSummary up;
  up.task = "fit";
  up.state = TaskState::kSkipped;
  up.reason = "when is false: params.fit == true (params.fit = false)";
  s.p().TaskFinished(2, up, 0);
  EXPECT_EQ(s.text(),
            "run r1 of train (3 tasks)\n"
            "[1/3] ok      ingest (1.5s)\n"
            "[1/3] retry   features (1.5s): exit 1; attempt 1 failed, retrying in 1.0s\n"
            "[1/3] retry   features (attempt 2)\n"
            "[2/3] ok      features (0.2s)\n"
            "[3/3] skipped fit: when is false: params.fit == true (params.fit = false)\n");
}

TEST(StatusPrinterTest, FailedTaskShowsTheTailOfItsLog) {
  TempDir dir;
  std::string log;
  for (int i = 1; i <= 15; ++i) log += "line " + std::to_string(i) + "\n";
  Dag dag = ThreeTasks();
  Screen s(/*smart=*/false, /*color=*/false);
  s.p().RunStarted("r1", dag, 3);
  TaskSummary f = Done("ingest", TaskState::kFailed);
  f.exit_code = 2;
  f.log_path = dir.Write("ingest.1.log", log);
  std::string out = s.During([&] { s.p().TaskFinished(0, f, 0); });
  EXPECT_EQ(out,
            "[1/3] FAILED  ingest (1.5s): exit 2\n"
            "    line 6\n    line 7\n    line 8\n    line 9\n    line 10\n"
            "    line 11\n    line 12\n    line 13\n    line 14\n    line 15\n"
            "    log: " + f.log_path + "\n");
  // No log file (a silent task): no tail, no path to a file that is not there.
  f.log_path = dir / "missing.log";
  EXPECT_EQ(s.During([&] { s.p().TaskFinished(1, f, 0); }), "[2/3] FAILED  ingest (1.5s): exit 2\n");
}

TEST(StatusPrinterTest, ColorsOnlyWhenAsked) {
  Dag dag = ThreeTasks();
  Screen plain(false, false), color(false, true);
  for (Screen* s : {&plain, &color}) {
    s->p().RunStarted("r1", dag, 3);
    s->p().TaskFinished(0, Done("ingest", TaskState::kSuccess), 0);
    s->p().TaskFinished(1, Done("features", TaskState::kFailed), 0);
  }
  EXPECT_EQ(plain.text().find('\x1b'), std::string::npos);
  EXPECT_NE(color.text().find("\x1b[32mok     \x1b[0m ingest"), std::string::npos) << color.text();
  EXPECT_NE(color.text().find("\x1b[31mFAILED \x1b[0m features"), std::string::npos) << color.text();
}

TEST(StatusPrinterTest, LongRunningListIsCutToOneLine) {
  DagBuilder b("wide");
  for (int i = 0; i < 12; ++i) b.Add("a_rather_long_task_name_" + std::to_string(i));
  Dag dag = b.Build();
  Screen s(/*smart=*/true, /*color=*/false);
  s.p().RunStarted("r1", dag, 12);
  for (int i = 0; i < 11; ++i) s.p().TaskStarted(i, 1);
  std::string line = s.During([&] { s.p().TaskStarted(11, 1); });
  EXPECT_EQ(line.substr(0, 22), "\r\x1b[K[0/12] running: a_") << line;
  EXPECT_EQ(line.substr(line.size() - 4), " …") << line;
  EXPECT_LE(line.size(), 4 + 19 + 57 + 4u);
}

TEST(StatusPrinterTest, SummaryOfALongRunListsWhatDidNotSucceed) {
  RunSummary sum;
  sum.run_id = "r9";
  sum.state = "failed";
  sum.duration_ms = 61000;
  for (int i = 0; i < 50; ++i) sum.tasks.push_back(Done("t" + std::to_string(i), TaskState::kSuccess));
  TaskSummary bad = Done("t50", TaskState::kFailed);
  bad.exit_code = 9;
  sum.tasks.push_back(bad);
  TaskSummary up;
  up.task = "t51";
  up.state = TaskState::kUpstreamFailed;
  sum.tasks.push_back(up);
  std::string table = FormatSummaryTable(sum, false);
  EXPECT_EQ(table,
            "\nTASK  STATE            ATTEMPTS  DURATION  DETAIL\n"
            "t50   failed           1         1.5s      exit 9\n"
            "t51   upstream_failed  0         -         \n"
            "(50 more tasks succeeded or were skipped)\n"
            "\nrun r9 failed in 1m01s\n");
}

}  // namespace
}  // namespace pipeline
