// Builds validated-looking Dags in code, for planner and engine tests that must not
// depend on the YAML loader.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/dag.h"

namespace pipeline::testing {

class DagBuilder {
 public:
  explicit DagBuilder(std::string id = "test") { dag_.id = std::move(id); }

  /// Adds a task with shell |command| depending on |deps| (which must already exist).
  Task& Add(const std::string& id, std::vector<std::string> deps = {}, std::string command = "true") {
    Task t;
    t.id = id;
    t.command = std::move(command);
    t.depends_on = std::move(deps);
    dag_.task_index[id] = static_cast<int>(dag_.tasks.size());
    dag_.tasks.push_back(std::move(t));
    return dag_.tasks.back();
  }
  DagBuilder& Pool(const std::string& name, int slots) {
    dag_.pools[name] = slots;
    return *this;
  }
  DagBuilder& Param(const std::string& name, std::string value,
                    ParamValue::Type type = ParamValue::Type::kString) {
    dag_.params[name] = ParamValue{type, std::move(value)};
    return *this;
  }

  /// Resolves edges and default priorities (longest path to a sink, in nodes).
  Dag Build() {
    Dag d = dag_;
    for (size_t i = 0; i < d.tasks.size(); ++i)
      for (const std::string& dep : d.tasks[i].depends_on) {
        int u = d.task_index.at(dep);
        d.tasks[i].upstream.push_back(u);
        d.tasks[static_cast<size_t>(u)].downstream.push_back(static_cast<int>(i));
      }
    for (auto& t : d.tasks) std::sort(t.downstream.begin(), t.downstream.end());
    // Tasks were added after their deps, so reverse index order is a reverse topo order.
    std::vector<int> len(d.tasks.size(), 1);
    for (size_t i = d.tasks.size(); i-- > 0;) {
      for (int down : d.tasks[i].downstream) len[i] = std::max(len[i], len[static_cast<size_t>(down)] + 1);
      if (!d.tasks[i].priority_set) d.tasks[i].priority = len[i];
    }
    return d;
  }

 private:
  Dag dag_;
};

}  // namespace pipeline::testing
