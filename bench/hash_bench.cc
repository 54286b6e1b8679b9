// Hashes one file (or directory) with pipeline's HashPath and prints its digest and throughput.
// Usage: hash_bench PATH [--portable]
// Output: "<sha256>  <path>" (sha256sum's format) on stdout; "<bytes> bytes in <s> s = <MB/s>"
// on stderr. bench/hash.sh compares it with coreutils sha256sum.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/sha256.h"
#include "lineage/hash.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && std::strcmp(argv[2], "--portable") != 0)) {
    std::fprintf(stderr, "usage: %s PATH [--portable]\n", argv[0]);
    return 2;
  }
  if (argc == 3) pipeline::Sha256::SetPortableForTest(true);
  auto start = std::chrono::steady_clock::now();
  pipeline::ContentDigest d;
  pipeline::Status s = pipeline::HashPath(argv[1], &d);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!s.ok()) {
    std::fprintf(stderr, "hash_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("%s  %s\n", d.sha256.c_str(), argv[1]);
  std::fprintf(stderr, "%lld bytes in %.3f s = %.0f MB/s (%s)\n", static_cast<long long>(d.size), secs,
               secs > 0 ? static_cast<double>(d.size) / secs / 1e6 : 0.0,
               pipeline::Sha256::UsingShaNi() ? "SHA-NI" : "portable");
  return 0;
}
