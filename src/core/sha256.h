// SHA-256 (FIPS 180-4), streaming. Used for DAG definition hashes, artifact content digests and
// cache keys; output is lowercase hex.
//
// On x86-64 CPUs with the SHA extensions (SHA-NI) the compression function runs on them
// (about 5x the portable code); the choice is made once, at run time, from CPUID. Both paths
// produce identical digests; tests force the portable one with SetPortableForTest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pipeline {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t len);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  /// Finishes and returns 64 lowercase hex digits. The object must not be reused.
  std::string HexDigest();

  static std::string Hex(std::string_view data);

  /// True if this CPU has SHA-NI (and SSSE3/SSE4.1), whatever SetPortableForTest says.
  static bool CpuHasShaNi();
  /// True if new Update calls use SHA-NI: the CPU has it and the portable path is not forced.
  static bool UsingShaNi();
  /// Test-only: force the portable implementation (true) or restore auto-selection (false).
  /// Process-wide; affects Update calls made after it returns.
  static void SetPortableForTest(bool force_portable);

 private:
  void Blocks(const uint8_t* p, size_t n);  // n whole 64-byte blocks
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace pipeline
