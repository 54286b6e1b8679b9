#include "lineage/cache_key.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>

#include "core/sha256.h"

namespace pipeline {
namespace {

const std::string kShaA = Sha256::Hex("a");
const std::string kShaB = Sha256::Hex("b");
const std::string kShaC = Sha256::Hex("c");

CacheManifest Example() {
  CacheManifest m;
  m.command = {"python", "examples/ml/train.py", "--lr", "0.1"};
  m.workdir = ".";
  m.code = {{"examples/ml/train.py", kShaA}, {"examples/ml/lib.py", kShaB}};
  m.env = {{"LEVEL", "a"}, {"CUDA_VISIBLE_DEVICES", "0"}};
  m.params = {{"lr", "0.1"}, {"epochs", "5"}, {"name", "\"abc\""}, {"shuffle", "true"}};
  m.inputs = {{"raw", kShaC, 1234}, {"labels", kShaA, 1}};
  m.outputs = {{"model", "models/model.pkl"}, {"metrics", "metrics.json"}};
  return m;
}

TEST(CacheKey, CanonicalJsonShape) {
  CacheManifest m;
  m.command = {"/bin/sh", "-c", "echo \"hi\"\n"};
  m.workdir = "sub";
  m.code = {{"b.py", kShaB}, {"a.py", kShaA}};
  m.env = {{"Z", "1"}, {"A", "é"}};
  m.params = {{"lr", "0.50"}, {"n", "5"}, {"f", "1.0"}, {"s", "\"x\""}, {"b", "false"}, {"l", "[1, 2.5e0]"},
              {"o", "{\"z\": 1, \"a\": null}"}};
  m.inputs = {{"raw", kShaC, 12}};
  m.outputs = {{"out", "out/x.csv"}};
  EXPECT_EQ(ManifestJson(m),
            "{\"code\":[{\"path\":\"a.py\",\"sha256\":\"sha256:" + kShaA + "\"},{\"path\":\"b.py\",\"sha256\":\"sha256:" +
                kShaB + "\"}],\"command\":[\"/bin/sh\",\"-c\",\"echo \\\"hi\\\"\\n\"],\"env\":{\"A\":\"é\",\"Z\":\"1\"},"
                "\"hash_alg\":\"sha256\",\"inputs\":[{\"role\":\"raw\",\"sha256\":\"sha256:" + kShaC +
                "\",\"size\":12}],\"key_schema\":1,\"outputs\":[{\"path\":\"out/x.csv\",\"role\":\"out\"}],"
                "\"params\":{\"b\":false,\"f\":1.0,\"l\":[1,2.5],\"lr\":0.5,\"n\":5,\"o\":{\"a\":null,\"z\":1},\"s\":\"x\"},"
                "\"workdir\":\"sub\"}");
}

TEST(CacheKey, FormatAndStability) {
  std::string key = CacheKey(Example());
  ASSERT_EQ(key.size(), 3 + 7 + 64);
  EXPECT_EQ(key.substr(0, 10), "v1:sha256:");
  EXPECT_EQ(key, "v1:sha256:" + Sha256::Hex(ManifestJson(Example())));
  EXPECT_EQ(CacheKey(Example()), key);
  // "sha256:<hex>" and "<hex>" are the same digest.
  CacheManifest prefixed = Example();
  for (auto& [path, sha] : prefixed.code) sha = "sha256:" + sha;
  EXPECT_EQ(CacheKey(prefixed), key);
}

// A fixed manifest has a fixed key. If this fails, the key recipe changed: every cached result
// in every workspace is invalidated. Do that only on purpose, and bump kCacheKeySchema.
TEST(CacheKey, GoldenValue) {
  EXPECT_EQ(ManifestJson(Example()),
            R"({"code":[{"path":"examples/ml/lib.py","sha256":"sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"},)"
            R"({"path":"examples/ml/train.py","sha256":"sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"}],)"
            R"("command":["python","examples/ml/train.py","--lr","0.1"],"env":{"CUDA_VISIBLE_DEVICES":"0","LEVEL":"a"},)"
            R"("hash_alg":"sha256","inputs":[{"role":"labels",)"
            R"("sha256":"sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb","size":1},)"
            R"({"role":"raw","sha256":"sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6","size":1234}],)"
            R"("key_schema":1,"outputs":[{"path":"metrics.json","role":"metrics"},{"path":"models/model.pkl","role":"model"}],)"
            R"("params":{"epochs":5,"lr":0.1,"name":"abc","shuffle":true},"workdir":"."})");
  EXPECT_EQ(CacheKey(Example()), "v1:sha256:7cb752c7c0f83933b3d80b799879217b57833ef1a7782d4a1d5142a532a6a0d4");
}

TEST(CacheKey, IndependentOfInputOrder) {
  CacheManifest a = Example();
  CacheManifest b = Example();
  std::reverse(b.code.begin(), b.code.end());
  std::reverse(b.env.begin(), b.env.end());
  std::reverse(b.params.begin(), b.params.end());
  std::reverse(b.inputs.begin(), b.inputs.end());
  std::reverse(b.outputs.begin(), b.outputs.end());
  EXPECT_EQ(ManifestJson(a), ManifestJson(b));
  EXPECT_EQ(CacheKey(a), CacheKey(b));
  // Equivalent spellings of a param value key alike.
  b.params = {{"lr", " 0.10 "}, {"epochs", "5"}, {"name", "\"abc\""}, {"shuffle", "true"}};
  EXPECT_EQ(CacheKey(a), CacheKey(b));
}

TEST(CacheKey, SensitiveToEachField) {
  struct Mutation {
    const char* name;
    std::function<void(CacheManifest*)> apply;
  };
  const std::vector<Mutation> mutations = {
      {"command arg", [](CacheManifest* m) { m->command[3] = "0.2"; }},
      {"command order", [](CacheManifest* m) { std::swap(m->command[2], m->command[3]); }},
      {"command extra arg", [](CacheManifest* m) { m->command.push_back(""); }},
      {"workdir", [](CacheManifest* m) { m->workdir = "examples"; }},
      {"code digest", [](CacheManifest* m) { m->code[0].second = kShaC; }},
      {"code path", [](CacheManifest* m) { m->code[0].first = "examples/ml/train2.py"; }},
      {"code added", [](CacheManifest* m) { m->code.push_back({"x.py", kShaA}); }},
      {"code removed", [](CacheManifest* m) { m->code.pop_back(); }},
      {"env value", [](CacheManifest* m) { m->env[0].second = "b"; }},
      {"env name", [](CacheManifest* m) { m->env[0].first = "LEVEL2"; }},
      {"env added", [](CacheManifest* m) { m->env.push_back({"SEED", ""}); }},
      {"param value", [](CacheManifest* m) { m->params[0].second = "0.05"; }},
      {"param int vs float", [](CacheManifest* m) { m->params[1].second = "5.0"; }},
      {"param number vs string", [](CacheManifest* m) { m->params[1].second = "\"5\""; }},
      {"param name", [](CacheManifest* m) { m->params[0].first = "lr2"; }},
      {"param added", [](CacheManifest* m) { m->params.push_back({"seed", "42"}); }},
      {"param removed", [](CacheManifest* m) { m->params.pop_back(); }},
      {"input digest", [](CacheManifest* m) { std::get<1>(m->inputs[0]) = kShaB; }},
      {"input size", [](CacheManifest* m) { std::get<2>(m->inputs[0]) = 1235; }},
      {"input role", [](CacheManifest* m) { std::get<0>(m->inputs[0]) = "raw2"; }},
      {"input added", [](CacheManifest* m) { m->inputs.push_back({"extra", kShaB, 0}); }},
      {"output path", [](CacheManifest* m) { m->outputs[0].second = "models/model2.pkl"; }},
      {"output role", [](CacheManifest* m) { m->outputs[0].first = "weights"; }},
      {"output added", [](CacheManifest* m) { m->outputs.push_back({"log", "train.log"}); }},
  };
  const std::string base = CacheKey(Example());
  std::set<std::string> seen = {base};
  for (const Mutation& mut : mutations) {
    CacheManifest m = Example();
    mut.apply(&m);
    std::string key = CacheKey(m);
    EXPECT_NE(key, base) << mut.name;
    EXPECT_TRUE(seen.insert(key).second) << mut.name << " collides with another mutation";
  }
}

TEST(CacheKey, FramingPreventsConcatenationCollisions) {
  CacheManifest a, b;
  a.params = {{"ab", "\"c\""}};
  b.params = {{"a", "\"bc\""}};
  EXPECT_NE(CacheKey(a), CacheKey(b));
  a = {};
  b = {};
  a.command = {"ab", "c"};
  b.command = {"a", "bc"};
  EXPECT_NE(CacheKey(a), CacheKey(b));
  a = {};
  b = {};
  a.env = {{"A", "B=C"}};
  b.env = {{"A=B", "C"}};
  EXPECT_NE(CacheKey(a), CacheKey(b));
  a = {};
  b = {};
  a.command = {"a\",\"b"};  // one argument holding a quote-comma-quote
  b.command = {"a", "b"};
  EXPECT_NE(CacheKey(a), CacheKey(b));
}

TEST(CacheKey, InvalidParamJsonIsKeyedAsText) {
  CacheManifest a, b;
  a.params = {{"p", "not json"}};
  b.params = {{"p", "not json either"}};
  EXPECT_NE(CacheKey(a), CacheKey(b));
  EXPECT_NE(ManifestJson(a).find("\"p\":\"not json\""), std::string::npos) << ManifestJson(a);
}

TEST(ExplainManifestChange, IdenticalIsEmpty) {
  std::string j = ManifestJson(Example());
  EXPECT_TRUE(ExplainManifestChange(j, j).empty());
}

TEST(ExplainManifestChange, ReasonsMostImportantFirst) {
  CacheManifest before = Example();
  CacheManifest now = Example();
  now.workdir = "other";
  now.outputs[0].second = "m.pkl";
  now.env[0].second = "b";  // LEVEL a -> b
  now.command[3] = "0.05";
  std::get<1>(now.inputs[0]) = kShaB;  // raw: c -> b
  now.params[0].second = "0.05";
  now.params.push_back({"seed", "42"});
  now.code[0].second = kShaC;
  now.code.push_back({"x.py", kShaA});
  std::vector<std::string> want = {
      "code changed: examples/ml/train.py",
      "code added: x.py",
      "param lr: 0.1 → 0.05",
      "param seed added",
      "input raw changed (sha256 " + kShaC.substr(0, 6) + "… → " + kShaB.substr(0, 6) + "…)",
      "command changed",
      "env LEVEL: a → b",
      "outputs changed",
      "workdir changed",
  };
  EXPECT_EQ(ExplainManifestChange(ManifestJson(before), ManifestJson(now)), want);
}

TEST(ExplainManifestChange, RemovalsAndSingleChanges) {
  CacheManifest before = Example();
  CacheManifest now = Example();
  now.code.pop_back();  // lib.py
  now.params.erase(now.params.begin());
  now.inputs.pop_back();
  now.env.pop_back();
  EXPECT_EQ(ExplainManifestChange(ManifestJson(before), ManifestJson(now)),
            (std::vector<std::string>{"code removed: examples/ml/lib.py", "param lr removed", "input labels removed",
                                      "env CUDA_VISIBLE_DEVICES removed"}));
  now = Example();
  now.params[2].second = "\"abd\"";
  EXPECT_EQ(ExplainManifestChange(ManifestJson(before), ManifestJson(now)),
            (std::vector<std::string>{"param name: \"abc\" → \"abd\""}));
  now = Example();
  std::get<2>(now.inputs[0]) = 99;
  EXPECT_EQ(ExplainManifestChange(ManifestJson(before), ManifestJson(now)),
            (std::vector<std::string>{"inputs changed"}));
}

TEST(ExplainManifestChange, MalformedInputIsTolerated) {
  std::string good = ManifestJson(Example());
  EXPECT_EQ(ExplainManifestChange("", good), (std::vector<std::string>{"previous manifest unreadable"}));
  EXPECT_EQ(ExplainManifestChange("{\"code\":[", good), (std::vector<std::string>{"previous manifest unreadable"}));
  EXPECT_EQ(ExplainManifestChange("[1,2]", good), (std::vector<std::string>{"previous manifest unreadable"}));
  EXPECT_EQ(ExplainManifestChange(good, "nope"), (std::vector<std::string>{"current manifest unreadable"}));
  // Well-formed JSON with the wrong shapes must not throw.
  std::vector<std::string> r = ExplainManifestChange(
      "{\"key_schema\":1,\"hash_alg\":\"sha256\",\"code\":5,\"params\":[],\"inputs\":[7,{\"role\":3}],\"env\":\"x\"}",
      good);
  EXPECT_FALSE(r.empty());
  EXPECT_EQ(ExplainManifestChange("{\"key_schema\":0}", good),
            (std::vector<std::string>{"cache key recipe changed (key_schema 0 → 1)"}));
}

}  // namespace
}  // namespace pipeline
