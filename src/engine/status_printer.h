// Progress and summaries for people (ninja's StatusPrinter): on a terminal one status
// line redrawn in place ("[12/40] running: train, features …") with finished tasks
// printed above it; elsewhere plain lines, one per finished task. A table at the end.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace pipeline {

class StatusPrinter : public RunObserver {
 public:
  /// Writes to |out|. |smart| = redraw a status line (a TTY); |color| = ANSI colours.
  StatusPrinter(FILE* out, bool smart, bool color);

  void RunStarted(const std::string& run_id, const Dag& dag, int total_tasks) override;
  void TaskStarted(int task, int attempt) override;
  void TaskFinished(int task, const TaskSummary& summary, int64_t retry_in_ms) override;
  void RunInterrupted(int signal, bool hard) override;
  void RunFinished(const RunSummary& summary) override;

 private:
  void ClearStatus();
  void DrawStatus();
  void Line(const std::string& text);
  std::string Paint(const std::string& text, const char* code) const;

  FILE* out_;
  bool smart_, color_;
  const Dag* dag_ = nullptr;
  int total_ = 0, finished_ = 0;
  std::vector<int> running_;   // task indices, in start order
  std::vector<int> retrying_;  // tasks waiting out a retry delay
  bool status_shown_ = false;
};

/// The end-of-run table: task, state, attempts, duration, and the reason or exit code.
/// Long runs show every task that did not succeed and a count of the rest.
std::string FormatSummaryTable(const RunSummary& summary, bool color);

/// --json output of a run.
std::string SummaryJson(const RunSummary& summary);

/// The last |lines| lines of a file (for showing why a task failed).
std::string TailFile(const std::string& path, int lines);

}  // namespace pipeline
