#include "engine/artifacts.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/strings.h"

namespace pipeline {
namespace fs = std::filesystem;

namespace {

std::string Absolute(const std::string& path, const std::string& cwd) {
  fs::path p(path);
  return (p.is_absolute() ? p : fs::path(cwd) / p).lexically_normal().string();
}

std::string Relative(const std::string& abs, const std::string& from) {
  std::string rel = fs::path(abs).lexically_relative(from).string();
  return rel.empty() ? abs : rel;
}

// Plain open/read: called after every attempt for the metrics file most tasks never
// write, where a stream's construction cost more than the failed lookup itself.
bool ReadWhole(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return n == 0;
    }
    out->append(buf, static_cast<size_t>(n));
  }
}

// Extensions of files that are treated as code when a command names them, so editing a
// script re-runs the task even if the DAG does not list it under `code:`.
bool LooksLikeCode(std::string_view token) {
  static const char* const kExt[] = {".py", ".sh", ".bash", ".R", ".r", ".jl", ".rb", ".pl", ".js",
                                     ".mjs", ".ts", ".sql", ".scala", ".java", ".go", ".lua", ".ipynb"};
  size_t dot = token.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  std::string_view ext = token.substr(dot);
  for (const char* e : kExt)
    if (ext == e) return true;
  return false;
}

std::string ParamJson(const ParamValue& v) {
  switch (v.type) {
    case ParamValue::Type::kString: return JsonQuote(v.text);
    default: return v.text;  // ints, floats and booleans are already canonical JSON text
  }
}

}  // namespace

bool ParseMetricsJson(const std::string& text, std::vector<std::pair<std::string, std::optional<double>>>* out,
                      std::string* err) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *err = "not valid JSON";
    return false;
  }
  if (!j.is_object()) {
    *err = std::string("expected a JSON object of numbers, got ") + j.type_name();
    return false;
  }
  for (auto& [name, v] : j.items()) {
    if (v.is_number()) {
      double d = v.get<double>();
      out->emplace_back(name, std::isfinite(d) ? std::optional<double>(d) : std::nullopt);
    } else if (v.is_null()) {
      out->emplace_back(name, std::nullopt);
    } else {
      *err = "value of '" + name + "' is " + (v.is_string() ? "a string" : std::string("a ") + v.type_name()) +
             "; metrics must be a flat object of numbers";
      return false;
    }
  }
  return true;
}

ArtifactTracker::ArtifactTracker(const Dag& dag, Store* store, ContentStore* cas, std::string base_dir,
                                 std::string dag_uri, std::string dag_sha256, Clock* clock)
    : dag_(dag),
      store_(store),
      cas_(cas),
      base_dir_(std::move(base_dir)),
      dag_uri_(std::move(dag_uri)),
      dag_sha256_(std::move(dag_sha256)),
      clock_(clock) {}

std::string ArtifactTracker::Uri(const std::string& abs) const {
  std::string rel = fs::path(abs).lexically_relative(base_dir_).string();
  if (rel.empty() || rel.rfind("..", 0) == 0) return abs;  // outside the workspace: keep absolute
  return rel;
}

Status ArtifactTracker::OutputInRun(int task, const std::string& output, ArtifactRecord* rec) {
  auto it = outputs_.find({task, output});
  if (it != outputs_.end()) {
    *rec = it->second;
    return Status::OK();
  }
  // Produced in an earlier session of this run (resume): ask the store.
  const std::string& name = dag_.tasks[static_cast<size_t>(task)].id;
  auto attempts = store_->ListAttempts(run_pk_);
  if (!attempts.ok()) return attempts.status();
  const AttemptRecord* best = nullptr;
  for (const AttemptRecord& a : *attempts)
    if (a.task == name && (a.state == "succeeded" || a.state == "cached") && (!best || a.attempt_no > best->attempt_no))
      best = &a;
  if (best) {
    auto arts = store_->AttemptArtifacts(best->id);
    if (!arts.ok()) return arts.status();
    for (const AttemptArtifact& aa : *arts)
      if (aa.direction == "out" && aa.role == output) {
        outputs_[{task, output}] = aa.artifact;
        *rec = aa.artifact;
        return Status::OK();
      }
  }
  return Status::NotFound("output '" + output + "' of task '" + name + "' was not produced in this run");
}

int64_t ArtifactTracker::OutputArtifactId(int task, const std::string& output) {
  ArtifactRecord rec;
  return OutputInRun(task, output, &rec).ok() ? rec.id : 0;
}

bool ArtifactTracker::ResolvePaths(int task, const TemplateContext& ctx, const std::string& cwd,
                                   AttemptArtifacts* a, std::string* err) {
  const Task& t = dag_.tasks[static_cast<size_t>(task)];
  for (const OutputDecl& o : t.outputs) {
    std::string path;
    if (!ExpandTemplate(o.path, ctx, false, &path, err)) {
      *err = "output '" + o.name + "': " + *err;
      return false;
    }
    a->output_abs[o.name] = Absolute(path, cwd);
    a->outputs[o.name] = path;
  }
  for (const InputDecl& in : t.inputs) {
    std::string abs;
    if (!in.task.empty()) {
      ArtifactRecord rec;
      auto up = dag_.task_index.find(in.task);
      if (up == dag_.task_index.end()) {
        *err = "input '" + in.name + "': task '" + in.task + "' is not part of this run";
        return false;
      }
      if (Status s = OutputInRun(up->second, in.output, &rec); !s.ok()) {
        *err = "input '" + in.name + "' (" + in.task + "." + in.output + "): " + s.message();
        return false;
      }
      abs = Absolute(rec.uri, base_dir_);
    } else {
      std::string path;
      if (!ExpandTemplate(in.path, ctx, false, &path, err)) {
        *err = "input '" + in.name + "': " + *err;
        return false;
      }
      abs = Absolute(path, cwd);
    }
    a->input_abs[in.name] = abs;
    a->inputs[in.name] = Relative(abs, cwd);
  }
  if (!t.metrics_file.empty()) {
    std::string path;
    if (!ExpandTemplate(t.metrics_file, ctx, false, &path, err)) {
      *err = "metrics: " + *err;
      return false;
    }
    a->metrics_file_abs = Absolute(path, cwd);
  }
  return true;
}

void ArtifactTracker::DetectCode(const std::vector<std::string>& argv, const std::string& cwd,
                                 std::vector<std::string>* abs_paths) const {
  std::vector<std::string> words;
  bool shell = argv.size() == 3 && argv[0] == "/bin/sh" && argv[1] == "-c";
  if (shell) {
    for (const std::string& w : Split(argv[2], ' ')) {
      std::string_view v = Trim(w);
      while (!v.empty() && (v.front() == '\'' || v.front() == '"')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == '\'' || v.back() == '"' || v.back() == ';')) v.remove_suffix(1);
      if (!v.empty()) words.emplace_back(v);
    }
  } else {
    words = argv;
  }
  for (const std::string& w : words) {
    if (!LooksLikeCode(w)) continue;
    std::string abs = Absolute(w, cwd);
    struct stat st;
    if (stat(abs.c_str(), &st) == 0 && S_ISREG(st.st_mode)) abs_paths->push_back(abs);
  }
}

Status ArtifactTracker::HashInput(const std::string& role, const std::string& abs, ArtifactKind kind,
                                  ArtifactRecord* rec) {
  ContentDigest d;
  if (Status s = HashPath(abs, &d); !s.ok()) {
    if (s.code() == Status::Code::kNotFound)
      return Status::NotFound(role + ": " + Uri(abs) + " does not exist");
    return Status(s.code() == Status::Code::kInvalidArgument ? Status::InvalidArgument(role + ": " + s.message())
                                                              : Status::IOError(role + ": " + s.message()));
  }
  // Inputs go into the content store too, so `pipeline reproduce` can put them back.
  if (Status s = cas_->Put(abs, d); !s.ok()) return s;
  rec->kind = ArtifactKindName(kind);
  rec->uri = Uri(abs);
  rec->sha256 = d.sha256;
  rec->size_bytes = d.size;
  rec->file_count = d.file_count;
  rec->name = fs::path(abs).filename().string();
  rec->created_ms = clock_->NowMs();
  auto id = store_->UpsertArtifact(*rec);
  if (!id.ok()) return id.status();
  rec->id = *id;
  return Status::OK();
}

Status ArtifactTracker::Prepare(int task, bool use_cache, const std::vector<std::string>& argv,
                                const std::string& cwd,
                                const std::vector<std::pair<std::string, std::string>>& env,
                                AttemptArtifacts* a) {
  const Task& t = dag_.tasks[static_cast<size_t>(task)];
  std::vector<std::string> code_abs;
  for (const std::string& c : t.code) code_abs.push_back(Absolute(c, base_dir_));
  DetectCode(argv, cwd, &code_abs);
  std::sort(code_abs.begin(), code_abs.end());
  code_abs.erase(std::unique(code_abs.begin(), code_abs.end()), code_abs.end());

  a->tracked = !t.outputs.empty() || !t.inputs.empty() || !code_abs.empty() || !t.metrics_file.empty();
  if (!a->tracked) return Status::OK();

  CacheManifest& m = a->manifest;
  const std::string prefix = base_dir_ + "/";
  for (const std::string& word : argv) {
    // Absolute workspace paths would make the key differ between checkouts.
    std::string w = word;
    for (size_t pos; (pos = w.find(prefix)) != std::string::npos;) w.erase(pos, prefix.size());
    m.command.push_back(std::move(w));
  }
  m.workdir = Uri(cwd);
  m.env = env;
  std::sort(m.env.begin(), m.env.end());
  for (const std::string& p : t.params_used) {
    auto it = dag_.params.find(p);
    if (it != dag_.params.end()) m.params.emplace_back(p, ParamJson(it->second));
  }
  for (const OutputDecl& o : t.outputs) m.outputs.emplace_back(o.name, Uri(a->output_abs[o.name]));
  std::sort(m.outputs.begin(), m.outputs.end());

  if (!dag_artifact_id_) {
    ArtifactRecord dag_rec;
    dag_rec.kind = "code";
    dag_rec.uri = dag_uri_;
    dag_rec.sha256 = dag_sha256_;
    dag_rec.name = "dag definition";
    dag_rec.created_ms = clock_->NowMs();
    auto id = store_->UpsertArtifact(dag_rec);
    if (!id.ok()) return id.status();
    dag_artifact_id_ = *id;
    dag_rec.id = *id;
  }
  ArtifactRecord dag_rec;
  dag_rec.id = dag_artifact_id_;
  a->consumed.emplace_back("dag", dag_rec);

  for (const std::string& c : code_abs) {
    ArtifactRecord rec;
    if (Status s = HashInput("code file " + Uri(c), c, ArtifactKind::kCode, &rec); !s.ok()) return s;
    m.code.emplace_back(rec.uri, rec.sha256);
    a->consumed.emplace_back("code", rec);
  }
  for (const InputDecl& in : t.inputs) {
    ArtifactRecord rec;
    if (!in.task.empty()) {
      auto up = dag_.task_index.find(in.task);
      if (up == dag_.task_index.end())
        return Status::NotFound("input '" + in.name + "': task '" + in.task + "' is not part of this run");
      if (Status s = OutputInRun(up->second, in.output, &rec); !s.ok()) return s;
    } else if (Status s = HashInput("input '" + in.name + "'", a->input_abs[in.name], ArtifactKind::kDataset, &rec);
               !s.ok()) {
      return s;
    }
    m.inputs.emplace_back(in.name, rec.sha256, rec.size_bytes);
    a->consumed.emplace_back(in.name, rec);
  }
  std::sort(m.code.begin(), m.code.end());
  std::sort(m.inputs.begin(), m.inputs.end());
  a->manifest_json = ManifestJson(m);
  a->cache_key = CacheKey(m);
  a->cacheable = t.cache && !t.outputs.empty();
  if (!a->cacheable || !use_cache) return Status::OK();

  auto hit = store_->LookupCache(a->cache_key);
  if (!hit.ok()) return hit.status();
  if (!*hit) return Status::OK();
  // Rule 2 of a hit: every declared output is recorded, stored, and restores verified.
  std::string problem;
  if (!(*hit)->all_live) problem = "an output of the earlier result is no longer live";
  std::vector<std::pair<std::string, const ArtifactRecord*>> restore;
  for (const OutputDecl& o : t.outputs) {
    if (!problem.empty()) break;
    const ArtifactRecord* rec = nullptr;
    for (const auto& [role, r] : (*hit)->outputs)
      if (role == o.name) rec = &r;
    if (!rec)
      problem = "the earlier result has no output '" + o.name + "'";
    else if (!cas_->Has(rec->sha256))
      problem = "output '" + o.name + "' is no longer in the content store";
    else
      restore.emplace_back(o.name, rec);
  }
  for (const auto& [name, rec] : restore) {
    if (!problem.empty()) break;
    // Already in place with the right bytes (the usual case on a re-run): nothing to copy.
    ContentDigest here;
    if (!rec->uri.empty() && HashPath(a->output_abs[name], &here).ok() && here.sha256 == rec->sha256) continue;
    if (Status s = cas_->Restore(rec->sha256, a->output_abs[name]); !s.ok())
      problem = "restoring output '" + name + "' failed: " + s.message();
  }
  if (!problem.empty()) {
    // Not usable: forget it so the next run does not try again, and run the task.
    return store_->InvalidateCacheEntry(a->cache_key, problem, clock_->NowMs());
  }
  a->hit = std::move(**hit);
  return Status::OK();
}

namespace {
std::string FileIdentity(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}
}  // namespace

Status ArtifactTracker::BeforeRun(int task, AttemptArtifacts* a) {
  const Task& t = dag_.tasks[static_cast<size_t>(task)];
  for (const OutputDecl& o : t.outputs) {
    const std::string& abs = a->output_abs[o.name];
    std::error_code ec;
    fs::create_directories(fs::path(abs).parent_path(), ec);
    if (ec) return Status::IOError("output '" + o.name + "': cannot create " + fs::path(abs).parent_path().string() + ": " + ec.message());
    std::string id = FileIdentity(abs);
    if (!id.empty()) a->stale_before[o.name] = id;
  }
  return Status::OK();
}

bool ArtifactTracker::Collect(int task, const std::string& env_metrics_path, AttemptArtifacts* a,
                              std::string* failure) {
  const Task& t = dag_.tasks[static_cast<size_t>(task)];
  for (const OutputDecl& o : t.outputs) {
    auto before = a->stale_before.find(o.name);
    if (before != a->stale_before.end() && FileIdentity(a->output_abs[o.name]) == before->second) {
      *failure = "declared output '" + o.name + "' (" + a->outputs[o.name] +
                 ") was not written by the task: it still holds the file from before the attempt";
      return false;
    }
    ContentDigest d;
    Status s = HashPath(a->output_abs[o.name], &d);
    if (!s.ok()) {
      *failure = s.code() == Status::Code::kNotFound
                     ? "declared output '" + o.name + "' (" + a->outputs[o.name] + ") was not created"
                     : "declared output '" + o.name + "': " + s.message();
      return false;
    }
    a->produced.emplace_back(o.name, d);
  }
  auto read_metrics = [&](const std::string& path, bool required) {
    std::string text;
    if (!ReadWhole(path, &text)) {
      if (required) *failure = "declared metrics file " + Uri(path) + " was not written";
      return !required;
    }
    std::string err;
    if (!ParseMetricsJson(text, &a->metrics, &err)) {
      *failure = "metrics file " + Uri(path) + ": " + err;
      return false;
    }
    return true;
  };
  if (!env_metrics_path.empty() && !read_metrics(env_metrics_path, false)) return false;
  if (!a->metrics_file_abs.empty() && !read_metrics(a->metrics_file_abs, true)) return false;
  return true;
}

Status ArtifactTracker::RecordSuccess(int task, int64_t attempt_id, AttemptArtifacts* a) {
  const Task& t = dag_.tasks[static_cast<size_t>(task)];
  const int64_t now = clock_->NowMs();
  if (!a->metrics.empty())
    if (Status s = store_->RecordMetrics(attempt_id, a->metrics, now); !s.ok()) return s;
  if (!a->tracked) return Status::OK();
  for (const auto& [role, rec] : a->consumed)
    if (Status s = store_->AddEvent({attempt_id, rec.id, "in", role, now}); !s.ok()) return s;
  for (const auto& [name, d] : a->produced) {
    const std::string& abs = a->output_abs[name];
    if (Status s = cas_->Put(abs, d); !s.ok()) return s;
    ArtifactRecord rec;
    for (const OutputDecl& o : t.outputs)
      if (o.name == name) rec.kind = ArtifactKindName(o.kind);
    rec.uri = Uri(abs);
    rec.sha256 = d.sha256;
    rec.size_bytes = d.size;
    rec.file_count = d.file_count;
    rec.name = name;
    rec.created_ms = now;
    auto id = store_->UpsertArtifact(rec);
    if (!id.ok()) return id.status();
    rec.id = *id;
    if (Status s = store_->AddEvent({attempt_id, rec.id, "out", name, now}); !s.ok()) return s;
    outputs_[{task, name}] = rec;
  }
  if (!a->metrics_file_abs.empty()) {
    ArtifactRecord rec;
    if (Status s = HashInput("metrics file", a->metrics_file_abs, ArtifactKind::kMetrics, &rec); !s.ok()) return s;
    if (Status s = store_->AddEvent({attempt_id, rec.id, "out", "metrics", now}); !s.ok()) return s;
  }
  if (Status s = store_->SetAttemptCache(attempt_id, a->cache_key, a->manifest_json); !s.ok()) return s;
  if (t.cache && !t.outputs.empty())
    return store_->PutCacheEntry(a->cache_key, t.id, a->manifest_json, attempt_id, now);
  return Status::OK();
}

Status ArtifactTracker::RecordCached(int task, int64_t attempt_id, const AttemptArtifacts& a) {
  const int64_t now = clock_->NowMs();
  for (const auto& [role, rec] : a.consumed)
    if (Status s = store_->AddEvent({attempt_id, rec.id, "in", role, now}); !s.ok()) return s;
  for (const auto& [role, rec] : a.hit->outputs) {
    if (Status s = store_->AddEvent({attempt_id, rec.id, "out", role, now}); !s.ok()) return s;
    outputs_[{task, role}] = rec;
  }
  if (Status s = store_->SetAttemptCache(attempt_id, a.cache_key, a.manifest_json); !s.ok()) return s;
  return store_->NoteCacheHit(a.cache_key, now);
}

}  // namespace pipeline
