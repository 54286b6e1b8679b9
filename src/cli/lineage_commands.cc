// Subcommands over recorded artifacts, lineage, metrics, models, audit and retention.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/clock.h"
#include "core/duration.h"
#include "core/strings.h"
#include "core/time_util.h"
#include "lineage/cache_key.h"
#include "lineage/content_store.h"

namespace pipeline::cli {
namespace fs = std::filesystem;

namespace {

std::string Short(const std::string& sha) { return sha.substr(0, 12); }

std::string Bytes(int64_t n) {
  char buf[32];
  if (n < 1024) std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(n));
  else if (n < 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f KB", static_cast<double>(n) / 1024);
  else if (n < int64_t{1024} * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(n) / (1024 * 1024));
  else std::snprintf(buf, sizeof buf, "%.2f GB", static_cast<double>(n) / (1024.0 * 1024 * 1024));
  return buf;
}

std::string Value(const std::optional<double>& v) {
  if (!v) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", *v);
  return buf;
}

std::string CommandText(const std::string& command_json) {
  auto j = nlohmann::json::parse(command_json, nullptr, false);
  if (!j.is_array()) return command_json;
  if (j.size() == 3 && j[0] == "/bin/sh" && j[1] == "-c") return std::string(Trim(j[2].get<std::string>()));
  std::vector<std::string> parts;
  for (auto& a : j) parts.push_back(ShellQuote(a.get<std::string>()));
  return Join(parts, " ");
}

// Resolves MODEL@ALIAS, a path or a sha256 prefix to one artifact.
int ResolveArtifact(Store* store, const std::string& what, ArtifactRecord* out) {
  size_t at = what.find('@');
  if (at != std::string::npos && what.find('/') == std::string::npos) {
    auto alias = store->GetAlias(what.substr(0, at), what.substr(at + 1));
    if (!alias.ok()) return Fail(alias.status());
    if (!*alias) {
      auto all = store->ListAliases();
      std::vector<std::string> names;
      if (all.ok())
        for (const AliasRecord& r : *all) names.push_back(r.model + "@" + r.alias);
      std::fprintf(stderr, "error: no model alias %s%s\n", what.c_str(), DidYouMean(what, names).c_str());
      return kExitBadInput;
    }
    *out = (*alias)->artifact;
    return kExitOk;
  }
  std::string key = what;
  if (fs::path(key).is_relative() && fs::exists(key)) key = fs::path(key).lexically_normal().string();
  auto found = store->FindArtifacts(key);
  if (!found.ok()) return Fail(found.status());
  if (found->empty()) {
    std::fprintf(stderr, "error: no recorded artifact matches '%s' (give a path as recorded, a sha256 prefix of 6+ "
                         "hex digits, or MODEL@ALIAS)\n", what.c_str());
    return kExitBadInput;
  }
  std::set<std::string> shas;
  for (const ArtifactRecord& a : *found) shas.insert(a.sha256);
  if (found->size() > 1 && shas.size() > 1 && found->front().uri != key) {
    std::fprintf(stderr, "error: '%s' matches %zu artifacts:\n", what.c_str(), found->size());
    for (const ArtifactRecord& a : *found)
      std::fprintf(stderr, "  %s  %s\n", Short(a.sha256).c_str(), a.uri.c_str());
    return kExitBadInput;
  }
  *out = found->front();  // newest version of that path
  if (found->size() > 1 && found->front().uri == key)
    std::fprintf(stderr, "note: %s has %zu recorded versions; showing the newest (pass a sha256 prefix for another)\n",
                 key.c_str(), found->size());
  return kExitOk;
}

void PrintTextTree(const LineageGraph& g, bool upstream) {
  std::map<int64_t, const LineageArtifact*> arts;
  std::map<int64_t, const LineageAttempt*> atts;
  for (const auto& a : g.artifacts) arts[a.artifact.id] = &a;
  for (const auto& a : g.attempts) atts[a.attempt_id] = &a;
  std::set<int64_t> shown_attempts;

  std::function<void(int64_t, const std::string&, const std::string&, int)> artifact;
  auto attempt = [&](int64_t id, const std::string& prefix, bool last, int depth) {
    const LineageAttempt* at = atts[id];
    if (!at) return;
    std::string head = prefix + (last ? "└─ " : "├─ ");
    std::string child = prefix + (last ? "   " : "│  ");
    std::string verb = upstream ? "made by" : "used by";
    std::printf("%s%s task %s (run %s, attempt %d%s)\n", head.c_str(), verb.c_str(), at->task.c_str(),
                at->run_id.c_str(), at->attempt_no,
                at->cache_source_attempt_id ? ", cached" : "");
    if (!shown_attempts.insert(id).second) {
      std::printf("%s(shown above)\n", child.c_str());
      return;
    }
    std::printf("%scommand: %s\n", child.c_str(), CommandText(at->command_json).c_str());
    if (upstream) {
      // The params this task used (its cache manifest), else the run's.
      std::string params = at->params_json;
      auto m = nlohmann::json::parse(at->manifest_json.empty() ? "null" : at->manifest_json, nullptr, false);
      if (m.is_object() && m.contains("params")) params = m["params"].dump();
      if (!params.empty() && params != "{}" && params != "[]" && params != "null")
        std::printf("%sparams:  %s\n", child.c_str(), params.c_str());
    }
    std::vector<const LineageEdge*> next;
    for (const LineageEdge& e : g.edges)
      if (e.attempt_id == id && e.direction == (upstream ? "in" : "out")) next.push_back(&e);
    for (const LineageEdge* e : next) artifact(e->artifact_id, e->role, child, depth + 1);
  };
  artifact = [&](int64_t id, const std::string& role, const std::string& prefix, int depth) {
    const LineageArtifact* la = arts[id];
    if (!la) return;
    const ArtifactRecord& a = la->artifact;
    std::string label = role.empty() ? a.kind : role;
    std::string aliases = la->aliases.empty() ? "" : "  [" + Join(la->aliases, ", ") + "]";
    std::string size = role == "dag" ? "definition" : Bytes(a.size_bytes);
    std::printf("%s%s%s: %s (sha256 %s, %s)%s\n", prefix.c_str(), depth == 0 ? "" : "• ", label.c_str(),
                a.uri.c_str(), Short(a.sha256).c_str(), size.c_str(), aliases.c_str());
    std::vector<int64_t> attempts;
    for (const LineageEdge& e : g.edges)
      if (e.artifact_id == id && e.direction == (upstream ? "out" : "in") &&
          std::find(attempts.begin(), attempts.end(), e.attempt_id) == attempts.end())
        attempts.push_back(e.attempt_id);
    if (upstream && attempts.empty() && depth > 0 && la->is_source) return;
    for (size_t k = 0; k < attempts.size(); ++k) attempt(attempts[k], prefix + "  ", k + 1 == attempts.size(), depth);
  };
  artifact(g.root_artifact_id, "", "", 0);
  if (g.truncated) std::printf("(stopped after 64 levels)\n");
}

nlohmann::json GraphJson(const LineageGraph& g) {
  nlohmann::json j;
  j["root_artifact_id"] = g.root_artifact_id;
  j["truncated"] = g.truncated;
  j["artifacts"] = nlohmann::json::array();
  for (const auto& a : g.artifacts)
    j["artifacts"].push_back({{"id", a.artifact.id}, {"kind", a.artifact.kind}, {"uri", a.artifact.uri},
                              {"sha256", a.artifact.sha256}, {"size_bytes", a.artifact.size_bytes},
                              {"depth", a.depth}, {"is_source", a.is_source}, {"aliases", a.aliases}});
  j["attempts"] = nlohmann::json::array();
  for (const auto& a : g.attempts)
    j["attempts"].push_back({{"id", a.attempt_id}, {"run_id", a.run_id}, {"dag", a.dag}, {"task", a.task},
                             {"attempt", a.attempt_no}, {"state", a.state},
                             {"command", nlohmann::json::parse(a.command_json, nullptr, false)},
                             {"params", nlohmann::json::parse(a.params_json.empty() ? "{}" : a.params_json, nullptr, false)},
                             {"dag_sha256", a.dag_sha256}, {"depth", a.depth},
                             {"cache_source_attempt_id", a.cache_source_attempt_id ? nlohmann::json(*a.cache_source_attempt_id) : nlohmann::json()}});
  j["edges"] = nlohmann::json::array();
  for (const auto& e : g.edges)
    j["edges"].push_back({{"attempt_id", e.attempt_id}, {"artifact_id", e.artifact_id}, {"direction", e.direction},
                          {"role", e.role}});
  return j;
}

void PrintDot(const LineageGraph& g) {
  std::printf("digraph lineage {\n  rankdir=LR;\n");
  for (const auto& a : g.artifacts)
    std::printf("  a%lld [shape=note, label=%s];\n", static_cast<long long>(a.artifact.id),
                JsonQuote(a.artifact.uri + "\n" + Short(a.artifact.sha256)).c_str());
  for (const auto& a : g.attempts)
    std::printf("  t%lld [shape=box, style=rounded, label=%s];\n", static_cast<long long>(a.attempt_id),
                JsonQuote(a.task + "\nrun " + a.run_id).c_str());
  for (const auto& e : g.edges) {
    if (e.direction == "in")
      std::printf("  a%lld -> t%lld [label=%s];\n", static_cast<long long>(e.artifact_id),
                  static_cast<long long>(e.attempt_id), JsonQuote(e.role).c_str());
    else
      std::printf("  t%lld -> a%lld [label=%s];\n", static_cast<long long>(e.attempt_id),
                  static_cast<long long>(e.artifact_id), JsonQuote(e.role).c_str());
  }
  std::printf("}\n");
}

}  // namespace

int CmdExplain(const Globals& g, const std::string& run_id, const std::string& task) {
  std::unique_ptr<Store> store;
  std::optional<RunRecord> run;
  if (int rc = OpenRun(g, run_id, &store, &run); rc != kExitOk) return rc;
  auto tis = store->ListTaskInstances(run->id);
  auto attempts = store->ListAttempts(run->id);
  if (!tis.ok()) return Fail(tis.status());
  if (!attempts.ok()) return Fail(attempts.status());
  const TaskInstanceRecord* ti = nullptr;
  std::vector<std::string> names;
  for (const auto& t : *tis) {
    names.push_back(t.task);
    if (t.task == task) ti = &t;
  }
  if (!ti) {
    std::fprintf(stderr, "error: run %s has no task '%s'%s\n", run->run_id.c_str(), task.c_str(),
                 DidYouMean(task, names).c_str());
    return kExitBadInput;
  }
  const AttemptRecord* last = nullptr;
  for (const auto& a : *attempts)
    if (a.task == task) last = &a;
  std::printf("task %s in run %s: %s\n", task.c_str(), run->run_id.c_str(), ti->state.c_str());
  if (!last) {
    std::printf("it never started%s\n", ti->reason.empty() ? "" : (": " + ti->reason).c_str());
    return kExitOk;
  }
  auto full = store->GetAttempt(last->id);
  if (!full.ok()) return Fail(full.status());
  if (full->state == "cached") {
    auto src = store->GetAttempt(*full->cache_source_attempt_id);
    std::printf("cached: its cache key matched attempt %d of '%s' (attempt id %lld), whose outputs were restored "
                "from the store and verified\n",
                src.ok() ? src->attempt_no : 0, task.c_str(), static_cast<long long>(*full->cache_source_attempt_id));
    return kExitOk;
  }
  std::printf("it ran (attempt %d, %s)\n", full->attempt_no, full->state.c_str());
  if (full->manifest_json.empty()) {
    std::printf("why: the task declares no outputs, inputs or code, so it is never cached\n");
    return kExitOk;
  }
  // Options the run was started with (recorded with its run.start audit entry).
  AuditFilter af;
  af.action = "run.";
  af.limit = 0;
  auto audit = store->ListAudit(af);
  if (audit.ok())
    for (const AuditRecord& r : *audit)
      if (r.target == run->run_id && (r.action == "run.start" || r.action == "run.resume")) {
        auto d = nlohmann::json::parse(r.details_json, nullptr, false);
        if (d.is_object() && d.value("no_cache", false)) {
          std::printf("why: the run was started with --no-cache\n");
          return kExitOk;
        }
        if (d.is_object() && d.contains("force") && d["force"].is_array())
          for (auto& f : d["force"])
            if (f == task) {
              std::printf("why: the run was started with --force %s\n", task.c_str());
              return kExitOk;
            }
      }
  auto def = store->DagDefinition(run->dag_version_id);
  if (def.ok()) {
    auto j = nlohmann::json::parse(*def, nullptr, false);
    if (j.is_object() && j.contains("tasks") && j["tasks"].contains(task) && j["tasks"][task].is_object() &&
        j["tasks"][task].value("cache", true) == false) {
      std::printf("why: the task has cache: false\n");
      return kExitOk;
    }
  }
  auto prev = store->PreviousManifest(full->id);
  if (!prev.ok()) return Fail(prev.status());
  if (!*prev) {
    std::printf("why: no earlier attempt of '%s' had recorded a result to compare with (first run)\n", task.c_str());
    return kExitOk;
  }
  std::vector<std::string> reasons = ExplainManifestChange(**prev, full->manifest_json);
  if (reasons.empty()) {
    std::printf("why: an earlier attempt had the same cache key, but its result was not reusable (it failed, was "
                "invalidated, or its outputs were missing from the store)\n");
    return kExitOk;
  }
  std::printf("why, compared with the nearest earlier attempt:\n");
  for (const std::string& r : reasons) std::printf("  - %s\n", r.c_str());
  return kExitOk;
}

int CmdMetrics(const Globals& g, const std::string& dag, const std::string& name, int limit, bool json) {
  std::unique_ptr<Store> store;
  if (int rc = OpenForRead(g, &store); rc != kExitOk) return rc;
  auto rows = store->MetricsHistory(dag, name, limit);
  if (!rows.ok()) return Fail(rows.status());
  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (const MetricRecord& m : *rows)
      j.push_back({{"run_id", m.run_id}, {"dag", m.dag}, {"task", m.task}, {"attempt", m.attempt_no}, {"name", m.name},
                   {"value", m.value ? nlohmann::json(*m.value) : nlohmann::json()}, {"ts", FormatIso8601(m.ts_ms)}});
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  if (rows->empty()) {
    std::printf("no metrics recorded for dag %s%s\n", dag.c_str(), name.empty() ? "" : (" named " + name).c_str());
    return kExitOk;
  }
  std::printf("%-22s  %-16s  %-20s  %12s  %s\n", "RUN ID", "TASK", "METRIC", "VALUE", "RECORDED (UTC)");
  for (const MetricRecord& m : *rows)
    std::printf("%-22s  %-16s  %-20s  %12s  %s\n", m.run_id.c_str(), m.task.c_str(), m.name.c_str(),
                Value(m.value).c_str(), FormatLocalish(m.ts_ms).c_str());
  return kExitOk;
}

int CmdModels(const Globals& g, bool history, bool json) {
  std::unique_ptr<Store> store;
  if (int rc = OpenForRead(g, &store); rc != kExitOk) return rc;
  auto aliases = store->ListAliases();
  if (!aliases.ok()) return Fail(aliases.status());
  nlohmann::json out = nlohmann::json::array();
  if (aliases->empty() && !json) std::printf("no models have been promoted yet (see `promote:` in docs/dag-format.md)\n");
  for (const AliasRecord& a : *aliases) {
    // The metrics behind the alias: every task's, in the run that set it (where the gate
    // read them), else the producing task's.
    std::map<std::string, std::optional<double>> m;
    auto setter = store->FindRun(a.run_id.empty() ? a.producing_run_id : a.run_id);
    if (setter.ok()) {
      auto rows = store->RunMetrics(setter->id);
      if (rows.ok())
        for (const MetricRecord& r : *rows) m[r.task + "." + r.name] = r.value;
    }
    if (m.empty()) {
      auto metrics = store->AliasTaskMetrics(a.model, a.alias, a.producing_task);
      if (metrics.ok() && *metrics)
        for (auto& [k, v] : **metrics) m[a.producing_task + "." + k] = v;
    }
    if (json) {
      nlohmann::json mj = nlohmann::json::object();
      for (auto& [k, v] : m) mj[k] = v ? nlohmann::json(*v) : nlohmann::json();
      out.push_back({{"model", a.model}, {"alias", a.alias}, {"uri", a.artifact.uri}, {"sha256", a.artifact.sha256},
                     {"producing_run", a.producing_run_id}, {"producing_task", a.producing_task},
                     {"set_by", a.set_by}, {"set", FormatIso8601(a.set_ms)}, {"metrics", mj}});
      continue;
    }
    std::printf("%s@%s\n", a.model.c_str(), a.alias.c_str());
    std::printf("  artifact  %s (sha256 %s, %s)\n", a.artifact.uri.c_str(), Short(a.artifact.sha256).c_str(),
                Bytes(a.artifact.size_bytes).c_str());
    std::printf("  made by   task %s in run %s\n", a.producing_task.c_str(), a.producing_run_id.c_str());
    std::printf("  set       %s UTC by %s%s\n", FormatLocalish(a.set_ms).c_str(), a.set_by.c_str(),
                a.run_id.empty() ? "" : (" in run " + a.run_id).c_str());
    if (!m.empty()) {
      std::vector<std::string> parts;
      for (auto& [k, v] : m) parts.push_back(k + "=" + Value(v));
      std::printf("  metrics   %s\n", Join(parts, "  ").c_str());
    }
    if (history) {
      auto h = store->AliasHistory(a.model, a.alias);
      if (h.ok())
        for (const AliasHistoryRecord& r : *h)
          std::printf("  history   %s  %s -> %s  by %s%s\n", FormatLocalish(r.set_ms).c_str(),
                      r.prev_artifact_sha256.empty() ? "(new)" : Short(r.prev_artifact_sha256).c_str(),
                      r.artifact_sha256.empty() ? "(removed)" : Short(r.artifact_sha256).c_str(), r.set_by.c_str(),
                      r.run_id.empty() ? "" : (" in run " + r.run_id).c_str());
    }
  }
  if (json) std::printf("%s\n", out.dump(2).c_str());
  return kExitOk;
}

int CmdLineage(const Globals& g, const std::string& what, bool downstream, const std::string& format) {
  std::unique_ptr<Store> store;
  if (int rc = OpenForRead(g, &store); rc != kExitOk) return rc;
  ArtifactRecord art;
  if (int rc = ResolveArtifact(store.get(), what, &art); rc != kExitOk) return rc;
  auto graph = downstream ? store->Downstream(art.id) : store->Upstream(art.id);
  if (!graph.ok()) return Fail(graph.status());
  if (format == "json") {
    std::printf("%s\n", GraphJson(*graph).dump(2).c_str());
  } else if (format == "dot") {
    PrintDot(*graph);
  } else {
    PrintTextTree(*graph, !downstream);
  }
  return kExitOk;
}

int CmdAudit(const Globals& g, const std::string& since, const std::string& action, int limit, bool json) {
  AuditFilter f;
  f.action = action;
  f.limit = limit;
  if (!since.empty()) {
    int64_t ms = 0, ago = 0;
    std::string err;
    if (ParseIso8601(since, &ms)) {
      f.since_ms = ms;
    } else if (ParseDuration(since, &ago, &err)) {
      f.since_ms = SystemClock::Get()->NowMs() - ago;
    } else {
      std::fprintf(stderr, "error: --since %s: expected a date (2026-11-01) or a duration ago (7d, 12h)\n", since.c_str());
      return kExitBadInput;
    }
  }
  std::unique_ptr<Store> store;
  if (int rc = OpenForRead(g, &store); rc != kExitOk) return rc;
  auto rows = store->ListAudit(f);
  if (!rows.ok()) return Fail(rows.status());
  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (const AuditRecord& r : *rows)
      j.push_back({{"at", FormatIso8601(r.at_ms)}, {"actor", r.actor}, {"action", r.action}, {"target", r.target},
                   {"details", nlohmann::json::parse(r.details_json, nullptr, false)}});
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  for (const AuditRecord& r : *rows)
    std::printf("%s  %-20s  %-12s  %-26s  %s\n", FormatLocalish(r.at_ms).c_str(), r.actor.c_str(), r.action.c_str(),
                r.target.c_str(), r.details_json == "{}" ? "" : r.details_json.c_str());
  if (rows->empty()) std::printf("no audit entries\n");
  return kExitOk;
}

int CmdGc(const Globals& g, const std::string& older_than, bool dry_run) {
  int64_t keep_ms = 0;
  std::string err;
  if (!ParseDuration(older_than, &keep_ms, &err)) {
    std::fprintf(stderr, "error: --older-than %s: %s\n", older_than.c_str(), err.c_str());
    return kExitBadInput;
  }
  std::unique_ptr<Store> store;
  if (int rc = OpenForRead(g, &store); rc != kExitOk) return rc;
  const int64_t before = SystemClock::Get()->NowMs() - keep_ms;
  auto runs = store->RunsForRetention(before);
  if (!runs.ok()) return Fail(runs.status());
  int64_t log_bytes = 0;
  int forgotten = 0;
  for (const RunRecord& r : *runs) {
    if (dry_run) {
      std::printf("would delete run %s (%s, %s)\n", r.run_id.c_str(), r.dag.c_str(), r.state.c_str());
      continue;
    }
    if (Status s = store->Begin(); !s.ok()) return Fail(s);
    auto res = store->ForgetRun(r.id);
    if (!res.ok()) {
      store->Rollback();
      std::fprintf(stderr, "kept run %s: %s\n", r.run_id.c_str(), res.status().message().c_str());
      continue;
    }
    if (Status s = store->Commit(); !s.ok()) return Fail(s);
    for (const std::string& p : res->log_paths) {
      std::error_code ec;
      auto size = fs::file_size(p, ec);
      if (!ec && fs::remove(p, ec)) log_bytes += static_cast<int64_t>(size);
    }
    std::error_code ec;
    fs::remove_all(fs::path(AbsHome(g)) / "logs" / r.run_id, ec);
    ++forgotten;
  }
  auto keep = store->ArtifactsToKeep(before);
  if (!keep.ok()) return Fail(keep.status());
  int64_t freed = 0;
  int removed = 0;
  if (!dry_run) {
    // A running engine copies outputs into the store before it records them; sweeping then
    // could remove an object it is about to reference. Leave the store alone until no run
    // is in progress (records and logs of old runs are still removed above).
    RunFilter running;
    running.state = "running";
    running.limit = 1;
    auto active = store->ListRuns(running);
    bool busy = active.ok() && !active->empty();
    ContentStore cas((fs::path(AbsHome(g)) / "cas").string());
    if (busy)
      std::printf("runs are in progress (e.g. %s): stored artifacts are not swept this time\n",
                  (*active)[0].run_id.c_str());
    else if (fs::exists(cas.root()))
      if (Status s = cas.Sweep(*keep, &freed, &removed); !s.ok()) return Fail(s);
    store->ReclaimSpace();
    AuditRecord a;
    a.at_ms = SystemClock::Get()->NowMs();
    a.actor = "user:" + UserName();
    a.action = "gc";
    a.details_json = nlohmann::json({{"older_than", older_than}, {"runs_deleted", forgotten},
                                     {"objects_removed", removed}, {"bytes_freed", freed + log_bytes}})
                         .dump();
    store->AppendAudit(a);
    std::printf("deleted %d runs (%s of logs) and %d stored objects (%s); kept everything in the lineage of a "
                "model alias\n",
                forgotten, Bytes(log_bytes).c_str(), removed, Bytes(freed).c_str());
  } else {
    std::printf("%zu runs would be deleted; artifacts in the lineage of a model alias and of newer runs are kept\n",
                runs->size());
  }
  return kExitOk;
}

}  // namespace pipeline::cli

namespace pipeline::cli {
namespace {

// The outputs each task of a run ended with: task -> role -> artifact (the last succeeded
// or cached attempt; a cached attempt's outputs are the reused ones).
std::map<std::string, std::map<std::string, ArtifactRecord>> RunOutputs(Store* store, int64_t run_pk,
                                                                       Status* status) {
  std::map<std::string, std::map<std::string, ArtifactRecord>> out;
  auto attempts = store->ListAttempts(run_pk);
  if (!attempts.ok()) {
    *status = attempts.status();
    return out;
  }
  std::map<std::string, const AttemptRecord*> last;
  for (const AttemptRecord& a : *attempts)
    if (a.state == "succeeded" || a.state == "cached") last[a.task] = &a;
  for (const auto& [task, a] : last) {
    auto arts = store->AttemptArtifacts(a->id);
    if (!arts.ok()) {
      *status = arts.status();
      return out;
    }
    for (const AttemptArtifact& aa : *arts)
      if (aa.direction == "out") out[task][aa.role] = aa.artifact;
  }
  return out;
}

}  // namespace

int CmdReproduce(const Globals& g, const std::string& run_id, int jobs, bool json) {
  std::unique_ptr<Store> store;
  std::optional<RunRecord> run;
  if (int rc = OpenRun(g, run_id, &store, &run); rc != kExitOk) return rc;
  if (run->state == "running" || run->state == "queued") {
    std::fprintf(stderr, "error: run %s is still running\n", run->run_id.c_str());
    return kExitBadInput;
  }
  Dag dag;
  if (int rc = LoadRunDag(store.get(), *run, &dag); rc != kExitOk) return rc;
  const std::string base = run->base_dir.empty() ? fs::current_path().string() : run->base_dir;
  ContentStore cas((fs::path(AbsHome(g)) / "cas").string());

  // Put back the external inputs the run consumed; keep today's versions in the store.
  auto attempts = store->ListAttempts(run->id);
  if (!attempts.ok()) return Fail(attempts.status());
  std::set<std::string> done;
  for (const AttemptRecord& a : *attempts) {
    if (a.state != "succeeded" && a.state != "cached") continue;
    const Task* t = dag.FindTask(a.task);
    if (!t) continue;
    auto arts = store->AttemptArtifacts(a.id);
    if (!arts.ok()) return Fail(arts.status());
    for (const AttemptArtifact& aa : *arts) {
      if (aa.direction != "in" || !done.insert(aa.artifact.uri + aa.artifact.sha256).second) continue;
      const std::string abs = fs::path(aa.artifact.uri).is_absolute() ? aa.artifact.uri
                                                                       : (fs::path(base) / aa.artifact.uri).string();
      bool external = false;
      for (const InputDecl& in : t->inputs) external |= in.task.empty() && in.name == aa.role;
      ContentDigest now;
      bool same = HashPath(abs, &now).ok() && now.sha256 == aa.artifact.sha256;
      if (aa.role == "code" && !same) {
        std::fprintf(stderr, "warning: code changed since run %s: %s (was %s%s); results may differ\n",
                     run->run_id.c_str(), aa.artifact.uri.c_str(), Short(aa.artifact.sha256).c_str(),
                     now.sha256.empty() ? ", now missing" : (", now " + Short(now.sha256)).c_str());
        continue;
      }
      if (!external || same) continue;
      if (!cas.Has(aa.artifact.sha256)) {
        std::fprintf(stderr, "error: cannot reproduce run %s: input %s (sha256 %s) is no longer in the store\n",
                     run->run_id.c_str(), aa.artifact.uri.c_str(), Short(aa.artifact.sha256).c_str());
        return kExitBadInput;
      }
      if (!now.sha256.empty())
        if (Status s = cas.Put(abs, now); !s.ok()) return Fail(s);
      if (Status s = cas.Restore(aa.artifact.sha256, abs); !s.ok()) return Fail(s);
      std::printf("restored input %s to the version run %s used (%s)%s\n", aa.artifact.uri.c_str(),
                  run->run_id.c_str(), Short(aa.artifact.sha256).c_str(),
                  now.sha256.empty() ? "" : ("; today's version " + Short(now.sha256) + " is kept in the store").c_str());
    }
  }
  Status st;
  auto before = RunOutputs(store.get(), run->id, &st);
  if (!st.ok()) return Fail(st);
  AuditRecord audit;
  audit.at_ms = SystemClock::Get()->NowMs();
  audit.actor = "user:" + UserName();
  audit.action = "run.reproduce";
  audit.target_kind = "run";
  audit.target = run->run_id;
  store->AppendAudit(audit);
  store.reset();

  RunOptions opts;
  opts.parallelism = jobs > 0 ? jobs : DefaultJobs();
  opts.base_dir = base;
  opts.dag_file = run->dag_file;
  opts.trigger = "manual";
  opts.triggered_by = UserName();
  opts.logical_date_ms = run->logical_date_ms;
  opts.use_cache = false;  // every task really runs again
  std::string new_id;
  int rc = ExecuteRun(g, dag, opts, json, nullptr, &new_id);
  if (rc != kExitOk && rc != kExitFailed) return rc;

  if (int orc = OpenForRead(g, &store); orc != kExitOk) return orc;
  auto fresh = store->FindRun(new_id);
  if (!fresh.ok()) return Fail(fresh.status());
  auto after = RunOutputs(store.get(), fresh->id, &st);
  if (!st.ok()) return Fail(st);
  int matched = 0, differed = 0;
  std::printf("\nreproduction of run %s as run %s:\n", run->run_id.c_str(), new_id.c_str());
  std::printf("%-16s  %-14s  %-12s  %-12s  %s\n", "TASK", "OUTPUT", "ORIGINAL", "NOW", "RESULT");
  for (const auto& [task, roles] : before)
    for (const auto& [role, art] : roles) {
      const ArtifactRecord* now = nullptr;
      auto t = after.find(task);
      if (t != after.end()) {
        auto r = t->second.find(role);
        if (r != t->second.end()) now = &r->second;
      }
      bool match = now && now->sha256 == art.sha256;
      (match ? matched : differed)++;
      std::printf("%-16s  %-14s  %-12s  %-12s  %s\n", task.c_str(), role.c_str(), Short(art.sha256).c_str(),
                  now ? Short(now->sha256).c_str() : "-", match ? "identical" : now ? "DIFFERS" : "NOT PRODUCED");
    }
  std::printf("%d of %d outputs bit-for-bit identical\n", matched, matched + differed);
  return rc == kExitOk && differed == 0 ? kExitOk : kExitFailed;
}

}  // namespace pipeline::cli
