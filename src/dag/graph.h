// Graph algorithms over task indices, shared by the loader. All iterative: a 10,000-task
// chain must not overflow the stack.
#pragma once

#include <vector>

namespace pipeline {

/// One cycle per non-trivial strongly connected component of the graph whose edges are
/// |out[u]| (u -> v). Each cycle is returned as its nodes in edge order, starting at the
/// lowest index of the component; the closing edge runs from the last node back to the
/// first. Self-loops are ignored (the loader reports them separately). O(V + E).
std::vector<std::vector<int>> FindCycles(const std::vector<std::vector<int>>& out);

/// For an acyclic graph, |(*length)[u]| = number of nodes on the longest path from u to
/// a node without out-edges (a sink has 1). Computed in reverse topological order.
/// Returns false (and leaves |length| unspecified) if the graph has a cycle.
bool LongestPathToSink(const std::vector<std::vector<int>>& out, std::vector<int>* length);

}  // namespace pipeline
