#include "core/sha256.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#define PIPELINE_SHA_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace pipeline {
namespace {

alignas(16) constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void PortableBlocks(uint32_t* state, const uint8_t* p, size_t n) {
  for (; n > 0; --n, p += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = (uint32_t{p[4 * i]} << 24) | (uint32_t{p[4 * i + 1]} << 16) |
             (uint32_t{p[4 * i + 2]} << 8) | uint32_t{p[4 * i + 3]};
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t s1 = Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25);
      uint32_t ch = (e & f) ^ (~e & g);
      uint32_t t1 = h + s1 + ch + kK[i] + w[i];
      uint32_t s0 = Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22);
      uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
      uint32_t t2 = s0 + maj;
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    state[0] += a; state[1] += b; state[2] += c; state[3] += d;
    state[4] += e; state[5] += f; state[6] += g; state[7] += h;
  }
}

#ifdef PIPELINE_SHA_X86

// Four rounds: W[4g..4g+3] + K[4g..4g+3] through two SHA256RNDS2 (each does two rounds, on
// the low 64 bits of the message operand).
#define PL_SHA_ROUNDS4(msg, g)                                                                 \
  do {                                                                                        \
    __m128i wk_ = _mm_add_epi32((msg), _mm_load_si128(reinterpret_cast<const __m128i*>(&kK[4 * (g)]))); \
    cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk_);                                            \
    wk_ = _mm_shuffle_epi32(wk_, 0x0E);                                                       \
    abef = _mm_sha256rnds2_epu32(abef, cdgh, wk_);                                            \
  } while (0)

// Message schedule: with a = W[i-16..i-13], b = W[i-12..i-9], c = W[i-8..i-5],
// d = W[i-4..i-1], leaves W[i..i+3] in a (sigma0 via MSG1, + W[i-7..i-4], sigma1 via MSG2).
#define PL_SHA_SCHEDULE(a, b, c, d) \
  a = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(a, b), _mm_alignr_epi8(d, c, 4)), d)

__attribute__((target("sha,sse4.1,ssse3"))) void ShaNiBlocks(uint32_t* state, const uint8_t* p,
                                                             size_t n) {
  const __m128i kByteSwap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  // The instructions want the state as ABEF and CDGH (high to low lanes: A B E F).
  __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[0]));   // DCBA
  __m128i cdgh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[4]));  // HGFE
  tmp = _mm_shuffle_epi32(tmp, 0xB1);                                          // CDAB
  cdgh = _mm_shuffle_epi32(cdgh, 0x1B);                                        // EFGH
  __m128i abef = _mm_alignr_epi8(tmp, cdgh, 8);                                // ABEF
  cdgh = _mm_blend_epi16(cdgh, tmp, 0xF0);                                     // CDGH

  for (; n > 0; --n, p += 64) {
    const __m128i abef_save = abef;
    const __m128i cdgh_save = cdgh;
    __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 0)), kByteSwap);
    __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)), kByteSwap);
    __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32)), kByteSwap);
    __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 48)), kByteSwap);
    PL_SHA_ROUNDS4(m0, 0);
    PL_SHA_ROUNDS4(m1, 1);
    PL_SHA_ROUNDS4(m2, 2);
    PL_SHA_ROUNDS4(m3, 3);
    for (int g = 4; g < 16; g += 4) {
      PL_SHA_SCHEDULE(m0, m1, m2, m3);
      PL_SHA_ROUNDS4(m0, g);
      PL_SHA_SCHEDULE(m1, m2, m3, m0);
      PL_SHA_ROUNDS4(m1, g + 1);
      PL_SHA_SCHEDULE(m2, m3, m0, m1);
      PL_SHA_ROUNDS4(m2, g + 2);
      PL_SHA_SCHEDULE(m3, m0, m1, m2);
      PL_SHA_ROUNDS4(m3, g + 3);
    }
    abef = _mm_add_epi32(abef, abef_save);
    cdgh = _mm_add_epi32(cdgh, cdgh_save);
  }

  tmp = _mm_shuffle_epi32(abef, 0x1B);        // FEBA
  cdgh = _mm_shuffle_epi32(cdgh, 0xB1);       // DCHG
  abef = _mm_blend_epi16(tmp, cdgh, 0xF0);    // DCBA
  cdgh = _mm_alignr_epi8(cdgh, tmp, 8);       // HGFE
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), abef);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), cdgh);
}

#undef PL_SHA_ROUNDS4
#undef PL_SHA_SCHEDULE

bool DetectShaNi() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("ssse3") || !__builtin_cpu_supports("sse4.1")) return false;
#if defined(__clang__)
  // clang 14 does not know the "sha" feature string: read CPUID leaf 7, EBX bit 29 directly.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return (ebx & (1u << 29)) != 0;
#else
  return __builtin_cpu_supports("sha");
#endif
}

#endif  // PIPELINE_SHA_X86

bool CpuShaNi() {
#ifdef PIPELINE_SHA_X86
  static const bool has = DetectShaNi();
  return has;
#else
  return false;
#endif
}

std::atomic<bool> g_force_portable{false};

}  // namespace

bool Sha256::CpuHasShaNi() { return CpuShaNi(); }

bool Sha256::UsingShaNi() { return CpuShaNi() && !g_force_portable.load(std::memory_order_relaxed); }

void Sha256::SetPortableForTest(bool force_portable) {
  g_force_portable.store(force_portable, std::memory_order_relaxed);
}

Sha256::Sha256()
    : h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

void Sha256::Blocks(const uint8_t* p, size_t n) {
#ifdef PIPELINE_SHA_X86
  if (UsingShaNi()) {
    ShaNiBlocks(h_, p, n);
    return;
  }
#endif
  PortableBlocks(h_, p, n);
}

void Sha256::Update(const void* data, size_t len) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  total_ += len;
  if (buf_len_) {
    size_t n = std::min(len, 64 - buf_len_);
    std::memcpy(buf_ + buf_len_, p, n);
    buf_len_ += n;
    p += n;
    len -= n;
    if (buf_len_ == 64) {
      Blocks(buf_, 1);
      buf_len_ = 0;
    }
  }
  if (len >= 64) {
    Blocks(p, len / 64);
    p += len / 64 * 64;
    len %= 64;
  }
  if (len) {
    std::memcpy(buf_, p, len);
    buf_len_ = len;
  }
}

std::string Sha256::HexDigest() {
  uint64_t bits = total_ * 8;
  // Padding: 0x80, zeros up to 56 mod 64, then the bit length big-endian.
  uint8_t pad[72] = {0x80};
  size_t pad_len = (buf_len_ < 56 ? 56 : 120) - buf_len_;
  for (int i = 0; i < 8; ++i) pad[pad_len + static_cast<size_t>(i)] = static_cast<uint8_t>(bits >> (56 - 8 * i));
  Update(pad, pad_len + 8);
  static const char kHex[] = "0123456789abcdef";
  std::string out(64, '0');
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 4; ++j) {
      uint8_t byte = static_cast<uint8_t>(h_[i] >> (24 - 8 * j));
      out[static_cast<size_t>(i * 8 + j * 2)] = kHex[byte >> 4];
      out[static_cast<size_t>(i * 8 + j * 2 + 1)] = kHex[byte & 15];
    }
  return out;
}

std::string Sha256::Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.HexDigest();
}

}  // namespace pipeline
