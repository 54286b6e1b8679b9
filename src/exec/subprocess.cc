// Implementation notes.
//
// Completion. A child is finished when waitid() reports its exit; there is no pipe. We
// first look with WNOWAIT, SIGKILL its process group while the zombie leader still
// reserves the group id (so the id cannot have been reused by then), and only then
// reap it. One waitid(P_ALL, WNOWAIT) per exited child finds them, so a SIGCHLD costs
// O(exited), not O(running).
//
// Orphans. PR_SET_CHILD_SUBREAPER makes orphaned descendants our children. They are
// found through /proc/self/task/<pid>/children (CONFIG_PROC_CHILDREN): the kernel hands
// orphans to the first live thread of a subreaper, our main thread, and lists the tasks
// we spawn under the thread that spawned them. The file stays open and is re-read with
// one pread at offset 0 (which regenerates it) only when a task finished or an adopted
// orphan died; the candidates are checked against PIPELINE_SPAWN_TOKEN in
// /proc/<pid>/environ, so the common case (no orphans) costs one small read per
// finished task. Without the children files we fall back to scanning /proc/*/stat for
// our pid as PPid (~1 ms for 100 processes), which we do only after an adopted orphan
// was reaped (evidence of orphans), when nothing else runs, or at most once a second;
// so on such kernels a daemon may outlive its task by a while, until a later finish or
// the destructor.
//
// Spawning. posix_spawn is clone(CLONE_VM | CLONE_VFORK) + execve underneath, and so is
// this; what glibc adds per call costs more than the engine's own work for a finished
// task: an mmap'd and munmap'd stack (the munmap flushes the TLB of every CPU the child
// ran on), all signals blocked and unblocked around the clone, and in the child a
// sigaction query for each of the 64 signals. Here the stack is mapped once (CLONE_VFORK
// suspends us until the child has exec'd or exited, so one stack serves every child),
// our signals stay blocked as they always are outside ppoll, and the child resets just
// the signals that have a handler in this process (ours, and any found installed when
// the set was made) before it unblocks them. The child runs in our memory on that
// stack: it touches nothing but its argument block and makes raw system calls (no libc
// state, no sanitizer runtime). 2,000 no-op spawns measured: 8% less wall time and
// ~45 us less CPU per spawn than posix_spawn (docs/performance.md).
//
// Signals. Handlers only store into volatile sig_atomic_t; the state is static because
// dispositions and the mask are process-wide (one set at a time).
//
// Logs. Creating a file costs ~0.6-0.9 ms on our ext4 (mostly allocating a fresh inode),
// more than spawning a no-op task, and most tasks print nothing. So Add opens the log as
// an unnamed file in its directory (open(dir, O_TMPFILE | O_APPEND)), keeps our
// descriptor, and names it only once it is non-empty; one closed unnamed frees its inode,
// which the next one reuses cheaply (~60 us open+close measured). Cheaper still: a log
// still empty and unnamed when its task is reaped is kept as a spare and handed to the
// next task in the same directory, but only once the children list read right after the
// reap shows no child of ours but running tasks. Every process left over from a finished
// task is our child or the descendant of one (subreaper), so then nothing but us holds
// the descriptor and no stray output can land in another task's log. A spawn that fails
// returns its (still empty) log to the spares. Naming is
// linkat(fd, "", AT_EMPTY_PATH) (CAP_DAC_READ_SEARCH on older kernels; recent ones allow
// the opener), else linkat("/proc/self/fd/N", AT_SYMLINK_FOLLOW). The size is checked
// with fstat about once a second for running children whose log is still unnamed (DoWork
// wakes for it like for a deadline; named ones cost nothing) and when a child is reaped,
// before it is handed back. Whether naming works at all is probed once per process, on
// the first Add (a scratch O_TMPFILE linked to a scratch name and unlinked); if it does
// not, every log is created eagerly at spawn as before. Per Add, the eager open is also
// used when the filesystem has no O_TMPFILE, and when the path already exists (a rerun:
// it is appended to, as before; error texts for odd paths stay those of the plain open).
// If a file appears at the path while the task runs, ours is linked to a scratch name
// and renamed over it. If naming fails anyway, the task is not failed: its status shows
// log_bytes > 0 with log_created false. Output that arrives only after the child was
// reaped (from an escaped daemon) is lost if nothing came before: the file is then
// already closed unnamed.
#include "exec/subprocess.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <string_view>

namespace pipeline {

namespace {

constexpr std::string_view kTokenVar = "PIPELINE_SPAWN_TOKEN=";
constexpr int kHandledSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};
constexpr int64_t kLogCheckMs = 1000;  // how often unnamed logs of running tasks are checked

volatile sig_atomic_t g_interrupt_signal = 0;
volatile sig_atomic_t g_interrupt_count = 0;
volatile sig_atomic_t g_child_exited = 0;

bool g_set_exists = false;
sigset_t g_old_mask;    // the caller's mask, restored by the destructor
sigset_t g_wait_mask;   // g_old_mask without our signals: in effect inside ppoll only
sigset_t g_child_mask;  // g_old_mask without the signals children get defaults for
struct sigaction g_old_actions[4];
// Signals a child sets to SIG_DFL before it unblocks any: ours, SIGPIPE, and those that
// had a handler when the set was made (a handler must never run in a child that still
// shares our memory).
int g_reset_signals[_NSIG];
int g_reset_count = 0;
int g_old_subreaper = 0;
bool g_subreaper = false;
uint64_t g_next_token = 1;  // never reused within the process, across sets too

// How log files get their name (see "Logs" above); decided on the first Add.
enum class LogLink { kUndecided, kEmptyPath, kProcFd, kEager };
LogLink g_log_link = LogLink::kUndecided;
bool g_force_eager_logs = false;
bool g_force_proc_link = false;
uint64_t g_scratch_names = 0;

[[noreturn]] void Fatal(const char* what) {
  fprintf(stderr, "pipeline: fatal: %s: %s\n", what, strerror(errno));
  abort();
}

void SetInterrupted(int sig) {
  g_interrupt_signal = sig;
  g_interrupt_count = g_interrupt_count + 1;
}

void SetChildExited(int) { g_child_exited = 1; }

const char* SignalName(int sig) {
  switch (sig) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGUSR1: return "SIGUSR1";
    case SIGSEGV: return "SIGSEGV";
    case SIGUSR2: return "SIGUSR2";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTERM: return "SIGTERM";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGSYS: return "SIGSYS";
    default: return nullptr;
  }
}

std::string Seconds(int64_t ms) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

/// Reads a whole (small, /proc) file; false if it cannot be opened.
bool ReadSmallFile(const char* path, std::string* out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

void AppendPids(const std::string& text, std::vector<pid_t>* pids) {
  const char* p = text.c_str();
  while (*p) {
    char* end;
    long v = strtol(p, &end, 10);
    if (end == p) {
      ++p;
      continue;
    }
    if (v > 0) pids->push_back(static_cast<pid_t>(v));
    p = end;
  }
}

/// Appends the pids listed in the children file behind |*fd| (of thread |tid|, opened
/// on first use and kept: a pread at offset 0 regenerates it). False if there is none.
bool ReadChildrenFile(int* fd, pid_t tid, std::vector<pid_t>* out) {
  if (*fd < 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", static_cast<int>(tid));
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) return false;
  }
  std::string text;
  char buf[4096];
  off_t off = 0;
  for (;;) {
    ssize_t n = pread(*fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    off += n;
  }
  AppendPids(text, out);
  return true;
}

/// Children of this process by scanning every /proc/<pid>/stat (slow fallback).
void ListChildrenSlow(std::vector<pid_t>* out) {
  DIR* dir = opendir("/proc");
  if (!dir) return;
  const pid_t self = getpid();
  std::string text, path;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    path = "/proc/";
    path += e->d_name;
    path += "/stat";
    if (!ReadSmallFile(path.c_str(), &text)) continue;
    // "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    size_t close_paren = text.rfind(')');
    if (close_paren == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    if (sscanf(text.c_str() + close_paren + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid == self) out->push_back(static_cast<pid_t>(atoi(e->d_name)));
  }
  closedir(dir);
}

/// The N of PIPELINE_SPAWN_TOKEN=<our pid>-N in |pid|'s environment, or 0.
uint64_t TokenOf(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", static_cast<int>(pid));
  std::string env;
  if (!ReadSmallFile(path, &env)) return 0;
  std::string prefix(kTokenVar);
  prefix += std::to_string(getpid());
  prefix += '-';
  size_t pos = 0;
  while ((pos = env.find(prefix, pos)) != std::string::npos) {
    if (pos == 0 || env[pos - 1] == '\0') {
      return strtoull(env.c_str() + pos + prefix.size(), nullptr, 10);
    }
    pos += prefix.size();
  }
  return 0;
}

/// The value of NAME in a "NAME=value" list, or nullptr.
const std::string* FindEnv(const std::vector<std::string>& env, std::string_view name) {
  for (const std::string& kv : env) {
    if (kv.size() > name.size() && kv.compare(0, name.size(), name) == 0 &&
        kv[name.size()] == '=') {
      return &kv;
    }
  }
  return nullptr;
}

/// Resolves a program name without '/' against PATH like execvp. On success sets
/// |*path| to what posix_spawn should run (relative PATH entries stay relative: they
/// are resolved after the chdir to |cwd|, as the shell would).
bool ResolveProgram(const std::string& name, const std::vector<std::string>& env,
                    const std::string& cwd, std::string* path, std::string* err) {
  if (name.find('/') != std::string::npos) {
    *path = name;
    return true;
  }
  std::string search;
  if (const std::string* kv = FindEnv(env, "PATH")) {
    search = kv->substr(5);
  } else if (const char* p = getenv("PATH")) {
    search = p;
  } else {
    search = "/usr/local/bin:/usr/bin:/bin";
  }
  bool denied = false;
  size_t begin = 0;
  for (;;) {
    size_t end = search.find(':', begin);
    std::string_view dir = std::string_view(search).substr(
        begin, end == std::string::npos ? end : end - begin);
    std::string candidate(dir.empty() ? std::string_view(".") : dir);  // "" means "."
    candidate += '/';
    candidate += name;
    std::string check = candidate;  // what the child will see after chdir
    if (!cwd.empty() && candidate[0] != '/') check = cwd + "/" + candidate;
    struct stat st;
    if (stat(check.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (access(check.c_str(), X_OK) == 0) {
        *path = candidate;
        return true;
      }
      denied = true;
    }
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  *err = "cannot run '" + name + "': " + (denied ? "permission denied" : "command not found");
  return false;
}

void DescribeSignal(int sig, std::string* out) {
  *out += std::to_string(sig);
  if (const char* name = SignalName(sig)) {
    *out += " (";
    *out += name;
    *out += ")";
  }
}

/// The directory part of |path| for open(O_TMPFILE): "." for a bare name.
std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

/// |path| plus a suffix no other call in any process uses.
std::string ScratchName(const std::string& path) {
  return path + ".pipeline-tmp-" + std::to_string(getpid()) + "-" +
         std::to_string(++g_scratch_names);
}

/// Gives the unnamed file |fd| the name |path| (which must not exist) with |how|.
bool LinkFd(int fd, LogLink how, const std::string& path) {
  if (how == LogLink::kEmptyPath) {
    if (linkat(fd, "", AT_FDCWD, path.c_str(), AT_EMPTY_PATH) == 0) return true;
    if (errno != EPERM && errno != ENOENT) return false;
  }
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  return linkat(AT_FDCWD, proc, AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0;
}

/// Names the unnamed file |fd| |path|, replacing whatever is there now.
bool NameLog(int fd, const std::string& path) {
  if (LinkFd(fd, g_log_link, path)) return true;
  if (errno != EEXIST) return false;
  // Should not happen (Add saw no file there): link aside, then rename over it.
  std::string scratch = ScratchName(path);
  if (!LinkFd(fd, g_log_link, scratch)) return false;
  if (rename(scratch.c_str(), path.c_str()) == 0) return true;
  unlink(scratch.c_str());
  return false;
}

/// Which way unnamed files in |dir| (where O_TMPFILE works) can be named: kEager if
/// none, kUndecided if the probe itself could not run.
LogLink ProbeLogLink(const std::string& dir) {
  int fd = open(dir.c_str(), O_WRONLY | O_TMPFILE | O_CLOEXEC, 0600);
  if (fd < 0) return LogLink::kUndecided;
  const std::string scratch = ScratchName(dir + "/");  // "<dir>/.pipeline-tmp-<pid>-<n>"
  LogLink result = LogLink::kEager;
  // A failed linkat leaves the file linkable, so one file serves both tries.
  if (!g_force_proc_link &&
      linkat(fd, "", AT_FDCWD, scratch.c_str(), AT_EMPTY_PATH) == 0) {
    result = LogLink::kEmptyPath;
  } else if (LinkFd(fd, LogLink::kProcFd, scratch)) {
    result = LogLink::kProcFd;
  }
  if (result != LogLink::kEager) unlink(scratch.c_str());
  close(fd);
  return result;
}

/// Today's open: creates the file now. |*created|: it did not exist before.
int OpenLogEagerly(const std::string& path, bool* created) {
  *created = true;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0 && errno == EEXIST) {
    *created = false;
    fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  return fd;
}

// --- spawning (see "Spawning" above) --------------------------------------------------

/// Everything a child needs, prepared by the parent. The child only reads it, and writes
/// |err| (and |failed_chdir|) when a step fails.
struct ChildArgs {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* cwd;  // nullptr: stay
  int log_fd;       // > 2
  int devnull_fd;   // > 2
  const sigset_t* mask;
  int err;
  bool failed_chdir;
};

#if defined(__x86_64__) || defined(__aarch64__)
/// The kernel's struct sigaction on these architectures (not glibc's).
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  unsigned long mask;
};
#endif

/// Runs in the child, on child_stack_, while the parent is suspended (CLONE_VFORK): it
/// shares our memory, so no instrumentation and no libc beyond syscall(3) (whose errno
/// write lands in the suspended parent's errno, which Add restores).
__attribute__((no_sanitize("address", "undefined", "thread"), noinline)) int ChildMain(void* arg) {
  ChildArgs* a = static_cast<ChildArgs*>(arg);
  const long sigset_bytes = _NSIG / 8;
  for (int k = 0; k < g_reset_count; ++k) {
#if defined(__x86_64__) || defined(__aarch64__)
    KernelSigaction dfl = {SIG_DFL, 0, nullptr, 0};
    syscall(SYS_rt_sigaction, g_reset_signals[k], &dfl, nullptr, sigset_bytes);
#else
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(g_reset_signals[k], &dfl, nullptr);
#endif
  }
  if (syscall(SYS_setpgid, 0, 0) != 0 || syscall(SYS_dup3, a->devnull_fd, 0, 0) < 0 ||
      syscall(SYS_dup3, a->log_fd, 1, 0) < 0 || syscall(SYS_dup3, a->log_fd, 2, 0) < 0) {
    a->err = errno;
    syscall(SYS_exit_group, 127);
  }
  // Descriptors the engine forgot to mark close-on-exec must not leak into tasks
  // (kernels before 5.9 lack close_range; then close-on-exec is all there is).
  syscall(SYS_close_range, 3, ~0U, 0);
  if (a->cwd && syscall(SYS_chdir, a->cwd) != 0) {
    a->err = errno;
    a->failed_chdir = true;
    syscall(SYS_exit_group, 127);
  }
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, a->mask, nullptr, sigset_bytes);
  syscall(SYS_execve, a->path, a->argv, a->envp);
  a->err = errno;
  syscall(SYS_exit_group, 127);
  return 127;
}

}  // namespace

int64_t MonotonicNowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

SubprocessSet::SubprocessSet() {
  if (g_set_exists) {
    errno = EBUSY;
    Fatal("a second SubprocessSet");
  }
  g_set_exists = true;
  tid_ = static_cast<pid_t>(gettid());
  pid_ = getpid();
  g_interrupt_signal = 0;
  g_interrupt_count = 0;
  g_child_exited = 0;

  sigset_t block;
  sigemptyset(&block);
  for (int sig : kHandledSignals) sigaddset(&block, sig);
  if (int rc = pthread_sigmask(SIG_BLOCK, &block, &g_old_mask); rc != 0) {
    errno = rc;
    Fatal("pthread_sigmask");
  }
  // If the caller had blocked one of them already, still take it inside ppoll, and
  // never hand a blocked SIGTERM to a task (it would wait for the KILL).
  g_wait_mask = g_old_mask;
  g_child_mask = g_old_mask;
  for (int sig : kHandledSignals) {
    sigdelset(&g_wait_mask, sig);
    sigdelset(&g_child_mask, sig);
  }
  sigdelset(&g_child_mask, SIGPIPE);

  for (size_t i = 0; i < std::size(kHandledSignals); ++i) {
    struct sigaction act;
    memset(&act, 0, sizeof act);
    sigemptyset(&act.sa_mask);
    if (kHandledSignals[i] == SIGCHLD) {
      act.sa_handler = SetChildExited;
      act.sa_flags = SA_NOCLDSTOP;
    } else {
      act.sa_handler = SetInterrupted;
    }
    if (sigaction(kHandledSignals[i], &act, &g_old_actions[i]) != 0) Fatal("sigaction");
  }

  // Which signals children reset (see "Spawning"): ours, SIGPIPE, and any other with a
  // handler now (SIGKILL, SIGSTOP and glibc's internal ones cannot have one).
  g_reset_count = 0;
  for (int sig = 1; sig < _NSIG; ++sig) {
    struct sigaction cur;
    if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, nullptr, &cur) != 0) continue;
    bool handled = (cur.sa_flags & SA_SIGINFO) ? cur.sa_sigaction != nullptr
                                                : cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN;
    if (handled || sig == SIGPIPE) g_reset_signals[g_reset_count++] = sig;
  }
  const long page = sysconf(_SC_PAGESIZE);
  child_stack_bytes_ = 64 * 1024 + static_cast<size_t>(page);
  child_stack_ = mmap(nullptr, child_stack_bytes_, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (child_stack_ == MAP_FAILED) Fatal("mmap (child stack)");
  if (mprotect(child_stack_, static_cast<size_t>(page), PROT_NONE) != 0) Fatal("mprotect (guard page)");
  // Above 2, so that dup3 onto stdin never sees the same descriptor twice.
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) Fatal("open /dev/null");
  devnull_fd_ = fcntl(devnull, F_DUPFD_CLOEXEC, 3);
  close(devnull);
  if (devnull_fd_ < 0) Fatal("fcntl F_DUPFD_CLOEXEC");

  // Best effort: without it, orphans go to init and are merely not killed.
  g_subreaper = false;
  if (prctl(PR_GET_CHILD_SUBREAPER, &g_old_subreaper) == 0 &&
      prctl(PR_SET_CHILD_SUBREAPER, 1) == 0) {
    g_subreaper = true;
  }
}

SubprocessSet::~SubprocessSet() {
  for (auto& p : running_) {
    kill(-p->pid_, SIGKILL);
    dying_groups_.push_back(p->pid_);
  }
  for (auto& p : running_) FinishLog(p.get());  // keep what they wrote
  running_.clear();  // every token is now "finished", so KillOrphans takes them all

  // Wait (bounded) until the killed groups are empty and no orphan of ours is left.
  // SIGKILLed processes die within milliseconds unless stuck in the kernel.
  const int64_t give_up = MonotonicNowMs() + 2000;
  for (;;) {
    std::vector<std::unique_ptr<Subprocess>> none;
    Reap(&none);  // running_ is empty: only reaps, then kills orphans
    PruneDyingGroups();
    int killed = KillOrphans();
    if ((dying_groups_.empty() && killed == 0) || MonotonicNowMs() > give_up) break;
    timespec ts = {0, 1000000};
    nanosleep(&ts, nullptr);
  }
  siginfo_t si;
  for (;;) {  // the last ones, if they died just now
    memset(&si, 0, sizeof si);
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) != 0 || si.si_pid == 0) break;
  }

  for (auto& [fd, dir] : pending_spares_) close(fd);
  for (auto& [fd, dir] : spare_logs_) close(fd);
  if (children_fd_ >= 0) close(children_fd_);
  if (g_subreaper) prctl(PR_SET_CHILD_SUBREAPER, g_old_subreaper);
  for (size_t i = 0; i < std::size(kHandledSignals); ++i) {
    sigaction(kHandledSignals[i], &g_old_actions[i], nullptr);
  }
  pthread_sigmask(SIG_SETMASK, &g_old_mask, nullptr);
  munmap(child_stack_, child_stack_bytes_);
  close(devnull_fd_);
  g_set_exists = false;
}

Subprocess* SubprocessSet::Add(const SpawnSpec& spec, std::string* err) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    *err = "cannot run a task with an empty command";
    return nullptr;
  }
  std::string program;
  if (!ResolveProgram(spec.argv[0], spec.env, spec.cwd, &program, err)) return nullptr;

  // Opened here, not in the child: a bad path is a clean error, and a relative path
  // means the engine's directory regardless of spec.cwd. Unnamed if we can (see "Logs").
  const std::string& path = spec.log_path;
  struct stat st;
  bool unnamed = !g_force_eager_logs && g_log_link != LogLink::kEager && !path.empty() &&
                 path.back() != '/' && lstat(path.c_str(), &st) != 0 && errno == ENOENT;
  bool created = false;  // by the eager open: removed again if the spawn fails
  int log_fd = -1;
  std::string dir;
  if (unnamed) {
    dir = DirName(path);
    for (size_t k = spare_logs_.size(); k-- > 0;) {
      if (spare_logs_[k].second != dir) continue;
      log_fd = spare_logs_[k].first;
      spare_logs_.erase(spare_logs_.begin() + static_cast<ptrdiff_t>(k));
      break;
    }
    if (log_fd < 0) log_fd = open(dir.c_str(), O_WRONLY | O_TMPFILE | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
        *err = "cannot open log file '" + path + "': " + strerror(errno);
        return nullptr;
      }
      unnamed = false;  // no O_TMPFILE on this filesystem
    } else if (g_log_link == LogLink::kUndecided) {
      g_log_link = ProbeLogLink(dir);
      if (g_log_link != LogLink::kEmptyPath && g_log_link != LogLink::kProcFd) {
        close(log_fd);
        log_fd = -1;
        unnamed = false;
      }
    }
  }
  if (!unnamed) log_fd = OpenLogEagerly(path, &created);
  if (log_fd < 0) {
    *err = "cannot open log file '" + path + "': " + strerror(errno);
    return nullptr;
  }
  if (log_fd <= 2) {  // dup2(fd, fd) would keep FD_CLOEXEC; move it out of the way
    int moved = fcntl(log_fd, F_DUPFD_CLOEXEC, 3);
    int saved = errno;
    close(log_fd);
    if (moved < 0) {
      if (created) unlink(path.c_str());
      *err = "cannot open log file '" + path + "': " + strerror(saved);
      return nullptr;
    }
    log_fd = moved;
  }

  auto proc = std::make_unique<Subprocess>();
  proc->token_ = g_next_token++;

  // posix_spawn does not write through these pointers; no copies of the strings.
  const std::string token = std::string(kTokenVar) + std::to_string(pid_) + "-" +
                            std::to_string(proc->token_);
  std::vector<char*> envp;
  envp.reserve(spec.env.size() + 2);
  for (const std::string& kv : spec.env) {
    if (kv.compare(0, kTokenVar.size(), kTokenVar) == 0) continue;  // a nested engine's
    envp.push_back(const_cast<char*>(kv.c_str()));
  }
  envp.push_back(const_cast<char*>(token.c_str()));
  envp.push_back(nullptr);

  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  ChildArgs args;
  args.path = program.c_str();
  args.argv = argv.data();
  args.envp = envp.data();
  args.cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
  args.log_fd = log_fd;
  args.devnull_fd = devnull_fd_;
  args.mask = &g_child_mask;
  args.err = 0;
  args.failed_chdir = false;
  const int saved_errno = errno;
  char* stack_top = static_cast<char*>(child_stack_) + child_stack_bytes_;
  pid_t pid = clone(ChildMain, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  int rc = pid < 0 ? errno : args.err;
  errno = saved_errno;
  if (pid > 0 && rc != 0) {  // the child failed before its exec and has exited: reap it
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  if (rc != 0) {
    if (unnamed && spare_logs_.size() < kMaxSpareLogs) {
      spare_logs_.emplace_back(log_fd, std::move(dir));  // still empty, and only ours
    } else {
      close(log_fd);  // an unnamed log vanishes with it
    }
    if (created) unlink(path.c_str());
    // The working directory is checked by the child's chdir only: a stat per spawn
    // cost more than the check is worth.
    if (args.failed_chdir) {
      *err = "cannot use working directory '" + spec.cwd + "': " +
             (rc == ENOTDIR ? std::string("not a directory") : std::string(strerror(rc)));
    } else {
      *err = "cannot run '" + spec.argv[0] + "': " + strerror(rc);
    }
    return nullptr;
  }

  const int64_t now = MonotonicNowMs();
  proc->pid_ = pid;
  proc->started_ms_ = now;
  proc->timeout_ms_ = spec.timeout_ms > 0 ? spec.timeout_ms : 0;
  proc->deadline_ms_ = spec.timeout_ms > 0 ? now + spec.timeout_ms : 0;
  proc->grace_ms_ = spec.kill_grace_ms > 0 ? spec.kill_grace_ms : 0;
  proc->log_path_ = path;
  proc->log_fd_ = log_fd;
  proc->log_named_ = !unnamed;
  running_.push_back(std::move(proc));
  return running_.back().get();
}

void SubprocessSet::Terminate(Subprocess* p, int64_t now) {
  if (p->grace_ms_ <= 0) {
    kill(-p->pid_, SIGKILL);
    p->kill_sent_ms_ = now;
    return;
  }
  kill(-p->pid_, SIGTERM);
  kill(-p->pid_, SIGCONT);  // a stopped process would hold the TERM until the KILL
  p->term_sent_ms_ = now;
  p->kill_at_ms_ = now + p->grace_ms_;
}

bool SubprocessSet::CheckDeadlines(int64_t now) {
  bool acted = false;
  for (auto& p : running_) {
    if (p->kill_sent_ms_) continue;
    if (p->kill_at_ms_ && now >= p->kill_at_ms_) {
      kill(-p->pid_, SIGKILL);
      p->kill_sent_ms_ = now;
      p->kill_by_grace_ = true;
      acted = true;
    } else if (p->deadline_ms_ && !p->term_sent_ms_ && !p->cancelled_ &&
               now >= p->deadline_ms_) {
      p->timed_out_ = true;
      Terminate(p.get(), now);
      acted = true;
    }
  }
  return acted;
}

void SubprocessSet::Reap(std::vector<std::unique_ptr<Subprocess>>* done) {
  g_child_exited = 0;
  bool finished_any = false, reaped_orphan = false;
  for (;;) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: no children at all
    }
    if (si.si_pid == 0) break;  // children, none exited
    const pid_t pid = si.si_pid;
    auto it = std::find_if(running_.begin(), running_.end(),
                           [pid](const auto& p) { return p->pid_ == pid; });
    if (it != running_.end()) {
      // The zombie leader still holds the group id: kill leftovers, then reap.
      if (kill(-pid, SIGKILL) == 0) dying_groups_.push_back(pid);
    } else {
      reaped_orphan = true;
    }
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    if (it == running_.end()) continue;

    std::unique_ptr<Subprocess> p = std::move(*it);
    running_.erase(it);
    finished_any = true;
    p->ended_ms_ = MonotonicNowMs();
    ExitStatus& st = p->status_;
    if (si.si_code == CLD_EXITED) {
      st.exit_code = si.si_status;
      st.signal = 0;
    } else {
      st.exit_code = -1;
      st.signal = si.si_status;
    }
    std::string outcome;
    if (st.signal) {
      outcome = "killed by signal ";
      DescribeSignal(st.signal, &outcome);
      if (si.si_code == CLD_DUMPED) outcome += " (core dumped)";
    } else if (st.exit_code != 0) {
      outcome = "exited with code " + std::to_string(st.exit_code);
    }
    if (p->timed_out_ || p->cancelled_) {
      st.kind = p->timed_out_ ? ExitKind::kTimedOut : ExitKind::kCancelled;
      st.error = p->timed_out_ ? "timed out after " + Seconds(p->timeout_ms_) : "cancelled";
      if (p->term_sent_ms_ && p->kill_sent_ms_) {
        st.error += " (SIGTERM sent; SIGKILL after " +
                    (p->kill_by_grace_ ? Seconds(p->grace_ms_) + " grace)"
                                       : Seconds(p->kill_sent_ms_ - p->term_sent_ms_) + ")");
      } else if (p->term_sent_ms_) {
        st.error += " (SIGTERM sent; exited on it)";
      } else {
        st.error += " (SIGKILL sent)";
      }
    } else if (st.signal) {
      st.kind = ExitKind::kSignaled;
      st.error = outcome;
    } else {
      st.kind = ExitKind::kExited;
      st.error = outcome;
    }
    FinishLog(p.get());
    done->push_back(std::move(p));
  }
  if (reaped_orphan) saw_orphans_ = true;
  if (finished_any || reaped_orphan) {
    bool alone = false;
    KillOrphans(&alone);
    AdoptSpareLogs(alone);
  }
}

bool SubprocessSet::ListChildrenFast(std::vector<pid_t>* out) {
  // The kernel hands orphans to the first live thread of a subreaper, our main thread;
  // the children we spawn are listed under the thread that spawned them (this one).
  const pid_t main = pid_;
  if (!ReadChildrenFile(&children_fd_, main, out)) return false;
  if (tid_ != main) {
    int fd = -1;
    ReadChildrenFile(&fd, tid_, out);
    if (fd >= 0) close(fd);
  }
  return true;
}

int SubprocessSet::KillOrphans(bool* alone) {
  if (alone) *alone = false;
  if (!g_subreaper) return 0;
  std::vector<pid_t> children;
  if (!ListChildrenFast(&children)) {
    // The full scan costs ~1 ms: only with evidence of orphans, or once a second.
    const int64_t now = MonotonicNowMs();
    if (!saw_orphans_ && !running_.empty() && now - last_slow_scan_ms_ < 1000) return 0;
    last_slow_scan_ms_ = now;
    ListChildrenSlow(&children);
  }
  int killed = 0;
  bool strangers = false;
  for (pid_t pid : children) {
    bool ours = std::any_of(running_.begin(), running_.end(),
                            [pid](const auto& p) { return p->pid_ == pid; });
    if (ours) continue;
    strangers = true;
    uint64_t token = TokenOf(pid);  // 0 for zombies and strangers
    if (token == 0) continue;
    bool live_task = std::any_of(running_.begin(), running_.end(),
                                 [token](const auto& p) { return p->token_ == token; });
    if (live_task) continue;  // a helper of a task still running: it may need it
    // An unreaped child's pid cannot be reused, so this hits the orphan itself. If it
    // leads a group (setsid daemons do), the group holds only its descendants.
    if (getpgid(pid) == pid) kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    ++killed;
  }
  if (alone) *alone = !strangers;
  return killed;
}

void SubprocessSet::AdoptSpareLogs(bool alone) {
  for (auto& [fd, dir] : pending_spares_) {
    if (alone && spare_logs_.size() < kMaxSpareLogs) {
      spare_logs_.emplace_back(fd, std::move(dir));
    } else {
      close(fd);
    }
  }
  pending_spares_.clear();
}

void SubprocessSet::CheckLogs() {
  for (auto& p : running_) {
    if (p->log_named_ || p->log_link_failed_) continue;
    struct stat st;
    if (fstat(p->log_fd_, &st) != 0 || st.st_size == 0) continue;
    if (NameLog(p->log_fd_, p->log_path_)) {
      p->log_named_ = true;
    } else {
      p->log_link_failed_ = true;  // tried again once, by FinishLog
    }
  }
}

void SubprocessSet::FinishLog(Subprocess* p) {
  if (p->log_fd_ < 0) return;
  ExitStatus& status = p->status_;
  struct stat st;
  status.log_bytes = fstat(p->log_fd_, &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
  if (!p->log_named_ && status.log_bytes > 0) p->log_named_ = NameLog(p->log_fd_, p->log_path_);
  status.log_created = p->log_named_;
  if (!p->log_named_ && !p->log_link_failed_ && status.log_bytes == 0) {
    // Empty and unnamed: reusable for a later task once no process of this one can
    // still hold it (AdoptSpareLogs).
    pending_spares_.emplace_back(p->log_fd_, DirName(p->log_path_));
  } else {
    close(p->log_fd_);
  }
  p->log_fd_ = -1;
}

void SubprocessSet::ForceEagerLogsForTest(bool eager) { g_force_eager_logs = eager; }

void SubprocessSet::ForceProcFdLinkForTest(bool proc) {
  g_force_proc_link = proc;
  g_log_link = LogLink::kUndecided;  // probe again on the next Add
}

void SubprocessSet::PruneDyingGroups() {
  dying_groups_.erase(std::remove_if(dying_groups_.begin(), dying_groups_.end(),
                                     [](pid_t g) { return kill(-g, 0) != 0 && errno == ESRCH; }),
                      dying_groups_.end());
}

std::vector<std::unique_ptr<Subprocess>> SubprocessSet::DoWork(int64_t timeout_ms) {
  std::vector<std::unique_ptr<Subprocess>> done;
  const int start_count = g_interrupt_count;
  // Nothing to wait for: just poll, so pending signals and orphans are still handled.
  if (running_.empty() && timeout_ms < 0) timeout_ms = 0;
  const int64_t start = MonotonicNowMs();
  const int64_t end = timeout_ms >= 0 ? start + timeout_ms : -1;
  bool polled = false;
  for (;;) {
    Reap(&done);
    int64_t now = MonotonicNowMs();
    bool acted = CheckDeadlines(now);
    if (now >= next_log_check_ms_) {  // before returning: DoWork may return every time
      CheckLogs();
      now = MonotonicNowMs();
      next_log_check_ms_ = now + kLogCheckMs;
    }
    if (!done.empty() || acted || g_interrupt_count != start_count) break;
    if (end >= 0 && now >= end && polled) break;

    int64_t wait = end >= 0 ? std::max<int64_t>(end - now, 0) : -1;
    for (const auto& p : running_) {
      if (!p->log_named_ && !p->log_link_failed_ &&
          (wait < 0 || next_log_check_ms_ - now < wait)) {
        wait = std::max<int64_t>(next_log_check_ms_ - now, 0);
      }
      int64_t at = 0;
      if (p->kill_sent_ms_) continue;
      if (p->kill_at_ms_) {
        at = p->kill_at_ms_;
      } else if (p->deadline_ms_ && !p->term_sent_ms_ && !p->cancelled_) {
        at = p->deadline_ms_;
      }
      if (at && (wait < 0 || at - now < wait)) wait = std::max<int64_t>(at - now, 0);
    }
    timespec ts;
    ts.tv_sec = static_cast<time_t>(wait / 1000);
    ts.tv_nsec = static_cast<long>((wait % 1000) * 1000000);
    // The only place our signals are unblocked; their handlers run inside this call.
    int rc = ppoll(nullptr, 0, wait >= 0 ? &ts : nullptr, &g_wait_mask);
    if (rc < 0 && errno != EINTR) Fatal("ppoll");
    polled = true;
  }
  if (!dying_groups_.empty()) PruneDyingGroups();
  return done;
}

void SubprocessSet::Cancel(Subprocess* p) {
  auto it = std::find_if(running_.begin(), running_.end(),
                         [p](const auto& q) { return q.get() == p; });
  if (it == running_.end() || p->term_sent_ms_ || p->kill_sent_ms_) return;
  p->cancelled_ = true;
  Terminate(p, MonotonicNowMs());
}

void SubprocessSet::CancelAll(bool now) {
  const int64_t t = MonotonicNowMs();
  for (auto& p : running_) {
    if (p->kill_sent_ms_) continue;
    if (!p->timed_out_) p->cancelled_ = true;
    if (now) {
      kill(-p->pid_, SIGKILL);
      p->kill_sent_ms_ = t;
    } else if (!p->term_sent_ms_) {
      Terminate(p.get(), t);
    }
  }
}

int SubprocessSet::interrupt_signal() const { return g_interrupt_signal; }
int SubprocessSet::interrupt_count() const { return g_interrupt_count; }

}  // namespace pipeline
