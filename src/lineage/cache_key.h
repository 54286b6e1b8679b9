// Task cache keys (design/LINEAGE.md section 3, docs/caching.md).
//
// A task's cache key is the SHA-256 of a canonical JSON *manifest* of everything that may change
// its outputs: argv, workdir, declared code, declared env, consumed params, input content digests
// and declared output paths. It deliberately holds no ids, times, absolute paths, hostnames,
// undeclared env, secrets, scheduling fields, output digests, DAG/run names or orchestrator
// version, so the same work hits the cache across runs, DAGs and machines.
//
// Canonical JSON: UTF-8, object keys sorted by code point, no whitespace, lists sorted as noted,
// integers in decimal, floats shortest round-trip with a ".0" kept on integral floats (so 1 and
// 1.0 stay different types), digests written "sha256:<hex>". Example (one line in reality):
//   {"code":[{"path":"train.py","sha256":"sha256:…"}],"command":["python","train.py"],
//    "env":{"LEVEL":"3"},"hash_alg":"sha256","inputs":[{"role":"raw","sha256":"sha256:…",
//    "size":12}],"key_schema":1,"outputs":[{"path":"model.pkl","role":"model"}],
//    "params":{"lr":0.05},"workdir":"."}
// Changing anything in this encoding changes every key: bump kCacheKeySchema (the "v1").
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace pipeline {

/// The recipe version: the K in "vK:sha256:…" and "key_schema" in the manifest.
inline constexpr int kCacheKeySchema = 1;

struct CacheManifest {
  /// argv after templating ({"/bin/sh","-c","..."} for shell commands); the caller makes paths
  /// workspace-relative. Kept in order.
  std::vector<std::string> command;
  std::string workdir;  ///< workspace-relative
  std::vector<std::pair<std::string, std::string>> code;    ///< (relpath, sha256); sorted by path
  std::vector<std::pair<std::string, std::string>> env;     ///< declared env (name, value); sorted
  /// (name, JSON value: 5, 0.5, "abc", true, [1,2]); sorted by name. Values are re-canonicalized;
  /// text that is not valid JSON (or is NaN/Inf) is keyed as a JSON string of that text.
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::tuple<std::string, std::string, int64_t>> inputs;  ///< (role, sha256, size); sorted by role
  std::vector<std::pair<std::string, std::string>> outputs; ///< (role, relpath); sorted by role
};

/// Canonical JSON of |m| (format above). Input order never matters: every list except |command|
/// is sorted (ties broken by the remaining fields). Digests may be given as "<hex>" or
/// "sha256:<hex>".
std::string ManifestJson(const CacheManifest& m);

/// "v1:sha256:<hex of SHA-256 of ManifestJson(m)>".
std::string CacheKey(const CacheManifest& m);

/// Human reasons why |now_json| differs from |before_json| (both ManifestJson texts), most
/// important first: "code changed: examples/ml/train.py", "code added: x.py", "code removed: y.py",
/// "param lr: 0.1 → 0.05", "param seed added", "param seed removed",
/// "input raw changed (sha256 3fa9c2… → 81bb04…)", "input raw added", "command changed",
/// "env LEVEL: a → b", "outputs changed", "workdir changed". Empty if they are the same manifest.
/// Never fails: unparsable input gives {"previous manifest unreadable"} (or "current …" for
/// |now_json|); a different key_schema gives {"cache key recipe changed (key_schema 1 → 2)"}.
std::vector<std::string> ExplainManifestChange(const std::string& before_json, const std::string& now_json);

}  // namespace pipeline
