#include "lineage/content_store.h"

#include <fcntl.h>
#include <linux/fs.h>  // FICLONE
#include <stdio.h>     // renameat2, RENAME_EXCHANGE (_GNU_SOURCE)
#include <stdlib.h>    // mkstemp, mkdtemp
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <utility>

#include "core/sha256.h"

namespace pipeline {
namespace fs = std::filesystem;
namespace {

// PIPELINE_SYNC=full asks for fsync of every object (see Put).
bool SyncObjects() {
  static const bool full = [] {
    const char* v = std::getenv("PIPELINE_SYNC");
    return v && std::string(v) == "full";
  }();
  return full;
}


std::string Errno(int err) { return std::strerror(err); }

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Reset(int fd) {
    Close();
    fd_ = fd;
  }
  /// Closes now; returns false (errno set) if close failed (delayed write errors).
  bool Close() {
    int fd = fd_;
    fd_ = -1;
    return fd < 0 || ::close(fd) == 0;
  }

 private:
  int fd_;
};

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create directory '" + dir + "': " + ec.message());
  return Status::OK();
}

void RemoveAll(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);  // best effort: used to clean up temp files after a failure
}

// Copies all of |src| into the empty file |dst|: a reflink clone if the filesystem can share
// extents (btrfs, XFS, bcachefs...), else copy_file_range (in-kernel, may be server-side on NFS),
// else read/write.
Status CopyData(int src, int dst, const std::string& src_name) {
#ifdef FICLONE
  if (::ioctl(dst, FICLONE, src) == 0) return Status::OK();
#endif
  bool first = true;
  while (true) {
    ssize_t n = ::copy_file_range(src, nullptr, dst, nullptr, size_t{1} << 30, 0);
    if (n > 0) {
      first = false;
      continue;
    }
    if (n == 0) return Status::OK();
    if (errno == EINTR) continue;
    if (first && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP ||
                  errno == EPERM || errno == EBADF)) {
      break;  // nothing copied yet, both offsets still 0: fall back to read/write
    }
    return Status::IOError("cannot copy '" + src_name + "': " + Errno(errno));
  }
  std::unique_ptr<char[]> buf(new char[size_t{1} << 20]);
  while (true) {
    ssize_t n = ::read(src, buf.get(), size_t{1} << 20);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("cannot read '" + src_name + "': " + Errno(errno));
    }
    if (n == 0) return Status::OK();
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(dst, buf.get() + off, static_cast<size_t>(n - off));
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::IOError("cannot write copy of '" + src_name + "': " + Errno(errno));
      }
      off += w;
    }
  }
}

// Copies regular file |src| into the open, empty file |dst_fd|.
Status CopyFileInto(const std::string& src, int dst_fd) {
  Fd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (in.get() < 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound("no such file: '" + src + "'");
    if (err == ELOOP) return Status::InvalidArgument("symlink not allowed: '" + src + "'");
    return Status::IOError("cannot open '" + src + "': " + Errno(err));
  }
  struct stat st;
  if (::fstat(in.get(), &st) != 0) return Status::IOError("cannot stat '" + src + "': " + Errno(errno));
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument("'" + src + "' is not a regular file");
  return CopyData(in.get(), dst_fd, src);
}

// mkstemp() with a std::string template; |path| gets the name.
Status MakeTemp(std::string tmpl, std::string* path, Fd* fd) {
  int raw = ::mkstemp(tmpl.data());
  if (raw < 0) return Status::IOError("cannot create temp file '" + tmpl + "': " + Errno(errno));
  ::fcntl(raw, F_SETFD, FD_CLOEXEC);
  fd->Reset(raw);
  *path = std::move(tmpl);
  return Status::OK();
}

// Where temp files for |dest| go: beside it, hidden, so the final rename stays on one filesystem.
std::string TempTemplateFor(const fs::path& dest) {
  std::string name = ".";  // built with += : GCC 12 -O3 misreports "lit" + string&& (PR 105651)
  name += dest.filename().string();
  name += ".pipeline-tmp-XXXXXX";
  return (dest.parent_path() / name).string();
}

Status ReadWholeFile(const std::string& path, std::string* out) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status::NotFound("no such file: '" + path + "'");
    return Status::IOError("cannot open '" + path + "': " + Errno(errno));
  }
  out->clear();
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("cannot read '" + path + "': " + Errno(errno));
    }
    if (n == 0) return Status::OK();
    out->append(buf, static_cast<size_t>(n));
  }
}

// Moves |tmp| (complete and verified) to |dest|, replacing what is there in one step where the
// kernel allows: rename() replaces a file or link atomically; a directory (either side) is
// swapped with renameat2(RENAME_EXCHANGE) and the old one removed afterwards.
Status SwapInto(const std::string& tmp, const std::string& dest, bool tmp_is_dir) {
  struct stat st;
  bool dest_exists = ::lstat(dest.c_str(), &st) == 0;
  if (!dest_exists || (!tmp_is_dir && !S_ISDIR(st.st_mode))) {
    if (::rename(tmp.c_str(), dest.c_str()) != 0) {
      int err = errno;
      RemoveAll(tmp);
      return Status::IOError("cannot rename '" + tmp + "' to '" + dest + "': " + Errno(err));
    }
    return Status::OK();
  }
#ifdef RENAME_EXCHANGE
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dest.c_str(), RENAME_EXCHANGE) == 0) {
    RemoveAll(tmp);  // now holds the old content
    return Status::OK();
  }
  if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
    int err = errno;
    RemoveAll(tmp);
    return Status::IOError("cannot swap '" + tmp + "' into '" + dest + "': " + Errno(err));
  }
#endif
  // No RENAME_EXCHANGE on this filesystem: two renames. A crash in between leaves |dest| missing
  // (never half written) and the old content under a hidden name beside it.
  static std::atomic<int> counter{0};
  std::string old = dest + ".pipeline-old-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  if (::rename(dest.c_str(), old.c_str()) != 0) {
    int err = errno;
    RemoveAll(tmp);
    return Status::IOError("cannot move '" + dest + "' aside: " + Errno(err));
  }
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    int err = errno;
    ::rename(old.c_str(), dest.c_str());
    RemoveAll(tmp);
    return Status::IOError("cannot rename '" + tmp + "' to '" + dest + "': " + Errno(err));
  }
  RemoveAll(old);
  return Status::OK();
}

std::string Short(const std::string& sha) { return sha.substr(0, 12); }

}  // namespace

ContentStore::ContentStore(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::string ContentStore::ObjectPath(const std::string& sha256) const {
  return root_ + "/objects/" + sha256.substr(0, 2) + "/" + sha256;
}

std::string ContentStore::TreePath(const std::string& sha256) const {
  return root_ + "/trees/" + sha256.substr(0, 2) + "/" + sha256;
}

Status ContentStore::EnsureLayout() const {
  for (const char* sub : {"/objects", "/trees", "/tmp"}) {
    Status s = MakeDirs(root_ + sub);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

bool ContentStore::Has(const std::string& sha256) const {
  return IsSha256Hex(sha256) && (Exists(ObjectPath(sha256)) || Exists(TreePath(sha256)));
}

Status ContentStore::PutFile(const std::string& path, const std::string& sha256) {
  std::string tmp;
  Fd fd;
  Status s = MakeTemp(root_ + "/tmp/put-XXXXXX", &tmp, &fd);
  if (!s.ok()) return s;
  s = CopyFileInto(path, fd.get());
  // With PIPELINE_SYNC=full, fsync before the rename so the final name never points at
  // data the disk has not got. By default (like the database's synchronous=NORMAL) the
  // object is safe against a process crash but a power loss may tear it: Restore re-hashes
  // every object before using it, so a torn object is a cache miss, never wrong output.
  if (s.ok() && SyncObjects() && ::fsync(fd.get()) != 0)
    s = Status::IOError("cannot fsync '" + tmp + "': " + Errno(errno));
  if (s.ok() && ::fchmod(fd.get(), 0444) != 0) s = Status::IOError("cannot chmod '" + tmp + "': " + Errno(errno));
  if (s.ok() && !fd.Close()) s = Status::IOError("cannot close '" + tmp + "': " + Errno(errno));
  // Hash the copy, not the source: the object's name must be the digest of the bytes stored.
  std::string got;
  int64_t size = 0;
  if (s.ok()) s = HashFile(tmp, &got, &size);
  if (s.ok() && got != sha256) {
    s = Status::FailedPrecondition("'" + path + "' changed while it was being stored (hashed as sha256 " +
                                   Short(sha256) + "…, copied as " + Short(got) + "…)");
  }
  if (s.ok()) s = MakeDirs(root_ + "/objects/" + sha256.substr(0, 2));
  if (s.ok() && ::rename(tmp.c_str(), ObjectPath(sha256).c_str()) != 0)
    s = Status::IOError("cannot rename into '" + ObjectPath(sha256) + "': " + Errno(errno));
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

Status ContentStore::Put(const std::string& path, const ContentDigest& d) {
  if (!IsSha256Hex(d.sha256)) return Status::InvalidArgument("bad sha256 digest '" + d.sha256 + "'");
  if (d.is_dir ? Exists(TreePath(d.sha256)) : Exists(ObjectPath(d.sha256))) return Status::OK();
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound("no such file or directory: '" + path + "'");
    return Status::IOError("cannot stat '" + path + "': " + Errno(errno));
  }
  if (S_ISLNK(st.st_mode)) return Status::InvalidArgument("symlink not allowed: '" + path + "'");
  if (d.is_dir != S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("'" + path + "' is " + (S_ISDIR(st.st_mode) ? "a directory" : "not a directory") +
                                   " but its digest says otherwise");
  }
  Status s = EnsureLayout();
  if (!s.ok()) return s;
  if (!d.is_dir) return PutFile(path, d.sha256);

  std::vector<TreeEntry> entries;
  s = HashTree(path, &entries);
  if (!s.ok()) return s;
  std::string manifest = EncodeTree(entries);
  if (Sha256::Hex(manifest) != d.sha256) {
    return Status::FailedPrecondition("directory '" + path + "' changed since it was hashed (expected sha256 " +
                                      Short(d.sha256) + "…)");
  }
  // Files first, manifest last: a manifest under its final name always has all its files.
  for (const TreeEntry& e : entries) {
    if (Exists(ObjectPath(e.sha256))) continue;
    s = PutFile(path + "/" + e.relpath, e.sha256);
    if (!s.ok()) return s;
  }
  std::string tmp;
  Fd fd;
  s = MakeTemp(root_ + "/tmp/tree-XXXXXX", &tmp, &fd);
  if (!s.ok()) return s;
  for (size_t off = 0; s.ok() && off < manifest.size();) {
    ssize_t n = ::write(fd.get(), manifest.data() + off, manifest.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = Status::IOError("cannot write '" + tmp + "': " + Errno(errno));
    else off += static_cast<size_t>(n);
  }
  if (s.ok() && SyncObjects() && ::fsync(fd.get()) != 0)
    s = Status::IOError("cannot fsync '" + tmp + "': " + Errno(errno));
  if (s.ok() && ::fchmod(fd.get(), 0444) != 0) s = Status::IOError("cannot chmod '" + tmp + "': " + Errno(errno));
  if (s.ok() && !fd.Close()) s = Status::IOError("cannot close '" + tmp + "': " + Errno(errno));
  if (s.ok()) s = MakeDirs(root_ + "/trees/" + d.sha256.substr(0, 2));
  if (s.ok() && ::rename(tmp.c_str(), TreePath(d.sha256).c_str()) != 0)
    s = Status::IOError("cannot rename into '" + TreePath(d.sha256) + "': " + Errno(errno));
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

Status ContentStore::ReadTree(const std::string& sha256, std::vector<TreeEntry>* entries,
                              int64_t* manifest_bytes) const {
  std::string text;
  Status s = ReadWholeFile(TreePath(sha256), &text);
  if (!s.ok()) return s;
  if (manifest_bytes) *manifest_bytes = static_cast<int64_t>(text.size());
  if (Sha256::Hex(text) != sha256)
    return Status::Corruption("directory object " + sha256 + " in " + root_ + " does not match its digest");
  s = DecodeTree(text, entries);
  if (!s.ok()) return Status::Corruption("directory object " + sha256 + ": " + s.message());
  return Status::OK();
}

Status ContentStore::Restore(const std::string& sha256, const std::string& dest) {
  if (!IsSha256Hex(sha256)) return Status::InvalidArgument("bad sha256 digest '" + sha256 + "'");
  fs::path dest_path = fs::path(dest).lexically_normal();
  if (!dest_path.has_filename()) dest_path = dest_path.parent_path();
  if (dest_path.empty() || !dest_path.has_filename() || dest_path.filename() == ".." ||
      dest_path.filename() == ".")
    return Status::InvalidArgument("bad restore destination '" + dest + "'");
  if (dest_path.parent_path().empty()) dest_path = fs::path(".") / dest_path;
  const std::string target = dest_path.string();

  const bool is_tree = Exists(TreePath(sha256));
  if (!is_tree && !Exists(ObjectPath(sha256)))
    return Status::NotFound("object " + sha256 + " is not in the content store " + root_);
  Status s = MakeDirs(dest_path.parent_path().string());
  if (!s.ok()) return s;

  if (!is_tree) {
    std::string tmp;
    Fd fd;
    s = MakeTemp(TempTemplateFor(dest_path), &tmp, &fd);
    if (!s.ok()) return s;
    s = CopyFileInto(ObjectPath(sha256), fd.get());
    if (s.ok() && ::fchmod(fd.get(), 0644) != 0) s = Status::IOError("cannot chmod '" + tmp + "': " + Errno(errno));
    if (s.ok() && !fd.Close()) s = Status::IOError("cannot close '" + tmp + "': " + Errno(errno));
    std::string got;
    int64_t size = 0;
    if (s.ok()) s = HashFile(tmp, &got, &size);
    if (s.ok() && got != sha256)
      s = Status::Corruption("object " + sha256 + " in " + root_ + " does not match its digest (found " + Short(got) + "…)");
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
    return SwapInto(tmp, target, /*tmp_is_dir=*/false);
  }

  std::vector<TreeEntry> entries;
  s = ReadTree(sha256, &entries, nullptr);
  if (!s.ok()) return s;
  std::string tmp = TempTemplateFor(dest_path);
  if (!::mkdtemp(tmp.data())) return Status::IOError("cannot create temp directory '" + tmp + "': " + Errno(errno));
  for (const TreeEntry& e : entries) {
    std::string file = tmp + "/" + e.relpath;
    size_t slash = file.rfind('/');
    s = MakeDirs(file.substr(0, slash));
    if (!s.ok()) break;
    if (!Exists(ObjectPath(e.sha256))) {
      s = Status::NotFound("file object " + e.sha256 + " ('" + e.relpath + "') of directory object " + sha256 +
                           " is missing from the content store");
      break;
    }
    Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) {
      s = Status::IOError("cannot create '" + file + "': " + Errno(errno));
      break;
    }
    s = CopyFileInto(ObjectPath(e.sha256), fd.get());
    if (s.ok() && ::fchmod(fd.get(), e.exec ? 0755 : 0644) != 0)
      s = Status::IOError("cannot chmod '" + file + "': " + Errno(errno));
    if (s.ok() && !fd.Close()) s = Status::IOError("cannot close '" + file + "': " + Errno(errno));
    if (!s.ok()) break;
  }
  if (s.ok() && ::chmod(tmp.c_str(), 0755) != 0) s = Status::IOError("cannot chmod '" + tmp + "': " + Errno(errno));
  ContentDigest got;
  if (s.ok()) s = HashPath(tmp, &got);
  if (s.ok() && got.sha256 != sha256) {
    s = Status::Corruption("directory object " + sha256 + " in " + root_ +
                           " restored with a different digest (a file object is corrupted; run Verify)");
  }
  if (!s.ok()) {
    RemoveAll(tmp);
    return s;
  }
  return SwapInto(tmp, target, /*tmp_is_dir=*/true);
}

Status ContentStore::Verify(const std::string& sha256) {
  if (!IsSha256Hex(sha256)) return Status::InvalidArgument("bad sha256 digest '" + sha256 + "'");
  std::string got;
  int64_t size = 0;
  if (Exists(TreePath(sha256))) {
    std::vector<TreeEntry> entries;
    Status s = ReadTree(sha256, &entries, nullptr);
    if (!s.ok()) return s;
    std::set<std::string> checked;
    for (const TreeEntry& e : entries) {
      if (!checked.insert(e.sha256).second) continue;
      s = HashFile(ObjectPath(e.sha256), &got, &size);
      if (s.code() == Status::Code::kNotFound)
        return Status::Corruption("directory object " + sha256 + ": file object " + e.sha256 + " ('" + e.relpath + "') is missing");
      if (!s.ok()) return s;
      if (got != e.sha256)
        return Status::Corruption("directory object " + sha256 + ": file object " + e.sha256 + " ('" + e.relpath +
                                  "') does not match its digest");
    }
    return Status::OK();
  }
  Status s = HashFile(ObjectPath(sha256), &got, &size);
  if (s.code() == Status::Code::kNotFound)
    return Status::NotFound("object " + sha256 + " is not in the content store " + root_);
  if (!s.ok()) return s;
  if (got != sha256) return Status::Corruption("object " + sha256 + " in " + root_ + " does not match its digest");
  return Status::OK();
}

namespace {

// Calls fn(sha, full_path, size) for every well-named object under <root>/<sub>/xx/.
template <class Fn>
Status ForEachObject(const std::string& root, const char* sub, Fn fn) {
  std::error_code ec;
  fs::path base = fs::path(root) / sub;
  if (!fs::exists(base, ec)) return Status::OK();
  for (fs::directory_iterator fan(base, ec), end; !ec && fan != end; fan.increment(ec)) {
    std::string prefix = fan->path().filename().string();
    if (prefix.size() != 2) continue;
    std::error_code ec2;
    for (fs::directory_iterator it(fan->path(), ec2); !ec2 && it != end; it.increment(ec2)) {
      std::string name = it->path().filename().string();
      if (!IsSha256Hex(name) || name.compare(0, 2, prefix) != 0) continue;  // not ours
      struct stat st;
      std::string full = it->path().string();
      if (::lstat(full.c_str(), &st) != 0) continue;
      Status s = fn(name, full, static_cast<int64_t>(st.st_size));
      if (!s.ok()) return s;
    }
    if (ec2) return Status::IOError("cannot list '" + fan->path().string() + "': " + ec2.message());
  }
  if (ec) return Status::IOError("cannot list '" + base.string() + "': " + ec.message());
  return Status::OK();
}

}  // namespace

Status ContentStore::List(std::vector<StoredObject>* out) const {
  out->clear();
  std::vector<StoredObject> trees, files;
  Status s = ForEachObject(root_, "trees", [&](const std::string& sha, const std::string&, int64_t) {
    StoredObject o;
    o.sha256 = sha;
    o.is_dir = true;
    std::vector<TreeEntry> entries;
    if (ReadTree(sha, &entries, nullptr).ok()) {  // an unreadable manifest is listed with size 0
      o.file_count = static_cast<int64_t>(entries.size());
      o.size = 0;
      for (const TreeEntry& e : entries) o.size += e.size;
    } else {
      o.file_count = 0;
    }
    trees.push_back(std::move(o));
    return Status::OK();
  });
  if (!s.ok()) return s;
  s = ForEachObject(root_, "objects", [&](const std::string& sha, const std::string&, int64_t size) {
    files.push_back(StoredObject{sha, false, size, 1});
    return Status::OK();
  });
  if (!s.ok()) return s;
  auto by_sha = [](const StoredObject& a, const StoredObject& b) { return a.sha256 < b.sha256; };
  std::sort(trees.begin(), trees.end(), by_sha);
  std::sort(files.begin(), files.end(), by_sha);
  *out = std::move(trees);
  out->insert(out->end(), files.begin(), files.end());
  return Status::OK();
}

Status ContentStore::Sweep(const std::set<std::string>& keep, int64_t* freed_bytes, int* removed) {
  *freed_bytes = 0;
  *removed = 0;
  // Mark: everything a kept manifest lists is reachable. Read every kept manifest before
  // deleting anything, so an unreadable one stops the sweep instead of orphaning files.
  std::set<std::string> reachable_files;
  for (const std::string& sha : keep) {
    if (!IsSha256Hex(sha)) continue;
    reachable_files.insert(sha);
    if (!Exists(TreePath(sha))) continue;
    std::vector<TreeEntry> entries;
    Status s = ReadTree(sha, &entries, nullptr);
    if (!s.ok()) return Status::Corruption("sweep stopped, nothing removed: " + s.message());
    for (const TreeEntry& e : entries) reachable_files.insert(e.sha256);
  }
  // Sweep manifests before files, so no manifest ever lists a removed file.
  auto sweep = [&](const char* sub, const std::set<std::string>& live) {
    return ForEachObject(root_, sub, [&](const std::string& sha, const std::string& full, int64_t size) {
      if (live.count(sha)) return Status::OK();
      if (::unlink(full.c_str()) != 0 && errno != ENOENT)
        return Status::IOError("cannot remove '" + full + "': " + Errno(errno));
      *freed_bytes += size;
      ++*removed;
      return Status::OK();
    });
  };
  Status s = sweep("trees", keep);
  if (!s.ok()) return s;
  s = sweep("objects", reachable_files);
  if (!s.ok()) return s;
  // Temp files of crashed writers. A day old at least, so a live Put's temp file is never hit.
  std::error_code ec;
  fs::path tmp_dir = fs::path(root_) / "tmp";
  time_t cutoff = ::time(nullptr) - 24 * 3600;
  for (fs::directory_iterator it(tmp_dir, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st;
    std::string full = it->path().string();
    if (::lstat(full.c_str(), &st) != 0 || st.st_mtime >= cutoff) continue;
    if (::unlink(full.c_str()) == 0) *freed_bytes += static_cast<int64_t>(st.st_size);
  }
  return Status::OK();
}

}  // namespace pipeline
