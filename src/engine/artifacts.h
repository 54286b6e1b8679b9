// Artifacts of a run: declared output and input paths, the cache key of an attempt,
// reusing an earlier result, and recording what each attempt consumed and produced.
//
// The engine asks three things of it per attempt: before it starts (Prepare: paths for
// the templates, the manifest and cache key, maybe a cache hit with the outputs already
// restored), after it exits 0 (Collect: are the declared outputs there, what are their
// digests, what metrics did it report), and once that is final (Record*: artifacts,
// lineage events, metrics and the cache entry, inside the engine's transaction).
// docs/lineage.md and docs/caching.md describe the behaviour for users.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "dag/template.h"
#include "lineage/cache_key.h"
#include "lineage/content_store.h"
#include "lineage/hash.h"
#include "pipeline/dag.h"
#include "pipeline/status.h"
#include "pipeline/store.h"

namespace pipeline {

/// Everything known about one attempt's artifacts, from Prepare to Record.
struct AttemptArtifacts {
  std::map<std::string, std::string> outputs, inputs;        ///< name -> path as the task sees it
  std::map<std::string, std::string> output_abs, input_abs;  ///< name -> absolute path
  std::string metrics_file_abs;                              ///< declared metrics file, or ""
  bool tracked = false;      ///< the task takes part in lineage (declares or uses files)
  bool cacheable = false;    ///< may reuse / be reused (cache on, has outputs, not forced)
  CacheManifest manifest;
  std::string manifest_json, cache_key;  ///< "" when not tracked
  /// (role, artifact) of every input the attempt consumed: declared inputs, code, the DAG.
  std::vector<std::pair<std::string, ArtifactRecord>> consumed;
  /// Filled by Collect after a successful exit.
  std::vector<std::pair<std::string, ContentDigest>> produced;  ///< (output name, digest)
  std::vector<std::pair<std::string, std::optional<double>>> metrics;
  std::optional<CacheHit> hit;  ///< set when Prepare found a usable earlier result
  /// Identity (device, inode, size, mtime) of each output file that existed before the
  /// attempt started: an output still identical afterwards was not written by the task.
  std::map<std::string, std::string> stale_before;
};

class ArtifactTracker {
 public:
  /// |base_dir| is the workspace (absolute): artifact uris are relative to it.
  ArtifactTracker(const Dag& dag, Store* store, ContentStore* cas, std::string base_dir,
                  std::string dag_uri, std::string dag_sha256, Clock* clock);

  /// The run whose artifacts are being tracked (for outputs of earlier sessions on resume).
  void set_run(int64_t run_pk) { run_pk_ = run_pk; }

  /// Resolves |task|'s declared paths for one attempt (|ctx| without outputs/inputs; |cwd|
  /// is the task's absolute working directory). Fills paths only.
  bool ResolvePaths(int task, const TemplateContext& ctx, const std::string& cwd,
                    AttemptArtifacts* a, std::string* err);

  /// Computes the manifest and cache key (hashing code files and inputs) and, if the task
  /// may use the cache, looks for an earlier result and restores its outputs into place.
  /// |argv| and |env| are the attempt's expanded command and declared environment.
  /// A missing input is an error (the attempt fails before it starts).
  Status Prepare(int task, bool use_cache, const std::vector<std::string>& argv,
                 const std::string& cwd, const std::vector<std::pair<std::string, std::string>>& env,
                 AttemptArtifacts* a);

  /// Just before the process starts: creates the parent directories of declared outputs
  /// and remembers which output files already exist.
  Status BeforeRun(int task, AttemptArtifacts* a);

  /// After the process exited 0: hashes every declared output and reads the metrics the
  /// task reported (|env_metrics_path| = the file named by $PIPELINE_METRICS). Returns
  /// false with |*failure| if the attempt must count as failed (an output is missing, a
  /// metrics file is not a flat JSON object of numbers).
  bool Collect(int task, const std::string& env_metrics_path, AttemptArtifacts* a, std::string* failure);

  /// Records a succeeded attempt: outputs into the content store, artifacts, in/out
  /// events, metrics, and the cache entry. Call inside the engine's batch.
  Status RecordSuccess(int task, int64_t attempt_id, AttemptArtifacts* a);
  /// Records a cached attempt: in-events for what it would have consumed and out-events
  /// pointing at the reused artifacts.
  Status RecordCached(int task, int64_t attempt_id, const AttemptArtifacts& a);

  /// The artifact of TASK.OUTPUT in this run (produced or reused), or 0 if unknown.
  int64_t OutputArtifactId(int task, const std::string& output);

 private:
  Status HashInput(const std::string& role, const std::string& abs, ArtifactKind kind,
                   ArtifactRecord* rec);
  std::string Uri(const std::string& abs) const;
  void DetectCode(const std::vector<std::string>& argv, const std::string& cwd,
                  std::vector<std::string>* abs_paths) const;
  /// TASK.OUTPUT as produced in this run: from memory, else from the store (resume).
  Status OutputInRun(int task, const std::string& output, ArtifactRecord* rec);

  const Dag& dag_;
  Store* store_;
  ContentStore* cas_;
  std::string base_dir_;
  std::string dag_uri_, dag_sha256_;
  Clock* clock_;
  int64_t run_pk_ = 0;
  int64_t dag_artifact_id_ = 0;
  /// (task, output) -> artifact produced or reused in this run.
  std::map<std::pair<int, std::string>, ArtifactRecord> outputs_;
};

/// Parses a metrics file: a flat JSON object whose values are numbers (or null for NaN).
bool ParseMetricsJson(const std::string& text, std::vector<std::pair<std::string, std::optional<double>>>* out,
                      std::string* err);

}  // namespace pipeline
