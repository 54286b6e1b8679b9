#include "lineage/hash.h"

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

using testing::TempDir;
namespace fs = std::filesystem;

ContentDigest MustHash(const std::string& path) {
  ContentDigest d;
  Status s = HashPath(path, &d);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return d;
}

void SetExec(const std::string& path, bool exec) {
  fs::permissions(path, fs::perms::owner_exec, exec ? fs::perm_options::add : fs::perm_options::remove);
}

TEST(HashPath, FileMatchesSha256sum) {
  TempDir t;
  std::string content = "hello, lineage\n";
  ContentDigest d = MustHash(t.Write("a.txt", content));
  // The same value `sha256sum a.txt` prints.
  EXPECT_EQ(d.sha256, Sha256::Hex(content));
  EXPECT_EQ(d.size, static_cast<int64_t>(content.size()));
  EXPECT_EQ(d.file_count, 1);
  EXPECT_FALSE(d.is_dir);
}

TEST(HashPath, LargeFileStreamsToTheOneShotDigest) {
  TempDir t;
  // > 8 MiB and not a multiple of the 1 MiB buffer or of 64.
  std::string data((size_t{8} << 20) + 12345, '\0');
  uint32_t x = 12345;
  for (char& c : data) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  ContentDigest d = MustHash(t.Write("big.bin", data));
  EXPECT_EQ(d.sha256, Sha256::Hex(data));
  EXPECT_EQ(d.size, static_cast<int64_t>(data.size()));
}

TEST(HashPath, EmptyFileAndEmptyDirAreValidAndDiffer) {
  TempDir t;
  ContentDigest f = MustHash(t.Write("empty", ""));
  fs::create_directory(t / "emptydir");
  ContentDigest d = MustHash(t / "emptydir");
  EXPECT_EQ(f.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_TRUE(d.is_dir);
  EXPECT_EQ(d.size, 0);
  EXPECT_EQ(d.file_count, 0);
  EXPECT_NE(f.sha256, d.sha256);
}

TEST(HashPath, DirectoryDigestIndependentOfCreationOrder) {
  TempDir t;
  t.Write("a/x.txt", "x");
  t.Write("a/sub/y.txt", "yy");
  t.Write("a/z.txt", "zzz");
  t.Write("b/z.txt", "zzz");
  t.Write("b/sub/y.txt", "yy");
  t.Write("b/x.txt", "x");
  ContentDigest a = MustHash(t / "a");
  ContentDigest b = MustHash(t / "b");
  EXPECT_EQ(a.sha256, b.sha256);
  EXPECT_EQ(a.size, 6);
  EXPECT_EQ(a.file_count, 3);
}

TEST(HashPath, DirectoryDigestIsTheTreeManifestDigest) {
  TempDir t;
  t.Write("d/run.sh", "#!/bin/sh\n");
  t.Write("d/data/a b.csv", "1,2\n");
  SetExec(t / "d/run.sh", true);
  std::vector<TreeEntry> entries;
  ASSERT_TRUE(HashTree(t / "d", &entries).ok());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].relpath, "data/a b.csv");
  EXPECT_FALSE(entries[0].exec);
  EXPECT_EQ(entries[1].relpath, "run.sh");
  EXPECT_TRUE(entries[1].exec);
  std::string manifest = EncodeTree(entries);
  EXPECT_EQ(manifest, "pipeline-tree 1\n2\n" + Sha256::Hex("1,2\n") + " 0 4 12:data/a b.csv\n" +
                          Sha256::Hex("#!/bin/sh\n") + " 1 10 6:run.sh\n");
  EXPECT_EQ(MustHash(t / "d").sha256, Sha256::Hex(manifest));
  std::vector<TreeEntry> decoded;
  ASSERT_TRUE(DecodeTree(manifest, &decoded).ok());
  EXPECT_EQ(EncodeTree(decoded), manifest);
}

TEST(HashPath, DirectoryDigestChangesWithContentRenameExecAndNewEmptyFile) {
  TempDir t;
  t.Write("d/a.txt", "aaa");
  t.Write("d/sub/b.txt", "bbb");
  std::string base = MustHash(t / "d").sha256;

  t.Write("d/a.txt", "aab");
  std::string content_changed = MustHash(t / "d").sha256;
  EXPECT_NE(content_changed, base);
  t.Write("d/a.txt", "aaa");
  EXPECT_EQ(MustHash(t / "d").sha256, base);

  fs::rename(t / "d/a.txt", t / "d/c.txt");
  EXPECT_NE(MustHash(t / "d").sha256, base);
  fs::rename(t / "d/c.txt", t / "d/a.txt");
  // Moving a file between directories is a rename too.
  fs::rename(t / "d/sub/b.txt", t / "d/b.txt");
  EXPECT_NE(MustHash(t / "d").sha256, base);
  fs::rename(t / "d/b.txt", t / "d/sub/b.txt");
  EXPECT_EQ(MustHash(t / "d").sha256, base);

  SetExec(t / "d/a.txt", true);
  EXPECT_NE(MustHash(t / "d").sha256, base);
  SetExec(t / "d/a.txt", false);
  EXPECT_EQ(MustHash(t / "d").sha256, base);

  t.Write("d/sub/empty", "");
  ContentDigest with_empty = MustHash(t / "d");
  EXPECT_NE(with_empty.sha256, base);
  EXPECT_EQ(with_empty.file_count, 3);
}

TEST(HashPath, PathsThatConcatenateAlikeDiffer) {
  // Framing: "ab"+"c" and "a"+"bc" style collisions must not exist between trees.
  TempDir t;
  t.Write("p/ab", "c");
  t.Write("q/a", "bc");
  EXPECT_NE(MustHash(t / "p").sha256, MustHash(t / "q").sha256);
}

TEST(HashPath, SymlinksAreRefusedAndNamed) {
  TempDir t;
  t.Write("d/real.txt", "x");
  ASSERT_EQ(::symlink("real.txt", (t / "d/link.txt").c_str()), 0);
  ContentDigest d;
  Status s = HashPath(t / "d", &d);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find(t / "d/link.txt"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("symlink"), std::string::npos) << s.message();

  // A top-level link, and a link to a directory, too.
  ASSERT_EQ(::symlink((t / "d/real.txt").c_str(), (t / "top").c_str()), 0);
  s = HashPath(t / "top", &d);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find(t / "top"), std::string::npos) << s.message();
  ASSERT_EQ(::symlink((t / "d").c_str(), (t / "dirlink").c_str()), 0);
  EXPECT_EQ(HashPath(t / "dirlink", &d).code(), Status::Code::kInvalidArgument);
}

TEST(HashPath, FifoIsRefused) {
  TempDir t;
  fs::create_directory(t / "d");
  ASSERT_EQ(::mkfifo((t / "d/pipe").c_str(), 0600), 0);
  ContentDigest d;
  Status s = HashPath(t / "d", &d);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("FIFO"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(t / "d/pipe"), std::string::npos) << s.message();
  // Directly, too (and without blocking on open).
  EXPECT_EQ(HashPath(t / "d/pipe", &d).code(), Status::Code::kInvalidArgument);
}

TEST(HashPath, MissingPathIsNotFound) {
  TempDir t;
  ContentDigest d;
  EXPECT_EQ(HashPath(t / "nope", &d).code(), Status::Code::kNotFound);
  EXPECT_EQ(HashPath(t / "nope/deeper", &d).code(), Status::Code::kNotFound);
}

TEST(DecodeTree, RejectsTamperedManifests) {
  std::vector<TreeEntry> entries;
  std::string sha = Sha256::Hex("x");
  EXPECT_TRUE(DecodeTree("pipeline-tree 1\n0\n", &entries).ok());
  EXPECT_TRUE(DecodeTree("pipeline-tree 1\n1\n" + sha + " 0 1 5:a.txt\n", &entries).ok());
  const std::vector<std::string> bads = {
           "pipeline-tree 2\n0\n",
           "pipeline-tree 1\n1\n",                                         // truncated
           "pipeline-tree 1\n1\n" + sha + " 0 1 6:../etc\n",              // escapes
           "pipeline-tree 1\n1\n" + sha + " 0 1 5:/etc/\n",              // absolute
           "pipeline-tree 1\n1\n" + sha + " 0 1 4:a//b\n",               // empty part
           "pipeline-tree 1\n1\n" + sha + " 2 1 1:a\n",                  // exec flag
           "pipeline-tree 1\n1\n" + sha + " 0 01 1:a\n",                 // non-canonical number
           "pipeline-tree 1\n1\n" + sha + " 0 1 9:a\n",                  // length past the end
           "pipeline-tree 1\n2\n" + sha + " 0 1 1:b\n" + sha + " 0 1 1:a\n",  // unsorted
           "pipeline-tree 1\n2\n" + sha + " 0 1 1:a\n" + sha + " 0 1 1:a\n",  // duplicate
           "pipeline-tree 1\n0\nextra",
           "pipeline-tree 1\n99999999999\n",
       };
  for (const std::string& bad : bads) {
    EXPECT_EQ(DecodeTree(bad, &entries).code(), Status::Code::kCorruption) << bad;
  }
}

}  // namespace
}  // namespace pipeline
