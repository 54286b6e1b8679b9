// The engine skips looking for files nobody made since the watch began; every way a task
// can make one must be seen, and anything the watch cannot vouch for "may exist".
#include "engine/dir_watch.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "testing/temp_dir.h"

namespace pipeline {
namespace {

using ::pipeline::testing::TempDir;

void Touch(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  close(fd);
}

TEST(DirWatchTest, SeesEveryWayAFileCanAppear) {
  TempDir dir;
  std::string before = dir.Write("old.metrics.json", "{}");
  DirWatch w;
  ASSERT_TRUE(w.Start(dir.path()));
  EXPECT_TRUE(w.active());
  EXPECT_FALSE(w.MayExist("a.metrics.json"));
  EXPECT_FALSE(w.MayExist("old.metrics.json")) << "existed before the watch, untouched since";

  dir.Write("a.metrics.json", "{\"x\": 1}");  // created and written
  EXPECT_TRUE(w.MayExist("a.metrics.json"));
  EXPECT_FALSE(w.MayExist("b.metrics.json"));

  dir.Write("tmp", "{}");  // written elsewhere, renamed into place
  ASSERT_EQ(rename((dir / "tmp").c_str(), (dir / "b.metrics.json").c_str()), 0);
  EXPECT_TRUE(w.MayExist("b.metrics.json"));

  { std::ofstream(before, std::ios::trunc) << "{\"y\": 2}"; }  // rewritten in place
  EXPECT_TRUE(w.MayExist("old.metrics.json"));

  std::string other = dir.Write("elsewhere", "{}");
  ASSERT_EQ(link(other.c_str(), (dir / "linked.metrics.json").c_str()), 0);  // a hard link
  EXPECT_TRUE(w.MayExist("linked.metrics.json"));

  Touch(dir / "empty.metrics.json");  // created, nothing written
  EXPECT_TRUE(w.MayExist("empty.metrics.json"));

  w.Forget("a.metrics.json");
  EXPECT_FALSE(w.MayExist("a.metrics.json"));
}

TEST(DirWatchTest, UnwatchableDirectoryMayHoldAnything) {
  TempDir dir;
  DirWatch missing;
  EXPECT_FALSE(missing.Start(dir / "no-such-dir"));
  EXPECT_FALSE(missing.active());
  EXPECT_TRUE(missing.MayExist("anything"));

  DirWatch file;
  EXPECT_FALSE(file.Start(dir.Write("plain-file", "x")));
  EXPECT_TRUE(file.MayExist("anything"));
}

TEST(DirWatchTest, RemovedDirectoryMayHoldAnything) {
  TempDir dir;
  std::filesystem::create_directories(dir / "logs");
  DirWatch w;
  ASSERT_TRUE(w.Start(dir / "logs"));
  EXPECT_FALSE(w.MayExist("x"));
  std::filesystem::remove_all(dir / "logs");
  EXPECT_TRUE(w.MayExist("x"));
  EXPECT_FALSE(w.active());
}

TEST(DirWatchTest, LostEventsMeanMayExistForGood) {
  std::ifstream limit_file("/proc/sys/fs/inotify/max_queued_events");
  long limit = 0;
  if (!(limit_file >> limit) || limit > 200000) GTEST_SKIP() << "event queue too large to overflow here";
  TempDir dir;
  DirWatch w;
  ASSERT_TRUE(w.Start(dir.path()));
  for (long i = 0; i <= limit / 2 + 10; ++i) Touch(dir / ("f" + std::to_string(i)));  // 2 events each
  EXPECT_TRUE(w.MayExist("never-created"));
  EXPECT_FALSE(w.active());
  EXPECT_TRUE(w.MayExist("never-created-either"));
}

}  // namespace
}  // namespace pipeline
