// Store API for artifacts, lineage, the build cache, metrics, model aliases, audit and
// retention (docs/lineage.md), on a fixture of two runs of one training DAG:
//
//   r1:  ingest(raw.csv, ingest.py) -> clean -> features(features.py) -> feats
//        -> train(train.py) -> model -> evaluate(+feats) -> report
//   r2:  ingest and features are cache hits on r1's attempts (same inputs); train and
//        evaluate run again and produce model2 and report2.
#include <sqlite3.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/store.h"
#include "store/schema.h"
#include "testing/sqlite_util.h"
#include "testing/temp_dir.h"

namespace pipeline {
namespace {

using ::pipeline::testing::SqlExec;
using ::pipeline::testing::SqlQuery;

using ::pipeline::testing::TempDir;

// A valid digest starting with |hex_prefix|.
std::string Sha(const std::string& hex_prefix) {
  return hex_prefix + std::string(64 - hex_prefix.size(), '0');
}



std::unique_ptr<Store> MustOpen(const std::string& path) {
  std::unique_ptr<Store> store;
  Status s = Store::Open(path, &store);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return store;
}

#define ASSERT_OK(expr)                                  \
  do {                                                   \
    const auto& _r = (expr);                             \
    ASSERT_TRUE(_r.ok()) << StatusOf(_r).ToString();     \
  } while (0)

const Status& StatusOf(const Status& s) { return s; }
template <class T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

template <class T>
T Must(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return T();
  return std::move(*r);
}

class LineageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_ / "pipeline.db";
    store_ = MustOpen(path_);
    ASSERT_TRUE(store_);
    version_ = Must(store_->EnsureDagVersion("train", Sha("d1"), "{\"dag\":\"train\"}"));
  }

  // A running run of |dag| with one instance per task.
  int64_t NewRun(const std::string& run_id, int64_t t, const std::vector<std::string>& tasks,
                 const std::string& dag = "train", int64_t version = 0) {
    RunRecord r;
    r.run_id = run_id;
    r.dag = dag;
    r.dag_version_id = version ? version : version_;
    r.params_json = "{\"lr\":0.1}";
    r.created_ms = r.started_ms = t;
    int64_t run = Must(store_->CreateRun(r));
    std::vector<std::pair<std::string, int>> names;
    for (const std::string& task : tasks) names.emplace_back(task, 1);
    std::vector<int64_t> ids = Must(store_->CreateTaskInstances(run, names, t));
    for (size_t i = 0; i < ids.size() && i < tasks.size(); ++i) ti_[{run, tasks[i]}] = ids[i];
    return run;
  }

  void EndRun(int64_t run, int64_t t) {
    ASSERT_OK(store_->SetRunState(run, "success", t, ""));
  }

  // Attempt 1 of |task|: run and finished in |state|, or a cache hit on |source|.
  int64_t Attempt(int64_t run, const std::string& task, int64_t t,
                  const std::string& state = "succeeded",
                  std::optional<int64_t> source = std::nullopt) {
    AttemptRecord a;
    a.task_instance_id = ti_.at({run, task});
    a.attempt_no = 1;
    a.state = source ? "cached" : "running";
    a.cache_source_attempt_id = source;
    a.command_json = "[\"python\",\"" + task + ".py\"]";
    a.log_path = "logs/" + std::to_string(run) + "/" + task + ".log";
    a.started_ms = t;
    if (source) a.ended_ms = t;
    int64_t id = Must(store_->StartAttempt(a));
    if (!source) {
      EXPECT_TRUE(store_->FinishAttempt(id, state, state == "succeeded" ? 0 : 1, std::nullopt,
                                        t + 5, "")
                      .ok());
    }
    return id;
  }

  int64_t Artifact(const std::string& kind, const std::string& uri, const std::string& sha,
                   int64_t t = 1000) {
    ArtifactRecord a;
    a.kind = kind;
    a.uri = uri;
    a.sha256 = sha;
    a.size_bytes = 10;
    a.created_ms = t;
    return Must(store_->UpsertArtifact(a));
  }

  void Event(int64_t attempt, int64_t artifact, const std::string& dir, const std::string& role) {
    Status s = store_->AddEvent({attempt, artifact, dir, role, 1});
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  // The two-run fixture described at the top of the file.
  void BuildTwoRuns() {
    const std::vector<std::string> tasks = {"ingest", "features", "train", "evaluate"};
    raw_ = Artifact("dataset", "data/raw.csv", Sha("aa11"));
    ingest_py_ = Artifact("code", "ingest.py", Sha("c1"));
    features_py_ = Artifact("code", "features.py", Sha("c2"));
    train_py_ = Artifact("code", "train.py", Sha("c3"));
    clean_ = Artifact("dataset", "data/clean.parquet", Sha("bb22"));
    feats_ = Artifact("dataset", "data/features.parquet", Sha("cc33"));
    model_ = Artifact("model", "models/model.pkl", Sha("dd44"));
    report_ = Artifact("report", "reports/eval.json", Sha("ee55"));

    r1_ = NewRun("r1", 1000, tasks);
    r1_ingest_ = Attempt(r1_, "ingest", 1010);
    Event(r1_ingest_, raw_, "in", "raw");
    Event(r1_ingest_, ingest_py_, "in", "code");
    Event(r1_ingest_, clean_, "out", "clean");
    r1_features_ = Attempt(r1_, "features", 1020);
    Event(r1_features_, clean_, "in", "clean");
    Event(r1_features_, features_py_, "in", "code");
    Event(r1_features_, feats_, "out", "features");
    r1_train_ = Attempt(r1_, "train", 1030);
    Event(r1_train_, feats_, "in", "features");
    Event(r1_train_, train_py_, "in", "code");
    Event(r1_train_, model_, "out", "model");
    r1_eval_ = Attempt(r1_, "evaluate", 1040);
    Event(r1_eval_, model_, "in", "model");
    Event(r1_eval_, feats_, "in", "features");
    Event(r1_eval_, report_, "out", "report");
    EndRun(r1_, 1100);

    model2_ = Artifact("model", "models/model.pkl", Sha("dd45"), 2000);
    report2_ = Artifact("report", "reports/eval.json", Sha("ee56"), 2000);
    r2_ = NewRun("r2", 2000, tasks);
    r2_ingest_ = Attempt(r2_, "ingest", 2010, "", r1_ingest_);
    Event(r2_ingest_, raw_, "in", "raw");
    Event(r2_ingest_, ingest_py_, "in", "code");
    Event(r2_ingest_, clean_, "out", "clean");
    r2_features_ = Attempt(r2_, "features", 2020, "", r1_features_);
    Event(r2_features_, clean_, "in", "clean");
    Event(r2_features_, features_py_, "in", "code");
    Event(r2_features_, feats_, "out", "features");
    r2_train_ = Attempt(r2_, "train", 2030);
    Event(r2_train_, feats_, "in", "features");
    Event(r2_train_, train_py_, "in", "code");
    Event(r2_train_, model2_, "out", "model");
    r2_eval_ = Attempt(r2_, "evaluate", 2040);
    Event(r2_eval_, model2_, "in", "model");
    Event(r2_eval_, feats_, "in", "features");
    Event(r2_eval_, report2_, "out", "report");
    EndRun(r2_, 2100);
  }

  static const LineageArtifact* FindArt(const LineageGraph& g, int64_t id) {
    for (const LineageArtifact& a : g.artifacts) {
      if (a.artifact.id == id) return &a;
    }
    return nullptr;
  }
  static const LineageAttempt* FindAtt(const LineageGraph& g, int64_t id) {
    for (const LineageAttempt& a : g.attempts) {
      if (a.attempt_id == id) return &a;
    }
    return nullptr;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  int64_t version_ = 0;
  std::map<std::pair<int64_t, std::string>, int64_t> ti_;

  int64_t raw_ = 0, ingest_py_ = 0, features_py_ = 0, train_py_ = 0, clean_ = 0, feats_ = 0,
          model_ = 0, report_ = 0, model2_ = 0, report2_ = 0;
  int64_t r1_ = 0, r2_ = 0;
  int64_t r1_ingest_ = 0, r1_features_ = 0, r1_train_ = 0, r1_eval_ = 0;
  int64_t r2_ingest_ = 0, r2_features_ = 0, r2_train_ = 0, r2_eval_ = 0;
};

// --- artifacts and events ---------------------------------------------------------------

TEST_F(LineageStoreTest, UpsertArtifactDedupsByUriAndContent) {
  int64_t a = Artifact("dataset", "data/x.csv", Sha("01"));
  EXPECT_EQ(Artifact("dataset", "data/x.csv", Sha("01")), a);
  int64_t b = Artifact("dataset", "data/x.csv", Sha("02"));  // new bytes, same path
  EXPECT_NE(a, b);
  EXPECT_NE(Artifact("dataset", "data/y.csv", Sha("01")), a);  // same bytes, new path
  ArtifactRecord got = Must(store_->GetArtifact(a));
  EXPECT_EQ(got.uri, "data/x.csv");
  EXPECT_EQ(got.state, "live");
  EXPECT_EQ(got.file_count, 1);

  // A deleted artifact whose bytes come back is live again; a quarantined one is not.
  ASSERT_OK(store_->SetArtifactState(a, "deleted"));
  EXPECT_EQ(Artifact("dataset", "data/x.csv", Sha("01")), a);
  EXPECT_EQ(Must(store_->GetArtifact(a)).state, "live");
  ASSERT_OK(store_->SetArtifactState(a, "quarantined"));
  EXPECT_EQ(Artifact("dataset", "data/x.csv", Sha("01")), a);
  EXPECT_EQ(Must(store_->GetArtifact(a)).state, "quarantined");

  ArtifactRecord bad;
  bad.uri = "x";
  bad.sha256 = "abc";
  EXPECT_EQ(store_->UpsertArtifact(bad).status().code(), Status::Code::kInvalidArgument);
  bad.sha256 = Sha("0A");  // upper case
  EXPECT_EQ(store_->UpsertArtifact(bad).status().code(), Status::Code::kInvalidArgument);
  bad.sha256 = Sha("0a");
  bad.kind = "weights";
  EXPECT_EQ(store_->UpsertArtifact(bad).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->SetArtifactState(a, "gone").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->SetArtifactState(999, "live").code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->GetArtifact(999).status().code(), Status::Code::kNotFound);
}

TEST_F(LineageStoreTest, EventsAreIdempotentAndAppendOnly) {
  BuildTwoRuns();
  Event(r1_train_, model_, "out", "model");  // again: a no-op
  std::vector<AttemptArtifact> arts = Must(store_->AttemptArtifacts(r1_train_));
  ASSERT_EQ(arts.size(), 3u);
  EXPECT_EQ(arts[0].direction, "in");
  EXPECT_EQ(arts[0].role, "code");
  EXPECT_EQ(arts[0].artifact.uri, "train.py");
  EXPECT_EQ(arts[1].role, "features");
  EXPECT_EQ(arts[2].direction, "out");
  EXPECT_EQ(arts[2].artifact.id, model_);

  EXPECT_EQ(store_->AddEvent({r1_train_, model_, "sideways", "m", 1}).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->AddEvent({r1_train_, 999, "in", "m", 1}).code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->AddEvent({999, model_, "in", "m", 1}).code(), Status::Code::kNotFound);
  store_.reset();
  EXPECT_NE(SqlExec(path_, "UPDATE events SET role = 'x'"), SQLITE_OK);
}

TEST_F(LineageStoreTest, FindArtifactsByPathAndDigestPrefix) {
  BuildTwoRuns();
  std::vector<ArtifactRecord> found = Must(store_->FindArtifacts("data/raw.csv"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, raw_);
  EXPECT_EQ(Must(store_->FindArtifacts("./data/raw.csv")).size(), 1u);

  // Two versions at one path: both, newest first.
  found = Must(store_->FindArtifacts("models/model.pkl"));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].id, model2_);
  EXPECT_EQ(found[1].id, model_);

  found = Must(store_->FindArtifacts("aa1100"));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, raw_);
  EXPECT_EQ(Must(store_->FindArtifacts("sha256:AA1100")).size(), 1u);
  EXPECT_EQ(Must(store_->FindArtifacts(Sha("aa11"))).size(), 1u);  // full digest

  // Ambiguous prefix: every match comes back; the caller asks for more digits.
  EXPECT_EQ(Must(store_->FindArtifacts("dd4400")).size(), 1u);
  int64_t twin = Artifact("model", "models/other.pkl", "dd4400" + std::string(58, '1'));
  found = Must(store_->FindArtifacts("dd4400"));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].id, twin);

  EXPECT_EQ(store_->FindArtifacts("dd4").status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Must(store_->FindArtifacts("no/such/file")).empty());
  EXPECT_TRUE(Must(store_->FindArtifacts("ffffff")).empty());
  EXPECT_EQ(store_->FindArtifacts("").status().code(), Status::Code::kInvalidArgument);
}

// --- lineage ------------------------------------------------------------------------------

TEST_F(LineageStoreTest, UpstreamReachesRawDataAndCodeWithProducers) {
  BuildTwoRuns();
  LineageGraph g = Must(store_->Upstream(model2_));
  EXPECT_EQ(g.root_artifact_id, model2_);
  EXPECT_FALSE(g.truncated);
  ASSERT_FALSE(g.artifacts.empty());
  EXPECT_EQ(g.artifacts[0].artifact.id, model2_);
  EXPECT_EQ(g.artifacts[0].depth, 0);

  // Every artifact back to the sources, the code included; nothing downstream.
  for (int64_t id : {model2_, feats_, train_py_, clean_, features_py_, raw_, ingest_py_}) {
    EXPECT_NE(FindArt(g, id), nullptr) << id;
  }
  EXPECT_EQ(g.artifacts.size(), 7u);
  EXPECT_EQ(FindArt(g, feats_)->depth, 1);
  EXPECT_EQ(FindArt(g, clean_)->depth, 2);
  EXPECT_EQ(FindArt(g, raw_)->depth, 3);
  EXPECT_TRUE(FindArt(g, raw_)->is_source);
  EXPECT_TRUE(FindArt(g, train_py_)->is_source);
  EXPECT_EQ(FindArt(g, train_py_)->artifact.kind, "code");
  EXPECT_FALSE(FindArt(g, feats_)->is_source);

  // The executions: r2's train ran; features and ingest were cache hits in r2 and
  // resolve to the r1 attempts that really ran.
  ASSERT_EQ(g.attempts.size(), 3u);
  const LineageAttempt* train = FindAtt(g, r2_train_);
  ASSERT_NE(train, nullptr);
  EXPECT_EQ(train->task, "train");
  EXPECT_EQ(train->run_id, "r2");
  EXPECT_EQ(train->dag, "train");
  EXPECT_EQ(train->depth, 1);
  EXPECT_EQ(train->state, "succeeded");
  EXPECT_EQ(train->command_json, "[\"python\",\"train.py\"]");
  EXPECT_EQ(train->params_json, "{\"lr\":0.1}");
  EXPECT_EQ(train->dag_sha256, Sha("d1"));
  EXPECT_EQ(train->dag_version_id, version_);
  EXPECT_EQ(FindAtt(g, r2_features_), nullptr);
  const LineageAttempt* features = FindAtt(g, r1_features_);
  ASSERT_NE(features, nullptr);
  EXPECT_EQ(features->run_id, "r1");
  EXPECT_EQ(features->depth, 2);
  EXPECT_EQ(features->reused_by, std::vector<int64_t>{r2_features_});
  const LineageAttempt* ingest = FindAtt(g, r1_ingest_);
  ASSERT_NE(ingest, nullptr);
  EXPECT_EQ(ingest->task, "ingest");
  EXPECT_EQ(ingest->depth, 3);

  // Edges join exactly the graph's nodes: train's two inputs and its output.
  int train_edges = 0;
  for (const LineageEdge& e : g.edges) {
    EXPECT_NE(FindAtt(g, e.attempt_id), nullptr);
    EXPECT_NE(FindArt(g, e.artifact_id), nullptr);
    if (e.attempt_id == r2_train_) ++train_edges;
  }
  EXPECT_EQ(train_edges, 3);
  EXPECT_EQ(g.edges.size(), 9u);

  // r1's model: the same sources, all r1 attempts.
  LineageGraph g1 = Must(store_->Upstream(model_));
  EXPECT_NE(FindAtt(g1, r1_train_), nullptr);
  EXPECT_NE(FindAtt(g1, r1_ingest_), nullptr);
  EXPECT_EQ(FindAtt(g1, r2_train_), nullptr);
  EXPECT_EQ(store_->Upstream(999).status().code(), Status::Code::kNotFound);
}

TEST_F(LineageStoreTest, DownstreamOfRawDataReachesEveryModelAndCacheHit) {
  BuildTwoRuns();
  ASSERT_OK(store_->SetAlias("churn", "production", model2_, "user:ann", 0, 3000));
  LineageGraph g = Must(store_->Downstream(raw_));
  EXPECT_FALSE(g.truncated);
  for (int64_t id : {raw_, clean_, feats_, model_, model2_, report_, report2_}) {
    EXPECT_NE(FindArt(g, id), nullptr) << id;
  }
  EXPECT_EQ(FindArt(g, ingest_py_), nullptr);  // a sibling input, not downstream
  EXPECT_EQ(FindArt(g, model2_)->depth, 3);
  EXPECT_EQ(FindArt(g, model2_)->aliases, std::vector<std::string>{"churn@production"});
  // Every consumer, the cache hits included (the blast radius of a bad raw file).
  for (int64_t id : {r1_ingest_, r2_ingest_, r1_features_, r2_features_, r1_train_, r2_train_,
                     r1_eval_, r2_eval_}) {
    EXPECT_NE(FindAtt(g, id), nullptr) << id;
  }
  EXPECT_EQ(FindAtt(g, r2_ingest_)->state, "cached");
  EXPECT_EQ(FindAtt(g, r2_ingest_)->cache_source_attempt_id, r1_ingest_);
  EXPECT_EQ(FindAtt(g, r1_ingest_)->depth, 1);
  EXPECT_EQ(FindAtt(g, r1_eval_)->depth, 3);  // via features (depth 2), not via the model

  LineageGraph leaf = Must(store_->Downstream(report2_));
  EXPECT_EQ(leaf.artifacts.size(), 1u);
  EXPECT_TRUE(leaf.attempts.empty());
}

TEST_F(LineageStoreTest, CyclesTerminate) {
  // A task that re-emits its input unchanged (same uri and bytes = the same row), and a
  // second task that feeds the first.
  int64_t run = NewRun("rc", 1000, {"touch", "loop"});
  int64_t a = Artifact("dataset", "data/a", Sha("a0"));
  int64_t b = Artifact("dataset", "data/b", Sha("b0"));
  int64_t touch = Attempt(run, "touch", 1010);
  Event(touch, a, "in", "a");
  Event(touch, a, "out", "a");
  Event(touch, b, "out", "b");
  int64_t loop = Attempt(run, "loop", 1020);
  Event(loop, b, "in", "b");
  Event(loop, a, "out", "a");

  LineageGraph up = Must(store_->Upstream(a));
  EXPECT_FALSE(up.truncated);
  EXPECT_EQ(up.artifacts.size(), 2u);
  EXPECT_EQ(up.attempts.size(), 2u);
  EXPECT_EQ(FindArt(up, a)->depth, 0);
  EXPECT_EQ(FindArt(up, b)->depth, 1);  // a <- loop <- b; a <- touch <- a is the cycle
  LineageGraph down = Must(store_->Downstream(b));
  EXPECT_FALSE(down.truncated);
  EXPECT_EQ(down.artifacts.size(), 2u);
  EXPECT_EQ(down.attempts.size(), 2u);
}

TEST_F(LineageStoreTest, HopGuardTruncatesLongChains) {
  constexpr int kLen = 70;
  std::vector<std::string> tasks;
  for (int i = 0; i < kLen; ++i) tasks.push_back("t" + std::to_string(i));
  int64_t run = NewRun("long", 1000, tasks);
  auto hex = [](int i) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04x", i);
    return std::string(buf);
  };
  std::vector<int64_t> arts = {Artifact("dataset", "d/0", Sha(hex(0)))};
  for (int i = 0; i < kLen; ++i) {
    arts.push_back(Artifact("dataset", "d/" + std::to_string(i + 1), Sha(hex(i + 1))));
    int64_t att = Attempt(run, tasks[i], 1000 + i);
    Event(att, arts[i], "in", "x");
    Event(att, arts[i + 1], "out", "y");
  }
  LineageGraph up = Must(store_->Upstream(arts.back()));
  EXPECT_TRUE(up.truncated);
  EXPECT_EQ(up.artifacts.size(), 65u);
  EXPECT_EQ(up.attempts.size(), 64u);
  EXPECT_EQ(up.artifacts.back().depth, 64);
  LineageGraph down = Must(store_->Downstream(arts.front()));
  EXPECT_TRUE(down.truncated);
  EXPECT_EQ(down.artifacts.size(), 65u);
  LineageGraph short_up = Must(store_->Upstream(arts[10]));
  EXPECT_FALSE(short_up.truncated);
  EXPECT_EQ(short_up.artifacts.size(), 11u);
}

// --- cache ------------------------------------------------------------------------------

TEST_F(LineageStoreTest, CacheLookupPutInvalidateNewestWins) {
  BuildTwoRuns();
  const std::string key = "v1:sha256:" + Sha("ab");
  EXPECT_FALSE(Must(store_->LookupCache(key)).has_value());

  ASSERT_OK(store_->SetAttemptCache(r1_ingest_, key, "{\"command\":[\"ingest\"]}"));
  EXPECT_EQ(SqlQuery(path_, "SELECT cache_key FROM task_instances WHERE id = " +
                             std::to_string(ti_.at({r1_, "ingest"}))),
            key);
  ASSERT_OK(store_->PutCacheEntry(key, "", "", r1_ingest_, 1200));  // task, manifest from attempt
  std::optional<CacheHit> hit = Must(store_->LookupCache(key));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->producing_attempt_id, r1_ingest_);
  EXPECT_EQ(hit->task, "ingest");
  EXPECT_EQ(hit->manifest_json, "{\"command\":[\"ingest\"]}");
  ASSERT_EQ(hit->outputs.size(), 1u);
  EXPECT_EQ(hit->outputs[0].first, "clean");
  EXPECT_EQ(hit->outputs[0].second.id, clean_);
  EXPECT_TRUE(hit->all_live);
  EXPECT_EQ(SqlQuery(path_, "SELECT key_version FROM cache_entries"), "1");

  ASSERT_OK(store_->NoteCacheHit(key, 2010));
  ASSERT_OK(store_->NoteCacheHit(key, 2020));
  EXPECT_EQ(SqlQuery(path_, "SELECT hit_count || ',' || last_hit_at_ms FROM cache_entries"),
            "2,2020");

  // A newer producer (a --force re-run) replaces it; an older one does not.
  int64_t r3 = NewRun("r3", 3000, {"ingest"});
  int64_t r3_ingest = Attempt(r3, "ingest", 3010);
  Event(r3_ingest, clean_, "out", "clean");
  ASSERT_OK(store_->PutCacheEntry(key, "ingest", "{\"v\":3}", r3_ingest, 3100));
  EXPECT_EQ(Must(store_->LookupCache(key))->producing_attempt_id, r3_ingest);
  ASSERT_OK(store_->PutCacheEntry(key, "ingest", "{\"v\":1}", r1_ingest_, 3200));
  EXPECT_EQ(Must(store_->LookupCache(key))->producing_attempt_id, r3_ingest);
  EXPECT_EQ(SqlQuery(path_, "SELECT hit_count FROM cache_entries"), "2");  // kept

  // Output gone: the hit says so (the engine then invalidates and runs).
  ASSERT_OK(store_->SetArtifactState(clean_, "missing"));
  EXPECT_FALSE(Must(store_->LookupCache(key))->all_live);
  ASSERT_OK(store_->InvalidateCacheEntry(key, "outputs missing", 3300));
  EXPECT_FALSE(Must(store_->LookupCache(key)).has_value());
  EXPECT_EQ(SqlQuery(path_, "SELECT invalidated_reason FROM cache_entries"), "outputs missing");
  // After invalidation any succeeded producer may fill it again.
  ASSERT_OK(store_->PutCacheEntry(key, "ingest", "{\"v\":1}", r1_ingest_, 3400));
  EXPECT_EQ(Must(store_->LookupCache(key))->producing_attempt_id, r1_ingest_);

  // Only succeeded attempts fill the cache; unknown keys are reported.
  int64_t r4 = NewRun("r4", 4000, {"ingest"});
  int64_t failed = Attempt(r4, "ingest", 4010, "failed");
  EXPECT_EQ(store_->PutCacheEntry(key, "ingest", "{}", failed, 4100).code(),
            Status::Code::kFailedPrecondition);
  EXPECT_EQ(store_->PutCacheEntry(key, "ingest", "not json", r3_ingest, 4100).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->InvalidateCacheEntry("v1:nope", "x", 1).code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->NoteCacheHit("v1:nope", 1).code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->SetAttemptCache(999, key, "{}").code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->SetAttemptCache(r1_train_, key, "{bad").code(),
            Status::Code::kInvalidArgument);
}

TEST_F(LineageStoreTest, CacheLookupRejectsProducerThatDidNotExitZero) {
  BuildTwoRuns();
  // A producer recorded as succeeded with a non-zero exit (hit rule 1) is not usable.
  int64_t run = NewRun("rx", 3000, {"ingest"});
  AttemptRecord a;
  a.task_instance_id = ti_.at({run, "ingest"});
  a.started_ms = 3000;
  int64_t id = Must(store_->StartAttempt(a));
  ASSERT_OK(store_->FinishAttempt(id, "succeeded", 3, std::nullopt, 3001, ""));
  ASSERT_OK(store_->PutCacheEntry("v1:k", "ingest", "{}", id, 3002));
  EXPECT_FALSE(Must(store_->LookupCache("v1:k")).has_value());
}

TEST_F(LineageStoreTest, PreviousManifestIsTheNearestEarlierOfTheSameTask) {
  BuildTwoRuns();
  ASSERT_OK(store_->SetAttemptCache(r1_train_, "", "{\"m\":\"r1-train\"}"));
  ASSERT_OK(store_->SetAttemptCache(r1_eval_, "", "{\"m\":\"r1-eval\"}"));
  // Another DAG's task of the same name, between r1 and r3: not ours.
  int64_t other_v = Must(store_->EnsureDagVersion("other", Sha("d2"), "{}"));
  int64_t other = NewRun("o1", 2500, {"train"}, "other", other_v);
  int64_t other_train = Attempt(other, "train", 2510);
  ASSERT_OK(store_->SetAttemptCache(other_train, "", "{\"m\":\"other-train\"}"));
  int64_t r3 = NewRun("r3", 3000, {"train"});
  int64_t r3_train = Attempt(r3, "train", 3010);
  ASSERT_OK(store_->SetAttemptCache(r3_train, "v1:x", "{\"m\":\"r3-train\"}"));

  // r2's train has no manifest: the nearest earlier one with a manifest is r1's.
  EXPECT_EQ(Must(store_->PreviousManifest(r3_train)), std::optional<std::string>("{\"m\":\"r1-train\"}"));
  ASSERT_OK(store_->SetAttemptCache(r2_train_, "", "{\"m\":\"r2-train\"}"));
  EXPECT_EQ(Must(store_->PreviousManifest(r3_train)), std::optional<std::string>("{\"m\":\"r2-train\"}"));
  EXPECT_EQ(Must(store_->PreviousManifest(r2_train_)), std::optional<std::string>("{\"m\":\"r1-train\"}"));
  EXPECT_FALSE(Must(store_->PreviousManifest(r1_train_)).has_value());  // later ones ignored
  EXPECT_FALSE(Must(store_->PreviousManifest(other_train)).has_value());
  EXPECT_EQ(Must(store_->GetAttempt(r3_train)).manifest_json, "{\"m\":\"r3-train\"}");
  EXPECT_EQ(store_->PreviousManifest(999).status().code(), Status::Code::kNotFound);
}

// --- metrics ------------------------------------------------------------------------------

TEST_F(LineageStoreTest, MetricsRecordHistoryAndNaNAsNull) {
  BuildTwoRuns();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ASSERT_OK(store_->RecordMetrics(r1_features_, {{"rows", 100.0}}, 1025));
  ASSERT_OK(store_->RecordMetrics(r1_train_, {{"loss", 0.5}}, 1035));
  ASSERT_OK(store_->RecordMetrics(r1_eval_, {{"auc", 0.9}, {"f1", std::nullopt}, {"g", nan}},
                                  1045));
  ASSERT_OK(store_->RecordMetrics(r2_train_, {{"loss", 0.4}}, 2035));
  ASSERT_OK(store_->RecordMetrics(r2_eval_, {{"auc", 0.7}}, 2045));
  ASSERT_OK(store_->RecordMetrics(r2_eval_, {{"auc", 0.93}}, 2046));  // overwrites

  std::vector<MetricRecord> m = Must(store_->MetricsOfAttempt(r1_eval_));
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].name, "auc");
  EXPECT_DOUBLE_EQ(*m[0].value, 0.9);
  EXPECT_EQ(m[0].run_id, "r1");
  EXPECT_EQ(m[0].task, "evaluate");
  EXPECT_EQ(m[0].dag, "train");
  EXPECT_EQ(m[1].name, "f1");
  EXPECT_FALSE(m[1].value.has_value());
  EXPECT_FALSE(m[2].value.has_value());  // NaN
  EXPECT_EQ(SqlQuery(path_, "SELECT count(*) FROM metrics WHERE value IS NULL"), "2");

  std::vector<MetricRecord> h = Must(store_->MetricsHistory("train", "auc", 10));
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].run_id, "r2");
  EXPECT_DOUBLE_EQ(*h[0].value, 0.93);
  EXPECT_EQ(h[0].ts_ms, 2046);
  EXPECT_EQ(h[1].run_id, "r1");
  EXPECT_EQ(Must(store_->MetricsHistory("train", "", 0)).size(), 7u);
  EXPECT_EQ(Must(store_->MetricsHistory("train", "", 2)).size(), 2u);
  EXPECT_TRUE(Must(store_->MetricsHistory("nodag", "", 0)).empty());

  // A cached task reports its source's metrics.
  std::map<std::string, std::optional<double>> tm = Must(store_->TaskMetrics(r2_, "features"));
  ASSERT_EQ(tm.size(), 1u);
  EXPECT_DOUBLE_EQ(*tm["rows"], 100.0);
  tm = Must(store_->TaskMetrics(r2_, "evaluate"));
  EXPECT_DOUBLE_EQ(*tm["auc"], 0.93);
  EXPECT_TRUE(Must(store_->TaskMetrics(r2_, "ingest")).empty());
  EXPECT_TRUE(Must(store_->TaskMetrics(r2_, "nosuchtask")).empty());

  std::vector<MetricRecord> rm = Must(store_->RunMetrics(r2_));
  ASSERT_EQ(rm.size(), 3u);  // evaluate.auc, features.rows (from r1), train.loss
  EXPECT_EQ(rm[0].task, "evaluate");
  EXPECT_EQ(rm[1].task, "features");
  EXPECT_EQ(rm[1].run_id, "r1");
  EXPECT_EQ(rm[1].attempt_id, r1_features_);
  EXPECT_EQ(rm[2].name, "loss");

  EXPECT_EQ(store_->RecordMetrics(999, {{"x", 1.0}}, 1).code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->RecordMetrics(r1_eval_, {{"", 1.0}}, 1).code(),
            Status::Code::kInvalidArgument);
}

TEST_F(LineageStoreTest, FailedAttemptMetricsAreNotTheTasks) {
  int64_t run = NewRun("rf", 1000, {"train"});
  int64_t failed = Attempt(run, "train", 1010, "failed");
  ASSERT_OK(store_->RecordMetrics(failed, {{"loss", 9.0}}, 1011));
  EXPECT_TRUE(Must(store_->TaskMetrics(run, "train")).empty());
}

// --- aliases ------------------------------------------------------------------------------

TEST_F(LineageStoreTest, AliasSetReplaceHistoryAndTaskMetrics) {
  BuildTwoRuns();
  ASSERT_OK(store_->RecordMetrics(r1_eval_, {{"auc", 0.9}}, 1045));
  ASSERT_OK(store_->RecordMetrics(r2_eval_, {{"auc", 0.93}}, 2045));
  EXPECT_FALSE(Must(store_->GetAlias("churn", "production")).has_value());
  EXPECT_FALSE(Must(store_->AliasTaskMetrics("churn", "production", "evaluate")).has_value());

  ASSERT_OK(store_->SetAlias("churn", "production", model_, "run:r1", r1_, 1100));
  std::optional<AliasRecord> a = Must(store_->GetAlias("churn", "production"));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->artifact.id, model_);
  EXPECT_EQ(a->artifact.sha256, Sha("dd44"));
  EXPECT_EQ(a->producing_attempt_id, r1_train_);
  EXPECT_EQ(a->producing_task, "train");
  EXPECT_EQ(a->producing_run_id, "r1");
  EXPECT_EQ(a->run_id, "r1");
  EXPECT_EQ(a->set_by, "run:r1");
  EXPECT_EQ(a->set_ms, 1100);
  auto metrics = Must(store_->AliasTaskMetrics("churn", "production", "evaluate"));
  ASSERT_TRUE(metrics.has_value());
  EXPECT_DOUBLE_EQ(*(*metrics)["auc"], 0.9);

  // r2 promotes its model: the alias moves, history keeps both with the previous one.
  ASSERT_OK(store_->SetAlias("churn", "production", model2_, "run:r2", r2_, 2100));
  a = Must(store_->GetAlias("churn", "production"));
  EXPECT_EQ(a->artifact.id, model2_);
  EXPECT_EQ(a->producing_run_id, "r2");
  metrics = Must(store_->AliasTaskMetrics("churn", "production", "evaluate"));
  EXPECT_DOUBLE_EQ(*(*metrics)["auc"], 0.93);

  // Set by hand (no run): the metrics come from the run that produced the model.
  ASSERT_OK(store_->SetAlias("churn", "staging", model_, "user:ann", 0, 2200));
  metrics = Must(store_->AliasTaskMetrics("churn", "staging", "evaluate"));
  EXPECT_DOUBLE_EQ(*(*metrics)["auc"], 0.9);
  EXPECT_TRUE(Must(store_->AliasTaskMetrics("churn", "staging", "nosuch"))->empty());
  EXPECT_EQ(Must(store_->GetAlias("churn", "staging"))->run_id, "");

  std::vector<AliasHistoryRecord> h = Must(store_->AliasHistory("churn", "production"));
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].artifact_id, model_);
  EXPECT_FALSE(h[0].prev_artifact_id.has_value());
  EXPECT_EQ(h[0].run_id, "r1");
  EXPECT_EQ(h[1].artifact_id, model2_);
  EXPECT_EQ(h[1].prev_artifact_id, model_);
  EXPECT_EQ(h[1].prev_artifact_sha256, Sha("dd44"));
  EXPECT_EQ(h[1].set_by, "run:r2");
  EXPECT_EQ(h[1].set_ms, 2100);
  EXPECT_EQ(Must(store_->AliasHistory("churn", "")).size(), 3u);

  std::vector<AliasRecord> all = Must(store_->ListAliases());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].alias, "production");
  EXPECT_EQ(all[1].alias, "staging");

  EXPECT_EQ(store_->SetAlias("churn", "prod", 999, "x", 0, 1).code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->SetAlias("churn", "prod", model_, "x", 999, 1).code(),
            Status::Code::kNotFound);
  EXPECT_EQ(store_->SetAlias("ch@urn", "prod", model_, "x", 0, 1).code(),
            Status::Code::kInvalidArgument);
  store_.reset();
  EXPECT_NE(SqlExec(path_, "UPDATE model_alias_history SET set_by = 'mallory'"), SQLITE_OK);
  EXPECT_NE(SqlExec(path_, "DELETE FROM model_alias_history"), SQLITE_OK);
}

// --- audit --------------------------------------------------------------------------------

TEST_F(LineageStoreTest, AuditIsAppendOnly) {
  int64_t first = Must(store_->AppendAudit({0, 100, "user:ann", "run.start", "run", "r1", ""}));
  Must(store_->AppendAudit({0, 200, "schedule:nightly", "run.start", "run", "r2", "{}"}));
  Must(store_->AppendAudit(
      {0, 300, "user:bob", "alias.set", "alias", "churn@production", "{\"artifact\":3}"}));
  Must(store_->AppendAudit({0, 400, "api", "run.cancel", "run", "r2", "{}"}));
  EXPECT_GT(first, 0);

  std::vector<AuditRecord> all = Must(store_->ListAudit({}));
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].action, "run.cancel");  // newest first
  EXPECT_EQ(all[3].details_json, "{}");
  EXPECT_EQ(all[1].details_json, "{\"artifact\":3}");
  EXPECT_EQ(all[1].target, "churn@production");
  EXPECT_EQ(all[1].target_kind, "alias");
  EXPECT_EQ(Must(store_->ListAudit({250, "", 0})).size(), 2u);
  EXPECT_EQ(Must(store_->ListAudit({0, "run.", 0})).size(), 3u);
  EXPECT_EQ(Must(store_->ListAudit({0, "run.start", 0})).size(), 2u);
  EXPECT_EQ(Must(store_->ListAudit({0, "run", 0})).size(), 0u);  // exact unless it ends in '.'
  EXPECT_EQ(Must(store_->ListAudit({0, "", 1})).size(), 1u);
  EXPECT_EQ(store_->AppendAudit({0, 1, "x", "", "", "", ""}).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->AppendAudit({0, 1, "x", "gc", "", "", "nope"}).status().code(),
            Status::Code::kInvalidArgument);

  store_.reset();
  EXPECT_NE(SqlExec(path_, "UPDATE audit_log SET actor = 'mallory'"), SQLITE_OK);
  EXPECT_NE(SqlExec(path_, "DELETE FROM audit_log"), SQLITE_OK);
  EXPECT_EQ(SqlQuery(path_, "SELECT count(*) FROM audit_log WHERE actor = 'mallory'"), "0");
  EXPECT_EQ(SqlQuery(path_, "SELECT count(*) FROM audit_log"), "4");
}

// --- retention ------------------------------------------------------------------------------

TEST_F(LineageStoreTest, RetentionKeepsEverythingUpstreamOfAnAlias) {
  BuildTwoRuns();
  ASSERT_OK(store_->RecordMetrics(r1_train_, {{"loss", 0.5}}, 1035));
  // An unrelated old run with its own output and a shared input.
  int64_t old_run = NewRun("old", 500, {"scratch"});
  int64_t scratch_out = Artifact("report", "tmp/scratch.txt", Sha("5c"), 500);
  int64_t scratch = Attempt(old_run, "scratch", 510);
  Event(scratch, raw_, "in", "raw");
  Event(scratch, scratch_out, "out", "out");
  ASSERT_OK(store_->RecordMetrics(scratch, {{"n", 1.0}}, 511));
  EndRun(old_run, 600);
  // A recent run, and one still running.
  int64_t recent = NewRun("recent", 9000, {"ingest"});
  EndRun(recent, 9500);
  NewRun("active", 100, {"ingest"});

  // Without an alias, everything finished before 5000 may go.
  std::vector<RunRecord> runs = Must(store_->RunsForRetention(5000));
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].run_id, "old");
  EXPECT_EQ(runs[1].run_id, "r1");
  EXPECT_EQ(runs[2].run_id, "r2");

  // With r2's model aliased, r2 stays, and so does r1: r2 reused its cached outputs and
  // its train consumed r1's features.
  ASSERT_OK(store_->SetAlias("churn", "production", model2_, "user:ann", 0, 3000));
  runs = Must(store_->RunsForRetention(5000));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].run_id, "old");
  std::set<std::string> keep = Must(store_->ArtifactsToKeep(5000));
  for (const char* sha : {"aa11", "c1", "c2", "c3", "bb22", "cc33", "dd44", "dd45", "ee55",
                          "ee56"}) {
    EXPECT_TRUE(keep.count(Sha(sha))) << sha;
  }
  EXPECT_FALSE(keep.count(Sha("5c")));
  EXPECT_TRUE(Must(store_->ArtifactsToKeep(400)).count(Sha("5c")));  // created after 400

  // Forgetting the old run: its rows go, shared artifacts stay, lineage still resolves.
  ForgetResult f = Must(store_->ForgetRun(old_run));
  EXPECT_EQ(f.log_paths, std::vector<std::string>{"logs/" + std::to_string(old_run) +
                                                  "/scratch.log"});
  EXPECT_EQ(f.attempts, 1);
  EXPECT_EQ(f.events, 2);
  EXPECT_EQ(f.metrics, 1);
  EXPECT_EQ(f.artifacts, 1);  // scratch.txt; raw.csv is used by others
  EXPECT_GE(f.transitions, 3);
  EXPECT_EQ(store_->FindRun("old").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->GetArtifact(scratch_out).status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(store_->GetArtifact(raw_).ok());
  EXPECT_EQ(Must(store_->Upstream(model2_)).artifacts.size(), 7u);
  EXPECT_EQ(Must(store_->Downstream(raw_)).attempts.size(), 8u);

  // Refused: r1 is a cache source of r2; r2 produced the aliased model; active runs.
  EXPECT_EQ(store_->ForgetRun(r1_).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(store_->ForgetRun(r2_).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(store_->ForgetRun(store_->FindRun("active")->id).status().code(),
            Status::Code::kFailedPrecondition);
  EXPECT_EQ(store_->ForgetRun(999).status().code(), Status::Code::kNotFound);
  ASSERT_OK(store_->ReclaimSpace());
  store_.reset();
  EXPECT_EQ(SqlQuery(path_, "PRAGMA foreign_key_check"), "");
  EXPECT_EQ(SqlQuery(path_, "PRAGMA integrity_check"), "ok");
}

TEST_F(LineageStoreTest, RetentionKeepsTheRunThatSetAnAlias) {
  BuildTwoRuns();
  // The alias points at r1's model but r2 set it (and evaluated it).
  ASSERT_OK(store_->SetAlias("churn", "production", model_, "run:r2", r2_, 2100));
  std::vector<RunRecord> runs = Must(store_->RunsForRetention(5000));
  EXPECT_TRUE(runs.empty());
  EXPECT_EQ(store_->ForgetRun(r2_).status().code(), Status::Code::kFailedPrecondition);
}

// --- migration 2 ------------------------------------------------------------------------------

TEST(LineageMigrationTest, UpgradesAVersion1Database) {
  TempDir dir;
  std::string path = dir / "v1.db";
  // Exactly what the previous binary wrote: migration 1 and its bookkeeping.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    std::string sql = "PRAGMA application_id=" + std::to_string(kApplicationId) +
                      "; PRAGMA journal_mode=WAL; BEGIN; " + Migrations()[0].sql +
                      "; INSERT INTO schema_migrations VALUES (1, 'initial', 'x', 1, 'old');"
                      " PRAGMA user_version=1; COMMIT;";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    // v1 data: a run with a cached attempt without a source (v1 allowed it), an
    // artifact, an alias with its history row.
    const char* data = R"SQL(
      INSERT INTO dags VALUES (1, 'train', 1);
      INSERT INTO dag_versions VALUES (1, 1, 'sha', '{}', NULL, 1);
      INSERT INTO dag_runs(id, run_id, dag_id, dag_version_id, trigger, state, created_at_ms,
                           state_changed_at_ms, ended_at_ms)
        VALUES (1, 'r1', 1, 1, 'manual', 'running', 1, 1, NULL);
      UPDATE dag_runs SET state = 'success', ended_at_ms = 5, state_changed_at_ms = 5;
      INSERT INTO task_instances(id, dag_run_id, task_name, state, created_at_ms,
                                 state_changed_at_ms) VALUES (1, 1, 'train', 'pending', 1, 1);
      INSERT INTO task_attempts(id, task_instance_id, attempt_no, state, started_at_ms)
        VALUES (1, 1, 1, 'cached', 2);
      INSERT INTO artifacts(id, kind, uri, sha256, size_bytes, created_at_ms)
        VALUES (1, 'model', 'm.pkl', printf('%064d', 1), 3, 3);
      INSERT INTO events VALUES (1, 1, 'out', 'model', 3);
      INSERT INTO model_aliases(model_name, alias, artifact_id, set_at_ms, set_by)
        VALUES ('churn', 'production', 1, 4, 'user:ann');
    )SQL";
    ASSERT_EQ(sqlite3_exec(db, data, nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }
  {
    std::unique_ptr<Store> store = MustOpen(path);
    ASSERT_TRUE(store);
    std::optional<AliasRecord> a = Must(store->GetAlias("churn", "production"));
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->run_id, "");
    EXPECT_EQ(a->set_by, "user:ann");
    // A v1 cached attempt without a source stands for itself in lineage.
    EXPECT_EQ(a->producing_attempt_id, 1);
    std::vector<AliasHistoryRecord> h = Must(store->AliasHistory("churn", "production"));
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(h[0].run_id, "");
    // New writes use the new columns and triggers.
    int64_t run = Must(store->FindRun("r1")).id;
    ASSERT_TRUE(store->SetAlias("churn", "production", 1, "run:r1", run, 10).ok());
    h = Must(store->AliasHistory("churn", "production"));
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(h[1].run_id, "r1");
    EXPECT_EQ(h[1].prev_artifact_id, 1);
    EXPECT_EQ(Must(store->Upstream(1)).attempts.size(), 1u);
  }
  EXPECT_EQ(SqlQuery(path, "PRAGMA user_version"), std::to_string(Store::SchemaVersion()));
  EXPECT_EQ(SqlQuery(path, "SELECT group_concat(version) FROM schema_migrations"), "1,2,3,4");
  EXPECT_EQ(SqlQuery(path, "SELECT script_sha256 = '" + std::string("x") +
                            "' FROM schema_migrations WHERE version = 1"),
            "1");  // the v1 row is untouched
  EXPECT_EQ(SqlQuery(path, "PRAGMA foreign_key_check"), "");
  EXPECT_EQ(SqlQuery(path, "PRAGMA integrity_check"), "ok");
  // The new append-only guard holds (a DELETE of no rows would not fire it).
  EXPECT_EQ(SqlExec(path, "INSERT INTO audit_log(at_ms, action) VALUES (1, 'x')"), SQLITE_OK);
  EXPECT_NE(SqlExec(path, "DELETE FROM audit_log"), SQLITE_OK);
}

// --- migration 3 ------------------------------------------------------------------------------

// A version-2 database kept one state_transitions row per change; version 3 keeps task
// histories in their rows. Upgrading must carry every recorded change over, in order.
TEST(HistoryMigrationTest, UpgradesAVersion2DatabaseWithoutLosingAChange) {
  TempDir dir;
  std::string path = dir / "v2.db";
  const char* kRows =
      "SELECT group_concat(entity || '|' || entity_id || '|' || coalesce(from_state, '-') || "
      "'|' || to_state || '|' || at_ms || '|' || coalesce(reason, '-'), char(10)) "
      "FROM (SELECT * FROM state_transitions ORDER BY id)";
  std::vector<std::string> before;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    std::string sql = "PRAGMA application_id=" + std::to_string(kApplicationId) +
                      "; PRAGMA journal_mode=WAL; BEGIN; " + Migrations()[0].sql + ";" +
                      Migrations()[1].sql +
                      "; INSERT INTO schema_migrations VALUES (1, 'initial', 'x', 1, 'old'), "
                      "(2, 'lineage', 'y', 1, 'old'); PRAGMA user_version=2; COMMIT;";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    // What the version-2 binary wrote for a run whose task 'prep' failed once, was
    // retried and succeeded, and whose task 'train' was skipped; the v2 triggers
    // recorded every change.
    const char* data = R"SQL(
      INSERT INTO dags VALUES (1, 'train', 1);
      INSERT INTO dag_versions VALUES (1, 1, 'sha', '{}', NULL, 1);
      INSERT INTO dag_runs(id, run_id, dag_id, dag_version_id, trigger, state, created_at_ms,
                           state_changed_at_ms) VALUES (1, 'r1', 1, 1, 'manual', 'running', 1, 1);
      INSERT INTO task_instances(id, dag_run_id, task_name, state, max_attempts, created_at_ms,
                                 state_changed_at_ms) VALUES (1, 1, 'prep', 'pending', 2, 1, 1),
                                                             (2, 1, 'train', 'pending', 1, 1, 1);
      UPDATE task_instances SET state = 'running', attempts = 1, state_changed_at_ms = 2
        WHERE id = 1;
      INSERT INTO task_attempts(id, task_instance_id, attempt_no, state, started_at_ms)
        VALUES (1, 1, 1, 'running', 2);
      UPDATE task_attempts SET state = 'failed', ended_at_ms = 3, error = 'exit 1' WHERE id = 1;
      UPDATE task_instances SET state = 'up_for_retry', reason = 'exit 1',
                                state_changed_at_ms = 3 WHERE id = 1;
      UPDATE task_instances SET state = 'running', reason = NULL, attempts = 2,
                                state_changed_at_ms = 5 WHERE id = 1;
      INSERT INTO task_attempts(id, task_instance_id, attempt_no, state, started_at_ms)
        VALUES (2, 1, 2, 'running', 5);
      UPDATE task_attempts SET state = 'succeeded', ended_at_ms = 6 WHERE id = 2;
      UPDATE task_instances SET state = 'success', state_changed_at_ms = 6 WHERE id = 1;
      UPDATE task_instances SET state = 'skipped', reason = 'when: false',
                                state_changed_at_ms = 6 WHERE id = 2;
      UPDATE dag_runs SET state = 'success', state_changed_at_ms = 7, ended_at_ms = 7;
    )SQL";
    ASSERT_EQ(sqlite3_exec(db, data, nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
    std::string rows = SqlQuery(path, kRows);
    for (size_t b = 0, e; b < rows.size(); b = e + 1) {
      e = rows.find('\n', b);
      if (e == std::string::npos) e = rows.size();
      before.push_back(rows.substr(b, e - b));
    }
  }
  ASSERT_EQ(before.size(), 13u);  // run: 2, tasks: 2 created + 5 changes, attempts: 4
  {
    std::unique_ptr<Store> store = MustOpen(path);
    ASSERT_TRUE(store);
    std::vector<TransitionRecord> tr = Must(store->ListTransitions(1));
    std::vector<std::string> after;
    for (const TransitionRecord& t : tr) {
      after.push_back(t.entity + "|" + std::to_string(t.entity_id) + "|" +
                      (t.from_state.empty() ? "-" : t.from_state) + "|" + t.to_state + "|" +
                      std::to_string(t.at_ms) + "|" + (t.reason.empty() ? "-" : t.reason));
    }
    // Every change is there, and with this data (no two entities share a millisecond
    // and a phase) even in the original order.
    EXPECT_EQ(after, before);
  }
  EXPECT_EQ(SqlQuery(path, "PRAGMA user_version"), std::to_string(Store::SchemaVersion()));
  EXPECT_EQ(SqlQuery(path, "SELECT count(*) FROM run_transitions"), "2");
  EXPECT_EQ(SqlQuery(path, "SELECT history FROM task_instances WHERE id = 2"),
            "[[1,null,\"pending\",null],[6,\"pending\",\"skipped\",\"when: false\"]]");
  EXPECT_EQ(SqlQuery(path, "PRAGMA foreign_key_check"), "");
  EXPECT_EQ(SqlQuery(path, "PRAGMA integrity_check"), "ok");
  // The upgraded rows are guarded like new ones.
  EXPECT_NE(SqlExec(path, "UPDATE task_instances SET history = '[]' WHERE id = 1"), SQLITE_OK);
}

// Migration 4 rewrote the state and kind CHECKs without IN lists. They must refuse and
// accept exactly what they did (checked here with the guard triggers dropped, so that
// only the CHECK can refuse), and no write of a state may build a temporary B-tree.
TEST(CheckMigrationTest, ChecksAcceptTheSameValuesWithoutTemporaryBTrees) {
  TempDir dir;
  const std::string path = dir / "pipeline.db";
  { ASSERT_TRUE(MustOpen(path)); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  auto opcodes = [&](const std::string& sql) {
    std::string ops;
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN " + sql).c_str(), -1, &s, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    while (s && sqlite3_step(s) == SQLITE_ROW)
      ops += std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 1))) + " ";
    sqlite3_finalize(s);
    return ops;
  };
  for (const char* sql :
       {"UPDATE task_instances SET state = 'failed' WHERE id = 1",
        "INSERT INTO task_attempts(task_instance_id, attempt_no, state, started_at_ms) "
        "VALUES (1, 1, 'running', 1)",
        "UPDATE task_attempts SET state = 'failed', ended_at_ms = 2 WHERE id = 1",
        "INSERT INTO artifacts(kind, uri, sha256, size_bytes, created_at_ms) "
        "VALUES ('model', 'u', 'x', 0, 1)"}) {
    std::string ops = opcodes(sql);
    EXPECT_NE(ops.find("Halt"), std::string::npos) << sql;
    EXPECT_EQ(ops.find("OpenEphemeral"), std::string::npos) << sql;
  }

  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TRIGGER trg_ti_new; DROP TRIGGER trg_ti_guard; DROP TRIGGER trg_ta_new;"
                         "DROP TRIGGER trg_ta_guard; DROP TRIGGER trg_ta_cached_source;"
                         "INSERT INTO dags VALUES (1, 'd', 1);"
                         "INSERT INTO dag_versions VALUES (1, 1, 'sha', '{}', NULL, 1);"
                         "INSERT INTO dag_runs(id, run_id, dag_id, dag_version_id, trigger, state,"
                         " created_at_ms, state_changed_at_ms) VALUES (1, 'r1', 1, 1, 'manual', 'running', 1, 1);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  int n = 0;
  auto accepts = [&](const std::string& table, const std::string& value) {
    ++n;
    std::string v = "'" + value + "'", id = std::to_string(n);
    std::string sql =
        table == "task_instances"
            ? "INSERT INTO task_instances(id, dag_run_id, task_name, state, created_at_ms, "
              "state_changed_at_ms) VALUES (" + id + ", 1, 't" + id + "', " + v + ", 1, 1)"
        : table == "task_attempts"
            ? "INSERT INTO task_attempts(task_instance_id, attempt_no, state, started_at_ms) "
              "VALUES (1, " + id + ", " + v + ", 1)"
        : table == "artifact kind"
            ? "INSERT INTO artifacts(kind, uri, sha256, size_bytes, created_at_ms) VALUES (" + v +
                  ", 'u" + id + "', '" + Sha("a") + "', 0, 1)"
            : "INSERT INTO artifacts(kind, state, uri, sha256, size_bytes, created_at_ms) "
              "VALUES ('model', " + v + ", 'u" + id + "', '" + Sha("a") + "', 0, 1)";
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    EXPECT_TRUE(rc == SQLITE_OK || rc == SQLITE_CONSTRAINT) << sqlite3_errmsg(db) << " in " << sql;
    return rc == SQLITE_OK;
  };
  const std::map<std::string, std::vector<std::string>> allowed = {
      {"task_instances", {"pending", "running", "up_for_retry", "success", "failed", "skipped",
                          "upstream_failed", "cancelled", "cached"}},
      {"task_attempts", {"running", "succeeded", "failed", "timed_out", "killed", "lost", "cached"}},
      {"artifact kind", {"dataset", "model", "metrics", "report", "code", "environment", "other"}},
      {"artifact state", {"live", "missing", "deleted", "quarantined"}},
  };
  for (const auto& [table, values] : allowed) {
    for (const std::string& v : values) EXPECT_TRUE(accepts(table, v)) << table << " " << v;
    for (const char* v : {"", "bogus", "Running", "success ", "\nlive"})
      EXPECT_FALSE(accepts(table, v)) << table << " '" << v << "'";
  }
  EXPECT_FALSE(accepts("task_attempts", "success"));  // an instance state, not an attempt's
  sqlite3_close(db);
}

}  // namespace
}  // namespace pipeline
