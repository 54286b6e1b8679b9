#include "pipeline/dag.h"

#include <algorithm>
#include <utility>

#include "dag/graph.h"

namespace pipeline {

const char* TriggerRuleName(TriggerRule r) {
  switch (r) {
    case TriggerRule::kAllSuccess: return "all_success";
    case TriggerRule::kAllDone: return "all_done";
    case TriggerRule::kAllFailed: return "all_failed";
    case TriggerRule::kOneSuccess: return "one_success";
    case TriggerRule::kOneFailed: return "one_failed";
    case TriggerRule::kNoneFailed: return "none_failed";
  }
  return "all_success";
}

bool ParseTriggerRule(std::string_view s, TriggerRule* out) {
  static constexpr std::pair<std::string_view, TriggerRule> kRules[] = {
      {"all_success", TriggerRule::kAllSuccess}, {"all_done", TriggerRule::kAllDone},
      {"all_failed", TriggerRule::kAllFailed},   {"one_success", TriggerRule::kOneSuccess},
      {"one_failed", TriggerRule::kOneFailed},   {"none_failed", TriggerRule::kNoneFailed},
  };
  for (const auto& [name, rule] : kRules) {
    if (s == name) {
      *out = rule;
      return true;
    }
  }
  return false;
}

const char* ParamTypeName(ParamValue::Type t) {
  switch (t) {
    case ParamValue::Type::kString: return "string";
    case ParamValue::Type::kInt: return "integer";
    case ParamValue::Type::kFloat: return "number";
    case ParamValue::Type::kBool: return "boolean";
  }
  return "string";
}

namespace {
constexpr std::pair<std::string_view, ArtifactKind> kArtifactKinds[] = {
    {"dataset", ArtifactKind::kDataset}, {"model", ArtifactKind::kModel},
    {"metrics", ArtifactKind::kMetrics}, {"report", ArtifactKind::kReport},
    {"code", ArtifactKind::kCode},       {"other", ArtifactKind::kOther},
};
}  // namespace

const char* ArtifactKindName(ArtifactKind k) {
  switch (k) {
    case ArtifactKind::kDataset: return "dataset";
    case ArtifactKind::kModel: return "model";
    case ArtifactKind::kMetrics: return "metrics";
    case ArtifactKind::kReport: return "report";
    case ArtifactKind::kCode: return "code";
    case ArtifactKind::kOther: return "other";
  }
  return "dataset";
}

bool ParseArtifactKind(std::string_view s, ArtifactKind* out) {
  for (const auto& [name, kind] : kArtifactKinds) {
    if (s == name) {
      *out = kind;
      return true;
    }
  }
  return false;
}

std::vector<std::vector<int>> FindCycles(const std::vector<std::vector<int>>& out) {
  const int n = static_cast<int>(out.size());
  // Tarjan's algorithm with an explicit call stack.
  std::vector<int> index(static_cast<size_t>(n), -1), low(static_cast<size_t>(n), 0);
  std::vector<int> comp(static_cast<size_t>(n), -1);
  std::vector<char> on_stack(static_cast<size_t>(n), 0);
  std::vector<int> scc_stack;
  std::vector<std::pair<int, size_t>> call;  // node, next edge
  int next_index = 0, next_comp = 0;
  std::vector<std::vector<int>> components;
  auto visit = [&](int v) {
    index[static_cast<size_t>(v)] = low[static_cast<size_t>(v)] = next_index++;
    scc_stack.push_back(v);
    on_stack[static_cast<size_t>(v)] = 1;
    call.emplace_back(v, 0);
  };
  for (int s = 0; s < n; ++s) {
    if (index[static_cast<size_t>(s)] >= 0) continue;
    visit(s);
    while (!call.empty()) {
      const int v = call.back().first;
      const size_t vi = static_cast<size_t>(v);
      size_t& e = call.back().second;
      if (e < out[vi].size()) {
        const int w = out[vi][e++];
        const size_t wi = static_cast<size_t>(w);
        if (index[wi] < 0) {
          visit(w);  // may reallocate |call|; |e| is not used after this
        } else if (on_stack[wi]) {
          low[vi] = std::min(low[vi], index[wi]);
        }
        continue;
      }
      if (low[vi] == index[vi]) {
        std::vector<int> members;
        int w;
        do {
          w = scc_stack.back();
          scc_stack.pop_back();
          on_stack[static_cast<size_t>(w)] = 0;
          comp[static_cast<size_t>(w)] = next_comp;
          members.push_back(w);
        } while (w != v);
        if (members.size() > 1) components.push_back(std::move(members));
        ++next_comp;
      }
      call.pop_back();
      if (!call.empty()) {
        const size_t pi = static_cast<size_t>(call.back().first);
        low[pi] = std::min(low[pi], low[vi]);
      }
    }
  }

  // In each component, the shortest cycle through its lowest node (BFS inside it).
  std::vector<std::vector<int>> cycles;
  std::vector<int> parent(static_cast<size_t>(n), -1);
  std::vector<int> queue;
  for (std::vector<int>& members : components) {
    std::sort(members.begin(), members.end());
    const int start = members.front();
    const int c = comp[static_cast<size_t>(start)];
    for (int m : members) parent[static_cast<size_t>(m)] = -1;
    queue.assign(1, start);
    parent[static_cast<size_t>(start)] = start;
    int last = -1;
    for (size_t qi = 0; qi < queue.size() && last < 0; ++qi) {
      const int u = queue[qi];
      for (int w : out[static_cast<size_t>(u)]) {
        if (comp[static_cast<size_t>(w)] != c) continue;
        if (w == start) {
          if (u != start) {
            last = u;
            break;
          }
          continue;
        }
        if (parent[static_cast<size_t>(w)] >= 0) continue;
        parent[static_cast<size_t>(w)] = u;
        queue.push_back(w);
      }
    }
    if (last < 0) continue;  // unreachable for a real component
    std::vector<int> path;
    for (int v = last; v != start; v = parent[static_cast<size_t>(v)]) path.push_back(v);
    path.push_back(start);
    std::reverse(path.begin(), path.end());
    cycles.push_back(std::move(path));
  }
  return cycles;
}

bool LongestPathToSink(const std::vector<std::vector<int>>& out, std::vector<int>* length) {
  const size_t n = out.size();
  // Kahn's algorithm on the reversed view: a node is done once all its successors are.
  std::vector<int> remaining(n, 0);
  std::vector<std::vector<int>> in(n);
  for (size_t u = 0; u < n; ++u) {
    for (int v : out[u]) {
      if (static_cast<size_t>(v) == u) return false;
      in[static_cast<size_t>(v)].push_back(static_cast<int>(u));
      ++remaining[u];
    }
  }
  length->assign(n, 1);
  std::vector<int> ready;
  ready.reserve(n);
  for (size_t u = 0; u < n; ++u)
    if (remaining[u] == 0) ready.push_back(static_cast<int>(u));
  for (size_t qi = 0; qi < ready.size(); ++qi) {
    const size_t v = static_cast<size_t>(ready[qi]);
    for (int u : in[v]) {
      const size_t ui = static_cast<size_t>(u);
      (*length)[ui] = std::max((*length)[ui], (*length)[v] + 1);
      if (--remaining[ui] == 0) ready.push_back(u);
    }
  }
  return ready.size() == n;
}

}  // namespace pipeline
