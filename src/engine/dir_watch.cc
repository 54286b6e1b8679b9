#include "engine/dir_watch.h"

#include <errno.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>

namespace pipeline {
namespace {

// Bounds the names kept (the engine forgets the metrics files it read; logs that got a
// name stay): past it the watch gives up and answers "may exist".
constexpr size_t kMaxNames = 1 << 20;

}  // namespace

DirWatch::~DirWatch() {
  if (fd_ >= 0) close(fd_);
}

bool DirWatch::Start(const std::string& dir) {
  if (fd_ >= 0) close(fd_);
  seen_.clear();
  overflowed_ = false;
  fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) return false;
  if (inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR) < 0) {
    close(fd_);
    fd_ = -1;
    return false;
  }
  return true;
}

bool DirWatch::MayExist(const std::string& name) {
  if (!active()) return true;
  Drain();
  return !active() || seen_.count(name) > 0;
}

void DirWatch::Drain() {
  alignas(struct inotify_event) char buf[16384];
  for (;;) {
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EAGAIN: nothing more
    for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(struct inotify_event)) <= n;) {
      struct inotify_event ev;
      memcpy(&ev, buf + off, sizeof ev);
      if (ev.mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
        overflowed_ = true;  // lost events, or the directory is gone: no longer sure
      } else if (ev.len > 0) {
        seen_.insert(std::string(buf + off + sizeof ev, strnlen(buf + off + sizeof ev, ev.len)));
      }
      off += static_cast<ssize_t>(sizeof ev + ev.len);
    }
    if (seen_.size() > kMaxNames) overflowed_ = true;
    if (overflowed_) {
      seen_.clear();
      return;
    }
  }
}

}  // namespace pipeline
