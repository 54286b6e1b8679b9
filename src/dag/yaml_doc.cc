#include "dag/yaml_doc.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <istream>
#include <streambuf>
#include <utility>

namespace pipeline {
namespace {

// Thrown by the handler to abandon a parse (limits, aliases, extra documents); caught in
// ParseYaml together with yaml-cpp's own exceptions. Never leaves this file.
struct StopParse {
  YamlError error;
};

// Reads the source text in place; std::istringstream would copy the whole file.
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(std::string_view s) {
    char* p = const_cast<char*>(s.data());  // read-only use: we never write via the put area
    setg(p, p, p + s.size());
  }
};

// Looks for a tab in the indentation of a line. yaml-cpp's own message ("illegal tab
// when looking for indentation", or "illegal map value") does not say what to fix.
// Lines inside block scalars (after a line ending in | or >) may hold tabs once the
// block's indentation is reached, so they are skipped heuristically.
bool FindIndentTab(std::string_view text, int* line_out, int* col_out) {
  int line = 0;
  size_t pos = 0;
  bool in_block = false;
  size_t block_parent_indent = 0;
  while (pos <= text.size()) {
    ++line;
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(pos, end - pos);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    size_t spaces = 0;
    while (spaces < l.size() && l[spaces] == ' ') ++spaces;
    size_t ws = spaces;
    while (ws < l.size() && (l[ws] == ' ' || l[ws] == '\t')) ++ws;
    const bool blank = ws == l.size();
    if (!blank) {
      if (in_block && spaces > block_parent_indent) {
        // Content of a block scalar: tabs after the indentation are data.
      } else {
        in_block = false;
        if (ws > spaces && l[ws] != '#') {
          *line_out = line;
          *col_out = static_cast<int>(spaces) + 1;
          return true;
        }
        // Does this line open a block scalar ("key: |", "- >-", "key: |2 # c")?
        std::string_view rest = l;
        size_t hash = rest.find(" #");
        if (hash != std::string_view::npos) rest = rest.substr(0, hash);
        while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
        size_t k = rest.size();
        while (k > 0 && (rest[k - 1] == '-' || rest[k - 1] == '+' ||
                         (rest[k - 1] >= '0' && rest[k - 1] <= '9')))
          --k;
        if (k > 0 && (rest[k - 1] == '|' || rest[k - 1] == '>') &&
            (k == 1 || rest[k - 2] == ' ')) {
          in_block = true;
          block_parent_indent = spaces;
        }
      }
    }
    if (end == text.size()) break;
    pos = end + 1;
  }
  return false;
}

}  // namespace

// Builds a YamlDoc from events. Children of open containers accumulate in |pending_|
// and move to the document's child array when the container closes, so each map's
// pairs are contiguous without a vector per node.
class YamlDocBuilder : public YAML::EventHandler {
 public:
  YamlDocBuilder(std::string_view text, const YamlLimits& limits, YamlDoc* doc,
                 std::vector<YamlError>* errors)
      : text_(text), limits_(limits), doc_(doc), errors_(errors) {
    // A DAG file has roughly one node per 12 bytes; reserving avoids most regrowth.
    doc->nodes_.reserve(text.size() / 12 + 16);
    doc->children_.reserve(text.size() / 12 + 16);
    doc->text_.reserve(text.size() / 2 + 16);
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (documents_++ > 0) {
      Stop(mark, "more than one YAML document in the file (a second '---'); a DAG file holds "
                 "exactly one");
    }
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    int i = NewNode(YamlNode::Kind::kNull, mark);
    Attach(i, anchor, 1);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (anchor >= anchors_.size() || anchors_[anchor].node < 0) {
      Stop(mark, "alias " + AliasName(mark) + " refers to an undefined anchor");
    }
    const Anchor& a = anchors_[anchor];
    if (a.open) {
      Stop(mark, "alias " + AliasName(mark) +
                     " refers to a node that contains it (a recursive alias would never end)");
    }
    // Sharing the target is free, but a consumer walking the tree sees a.weight nodes:
    // charge them so that nested aliases (billion laughs) hit the budget.
    Charge(mark, a.weight, true);
    int i = NewNode(YamlNode::Kind::kAlias, mark);
    doc_->nodes_[static_cast<size_t>(i)].begin = static_cast<uint32_t>(a.node);
    pending_.push_back(i);
    if (stack_.empty()) doc_->root_ = i;
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    int i = NewNode(YamlNode::Kind::kScalar, mark);
    YamlNode& n = doc_->nodes_[static_cast<size_t>(i)];
    n.plain = tag == "?";
    n.begin = static_cast<uint32_t>(doc_->text_.size());
    n.size = static_cast<uint32_t>(value.size());
    doc_->text_ += value;
    Attach(i, anchor, 1);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    Open(YamlNode::Kind::kSeq, mark, anchor);
  }
  void OnSequenceEnd() override { Close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    Open(YamlNode::Kind::kMap, mark, anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Frame {
    int node;
    size_t pending_start;
    uint64_t charged_at_open;
    YAML::anchor_t anchor;
  };
  struct Anchor {
    int node = -1;
    bool open = false;
    uint64_t weight = 1;  // nodes a use of this anchor stands for
  };

  [[noreturn]] void Stop(const YAML::Mark& mark, std::string message) {
    throw StopParse{YamlError{mark.line + 1, mark.column + 1, std::move(message)}};
  }

  std::string AliasName(const YAML::Mark& mark) const {
    // The event API gives only the anchor's number; the name is in the source at |mark|.
    std::string name;
    size_t p = mark.pos >= 0 ? static_cast<size_t>(mark.pos) : text_.size();
    if (p < text_.size() && text_[p] == '*') {
      for (size_t e = p; e < text_.size() && e - p < 64; ++e) {
        char c = text_[e];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ']' || c == '}' ||
            c == '[' || c == '{')
          break;
        name += c;
      }
    }
    return name.empty() ? std::string("'*'") : "'" + name + "'";
  }

  void Charge(const YAML::Mark& mark, uint64_t n, bool alias) {
    charged_ += n;
    if (charged_ > limits_.max_nodes) {
      if (alias) {
        Stop(mark, "alias expansion exceeds " + std::to_string(limits_.max_nodes) +
                       " nodes (nested aliases multiply; is this a 'billion laughs' file?)");
      }
      Stop(mark, "document exceeds " + std::to_string(limits_.max_nodes) + " nodes");
    }
  }

  int NewNode(YamlNode::Kind kind, const YAML::Mark& mark) {
    if (kind != YamlNode::Kind::kAlias) Charge(mark, 1, false);
    YamlNode n;
    n.kind = kind;
    n.line = mark.line + 1;
    n.col = mark.column + 1;
    n.offset = mark.pos > 0 ? static_cast<uint32_t>(mark.pos) : 0;
    doc_->nodes_.push_back(n);
    return static_cast<int>(doc_->nodes_.size() - 1);
  }

  void SetAnchor(YAML::anchor_t anchor, int node, bool open, uint64_t weight) {
    if (anchor == YAML::NullAnchor) return;
    if (anchor >= anchors_.size()) anchors_.resize(anchor + 1);
    anchors_[anchor] = Anchor{node, open, weight};
  }

  // A finished leaf joins its parent.
  void Attach(int i, YAML::anchor_t anchor, uint64_t weight) {
    SetAnchor(anchor, i, false, weight);
    pending_.push_back(i);
    if (stack_.empty()) doc_->root_ = i;
  }

  void Open(YamlNode::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
      Stop(mark, "nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    int i = NewNode(kind, mark);
    SetAnchor(anchor, i, true, 1);
    stack_.push_back(Frame{i, pending_.size(), charged_ - 1, anchor});
  }

  void Close() {
    Frame f = stack_.back();
    stack_.pop_back();
    YamlNode& n = doc_->nodes_[static_cast<size_t>(f.node)];
    size_t count = pending_.size() - f.pending_start;
    if (n.kind == YamlNode::Kind::kMap) count = DropDuplicateKeys(f.pending_start);
    n.begin = static_cast<uint32_t>(doc_->children_.size());
    n.size = static_cast<uint32_t>(n.kind == YamlNode::Kind::kMap ? count / 2 : count);
    doc_->children_.insert(doc_->children_.end(),
                           pending_.begin() + static_cast<std::ptrdiff_t>(f.pending_start),
                           pending_.end());
    pending_.resize(f.pending_start);
    // Every node created or charged since Open belongs to this subtree.
    SetAnchor(f.anchor, f.node, false, charged_ - f.charged_at_open);
    pending_.push_back(f.node);
    if (stack_.empty()) doc_->root_ = f.node;
  }

  void Duplicate(int key, int first) {
    const YamlNode& k = doc_->node(key);
    errors_->push_back(YamlError{k.line, k.col,
                                 "duplicate key '" + std::string(doc_->Text(key)) +
                                     "' (first defined at line " +
                                     std::to_string(doc_->node(first).line) + ")"});
  }

  // Reports keys that repeat an earlier key of the same map and removes their pairs, so
  // consumers see each key once (the first). Small maps compare pairwise; large ones
  // sort, keeping this O(n log n) for a 10,000-task map. Returns the child slot count.
  size_t DropDuplicateKeys(size_t start) {
    const size_t pairs = (pending_.size() - start) / 2;
    auto key_at = [&](size_t k) { return pending_[start + 2 * k]; };
    std::vector<char> drop(pairs, 0);
    bool any = false;
    for (size_t k = 0; k < pairs; ++k) {
      int key = key_at(k);
      YamlNode::Kind kind = doc_->KindOf(key);
      if (kind != YamlNode::Kind::kScalar) {
        const YamlNode& kn = doc_->node(key);
        errors_->push_back(YamlError{
            kn.line, kn.col,
            kind == YamlNode::Kind::kNull
                ? std::string("empty or null key; keys must be strings")
                : "a key must be a string, not " + std::string(DescribeKind(kind))});
        drop[k] = 1;
        any = true;
      }
    }
    if (pairs <= 16) {
      for (size_t k = 1; k < pairs; ++k) {
        if (drop[k]) continue;
        for (size_t j = 0; j < k; ++j) {
          if (!drop[j] && doc_->Text(key_at(j)) == doc_->Text(key_at(k))) {
            Duplicate(key_at(k), key_at(j));
            drop[k] = 1;
            any = true;
            break;
          }
        }
      }
    } else {
      std::vector<uint32_t> order;
      order.reserve(pairs);
      for (size_t k = 0; k < pairs; ++k)
        if (!drop[k]) order.push_back(static_cast<uint32_t>(k));
      std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        std::string_view ta = doc_->Text(key_at(a)), tb = doc_->Text(key_at(b));
        return ta != tb ? ta < tb : a < b;
      });
      for (size_t r = 1; r < order.size(); ++r) {
        size_t first = r - 1;
        while (r < order.size() && doc_->Text(key_at(order[r])) == doc_->Text(key_at(order[first]))) {
          Duplicate(key_at(order[r]), key_at(order[first]));
          drop[order[r]] = 1;
          any = true;
          ++r;
        }
      }
    }
    if (any) {
      size_t out = start;
      for (size_t k = 0; k < pairs; ++k) {
        if (drop[k]) continue;
        pending_[out++] = pending_[start + 2 * k];
        pending_[out++] = pending_[start + 2 * k + 1];
      }
      pending_.resize(out);
    }
    return pending_.size() - start;
  }

  std::string_view text_;
  YamlLimits limits_;
  YamlDoc* doc_;
  std::vector<YamlError>* errors_;
  std::vector<Frame> stack_;
  std::vector<int> pending_;
  std::vector<Anchor> anchors_;
  uint64_t charged_ = 0;
  int documents_ = 0;
};

std::string_view DescribeKind(YamlNode::Kind kind) {
  switch (kind) {
    case YamlNode::Kind::kNull: return "null";
    case YamlNode::Kind::kScalar: return "a string";
    case YamlNode::Kind::kSeq: return "a list";
    case YamlNode::Kind::kMap: return "a map";
    case YamlNode::Kind::kAlias: return "an alias";
  }
  return "?";
}

bool ParseYaml(std::string_view text, const YamlLimits& limits, YamlDoc* doc,
               std::vector<YamlError>* errors) {
  *doc = YamlDoc();
  int tab_line = 0, tab_col = 0;
  if (FindIndentTab(text, &tab_line, &tab_col)) {
    errors->push_back(YamlError{tab_line, tab_col,
                                "tab character in indentation (YAML allows only spaces)"});
    return false;
  }
  ViewBuf buf(text);
  std::istream in(&buf);
  YamlDocBuilder builder(text, limits, doc, errors);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const StopParse& stop) {
    errors->push_back(stop.error);
    return false;
  } catch (const YAML::DeepRecursion& e) {
    errors->push_back(YamlError{e.mark.line + 1, e.mark.column + 1,
                                "YAML nesting too deep for the parser (more than " +
                                    std::to_string(e.depth()) + " levels)"});
    return false;
  } catch (const YAML::Exception& e) {
    std::string msg = e.msg;
    if (msg == "end of map not found" || msg == "end of sequence not found" ||
        msg == "end of map flow not found" || msg == "end of sequence flow not found") {
      msg += " (check indentation and matching brackets)";
    }
    errors->push_back(YamlError{e.mark.is_null() ? 0 : e.mark.line + 1,
                                e.mark.is_null() ? 0 : e.mark.column + 1,
                                "YAML syntax error: " + msg});
    return false;
  } catch (const std::exception& e) {
    // yaml-cpp may also throw std::bad_alloc and friends; never let them out.
    errors->push_back(YamlError{0, 0, std::string("YAML parser failed: ") + e.what()});
    return false;
  }
  return true;
}

}  // namespace pipeline
