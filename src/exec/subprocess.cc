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
// finished task. An orphan inside an execve has no readable environment for a moment
// (see TokenOf); DoWork looks at it again after 2, 4, 8, ... ms, for at most a second.
// Without the children files we fall back to scanning /proc/*/stat for our pid as PPid
// (~1 ms for 100 processes), which we do only after an adopted orphan was reaped
// (evidence of orphans), when nothing else runs, or at most once a second; so on such
// kernels a daemon may outlive its task by a while, until a later finish or the
// destructor.
//
// Spawning. posix_spawn is clone(CLONE_VM | CLONE_VFORK) + execve underneath; this is
// the same minus what costs the engine most. (1) CLONE_VFORK suspends the caller until
// the child has exec'd, and on a busy machine the child often waits for a CPU first:
// 250-430 us per spawn measured with -j2 on 2 cores, during which the engine could not
// record the previous task. Here the child shares our memory but we go on at once
// (CLONE_VM without CLONE_VFORK), so the child needs memory nobody else touches until
// it has exec'd: a SpawnArena with its own stack and copies of everything it reads
// (path, argv, envp, cwd), given back only when the child is reaped. Since it runs next
// to us in our address space, the child makes raw system calls only (inline asm: no
// libc, so not even errno is shared; no sanitizer runtime) and reports a failed chdir or
// execve through its arena and exit code 127; the reaper turns that into kSpawnFailed.
// The parent also sets the child's process group itself, so the group exists (and can
// be signalled) as soon as Add returns, whoever runs first. (2) glibc maps and unmaps a
// stack per call (the munmap flushes the TLB of every CPU the child ran on); arenas are
// pooled. (3) glibc's child asks the kernel about each of the 64 signals; ours starts
// with all signals blocked, as glibc's does, resets just those that have a handler in
// this process (ours, and any found installed when the set was made), and only then
// unblocks them, so no handler can run in a child that still shares our memory. On
// architectures without the inline-asm system calls below, the child uses syscall(3) and
// CLONE_VFORK keeps the parent suspended. Measured on 2,000 no-op tasks:
// docs/performance.md.
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

/// Reads the state and parent of a process from |path|, a /proc/<pid>/stat file
/// ("pid (comm) state ppid ..."; comm may hold spaces and parentheses). False if the
/// process is gone.
bool ReadProcStat(const char* path, char* state, int* ppid) {
  std::string text;
  if (!ReadSmallFile(path, &text)) return false;
  size_t close_paren = text.rfind(')');
  return close_paren != std::string::npos &&
         sscanf(text.c_str() + close_paren + 1, " %c %d", state, ppid) == 2;
}

/// Children of this process by scanning every /proc/<pid>/stat (slow fallback).
void ListChildrenSlow(std::vector<pid_t>* out) {
  DIR* dir = opendir("/proc");
  if (!dir) return;
  const pid_t self = getpid();
  std::string path;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    path = "/proc/";
    path += e->d_name;
    path += "/stat";
    char state = 0;
    int ppid = 0;
    if (!ReadProcStat(path.c_str(), &state, &ppid)) continue;
    if (ppid == self) out->push_back(static_cast<pid_t>(atoi(e->d_name)));
  }
  closedir(dir);
}

/// The N of PIPELINE_SPAWN_TOKEN=<our pid>-N in an environment block, or 0.
uint64_t FindToken(const std::string& env) {
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

/// True if |pid| no longer exists or is a zombie.
bool IsGoneOrZombie(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  char state = 0;
  int ppid = 0;
  return !ReadProcStat(path, &state, &ppid) || state == 'Z' || state == 'X';
}

/// The N of PIPELINE_SPAWN_TOKEN=<our pid>-N in |pid|'s environment, or 0. Sets
/// |*undecided| if a live process's environment reads as empty: inside an execve the
/// kernel puts the new memory in place before it writes the environment into it (and
/// keeps env_start == env_end while it does), and a read that began before the exec
/// finds the old memory gone. Asking again a moment later answers, unless the process
/// truly has an empty environment (env -i), which nothing can tell apart.
uint64_t TokenOf(pid_t pid, bool* undecided) {
  *undecided = false;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", static_cast<int>(pid));
  std::string env;
  if (ReadSmallFile(path, &env) && !env.empty()) return FindToken(env);
  *undecided = !IsGoneOrZombie(pid);
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
/// |*path| to what the child should exec (relative PATH entries stay relative: they
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

// The child's code must not be instrumented: it runs beside us, in our memory.
#define PL_CHILD_CODE __attribute__((no_sanitize("address", "undefined", "thread")))

// System calls for the child. They return -errno instead of setting errno.
#if defined(__x86_64__)
constexpr bool kChildRunsBesideUs = true;
PL_CHILD_CODE __attribute__((always_inline)) inline long ChildSyscall(long n, long a = 0, long b = 0,
                                                                      long c = 0, long d = 0) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
constexpr bool kChildRunsBesideUs = true;
PL_CHILD_CODE __attribute__((always_inline)) inline long ChildSyscall(long n, long a = 0, long b = 0,
                                                                      long c = 0, long d = 0) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory", "cc");
  return x0;
}
#else
// Anywhere else the parent waits (CLONE_VFORK), so syscall(3) and its errno are safe.
constexpr bool kChildRunsBesideUs = false;
PL_CHILD_CODE inline long ChildSyscall(long n, long a = 0, long b = 0, long c = 0, long d = 0) {
  long r = syscall(n, a, b, c, d);
  return r == -1 ? -errno : r;
}
#endif

/// The kernel's struct sigaction on x86-64 and arm64: handler, flags, restorer, mask.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  unsigned long mask;
};

}  // namespace

/// Everything one child reads until its exec (see "Spawning"): this header, and a
/// mapping with a guard page, the child's stack and copies of its strings. Pooled by the
/// set; taken by Add, given back when its child is reaped.
struct SpawnArena {
  char* base = nullptr;     ///< the mapping
  size_t bytes = 0;         ///< its size
  char* stack_top = nullptr;
  char* data = nullptr;     ///< strings and pointer arrays, from the stack's top up
  size_t capacity = 0;      ///< bytes at data
  pid_t child = 0;          ///< who uses it; 0 = free

  // Written by the parent before the clone, only read by the child:
  const char* path = nullptr;
  char** argv = nullptr;
  char** envp = nullptr;
  const char* cwd = nullptr;  ///< nullptr: stay
  int log_fd = -1;            ///< > 2
  int devnull_fd = -1;        ///< > 2
  uint64_t mask = 0;          ///< the child's signal mask, kernel layout
  int reset_signals[_NSIG] = {};
  int reset_count = 0;
  // Written by the child when a step fails (then it exits with 127):
  volatile int err = 0;           ///< errno of the failed step; 0 = none failed
  volatile int failed_chdir = 0;  ///< 1 if that step was the chdir
};

namespace {

/// The child's code: on its arena's stack, in our memory, beside us (see "Spawning").
PL_CHILD_CODE __attribute__((noinline)) int ChildMain(void* arg) {
  SpawnArena* a = static_cast<SpawnArena*>(arg);
  const long sigset_bytes = _NSIG / 8;
  for (int k = 0; k < a->reset_count; ++k) {
    if constexpr (kChildRunsBesideUs) {
      KernelSigaction dfl = {SIG_DFL, 0, nullptr, 0};
      ChildSyscall(SYS_rt_sigaction, a->reset_signals[k], reinterpret_cast<long>(&dfl), 0,
                   sigset_bytes);
    } else {
      struct sigaction dfl;
      memset(&dfl, 0, sizeof dfl);
      dfl.sa_handler = SIG_DFL;
      sigaction(a->reset_signals[k], &dfl, nullptr);
    }
  }
  long r = ChildSyscall(SYS_setpgid, 0, 0);
  if (r >= 0) r = ChildSyscall(SYS_dup3, a->devnull_fd, 0, 0);
  if (r >= 0) r = ChildSyscall(SYS_dup3, a->log_fd, 1, 0);
  if (r >= 0) r = ChildSyscall(SYS_dup3, a->log_fd, 2, 0);
  if (r >= 0) {
    // Descriptors the engine forgot to mark close-on-exec must not leak into tasks
    // (kernels before 5.9 lack close_range; then close-on-exec is all there is).
    ChildSyscall(SYS_close_range, 3, ~0U, 0);
    if (a->cwd && (r = ChildSyscall(SYS_chdir, reinterpret_cast<long>(a->cwd))) < 0) {
      a->failed_chdir = 1;
    }
  }
  if (r >= 0) {
    ChildSyscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&a->mask), 0,
                 sigset_bytes);
    r = ChildSyscall(SYS_execve, reinterpret_cast<long>(a->path), reinterpret_cast<long>(a->argv),
                     reinterpret_cast<long>(a->envp));
  }
  a->err = static_cast<int>(-r);
  ChildSyscall(SYS_exit_group, 127);
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
    if ((dying_groups_.empty() && killed == 0 && recheck_orphans_ms_ == 0) ||
        MonotonicNowMs() > give_up) {
      break;
    }
    // Dying processes are looked at every millisecond; an orphan whose environment
    // read as empty only when KillOrphans asks to (2, 4, 8, ... ms).
    int64_t wait_ms = 1;
    if (dying_groups_.empty() && killed == 0) {
      wait_ms = std::max<int64_t>(recheck_orphans_ms_ - MonotonicNowMs(), 1);
    }
    timespec ts = {static_cast<time_t>(wait_ms / 1000), static_cast<long>(wait_ms % 1000) * 1000000};
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
  // An arena still in use belongs to a child we could not reap: it may yet run on it.
  for (auto& a : arenas_)
    if (a->child == 0) munmap(a->base, a->bytes);
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
                 path.back() != '/' &&
                 (spec.log_path_is_new || (lstat(path.c_str(), &st) != 0 && errno == ENOENT));
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

  // The child reads only its arena, so it gets copies (see "Spawning").
  const std::string token = std::string(kTokenVar) + std::to_string(pid_) + "-" +
                            std::to_string(proc->token_);
  size_t envc = 1, strings = token.size() + 1 + program.size() + 1 + spec.cwd.size() + 1;
  for (const std::string& kv : spec.env) {
    if (kv.compare(0, kTokenVar.size(), kTokenVar) == 0) continue;  // a nested engine's
    ++envc;
    strings += kv.size() + 1;
  }
  for (const std::string& a : spec.argv) strings += a.size() + 1;
  const size_t pointers = (spec.argv.size() + 1 + envc + 1) * sizeof(char*);
  SpawnArena* arena = TakeArena(pointers + strings);
  if (!arena) {
    int saved = errno;
    if (created) unlink(path.c_str());
    close(log_fd);
    *err = "cannot run '" + spec.argv[0] + "': " + strerror(saved);
    return nullptr;
  }
  char** argv = reinterpret_cast<char**>(arena->data);
  char** envp = argv + spec.argv.size() + 1;
  char* next = arena->data + pointers;
  auto copy = [&next](const std::string& str) {
    char* at = next;
    memcpy(at, str.c_str(), str.size() + 1);
    next += str.size() + 1;
    return at;
  };
  for (size_t k = 0; k < spec.argv.size(); ++k) argv[k] = copy(spec.argv[k]);
  argv[spec.argv.size()] = nullptr;
  size_t e = 0;
  for (const std::string& kv : spec.env)
    if (kv.compare(0, kTokenVar.size(), kTokenVar) != 0) envp[e++] = copy(kv);
  envp[e++] = copy(token);
  envp[e] = nullptr;
  arena->path = copy(program);
  arena->cwd = spec.cwd.empty() ? nullptr : copy(spec.cwd);
  arena->argv = argv;
  arena->envp = envp;
  arena->log_fd = log_fd;
  arena->devnull_fd = devnull_fd_;
  memcpy(&arena->mask, &g_child_mask, sizeof arena->mask);
  memcpy(arena->reset_signals, g_reset_signals, sizeof g_reset_signals);
  arena->reset_count = g_reset_count;
  arena->err = 0;
  arena->failed_chdir = 0;

  // The child starts with every signal blocked (it inherits our mask) and unblocks them
  // only after resetting the handled ones: no handler of ours can run in it.
  sigset_t all, mask;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &mask);
  const int flags = CLONE_VM | SIGCHLD | (kChildRunsBesideUs ? 0 : CLONE_VFORK);
  pid_t pid = clone(ChildMain, arena->stack_top, flags, arena);
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &mask, nullptr);
  if (pid < 0) {
    int saved = clone_errno;
    if (unnamed && spare_logs_.size() < kMaxSpareLogs) {
      spare_logs_.emplace_back(log_fd, std::move(dir));  // still empty, and only ours
    } else {
      close(log_fd);  // an unnamed log vanishes with it
    }
    if (created) unlink(path.c_str());
    *err = "cannot run '" + spec.argv[0] + "': " + strerror(saved);
    return nullptr;
  }
  arena->child = pid;
  // The child does the same first thing; whoever is first, the group exists from now on,
  // so a Cancel right after Add reaches the task. (EACCES once the child has exec'd.)
  setpgid(pid, pid);

  const int64_t now = MonotonicNowMs();
  proc->pid_ = pid;
  proc->started_ms_ = now;
  proc->timeout_ms_ = spec.timeout_ms > 0 ? spec.timeout_ms : 0;
  proc->deadline_ms_ = spec.timeout_ms > 0 ? now + spec.timeout_ms : 0;
  proc->grace_ms_ = spec.kill_grace_ms > 0 ? spec.kill_grace_ms : 0;
  proc->log_path_ = path;
  proc->log_fd_ = log_fd;
  proc->log_named_ = !unnamed;
  proc->log_created_at_spawn_ = created;
  proc->arena_ = arena;
  running_.push_back(std::move(proc));
  return running_.back().get();
}

SpawnArena* SubprocessSet::TakeArena(size_t data_bytes) {
  SpawnArena* smaller = nullptr;
  for (auto& a : arenas_) {
    if (a->child != 0) continue;
    if (a->capacity >= data_bytes) return a.get();
    smaller = a.get();
  }
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t stack = 32 * 1024;
  const size_t capacity = (std::max<size_t>(data_bytes, 64 * 1024) + page - 1) / page * page;
  const size_t bytes = page + stack + capacity;
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                    -1, 0);
  if (base == MAP_FAILED) return nullptr;
  if (mprotect(base, page, PROT_NONE) != 0) {  // the guard page below the stack
    int saved = errno;
    munmap(base, bytes);
    errno = saved;
    return nullptr;
  }
  SpawnArena* a = smaller;  // a free arena too small for this child is replaced
  if (a) {
    munmap(a->base, a->bytes);
  } else {
    arenas_.push_back(std::make_unique<SpawnArena>());
    a = arenas_.back().get();
  }
  a->base = static_cast<char*>(base);
  a->bytes = bytes;
  a->stack_top = a->base + page + stack;
  a->data = a->stack_top;
  a->capacity = capacity;
  return a;
}

void SubprocessSet::ReleaseArena(pid_t child) {
  for (auto& a : arenas_) {
    if (a->child == child) {
      a->child = 0;
      return;
    }
  }
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
    if (it == running_.end()) {
      ReleaseArena(pid);  // a child of ours the destructor no longer lists
      continue;
    }

    std::unique_ptr<Subprocess> p = std::move(*it);
    running_.erase(it);
    finished_any = true;
    p->ended_ms_ = MonotonicNowMs();
    ExitStatus& st = p->status_;
    if (SpawnArena* a = p->arena_; a) {
      // The child never became the task if its chdir or execve failed (see "Spawning").
      std::string spawn_error;
      if (const int e = a->err; e != 0 && si.si_code == CLD_EXITED && si.si_status == 127) {
        spawn_error = a->failed_chdir
                          ? "cannot use working directory '" + std::string(a->cwd ? a->cwd : "") + "': " +
                                (e == ENOTDIR ? std::string("not a directory") : std::string(strerror(e)))
                          : "cannot run '" + std::string(a->argv[0]) + "': " + strerror(e);
      }
      a->child = 0;
      p->arena_ = nullptr;
      if (!spawn_error.empty()) {
        st.kind = ExitKind::kSpawnFailed;
        st.exit_code = -1;
        st.signal = 0;
        st.error = std::move(spawn_error);
        if (p->log_created_at_spawn_) {  // nothing can have written to it
          close(p->log_fd_);
          p->log_fd_ = -1;
          unlink(p->log_path_.c_str());
        }
        FinishLog(p.get());
        done->push_back(std::move(p));
        continue;
      }
    }
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
  recheck_orphans_ms_ = 0;
  if (!g_subreaper) return 0;
  const int64_t now = MonotonicNowMs();
  std::vector<pid_t> children;
  if (!ListChildrenFast(&children)) {
    // The full scan costs ~1 ms: only with evidence of orphans, or once a second.
    if (!saw_orphans_ && undecided_.empty() && !running_.empty() &&
        now - last_slow_scan_ms_ < 1000) {
      return 0;
    }
    last_slow_scan_ms_ = now;
    ListChildrenSlow(&children);
  }
  int killed = 0;
  bool strangers = false;
  int64_t look_again_at = 0;
  std::vector<std::pair<pid_t, int64_t>> unread;  // this scan's undecided_
  for (pid_t pid : children) {
    bool ours = std::any_of(running_.begin(), running_.end(),
                            [pid](const auto& p) { return p->pid_ == pid; });
    if (ours) continue;
    strangers = true;
    bool undecided = false;
    uint64_t token = TokenOf(pid, &undecided);  // 0 for zombies and strangers
    if (undecided) {
      auto seen = std::find_if(undecided_.begin(), undecided_.end(),
                               [pid](const auto& u) { return u.first == pid; });
      const int64_t since = seen == undecided_.end() ? now : seen->second;
      unread.emplace_back(pid, since);
      // An execve takes micro- to milliseconds, so the next look (after as long again
      // as we have been looking: 2, 4, 8, ... ms) usually decides. One that stays
      // unreadable for a second has an empty environment (or made itself unreadable):
      // it is not ours to judge.
      if (now - since < kUndecidedGiveUpMs) {
        const int64_t at = std::min(now + std::max(kUndecidedRecheckMs, now - since),
                                    since + kUndecidedGiveUpMs);
        if (look_again_at == 0 || at < look_again_at) look_again_at = at;
      }
      continue;
    }
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
  undecided_ = std::move(unread);
  recheck_orphans_ms_ = look_again_at;
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
    if (recheck_orphans_ms_ && now >= recheck_orphans_ms_) {
      KillOrphans();  // an orphan was in the middle of an execve at the last look
      now = MonotonicNowMs();
    }
    if (!done.empty() || acted || g_interrupt_count != start_count) break;
    if (end >= 0 && now >= end && polled) break;

    int64_t wait = end >= 0 ? std::max<int64_t>(end - now, 0) : -1;
    if (recheck_orphans_ms_ && (wait < 0 || recheck_orphans_ms_ - now < wait)) {
      wait = std::max<int64_t>(recheck_orphans_ms_ - now, 0);
    }
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
