// SHA-256 (FIPS 180-4), streaming. Used for DAG definition hashes now and artifact
// content hashes later; output is lowercase hex.
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

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace pipeline
