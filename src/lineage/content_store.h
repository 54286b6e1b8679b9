// Content-addressed store for task outputs, under <home>/cas (e.g. .pipeline/cas).
//
// On-disk layout (see docs/caching.md):
//   <root>/objects/ab/<sha256>  a file's bytes, read-only (0444); <sha256> = SHA-256 of the bytes
//   <root>/trees/ab/<sha256>    a directory's tree manifest (lineage/hash.h EncodeTree); its
//                               SHA-256 is the directory digest; every file it lists is an
//                               object under objects/
//   <root>/tmp/                 files being written; renamed into place only when complete
// ("ab" is the first two hex digits.) Objects are immutable: a name is written once, with
// identical bytes if written again. A file object is fsync'ed before it is renamed into place,
// and a tree manifest is renamed into place only after all its files, so a crash never leaves a
// half object, or a tree with a missing file, under a final name.
//
// Threads and processes: Put, Has, Restore and Verify may run concurrently (in one process or
// several); Sweep must not run concurrently with Put (the caller holds the workspace lock).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "lineage/hash.h"
#include "pipeline/status.h"

namespace pipeline {

/// One top-level object, as listed for garbage collection.
struct StoredObject {
  std::string sha256;
  bool is_dir = false;   ///< a tree manifest (directory) rather than a file
  int64_t size = 0;      ///< file: its bytes; directory: sum of its files' sizes
  int64_t file_count = 1;
};

class ContentStore {
 public:
  /// |root| is the store directory (e.g. /abs/.pipeline/cas); created on first Put.
  explicit ContentStore(std::string root);

  const std::string& root() const { return root_; }

  /// Copies |path| (file or directory, already hashed as |d|) into the store, unless an object
  /// with that digest is there already. Uses a reflink clone (ioctl FICLONE) when the filesystem
  /// supports it, else copy_file_range (else read/write). Every copied file is re-hashed: if
  /// |path| changed since it was hashed, nothing is stored under |d| and FailedPrecondition comes
  /// back. InvalidArgument for symlinks/special files (as HashPath) or a malformed |d|.
  Status Put(const std::string& path, const ContentDigest& d);

  /// True if a file object or a directory manifest named |sha256| is stored.
  bool Has(const std::string& sha256) const;

  /// Materializes object |sha256| at |dest| (file or directory), replacing whatever is there
  /// (file, directory or link), atomically: a file is written beside |dest| and renamed over it;
  /// a directory is built beside it and swapped in (renameat2 RENAME_EXCHANGE, else two renames).
  /// The digest of what was written is verified before the swap. Creates parent directories.
  /// Restored files get mode 0644, or 0755 if their exec bit is recorded in a directory object.
  /// NotFound if no such object (or a file of a stored directory is missing); Corruption if a
  /// stored object does not match its digest (|dest| is then left untouched).
  Status Restore(const std::string& sha256, const std::string& dest);

  /// Re-hashes a stored object (for a directory: its manifest and every file it lists).
  /// NotFound if missing, Corruption if it no longer matches.
  Status Verify(const std::string& sha256);

  /// Every stored top-level object: each directory manifest, and each file object (files that
  /// belong to directories are listed too, as file objects). Sorted by sha256, trees first.
  Status List(std::vector<StoredObject>* out) const;

  /// Garbage collection: removes every object not reachable from |keep| (a kept directory keeps
  /// the files its manifest lists, even if a removed directory listed them too), plus temp
  /// files older than a day. |freed_bytes| gets the bytes removed, |removed| the number of
  /// objects (files and manifests) removed. A kept digest that is not stored is ignored.
  /// Corruption, with nothing removed, if a kept manifest cannot be read.
  Status Sweep(const std::set<std::string>& keep, int64_t* freed_bytes, int* removed);

 private:
  std::string ObjectPath(const std::string& sha256) const;
  std::string TreePath(const std::string& sha256) const;
  Status EnsureLayout() const;
  Status PutFile(const std::string& path, const std::string& sha256);
  Status ReadTree(const std::string& sha256, std::vector<TreeEntry>* entries, int64_t* manifest_bytes) const;

  std::string root_;
};

}  // namespace pipeline
