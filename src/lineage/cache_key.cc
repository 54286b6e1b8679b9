#include "lineage/cache_key.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/sha256.h"
#include "core/strings.h"

namespace pipeline {
namespace {

using nlohmann::json;

constexpr std::string_view kDigestPrefix = "sha256:";

std::string Digest(const std::string& sha) {
  return sha.compare(0, kDigestPrefix.size(), kDigestPrefix) == 0 ? sha : std::string(kDigestPrefix) + sha;
}

// Writes |v| as canonical JSON; false if it holds something with no canonical form (NaN, Inf).
bool WriteCanonical(const json& v, std::string* out) {
  switch (v.type()) {
    case json::value_t::null: *out += "null"; return true;
    case json::value_t::boolean: *out += v.get<bool>() ? "true" : "false"; return true;
    case json::value_t::number_integer: *out += std::to_string(v.get<int64_t>()); return true;
    case json::value_t::number_unsigned: *out += std::to_string(v.get<uint64_t>()); return true;
    case json::value_t::number_float: {
      double d = v.get<double>();
      if (!std::isfinite(d)) return false;
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip
      if (ec != std::errc()) return false;
      std::string_view text(buf, static_cast<size_t>(end - buf));
      *out += text;
      // Keep the type: 1.0 must not key like the integer 1 (Python treats them differently).
      if (text.find_first_of(".e") == std::string_view::npos) *out += ".0";
      return true;
    }
    case json::value_t::string: *out += JsonQuote(v.get_ref<const std::string&>()); return true;
    case json::value_t::array: {
      *out += '[';
      bool first = true;
      for (const json& e : v) {
        if (!first) *out += ',';
        first = false;
        if (!WriteCanonical(e, out)) return false;
      }
      *out += ']';
      return true;
    }
    case json::value_t::object: {
      *out += '{';
      bool first = true;
      for (const auto& [k, e] : v.items()) {  // std::map: keys in byte (= code point) order
        if (!first) *out += ',';
        first = false;
        *out += JsonQuote(k);
        *out += ':';
        if (!WriteCanonical(e, out)) return false;
      }
      *out += '}';
      return true;
    }
    default: return false;  // binary, discarded
  }
}

std::string CanonicalParam(const std::string& text) {
  json v = json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::string out;
  if (v.is_discarded() || !WriteCanonical(v, &out)) return JsonQuote(text);
  return out;
}

template <class T>
std::vector<T> Sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// ---- ExplainManifestChange helpers: tolerant readers over parsed manifests.

const json& Field(const json& m, const char* key) {
  static const json kNull;
  auto it = m.find(key);
  return it == m.end() ? kNull : *it;
}

std::string Str(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// [{"<key>": k, "sha256": d, ...}] -> k -> d
std::map<std::string, std::string> DigestMap(const json& list, const char* key) {
  std::map<std::string, std::string> out;
  if (!list.is_array()) return out;
  for (const json& e : list) {
    if (!e.is_object()) continue;
    out[Str(Field(e, key))] = Str(Field(e, "sha256"));
  }
  return out;
}

std::map<std::string, json> ObjectMap(const json& obj) {
  std::map<std::string, json> out;
  if (!obj.is_object()) return out;
  for (const auto& [k, v] : obj.items()) out[k] = v;
  return out;
}

std::string ShortDigest(const std::string& d) {
  std::string hex = d.compare(0, kDigestPrefix.size(), kDigestPrefix) == 0 ? d.substr(kDigestPrefix.size()) : d;
  return hex.substr(0, 6) + "…";
}

// Calls changed(k, a, b) / added(k, b) / removed(k, a) in key order.
template <class V, class Changed, class Added, class Removed>
void Diff(const std::map<std::string, V>& before, const std::map<std::string, V>& now, Changed changed,
          Added added, Removed removed) {
  std::set<std::string> keys;
  for (const auto& kv : before) keys.insert(kv.first);
  for (const auto& kv : now) keys.insert(kv.first);
  for (const std::string& k : keys) {
    auto b = before.find(k);
    auto n = now.find(k);
    if (b == before.end()) added(k, n->second);
    else if (n == now.end()) removed(k, b->second);
    else if (b->second != n->second) changed(k, b->second, n->second);
  }
}

}  // namespace

std::string ManifestJson(const CacheManifest& m) {
  std::string out = "{\"code\":[";
  bool first = true;
  for (const auto& [path, sha] : Sorted(m.code)) {
    if (!first) out += ',';
    first = false;
    out += "{\"path\":" + JsonQuote(path) + ",\"sha256\":" + JsonQuote(Digest(sha)) + "}";
  }
  out += "],\"command\":[";
  first = true;
  for (const std::string& arg : m.command) {
    if (!first) out += ',';
    first = false;
    out += JsonQuote(arg);
  }
  out += "],\"env\":{";
  first = true;
  for (const auto& [name, value] : Sorted(m.env)) {
    if (!first) out += ',';
    first = false;
    out += JsonQuote(name) + ":" + JsonQuote(value);
  }
  out += "},\"hash_alg\":\"sha256\",\"inputs\":[";
  first = true;
  for (const auto& [role, sha, size] : Sorted(m.inputs)) {
    if (!first) out += ',';
    first = false;
    out += "{\"role\":" + JsonQuote(role) + ",\"sha256\":" + JsonQuote(Digest(sha)) +
           ",\"size\":" + std::to_string(size) + "}";
  }
  out += "],\"key_schema\":" + std::to_string(kCacheKeySchema) + ",\"outputs\":[";
  first = true;
  for (const auto& [role, path] : Sorted(m.outputs)) {
    if (!first) out += ',';
    first = false;
    out += "{\"path\":" + JsonQuote(path) + ",\"role\":" + JsonQuote(role) + "}";
  }
  out += "],\"params\":{";
  // Sort on the canonical values, so "5" and "5.0e0"-style spellings of one value order alike.
  std::vector<std::pair<std::string, std::string>> params;
  params.reserve(m.params.size());
  for (const auto& [name, value] : m.params) params.emplace_back(name, CanonicalParam(value));
  first = true;
  for (const auto& [name, value] : Sorted(std::move(params))) {
    if (!first) out += ',';
    first = false;
    out += JsonQuote(name) + ":" + value;
  }
  out += "},\"workdir\":" + JsonQuote(m.workdir) + "}";
  return out;
}

std::string CacheKey(const CacheManifest& m) {
  std::string key = "v";  // appended, not "lit" + string&&: GCC 12 -O3 -Wrestrict (PR 105651)
  key += std::to_string(kCacheKeySchema);
  key += ":sha256:";
  key += Sha256::Hex(ManifestJson(m));
  return key;
}

std::vector<std::string> ExplainManifestChange(const std::string& before_json, const std::string& now_json) {
  json before = json::parse(before_json, nullptr, /*allow_exceptions=*/false);
  if (before.is_discarded() || !before.is_object()) return {"previous manifest unreadable"};
  json now = json::parse(now_json, nullptr, /*allow_exceptions=*/false);
  if (now.is_discarded() || !now.is_object()) return {"current manifest unreadable"};
  if (before == now) return {};

  if (Field(before, "key_schema") != Field(now, "key_schema") || Field(before, "hash_alg") != Field(now, "hash_alg")) {
    return {"cache key recipe changed (key_schema " + Field(before, "key_schema").dump() + " → " +
            Field(now, "key_schema").dump() + ")"};
  }

  std::vector<std::string> reasons;
  Diff(
      DigestMap(Field(before, "code"), "path"), DigestMap(Field(now, "code"), "path"),
      [&](const std::string& k, const std::string&, const std::string&) { reasons.push_back("code changed: " + k); },
      [&](const std::string& k, const std::string&) { reasons.push_back("code added: " + k); },
      [&](const std::string& k, const std::string&) { reasons.push_back("code removed: " + k); });
  Diff(
      ObjectMap(Field(before, "params")), ObjectMap(Field(now, "params")),
      [&](const std::string& k, const json& a, const json& b) {
        reasons.push_back("param " + k + ": " + a.dump() + " → " + b.dump());
      },
      [&](const std::string& k, const json&) { reasons.push_back("param " + k + " added"); },
      [&](const std::string& k, const json&) { reasons.push_back("param " + k + " removed"); });
  Diff(
      DigestMap(Field(before, "inputs"), "role"), DigestMap(Field(now, "inputs"), "role"),
      [&](const std::string& k, const std::string& a, const std::string& b) {
        reasons.push_back("input " + k + " changed (sha256 " + ShortDigest(a) + " → " + ShortDigest(b) + ")");
      },
      [&](const std::string& k, const std::string&) { reasons.push_back("input " + k + " added"); },
      [&](const std::string& k, const std::string&) { reasons.push_back("input " + k + " removed"); });
  if (Field(before, "inputs") != Field(now, "inputs") &&
      DigestMap(Field(before, "inputs"), "role") == DigestMap(Field(now, "inputs"), "role")) {
    reasons.push_back("inputs changed");  // same digests, different sizes or layout
  }
  if (Field(before, "command") != Field(now, "command")) reasons.push_back("command changed");
  Diff(
      ObjectMap(Field(before, "env")), ObjectMap(Field(now, "env")),
      [&](const std::string& k, const json& a, const json& b) {
        reasons.push_back("env " + k + ": " + Str(a) + " → " + Str(b));
      },
      [&](const std::string& k, const json&) { reasons.push_back("env " + k + " added"); },
      [&](const std::string& k, const json&) { reasons.push_back("env " + k + " removed"); });
  if (Field(before, "outputs") != Field(now, "outputs")) reasons.push_back("outputs changed");
  if (Field(before, "workdir") != Field(now, "workdir")) reasons.push_back("workdir changed");
  if (reasons.empty()) reasons.push_back("manifest changed");
  return reasons;
}

}  // namespace pipeline
