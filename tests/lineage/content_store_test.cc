#include "lineage/content_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/sha256.h"
#include "testing/temp_dir.h"

namespace pipeline {
namespace {

using testing::ReadFile;
using testing::TempDir;
namespace fs = std::filesystem;

ContentDigest MustHash(const std::string& path) {
  ContentDigest d;
  Status s = HashPath(path, &d);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return d;
}

bool IsExec(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IXUSR);
}

// Overwrites a stored (read-only) object in place.
void Corrupt(const std::string& path, const std::string& content) {
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

std::string ObjectFile(const TempDir& t, const std::string& sha) {
  return t / ("cas/objects/" + sha.substr(0, 2) + "/" + sha);
}

class ContentStoreTest : public ::testing::Test {
 protected:
  TempDir t_;
  ContentStore store_{t_ / "cas"};

  ContentDigest Put(const std::string& path) {
    ContentDigest d = MustHash(path);
    Status s = store_.Put(path, d);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return d;
  }
};

TEST_F(ContentStoreTest, FileRoundTrip) {
  std::string content(3 << 20, 'q');
  content += "tail";
  ContentDigest d = Put(t_.Write("ws/model.bin", content));
  EXPECT_TRUE(store_.Has(d.sha256));
  EXPECT_EQ(ReadFile(ObjectFile(t_, d.sha256)), content);
  fs::remove(t_ / "ws/model.bin");
  ASSERT_TRUE(store_.Restore(d.sha256, t_ / "ws/model.bin").ok());
  EXPECT_EQ(ReadFile(t_ / "ws/model.bin"), content);
  EXPECT_EQ(MustHash(t_ / "ws/model.bin").sha256, d.sha256);
  EXPECT_TRUE(store_.Verify(d.sha256).ok());
  // Parent directories are created.
  ASSERT_TRUE(store_.Restore(d.sha256, t_ / "elsewhere/deep/m.bin").ok());
  EXPECT_EQ(ReadFile(t_ / "elsewhere/deep/m.bin"), content);
  // No temp files are left beside the destination.
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(t_ / "elsewhere/deep")) ++n;
  EXPECT_EQ(n, 1);
}

TEST_F(ContentStoreTest, EmptyFileAndEmptyDirRoundTrip) {
  ContentDigest f = Put(t_.Write("ws/empty", ""));
  fs::create_directories(t_ / "ws/emptydir");
  ContentDigest d = Put(t_ / "ws/emptydir");
  ASSERT_TRUE(store_.Restore(f.sha256, t_ / "out/empty").ok());
  ASSERT_TRUE(store_.Restore(d.sha256, t_ / "out/emptydir").ok());
  EXPECT_TRUE(fs::is_regular_file(t_ / "out/empty"));
  EXPECT_EQ(fs::file_size(t_ / "out/empty"), 0u);
  EXPECT_TRUE(fs::is_directory(t_ / "out/emptydir"));
  EXPECT_TRUE(fs::is_empty(t_ / "out/emptydir"));
}

TEST_F(ContentStoreTest, DirectoryRoundTripWithNestedDirsAndExecBits) {
  t_.Write("ws/out/run.sh", "#!/bin/sh\necho hi\n");
  t_.Write("ws/out/data/part-0.csv", "a,b\n1,2\n");
  t_.Write("ws/out/data/deeper/part-1.csv", "a,b\n3,4\n");
  t_.Write("ws/out/data/same.csv", "a,b\n1,2\n");  // same bytes as part-0: one object
  t_.Write("ws/out/empty", "");
  fs::permissions(t_ / "ws/out/run.sh", fs::perms::owner_exec, fs::perm_options::add);
  ContentDigest d = Put(t_ / "ws/out");
  EXPECT_TRUE(d.is_dir);
  EXPECT_EQ(d.file_count, 5);
  EXPECT_TRUE(store_.Has(d.sha256));
  EXPECT_TRUE(store_.Has(Sha256::Hex("a,b\n1,2\n")));

  fs::remove_all(t_ / "ws/out");
  Status s = store_.Restore(d.sha256, t_ / "ws/out");
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadFile(t_ / "ws/out/run.sh"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(ReadFile(t_ / "ws/out/data/deeper/part-1.csv"), "a,b\n3,4\n");
  EXPECT_EQ(ReadFile(t_ / "ws/out/data/same.csv"), "a,b\n1,2\n");
  EXPECT_TRUE(IsExec(t_ / "ws/out/run.sh"));
  EXPECT_FALSE(IsExec(t_ / "ws/out/data/part-0.csv"));
  EXPECT_EQ(MustHash(t_ / "ws/out").sha256, d.sha256);
  EXPECT_TRUE(store_.Verify(d.sha256).ok());

  std::vector<StoredObject> objects;
  ASSERT_TRUE(store_.List(&objects).ok());
  ASSERT_EQ(objects.size(), 5u);  // 1 tree + 4 distinct files
  EXPECT_TRUE(objects[0].is_dir);
  EXPECT_EQ(objects[0].sha256, d.sha256);
  EXPECT_EQ(objects[0].size, d.size);
  EXPECT_EQ(objects[0].file_count, 5);
}

TEST_F(ContentStoreTest, PutTwiceIsIdempotent) {
  ContentDigest d = Put(t_.Write("ws/a.txt", "same"));
  t_.Write("ws/d/x", "1");
  struct stat before;
  ASSERT_EQ(::stat(ObjectFile(t_, d.sha256).c_str(), &before), 0);
  ASSERT_TRUE(store_.Put(t_ / "ws/a.txt", d).ok());
  struct stat after;
  ASSERT_EQ(::stat(ObjectFile(t_, d.sha256).c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);  // not rewritten
  ContentDigest dd = Put(t_ / "ws/d");
  ASSERT_TRUE(store_.Put(t_ / "ws/d", dd).ok());
  std::vector<StoredObject> objects;
  ASSERT_TRUE(store_.List(&objects).ok());
  EXPECT_EQ(objects.size(), 3u);  // a.txt, d's tree, d/x
  EXPECT_TRUE(fs::is_empty(t_ / "cas/tmp"));
}

TEST_F(ContentStoreTest, PutRefusesContentThatChangedSinceHashing) {
  std::string path = t_.Write("ws/a.txt", "v1");
  ContentDigest d = MustHash(path);
  t_.Write("ws/a.txt", "v2");
  EXPECT_EQ(store_.Put(path, d).code(), Status::Code::kFailedPrecondition);
  EXPECT_FALSE(store_.Has(d.sha256));
  EXPECT_TRUE(fs::is_empty(t_ / "cas/tmp"));
}

TEST_F(ContentStoreTest, RestoreReplacesExistingDifferentFileAndDirectory) {
  ContentDigest d = Put(t_.Write("ws/a.txt", "cached"));
  t_.Write("ws/a.txt", "something else, longer than the cached bytes");
  ASSERT_TRUE(store_.Restore(d.sha256, t_ / "ws/a.txt").ok());
  EXPECT_EQ(ReadFile(t_ / "ws/a.txt"), "cached");

  // A directory where the file should go, and a file where a directory should go.
  t_.Write("ws/b/inner.txt", "junk");
  ASSERT_TRUE(store_.Restore(d.sha256, t_ / "ws/b").ok());
  EXPECT_EQ(ReadFile(t_ / "ws/b"), "cached");
  t_.Write("ws/tree/k", "kept");
  ContentDigest tree = Put(t_ / "ws/tree");
  fs::remove_all(t_ / "ws/tree");
  t_.Write("ws/tree", "a file");
  ASSERT_TRUE(store_.Restore(tree.sha256, t_ / "ws/tree").ok());
  EXPECT_EQ(ReadFile(t_ / "ws/tree/k"), "kept");
  // Restoring a directory over a different directory drops files that are not in the object.
  t_.Write("ws/tree/stale.txt", "stale");
  ASSERT_TRUE(store_.Restore(tree.sha256, t_ / "ws/tree").ok());
  EXPECT_FALSE(fs::exists(t_ / "ws/tree/stale.txt"));
  EXPECT_EQ(MustHash(t_ / "ws/tree").sha256, tree.sha256);
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(t_ / "ws")) ++n;
  EXPECT_EQ(n, 3);  // a.txt, b, tree: no temp or old copies left
}

TEST_F(ContentStoreTest, RestoreOfMissingObjectIsNotFound) {
  std::string sha = Sha256::Hex("never stored");
  EXPECT_FALSE(store_.Has(sha));
  EXPECT_EQ(store_.Restore(sha, t_ / "ws/x").code(), Status::Code::kNotFound);
  EXPECT_FALSE(fs::exists(t_ / "ws/x"));
  EXPECT_EQ(store_.Restore("../../etc/passwd", t_ / "ws/x").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_.Verify(sha).code(), Status::Code::kNotFound);
}

TEST_F(ContentStoreTest, VerifyAndRestoreDetectCorruption) {
  ContentDigest d = Put(t_.Write("ws/a.txt", "good bytes"));
  t_.Write("ws/d/f.txt", "dir file");
  ContentDigest dir = Put(t_ / "ws/d");
  Corrupt(ObjectFile(t_, d.sha256), "bad bytes!");
  EXPECT_EQ(store_.Verify(d.sha256).code(), Status::Code::kCorruption);
  t_.Write("ws/a.txt", "current");
  EXPECT_EQ(store_.Restore(d.sha256, t_ / "ws/a.txt").code(), Status::Code::kCorruption);
  EXPECT_EQ(ReadFile(t_ / "ws/a.txt"), "current");  // untouched

  Corrupt(ObjectFile(t_, Sha256::Hex("dir file")), "dir filX");
  EXPECT_EQ(store_.Verify(dir.sha256).code(), Status::Code::kCorruption);
  EXPECT_EQ(store_.Restore(dir.sha256, t_ / "ws/d").code(), Status::Code::kCorruption);
  EXPECT_EQ(ReadFile(t_ / "ws/d/f.txt"), "dir file");  // untouched
}

TEST_F(ContentStoreTest, SweepKeepsReachableObjectsAndReportsFreedBytes) {
  // Two directories share "shared.bin"; a loose file is dropped, another kept.
  std::string shared(1000, 's');
  t_.Write("ws/keep_dir/shared.bin", shared);
  t_.Write("ws/keep_dir/only_keep.txt", "k");
  t_.Write("ws/drop_dir/shared.bin", shared);
  t_.Write("ws/drop_dir/only_drop.txt", "dropped!");  // 8 bytes
  ContentDigest keep_dir = Put(t_ / "ws/keep_dir");
  ContentDigest drop_dir = Put(t_ / "ws/drop_dir");
  ContentDigest keep_file = Put(t_.Write("ws/keep.txt", "keep me"));
  ContentDigest drop_file = Put(t_.Write("ws/drop.txt", std::string(500, 'd')));
  std::string drop_manifest = t_ / ("cas/trees/" + drop_dir.sha256.substr(0, 2) + "/" + drop_dir.sha256);
  int64_t manifest_bytes = static_cast<int64_t>(fs::file_size(drop_manifest));

  int64_t freed = -1;
  int removed = -1;
  Status s = store_.Sweep({keep_dir.sha256, keep_file.sha256}, &freed, &removed);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(removed, 3);  // drop_dir's manifest, only_drop.txt, drop.txt
  EXPECT_EQ(freed, manifest_bytes + 8 + 500);
  EXPECT_TRUE(store_.Has(keep_dir.sha256));
  EXPECT_TRUE(store_.Has(keep_file.sha256));
  EXPECT_TRUE(store_.Has(Sha256::Hex(shared)));
  EXPECT_FALSE(store_.Has(drop_dir.sha256));
  EXPECT_FALSE(store_.Has(drop_file.sha256));
  EXPECT_FALSE(store_.Has(Sha256::Hex("dropped!")));
  EXPECT_TRUE(store_.Verify(keep_dir.sha256).ok());
  fs::remove_all(t_ / "ws/keep_dir");
  EXPECT_TRUE(store_.Restore(keep_dir.sha256, t_ / "ws/keep_dir").ok());

  // Sweeping again with the same keep set removes nothing.
  ASSERT_TRUE(store_.Sweep({keep_dir.sha256, keep_file.sha256}, &freed, &removed).ok());
  EXPECT_EQ(removed, 0);
  EXPECT_EQ(freed, 0);
}

TEST_F(ContentStoreTest, SweepStopsOnUnreadableKeptManifest) {
  t_.Write("ws/d/f.txt", "x");
  ContentDigest d = Put(t_ / "ws/d");
  ContentDigest other = Put(t_.Write("ws/o.txt", "o"));
  Corrupt(t_ / ("cas/trees/" + d.sha256.substr(0, 2) + "/" + d.sha256), "garbage");
  int64_t freed = 0;
  int removed = 0;
  EXPECT_EQ(store_.Sweep({d.sha256}, &freed, &removed).code(), Status::Code::kCorruption);
  EXPECT_TRUE(store_.Has(other.sha256));  // nothing removed
  EXPECT_TRUE(store_.Has(Sha256::Hex("x")));
}

TEST_F(ContentStoreTest, PutRefusesSymlinksInsideDirectories) {
  t_.Write("ws/d/real", "r");
  ASSERT_EQ(::symlink("/etc/passwd", (t_ / "ws/d/escape").c_str()), 0);
  ContentDigest d;
  d.sha256 = Sha256::Hex("whatever");
  d.is_dir = true;
  Status s = store_.Put(t_ / "ws/d", d);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("escape"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace pipeline
