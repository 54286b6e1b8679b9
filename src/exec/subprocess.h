// Child processes for task attempts (ninja's subprocess-posix, grown for an orchestrator).
//
// Each child is started like posix_spawn starts one (clone sharing our memory, then
// execve), except that we do not wait for its exec (see "Spawning" in the .cc). It runs in
// its own process group, stdin from /dev/null and stdout+stderr appended straight to a
// log file: the engine never reads task output, so a task printing gigabytes costs the
// engine nothing, and a grandchild that keeps the output open cannot stall it. The log
// file is created only when the task first writes: it starts as an unnamed O_TMPFILE in
// the log's directory and gets its name once it is seen non-empty (checked about once a
// second while the task runs, and when it ends), so a silent task costs no file
// creation. A child is finished when waitpid reports it; at that moment whatever is left
// of its process group is SIGKILLed at once (the task is over; its leftovers get no
// grace), so no task leaves processes behind.
//
// Daemons that leave the group with setsid(): the engine is a child subreaper, so
// orphans of our tasks are re-parented to it. Every child carries
// PIPELINE_SPAWN_TOKEN=<engine pid>-<n> in its environment; an adopted orphan whose
// environment holds the token of a task that is no longer running is SIGKILLed, and
// every adopted orphan is reaped. Not caught: a process that exec()s with an
// environment without the token and leaves the group, or one under another subreaper.
// Consequence: while a set exists it reaps *every* exited child of the engine process,
// so start all children through it (a waitpid(pid) elsewhere may see ECHILD).
//
// Signals: the constructor blocks SIGINT, SIGTERM, SIGHUP and SIGCHLD in the calling
// thread and installs flag-setting handlers; they are delivered only inside DoWork's
// ppoll, so checking and sleeping cannot race. Children get the original mask (minus
// these signals and SIGPIPE) and default dispositions for them. Signal state is
// process-wide: one set may exist at a time, created, used and destroyed on one thread.
// Create it before starting other threads, so they inherit the blocked mask; a thread
// that leaves these signals unblocked may take a Ctrl-C that DoWork never sees.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pipeline {

struct SpawnArena;

struct SpawnSpec {
  std::vector<std::string> argv;  ///< argv[0] is looked up in PATH if it has no '/'
  std::vector<std::string> env;   ///< the complete environment, "NAME=value"
  std::string cwd;                ///< "" = the engine's working directory
  /// stdout+stderr are appended here (0644 & ~umask). Created when the task first
  /// writes output (visible within about a second); an attempt that writes nothing
  /// leaves no file. A path that already exists is appended to, as before.
  std::string log_path;
  /// The caller knows nothing is at log_path yet (it watches the directory): saves the
  /// lookup that decides between creating the log and appending to an existing one.
  bool log_path_is_new = false;
  int64_t timeout_ms = 0;         ///< 0 = no limit
  int64_t kill_grace_ms = 5000;   ///< TERM -> KILL delay on timeout or cancel
};

enum class ExitKind {
  kExited,       ///< exited normally; see exit_code
  kSignaled,     ///< killed by a signal it did not get from us; see signal
  kTimedOut,     ///< we killed it because its timeout passed
  kCancelled,    ///< we killed it because of Cancel()/CancelAll()
  kSpawnFailed,  ///< never became the task (its chdir or exec failed); see error
};

struct ExitStatus {
  ExitKind kind = ExitKind::kExited;
  int exit_code = -1;  ///< valid for kExited (and for others if it exited on TERM)
  int signal = 0;      ///< terminating signal, if it died by one
  std::string error;   ///< human-readable cause for anything but a clean exit 0
  int64_t log_bytes = 0;     ///< size of the log file when the task ended
  bool log_created = false;  ///< a file now exists at SpawnSpec::log_path (false: the
                             ///< task wrote nothing, or, with log_bytes > 0, naming failed)
};

class Subprocess {
 public:
  pid_t pid() const { return pid_; }
  const ExitStatus& status() const { return status_; }
  int64_t started_mono_ms() const { return started_ms_; }
  int64_t ended_mono_ms() const { return ended_ms_; }
  /// Free for the caller (the engine stores its attempt here).
  void* user_data = nullptr;

 private:
  friend class SubprocessSet;
  pid_t pid_ = -1;  ///< also the process group id
  ExitStatus status_;
  int64_t started_ms_ = 0, ended_ms_ = 0;
  int64_t timeout_ms_ = 0;
  int64_t deadline_ms_ = 0;     ///< monotonic; 0 = none
  int64_t kill_at_ms_ = 0;      ///< when TERM was sent: when KILL follows; 0 = not yet
  int64_t grace_ms_ = 5000;
  int64_t term_sent_ms_ = 0;    ///< when we sent SIGTERM to the group; 0 = never
  int64_t kill_sent_ms_ = 0;    ///< when we sent SIGKILL to the group; 0 = never
  bool kill_by_grace_ = false;  ///< the KILL came from kill_at_ms_ passing
  bool timed_out_ = false, cancelled_ = false;
  uint64_t token_ = 0;          ///< N in PIPELINE_SPAWN_TOKEN=<engine pid>-N
  std::string log_path_;
  int log_fd_ = -1;             ///< our end of the child's stdout/stderr; -1 once done
  bool log_named_ = false;      ///< log_path_ names the file (always so in eager mode)
  bool log_link_failed_ = false;  ///< naming failed once: retried only at the end
  bool log_created_at_spawn_ = false;  ///< eager mode made the file (removed if exec fails)
  SpawnArena* arena_ = nullptr;  ///< the child's until it is reaped (see "Spawning")
};

class SubprocessSet {
 public:
  SubprocessSet();
  /// Kills every remaining process group (KILL) and restores the signal mask/handlers.
  ~SubprocessSet();
  SubprocessSet(const SubprocessSet&) = delete;
  SubprocessSet& operator=(const SubprocessSet&) = delete;

  /// Starts a child. On failure (log file cannot be opened, program not found in PATH,
  /// no process can be made) returns nullptr and sets |*err|, and leaves no log file.
  /// A failure in the child itself (chdir to spec.cwd, execve) is not waited for: the
  /// child comes back from DoWork as kSpawnFailed with the same kind of message, and
  /// leaves no log file either. Its process group exists on return. The returned
  /// pointer stays owned by the set until DoWork hands it back finished. Until then the
  /// child holds one descriptor of this process (the log), so the number of children is
  /// bounded by RLIMIT_NOFILE.
  Subprocess* Add(const SpawnSpec& spec, std::string* err);

  /// Waits until at least one child has finished, a deadline or kill grace passes, a
  /// signal arrives, or |timeout_ms| passes (-1 = no limit, 0 = just poll). Returns the
  /// finished children; ownership passes to the caller.
  std::vector<std::unique_ptr<Subprocess>> DoWork(int64_t timeout_ms);

  /// Asks a child to stop: TERM to its group now, KILL after its grace. It finishes
  /// (through DoWork) as kCancelled.
  void Cancel(Subprocess* p);
  /// Cancel() on every child; with |now|, KILL at once instead.
  void CancelAll(bool now);

  /// The last SIGINT/SIGTERM/SIGHUP received (0 = none) and how many arrived.
  int interrupt_signal() const;
  int interrupt_count() const;

  size_t running() const { return running_.size(); }

  /// Test only (process-wide, affects later Add calls): create every log file at spawn
  /// as before (the fallback used where unnamed files cannot be linked).
  static void ForceEagerLogsForTest(bool eager);
  /// Test only: name logs through /proc/self/fd (the fallback for kernels that refuse
  /// linkat(AT_EMPTY_PATH) to unprivileged callers) instead of AT_EMPTY_PATH.
  static void ForceProcFdLinkForTest(bool proc);

 private:
  /// Sends TERM/KILL for passed deadlines and graces; true if it sent anything.
  bool CheckDeadlines(int64_t now);
  /// Reaps every exited child without blocking; ours go to |done| (their group is
  /// killed first), adopted orphans are just reaped. Then kills leftover orphans.
  void Reap(std::vector<std::unique_ptr<Subprocess>>* done);
  /// TERM (+CONT) to the group and KILL after the grace, or KILL now if the grace is 0.
  void Terminate(Subprocess* p, int64_t now);
  /// SIGKILLs adopted orphans (children of the engine that are not running_) whose
  /// environment carries a token of ours that belongs to no running child. Returns how
  /// many it signalled. Children whose environment reads as empty (mid-execve, say) go
  /// to undecided_ and are looked at again from DoWork. |*alone| (if given): our
  /// children were listed and every one is a running task, so no process of a finished
  /// task is alive.
  int KillOrphans(bool* alone = nullptr);
  /// Our children (see ListChildrenFast in the .cc); false without the children files.
  bool ListChildrenFast(std::vector<pid_t>* out);
  /// Moves the logs FinishLog set aside to the spares if |alone|, else closes them.
  void AdoptSpareLogs(bool alone);
  /// Drops groups of finished tasks from dying_groups_ once they are empty.
  void PruneDyingGroups();
  /// Names the log files of running children that have written something.
  void CheckLogs();
  /// At the end of |p|: names its log if it is non-empty, fills log_bytes/log_created
  /// and closes our descriptor.
  void FinishLog(Subprocess* p);

  std::vector<std::unique_ptr<Subprocess>> running_;
  /// Process groups of finished tasks that we SIGKILLed; members may still be dying.
  std::vector<pid_t> dying_groups_;
  /// An unknown child was reaped: orphans are being adopted (see KillOrphans).
  bool saw_orphans_ = false;
  /// Last full /proc scan (kernels without /proc/<pid>/task/<tid>/children).
  int64_t last_slow_scan_ms_ = 0;
  /// Adopted children whose environment read as empty at the last KillOrphans (in the
  /// middle of an execve, or truly empty), with when that was first seen.
  std::vector<std::pair<pid_t, int64_t>> undecided_;
  /// When DoWork runs KillOrphans again for them (0: no need).
  int64_t recheck_orphans_ms_ = 0;
  static constexpr int64_t kUndecidedRecheckMs = 2;
  static constexpr int64_t kUndecidedGiveUpMs = 1000;
  /// When CheckLogs runs next (while some running child's log is still unnamed).
  int64_t next_log_check_ms_ = 0;
  /// The thread that made the set (its signal mask is per thread, so the set is used
  /// from it): the children it spawns are listed under its id.
  pid_t tid_ = -1;
  /// /proc/self/task/<pid>/children, kept open (-1 until first used).
  int children_fd_ = -1;
  /// Empty unnamed logs of finished tasks (with their directory) that no other process
  /// holds: Add reuses them instead of creating a file. Bounded by kMaxSpareLogs.
  static constexpr size_t kMaxSpareLogs = 64;
  std::vector<std::pair<int, std::string>> spare_logs_;
  /// Set aside by FinishLog until the next KillOrphans shows whether they are private.
  std::vector<std::pair<int, std::string>> pending_spares_;

  /// Our pid (the set never crosses a fork).
  pid_t pid_ = -1;
  /// Memory for children until they exec (see "Spawning" in the .cc): a pool, each in use
  /// from Add until its child is reaped: as many as children ever ran at once.
  std::vector<std::unique_ptr<SpawnArena>> arenas_;
  /// A free arena with room for |data_bytes| of strings (mapped if none); nullptr with
  /// errno if mapping fails.
  SpawnArena* TakeArena(size_t data_bytes);
  /// Frees the arena of |child| (reaped), if it has one.
  void ReleaseArena(pid_t child);
  /// /dev/null, opened once (close-on-exec), dup2'ed onto each child's stdin.
  int devnull_fd_ = -1;
};

/// Milliseconds on CLOCK_MONOTONIC (the clock deadlines use).
int64_t MonotonicNowMs();

}  // namespace pipeline
