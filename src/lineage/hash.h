// Content digests of task outputs (and inputs): files and directory trees.
//
// A file's digest is the SHA-256 of its bytes, the same value `sha256sum` prints. A directory's
// digest is the SHA-256 of its *tree manifest*: a canonical, length-prefixed listing of every
// regular file below it, sorted by relative path, with its exec bit, digest and size (format:
// EncodeTree below, and "Tree manifest format" at the top of hash.cc). The content store keeps
// that same manifest as the directory's object, so verifying a directory object is hashing it.
//
// Policy (docs/caching.md):
// - Symbolic links are refused, at the top and anywhere inside a directory, with an error naming
//   the link. A digest is then a pure function of the bytes inside the tree, and storing or
//   restoring an output can never follow a link out of the workspace.
// - FIFOs, sockets and devices are refused.
// - Only regular files count: an empty sub-directory adds nothing to its parent's digest and is
//   not recreated on restore. An empty top-level directory is valid, and its digest differs from
//   an empty file's.
// - Only the owner-execute bit is recorded; other mode bits, owners and times are not.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/status.h"

namespace pipeline {

struct ContentDigest {
  std::string sha256;       ///< 64 lowercase hex
  int64_t size = 0;         ///< bytes (directories: sum of their files)
  int64_t file_count = 1;   ///< 1 for a file; regular files below a directory (recursive)
  bool is_dir = false;
};

/// One regular file inside a directory tree.
struct TreeEntry {
  std::string relpath;  ///< '/'-separated, relative to the tree root, no "", "." or ".." parts
  bool exec = false;    ///< owner-execute bit
  std::string sha256;   ///< 64 lowercase hex of the file's bytes
  int64_t size = 0;
};

/// Hashes a regular file (streaming, 1 MiB buffer, never loading it whole) or a directory
/// (SHA-256 of its tree manifest). Errors: NotFound if |path| does not exist; InvalidArgument
/// naming the offending path for a symlink, FIFO, socket or device anywhere; IOError if reading
/// fails.
Status HashPath(const std::string& path, ContentDigest* out);

/// Hashes one regular file; refuses symlinks and special files like HashPath.
Status HashFile(const std::string& path, std::string* sha256, int64_t* size, bool* exec = nullptr);

/// Hashes every regular file below directory |dir|; |entries| comes back sorted by relpath.
Status HashTree(const std::string& dir, std::vector<TreeEntry>* entries);

/// The canonical tree manifest of |entries| (which must be sorted by relpath, without
/// duplicates). SHA-256 of this text is the directory digest.
std::string EncodeTree(const std::vector<TreeEntry>& entries);

/// Parses a tree manifest strictly: Corruption unless |text| is exactly what EncodeTree writes
/// for safe, sorted, unique relative paths (so a tampered manifest cannot point outside the
/// directory it is restored into).
Status DecodeTree(std::string_view text, std::vector<TreeEntry>* entries);

/// True if |s| is 64 lowercase hex digits.
bool IsSha256Hex(std::string_view s);

}  // namespace pipeline
