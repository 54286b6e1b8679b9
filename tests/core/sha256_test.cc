#include "core/sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace pipeline {
namespace {

// Every test runs twice: on the SHA-NI path (skipped on CPUs without it) and on the forced
// portable path.
class Sha256Test : public ::testing::TestWithParam<bool /*portable*/> {
 protected:
  void SetUp() override {
    if (!GetParam() && !Sha256::CpuHasShaNi()) GTEST_SKIP() << "CPU has no SHA-NI";
    Sha256::SetPortableForTest(GetParam());
    ASSERT_EQ(Sha256::UsingShaNi(), !GetParam());
  }
  void TearDown() override { Sha256::SetPortableForTest(false); }
};

// The same pseudo-random bytes every time.
std::string Pattern(size_t n) {
  std::string data(n, '\0');
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    data[i] = static_cast<char>(x);
  }
  return data;
}

TEST_P(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256::Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256::Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // FIPS 180-4 / NIST CAVP: the 896-bit message (two blocks after padding).
  EXPECT_EQ(Sha256::Hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
                        "jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(Sha256::Hex("The quick brown fox jumps over the lazy dog"),
            "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592");
}

TEST_P(Sha256Test, PaddingBoundaries) {
  // Lengths around the 55/56/64-byte padding edges, checked against values computed by
  // coreutils sha256sum (printf 'a%.0s' $(seq N) | sha256sum).
  EXPECT_EQ(Sha256::Hex(std::string(55, 'a')),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(Sha256::Hex(std::string(56, 'a')),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(Sha256::Hex(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST_P(Sha256Test, StreamingEqualsOneShot) {
  std::string data(1000003, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 % 251);
  Sha256 h;
  size_t pos = 0, step = 1;
  while (pos < data.size()) {
    size_t n = std::min(step, data.size() - pos);
    h.Update(data.data() + pos, n);
    pos += n;
    step = step * 3 % 997 + 1;
  }
  EXPECT_EQ(h.HexDigest(), Sha256::Hex(data));
}

TEST_P(Sha256Test, MillionA) {
  Sha256 h;
  std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.Update(chunk);
  EXPECT_EQ(h.HexDigest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

INSTANTIATE_TEST_SUITE_P(Paths, Sha256Test, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? std::string("Portable") : std::string("ShaNi");
                         });

// The two implementations agree on every length 0..300 and on unaligned pointers.
TEST(Sha256, ShaNiMatchesPortable) {
  if (!Sha256::CpuHasShaNi()) GTEST_SKIP() << "CPU has no SHA-NI";
  std::string data = Pattern(4096 + 7);
  for (size_t offset = 0; offset < 4; ++offset) {
    for (size_t len = 0; len <= 300; ++len) {
      std::string_view piece(data.data() + offset, len);
      Sha256::SetPortableForTest(true);
      std::string portable = Sha256::Hex(piece);
      Sha256::SetPortableForTest(false);
      ASSERT_EQ(Sha256::Hex(piece), portable) << "len " << len << " offset " << offset;
    }
  }
  Sha256::SetPortableForTest(true);
  std::string portable = Sha256::Hex(data);
  Sha256::SetPortableForTest(false);
  EXPECT_EQ(Sha256::Hex(data), portable);
}

}  // namespace
}  // namespace pipeline
