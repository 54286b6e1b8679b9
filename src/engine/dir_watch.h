// Which names appeared in one directory since a point in time, without a lookup per
// name. The engine asks it before looking for files that usually do not exist: an
// attempt's metrics file ($PIPELINE_METRICS, written by few tasks) and, in a run's fresh
// log directory, an attempt's log. A failed open of such a path walks every component of
// it and costs 4-8 us on our machines; asking the watch costs one read(2) of an inotify
// descriptor that usually has nothing to say (~0.5 us).
//
// Semantics: MayExist(name) is false only if, since Start, nothing was created under that
// name, moved there, or written and closed there. It is true if the watch could not be
// set up, if the kernel's event queue overflowed (then it stays true for good), or if the
// directory itself went away. inotify reports what processes on this machine do, through
// any path or mount of the directory, so tasks that write their metrics file (directly, or
// by renaming a temporary file into place) are always seen.
#pragma once

#include <string>
#include <unordered_set>

namespace pipeline {

class DirWatch {
 public:
  DirWatch() = default;
  ~DirWatch();
  DirWatch(const DirWatch&) = delete;
  DirWatch& operator=(const DirWatch&) = delete;

  /// Watches |dir| (replacing any earlier watch). False if inotify is not available
  /// here; the watch then answers "may exist" to everything.
  bool Start(const std::string& dir);
  /// See the file comment.
  bool MayExist(const std::string& name);
  /// Drops what is known about |name| (after the caller has read the file).
  void Forget(const std::string& name) { seen_.erase(name); }
  /// False if the watch answers "may exist" to everything.
  bool active() const { return fd_ >= 0 && !overflowed_; }

 private:
  void Drain();

  int fd_ = -1;
  bool overflowed_ = false;
  std::unordered_set<std::string> seen_;
};

}  // namespace pipeline
