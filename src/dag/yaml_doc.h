// A compact, read-only YAML document model built from yaml-cpp's event API.
//
// Why not YAML::Node: it allocates a shared_ptr-linked tree per node, loses the
// plain/quoted distinction we need for strict typing, silently keeps one of two
// duplicate keys, and expands aliases by copying. Here every node lives in one
// vector, scalar text in one string pool, and children in one index array, so
// building costs a few appends per event. Aliases are shared by reference (an
// kAlias node points at its target) and each use is charged the target's expanded
// size against a node budget, so "billion laughs" fails fast instead of eating
// memory. Positions are kept (1-based) for diagnostics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pipeline {

struct YamlNode {
  enum class Kind : uint8_t { kNull, kScalar, kSeq, kMap, kAlias };
  Kind kind = Kind::kNull;
  /// Scalars only: true for a plain (unquoted, untagged, not block) scalar. Only plain
  /// scalars may be integers, numbers or booleans; "3" stays a string.
  bool plain = false;
  int line = 0;         ///< 1-based
  int col = 0;          ///< 1-based
  uint32_t offset = 0;  ///< byte offset of the node in the source text
  /// kScalar: offset into the text pool. kSeq/kMap: first slot in the child array.
  /// kAlias: index of the target node.
  uint32_t begin = 0;
  /// kScalar: byte length. kSeq: item count. kMap: pair count (2 * size child slots,
  /// key then value).
  uint32_t size = 0;
};

/// Limits applied while building (see LoadOptions).
struct YamlLimits {
  int max_depth = 64;
  size_t max_nodes = 2000000;
};

/// A problem found while parsing. |fatal| ones stop the parse (syntax errors, limits);
/// the others (duplicate keys, non-scalar keys) leave a usable document.
struct YamlError {
  int line = 0;
  int col = 0;
  std::string message;
};

class YamlDoc {
 public:
  /// Root node index, or -1 for an empty stream (no document, or only comments).
  int root() const { return root_; }
  size_t node_count() const { return nodes_.size(); }

  const YamlNode& node(int i) const { return nodes_[static_cast<size_t>(i)]; }
  /// Follows an alias to its target; other nodes map to themselves.
  int Resolve(int i) const {
    const YamlNode& n = node(i);
    return n.kind == YamlNode::Kind::kAlias ? static_cast<int>(n.begin) : i;
  }
  /// Kind after resolving aliases.
  YamlNode::Kind KindOf(int i) const { return node(Resolve(i)).kind; }

  /// Scalar text (after resolving aliases); "" for non-scalars.
  std::string_view Text(int i) const {
    const YamlNode& n = node(Resolve(i));
    if (n.kind != YamlNode::Kind::kScalar) return {};
    return std::string_view(text_).substr(n.begin, n.size);
  }
  /// Item |k| of a sequence (not resolved).
  int Item(int seq, size_t k) const { return children_[node(seq).begin + k]; }
  /// Key / value of pair |k| of a map (not resolved).
  int Key(int map, size_t k) const { return children_[node(map).begin + 2 * k]; }
  int Value(int map, size_t k) const { return children_[node(map).begin + 2 * k + 1]; }

 private:
  friend class YamlDocBuilder;
  std::vector<YamlNode> nodes_;
  std::vector<int> children_;
  std::string text_;
  int root_ = -1;
};

/// Parses |text| (one YAML document) into |doc|. Returns false if the parse stopped
/// (syntax error, more than one document, depth or node budget exceeded); the reason is
/// the last entry of |errors|. Non-fatal problems (duplicate keys: the later pair is
/// dropped; non-scalar keys) are appended to |errors| while still returning true.
/// Never throws.
bool ParseYaml(std::string_view text, const YamlLimits& limits, YamlDoc* doc,
               std::vector<YamlError>* errors);

/// "a map", "a list", "null", "a string"/"a number"-ish description for messages.
std::string_view DescribeKind(YamlNode::Kind kind);

}  // namespace pipeline
