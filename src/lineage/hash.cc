// Tree manifest format (the bytes a directory digest is the SHA-256 of; also the directory's
// object in the content store):
//
//   "pipeline-tree 1\n"
//   <file count, decimal> "\n"
//   then for each regular file, sorted by relpath (bytewise, i.e. by code point for UTF-8):
//   <sha256: 64 lowercase hex> " " <exec: 0|1> " " <size, decimal> " " <len(relpath), decimal> ":" <relpath> "\n"
//
// Every variable-length field is length-prefixed or a fixed-width/decimal token ended by a
// delimiter it cannot contain, so two different trees never encode to the same bytes (a path may
// contain spaces, newlines or colons). The header makes an empty directory's digest differ from
// an empty file's. Changing any of this changes every directory digest: bump the "1".
#include "lineage/hash.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "core/sha256.h"

namespace pipeline {
namespace {

constexpr std::string_view kTreeHeader = "pipeline-tree 1\n";
constexpr size_t kReadBuffer = size_t{1} << 20;  // 1 MiB

std::string Errno(int err) { return std::strerror(err); }

Status SymlinkRefused(const std::string& path) {
  return Status::InvalidArgument("symlink not allowed in outputs/inputs: '" + path +
                                 "' (links are never followed, so a digest depends only on the "
                                 "bytes inside the tree; copy the target instead)");
}

const char* KindName(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file or directory";
}

Status SpecialRefused(const std::string& path, mode_t mode) {
  return Status::InvalidArgument("'" + path + "' is " + KindName(mode) +
                                 ": only regular files and directories can be hashed");
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status WalkDir(const std::string& root, const std::string& rel, std::vector<TreeEntry>* entries) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return Status::IOError("cannot open directory '" + dir + "': " + Errno(errno));
  std::unique_ptr<DIR, int (*)(DIR*)> closer(d, ::closedir);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  if (errno != 0) return Status::IOError("cannot read directory '" + dir + "': " + Errno(errno));
  for (const std::string& name : names) {
    std::string child_rel = rel.empty() ? name : rel + "/" + name;
    std::string full = root + "/" + child_rel;
    struct stat st;
    if (::lstat(full.c_str(), &st) != 0)
      return Status::IOError("cannot stat '" + full + "': " + Errno(errno));
    if (S_ISLNK(st.st_mode)) return SymlinkRefused(full);
    if (S_ISDIR(st.st_mode)) {
      Status s = WalkDir(root, child_rel, entries);
      if (!s.ok()) return s;
    } else if (S_ISREG(st.st_mode)) {
      TreeEntry entry;
      entry.relpath = std::move(child_rel);
      Status s = HashFile(full, &entry.sha256, &entry.size, &entry.exec);
      if (!s.ok()) return s;
      entries->push_back(std::move(entry));
    } else {
      return SpecialRefused(full, st.st_mode);
    }
  }
  return Status::OK();
}

bool SafeRelpath(std::string_view p) {
  if (p.empty() || p.find('\0') != std::string_view::npos) return false;
  size_t start = 0;
  while (true) {
    size_t slash = p.find('/', start);
    std::string_view part = p.substr(start, slash == std::string_view::npos ? p.npos : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

// Reads a decimal token ended by |delim| from |text| at |*pos|.
bool ReadNumber(std::string_view text, size_t* pos, char delim, int64_t* value) {
  size_t end = text.find(delim, *pos);
  if (end == std::string_view::npos || end == *pos) return false;
  const char* first = text.data() + *pos;
  const char* last = text.data() + end;
  if (*first == '0' && last - first > 1) return false;  // canonical: no leading zeros
  auto [ptr, ec] = std::from_chars(first, last, *value);
  if (ec != std::errc() || ptr != last || *value < 0) return false;
  *pos = end + 1;
  return true;
}

}  // namespace

bool IsSha256Hex(std::string_view s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Status HashFile(const std::string& path, std::string* sha256, int64_t* size, bool* exec) {
  // O_NOFOLLOW: a link swapped in after the caller's lstat is still refused. O_NONBLOCK: opening
  // a FIFO must not hang; it has no effect on reads of a regular file.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) return Status::NotFound("no such file: '" + path + "'");
    if (err == ELOOP) return SymlinkRefused(path);
    return Status::IOError("cannot open '" + path + "': " + Errno(err));
  }
  Fd closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::IOError("cannot stat '" + path + "': " + Errno(errno));
  if (!S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) return Status::InvalidArgument("'" + path + "' is a directory");
    return SpecialRefused(path, st.st_mode);
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  // Small files get a small buffer: a directory of many tiny files should not pay for 1 MiB each.
  size_t cap = std::clamp<size_t>(static_cast<size_t>(st.st_size) + 1, 4096, kReadBuffer);
  std::unique_ptr<char[]> buf(new char[cap]);
  Sha256 h;
  int64_t total = 0;
  while (true) {
    ssize_t n = ::read(fd, buf.get(), cap);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("cannot read '" + path + "': " + Errno(errno));
    }
    if (n == 0) break;
    h.Update(buf.get(), static_cast<size_t>(n));
    total += n;
  }
  *sha256 = h.HexDigest();
  *size = total;
  if (exec) *exec = (st.st_mode & S_IXUSR) != 0;
  return Status::OK();
}

Status HashTree(const std::string& dir, std::vector<TreeEntry>* entries) {
  entries->clear();
  Status s = WalkDir(dir, "", entries);
  if (!s.ok()) return s;
  std::sort(entries->begin(), entries->end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.relpath < b.relpath; });
  return Status::OK();
}

Status HashPath(const std::string& path, ContentDigest* out) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) return Status::NotFound("no such file or directory: '" + path + "'");
    return Status::IOError("cannot stat '" + path + "': " + Errno(err));
  }
  if (S_ISLNK(st.st_mode)) return SymlinkRefused(path);
  ContentDigest d;
  if (S_ISREG(st.st_mode)) {
    Status s = HashFile(path, &d.sha256, &d.size);
    if (!s.ok()) return s;
    d.file_count = 1;
    d.is_dir = false;
  } else if (S_ISDIR(st.st_mode)) {
    std::vector<TreeEntry> entries;
    Status s = HashTree(path, &entries);
    if (!s.ok()) return s;
    d.sha256 = Sha256::Hex(EncodeTree(entries));
    d.size = 0;
    for (const TreeEntry& e : entries) d.size += e.size;
    d.file_count = static_cast<int64_t>(entries.size());
    d.is_dir = true;
  } else {
    return SpecialRefused(path, st.st_mode);
  }
  *out = std::move(d);
  return Status::OK();
}

std::string EncodeTree(const std::vector<TreeEntry>& entries) {
  std::string out(kTreeHeader);
  out += std::to_string(entries.size());
  out += '\n';
  for (const TreeEntry& e : entries) {
    out += e.sha256;
    out += e.exec ? " 1 " : " 0 ";
    out += std::to_string(e.size);
    out += ' ';
    out += std::to_string(e.relpath.size());
    out += ':';
    out += e.relpath;
    out += '\n';
  }
  return out;
}

Status DecodeTree(std::string_view text, std::vector<TreeEntry>* entries) {
  auto bad = [](const std::string& why) { return Status::Corruption("bad tree manifest: " + why); };
  entries->clear();
  if (text.substr(0, kTreeHeader.size()) != kTreeHeader) return bad("missing header");
  size_t pos = kTreeHeader.size();
  int64_t count = 0;
  if (!ReadNumber(text, &pos, '\n', &count)) return bad("bad entry count");
  // Each entry takes at least 72 bytes; a huge count in a short text is corruption, not a
  // reason to reserve memory.
  if (count > static_cast<int64_t>(text.size() / 72) + 1) return bad("entry count too large");
  entries->reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    TreeEntry e;
    if (text.size() < pos + 67) return bad("truncated entry");
    e.sha256 = std::string(text.substr(pos, 64));
    if (!IsSha256Hex(e.sha256) || text[pos + 64] != ' ') return bad("bad digest");
    char x = text[pos + 65];
    if ((x != '0' && x != '1') || text[pos + 66] != ' ') return bad("bad exec flag");
    e.exec = x == '1';
    pos += 67;
    int64_t len = 0;
    if (!ReadNumber(text, &pos, ' ', &e.size) || !ReadNumber(text, &pos, ':', &len))
      return bad("bad size or path length");
    if (static_cast<uint64_t>(len) >= text.size() - pos || text[pos + static_cast<size_t>(len)] != '\n')
      return bad("bad path length");
    e.relpath = std::string(text.substr(pos, static_cast<size_t>(len)));
    pos += static_cast<size_t>(len) + 1;
    if (!SafeRelpath(e.relpath)) return bad("unsafe path '" + e.relpath + "'");
    if (!entries->empty() && !(entries->back().relpath < e.relpath)) return bad("paths not sorted and unique");
    entries->push_back(std::move(e));
  }
  if (pos != text.size()) return bad("trailing bytes");
  return Status::OK();
}

}  // namespace pipeline
