#include "engine/status_printer.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/duration.h"
#include "core/strings.h"

namespace pipeline {
namespace {

const char* kGreen = "32";
const char* kRed = "31";
const char* kYellow = "33";
const char* kDim = "2";

const char* StateColor(TaskState s) {
  switch (s) {
    case TaskState::kSuccess:
    case TaskState::kCached: return kGreen;
    case TaskState::kFailed:
    case TaskState::kUpstreamFailed: return kRed;
    case TaskState::kUpForRetry:
    case TaskState::kCancelled: return kYellow;
    default: return kDim;
  }
}

std::string Detail(const TaskSummary& t) {
  if (t.state == TaskState::kSuccess || t.state == TaskState::kCached) return "";
  if (!t.reason.empty()) return t.reason;
  if (t.exit_code) return "exit " + std::to_string(*t.exit_code);
  return "";
}

}  // namespace

StatusPrinter::StatusPrinter(FILE* out, bool smart, bool color) : out_(out), smart_(smart), color_(color) {}

std::string StatusPrinter::Paint(const std::string& text, const char* code) const {
  return color_ ? std::string("\x1b[") + code + "m" + text + "\x1b[0m" : text;
}

void StatusPrinter::ClearStatus() {
  if (smart_ && status_shown_) {
    std::fputs("\r\x1b[K", out_);
    status_shown_ = false;
  }
}

void StatusPrinter::DrawStatus() {
  if (!smart_ || !dag_) return;
  std::string line = "[" + std::to_string(finished_) + "/" + std::to_string(total_) + "] ";
  auto names_of = [&](const std::vector<int>& tasks) {
    std::vector<std::string> names;
    for (int t : tasks) names.push_back(dag_->tasks[static_cast<size_t>(t)].id);
    std::string list = Join(names, ", ");
    if (list.size() > 60) list = list.substr(0, 57) + " …";
    return list;
  };
  if (!running_.empty()) line += "running: " + names_of(running_);
  if (!retrying_.empty()) line += std::string(running_.empty() ? "" : "; ") + "retry pending: " + names_of(retrying_);
  if (running_.empty() && retrying_.empty()) line += "waiting";
  std::fputs("\r\x1b[K", out_);
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
  status_shown_ = true;
}

void StatusPrinter::Line(const std::string& text) {
  ClearStatus();
  std::fputs(text.c_str(), out_);
  std::fputc('\n', out_);
  if (!smart_) std::fflush(out_);
}

void StatusPrinter::RunStarted(const std::string& run_id, const Dag& dag, int total_tasks) {
  dag_ = &dag;
  total_ = total_tasks;
  finished_ = 0;
  Line("run " + run_id + " of " + dag.id + " (" + std::to_string(total_tasks) + " tasks)");
  DrawStatus();
}

void StatusPrinter::TaskStarted(int task, int attempt) {
  retrying_.erase(std::remove(retrying_.begin(), retrying_.end(), task), retrying_.end());
  running_.push_back(task);
  if (attempt > 1 && !smart_)
    Line("[" + std::to_string(finished_) + "/" + std::to_string(total_) + "] retry   " +
         dag_->tasks[static_cast<size_t>(task)].id + " (attempt " + std::to_string(attempt) + ")");
  DrawStatus();
}

void StatusPrinter::TaskFinished(int task, const TaskSummary& s, int64_t retry_in_ms) {
  running_.erase(std::remove(running_.begin(), running_.end(), task), running_.end());
  std::string word;
  switch (s.state) {
    case TaskState::kSuccess: word = "ok"; break;
    case TaskState::kCached: word = "cached"; break;
    case TaskState::kFailed: word = "FAILED"; break;
    case TaskState::kUpForRetry: word = "retry"; break;
    case TaskState::kSkipped: word = "skipped"; break;
    case TaskState::kUpstreamFailed: word = "upstream_failed"; break;
    case TaskState::kCancelled: word = "cancelled"; break;
    default: word = TaskStateName(s.state);
  }
  if (s.state == TaskState::kUpForRetry) {
    retrying_.push_back(task);
  } else {
    retrying_.erase(std::remove(retrying_.begin(), retrying_.end(), task), retrying_.end());
    ++finished_;
  }
  std::string text = "[" + std::to_string(finished_) + "/" + std::to_string(total_) + "] ";
  std::string padded = word;
  if (padded.size() < 7) padded.resize(7, ' ');
  text += Paint(padded, StateColor(s.state)) + " " + s.task;
  bool ran = s.state == TaskState::kSuccess || s.state == TaskState::kFailed || s.state == TaskState::kUpForRetry;
  if (ran) text += " (" + FormatDuration(s.duration_ms) + ")";
  std::string detail = Detail(s);
  if (s.state == TaskState::kUpForRetry) {
    detail += "; attempt " + std::to_string(s.attempts) + " failed, retrying in " + FormatDuration(retry_in_ms);
  }
  if (!detail.empty()) text += ": " + detail;
  Line(text);
  if (s.state == TaskState::kFailed && !s.log_path.empty() && access(s.log_path.c_str(), F_OK) == 0) {
    std::string tail = TailFile(s.log_path, 10);
    if (!tail.empty()) {
      std::string indented;
      for (const std::string& l : Split(tail, '\n'))
        if (!l.empty()) indented += "    " + Paint(l, kDim) + "\n";
      ClearStatus();
      std::fputs(indented.c_str(), out_);
    }
    Line("    log: " + s.log_path);
  }
  DrawStatus();
}

void StatusPrinter::RunInterrupted(int signal, bool hard) {
  if (hard)
    Line(Paint("interrupted again: killing all tasks now", kRed));
  else
    Line(Paint(SignalName(signal) + " received: stopping; terminating running tasks (press Ctrl-C again to kill "
                                    "them at once)",
               kYellow));
}

void StatusPrinter::RunFinished(const RunSummary& summary) {
  ClearStatus();
  std::fputs(FormatSummaryTable(summary, color_).c_str(), out_);
  std::fflush(out_);
}

std::string FormatSummaryTable(const RunSummary& summary, bool color) {
  auto paint = [&](const std::string& t, const char* c) {
    return color ? std::string("\x1b[") + c + "m" + t + "\x1b[0m" : t;
  };
  std::vector<const TaskSummary*> rows;
  int hidden = 0;
  const bool long_run = summary.tasks.size() > 40;
  for (const TaskSummary& t : summary.tasks) {
    if (long_run && (t.state == TaskState::kSuccess || t.state == TaskState::kCached || t.state == TaskState::kSkipped)) {
      ++hidden;
      continue;
    }
    rows.push_back(&t);
  }
  size_t w = 4;
  for (const TaskSummary* t : rows) w = std::max(w, t->task.size());
  auto pad = [](std::string s, size_t n) {
    if (s.size() < n) s.resize(n, ' ');
    return s;
  };
  std::string out = "\n" + pad("TASK", w) + "  " + pad("STATE", 15) + "  " + pad("ATTEMPTS", 8) + "  " +
                    pad("DURATION", 8) + "  DETAIL\n";
  for (const TaskSummary* t : rows) {
    bool ran = t->attempts > 0 && t->state != TaskState::kCancelled;
    out += pad(t->task, w) + "  " + paint(pad(TaskStateName(t->state), 15), StateColor(t->state)) + "  " +
           pad(std::to_string(t->attempts), 8) + "  " + pad(ran ? FormatDuration(t->duration_ms) : "-", 8) + "  " +
           Detail(*t) + "\n";
  }
  if (hidden) out += "(" + std::to_string(hidden) + " more tasks succeeded or were skipped)\n";
  const char* c = summary.state == "success" ? kGreen : summary.state == "failed" ? kRed : kYellow;
  out += "\nrun " + summary.run_id + " " + paint(summary.state, c) + " in " + FormatDuration(summary.duration_ms) +
         "\n";
  return out;
}

std::string SummaryJson(const RunSummary& s) {
  nlohmann::json j;
  j["run_id"] = s.run_id;
  j["dag"] = s.dag;
  j["state"] = s.state;
  j["exit_code"] = s.exit_code;
  j["duration_ms"] = s.duration_ms;
  j["tasks"] = nlohmann::json::array();
  for (const TaskSummary& t : s.tasks) {
    nlohmann::json tj;
    tj["task"] = t.task;
    tj["state"] = TaskStateName(t.state);
    tj["attempts"] = t.attempts;
    tj["duration_ms"] = t.duration_ms;
    tj["exit_code"] = t.exit_code ? nlohmann::json(*t.exit_code) : nlohmann::json();
    tj["signal"] = t.signal ? nlohmann::json(t.signal) : nlohmann::json();
    tj["reason"] = t.reason;
    tj["log"] = t.log_path;
    j["tasks"].push_back(std::move(tj));
  }
  return j.dump(2);
}

std::string TailFile(const std::string& path, int lines) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  std::streamoff size = in.tellg();
  std::streamoff start = std::max<std::streamoff>(0, size - 8192);  // never read a huge log whole
  in.seekg(start);
  std::string buf(static_cast<size_t>(size - start), '\0');
  in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
  while (!buf.empty() && buf.back() == '\n') buf.pop_back();
  size_t pos = buf.size();
  for (int i = 0; i < lines && pos != std::string::npos && pos > 0; ++i) pos = buf.rfind('\n', pos - 1);
  return pos == std::string::npos || pos == 0 ? buf : buf.substr(pos + 1);
}

}  // namespace pipeline
