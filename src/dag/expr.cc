#include "dag/expr.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <system_error>
#include <utility>

#include "core/strings.h"

namespace pipeline {

ExprValue ExprValue::Null() { return ExprValue(); }

ExprValue ExprValue::Number(double v) {
  ExprValue e;
  e.type = Type::kNumber;
  e.number = v;
  return e;
}

ExprValue ExprValue::String(std::string v) {
  ExprValue e;
  e.type = Type::kString;
  e.string = std::move(v);
  return e;
}

ExprValue ExprValue::Bool(bool v) {
  ExprValue e;
  e.type = Type::kBool;
  e.boolean = v;
  return e;
}

std::string ExprValue::ToString() const {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kBool: return boolean ? "true" : "false";
    case Type::kNumber: {
      char buf[64];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, number);
      return ec == std::errc() ? std::string(buf, p) : std::string("?");
    }
    case Type::kString: {
      std::string out = "'";
      for (char c : string) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
      }
      out += '\'';
      return out;
    }
  }
  return "null";
}

const char* ExprTypeName(ExprValue::Type t) {
  switch (t) {
    case ExprValue::Type::kNull: return "null";
    case ExprValue::Type::kNumber: return "number";
    case ExprValue::Type::kString: return "string";
    case ExprValue::Type::kBool: return "boolean";
  }
  return "null";
}

ExprValue ExprValueFromParam(const ParamValue& p) {
  switch (p.type) {
    case ParamValue::Type::kBool: return ExprValue::Bool(p.text == "true");
    case ParamValue::Type::kInt:
    case ParamValue::Type::kFloat: {
      double v = 0;
      auto [ptr, ec] = std::from_chars(p.text.data(), p.text.data() + p.text.size(), v);
      if (ec == std::errc() && ptr == p.text.data() + p.text.size()) return ExprValue::Number(v);
      return ExprValue::String(p.text);
    }
    case ParamValue::Type::kString: break;
  }
  return ExprValue::String(p.text);
}

namespace {

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSegmentChar(char c) { return IsIdentStart(c) || IsDigit(c) || c == '-'; }

// Keeps messages one line and bounded, whatever the expression holds.
std::string Snippet(std::string_view s) {
  std::string out(s.substr(0, 60));
  for (char& c : out)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (s.size() > 60) out += "...";
  return out;
}

enum class Tok : uint8_t {
  kEnd, kNumber, kString, kRef, kTrue, kFalse, kNull, kAnd, kOr, kNot, kLParen, kRParen, kCmp
};

}  // namespace

// Lexer and recursive-descent parser in one: the grammar needs one token of lookahead.
class ExprParser {
 public:
  ExprParser(std::string_view text, Expression* out) : text_(text), out_(out) {}

  bool Run(std::string* err, size_t* err_offset) {
    if (text_.size() > std::numeric_limits<uint32_t>::max()) {
      return Fail(0, "expression too long", err, err_offset);
    }
    if (!Next()) return Report(err, err_offset);
    if (tok_ == Tok::kEnd) {
      error_ = "empty expression";
      error_offset_ = 0;
      return Report(err, err_offset);
    }
    int root = ParseOr(0);
    if (root < 0) return Report(err, err_offset);
    if (tok_ != Tok::kEnd) {
      error_offset_ = tok_begin_;
      error_ = tok_ == Tok::kRParen ? "unmatched ')'"
                                    : "unexpected " + TokenText() +
                                          " after a complete expression (missing 'and' or 'or'?)";
      return Report(err, err_offset);
    }
    out_->root_ = root;
    return true;
  }

 private:
  bool Fail(size_t offset, std::string message, std::string* err, size_t* err_offset) {
    *err = std::move(message);
    *err_offset = offset;
    return false;
  }
  bool Report(std::string* err, size_t* err_offset) {
    return Fail(error_offset_, std::move(error_), err, err_offset);
  }
  bool SetError(size_t offset, std::string message) {
    error_offset_ = offset;
    error_ = std::move(message);
    return false;
  }

  std::string TokenText() const {
    if (tok_ == Tok::kEnd) return "end of expression";
    return "'" + Snippet(text_.substr(tok_begin_, pos_ - tok_begin_)) + "'";
  }

  // Reads the next token into tok_* fields. False on a lexical error.
  bool Next() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
    tok_begin_ = pos_;
    if (pos_ >= text_.size()) {
      tok_ = Tok::kEnd;
      return true;
    }
    const char c = text_[pos_];
    const char n = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
    if (IsDigit(c) || ((c == '-' || c == '+') && IsDigit(n))) return LexNumber();
    if (c == '"' || c == '\'') {
      tok_ = Tok::kString;
      return LexString(&tok_string_);
    }
    if (IsIdentStart(c)) return LexWordOrRef();
    switch (c) {
      case '(': ++pos_; tok_ = Tok::kLParen; return true;
      case ')': ++pos_; tok_ = Tok::kRParen; return true;
      case '=':
        if (n == '=') return Cmp(Expression::Node::Op::kEq, 2);
        return SetError(pos_, "'=' is not an operator; use '==' to compare");
      case '!':
        if (n == '=') return Cmp(Expression::Node::Op::kNe, 2);
        return SetError(pos_, "unexpected '!'; use 'not'");
      case '<':
        return n == '=' ? Cmp(Expression::Node::Op::kLe, 2) : Cmp(Expression::Node::Op::kLt, 1);
      case '>':
        return n == '=' ? Cmp(Expression::Node::Op::kGe, 2) : Cmp(Expression::Node::Op::kGt, 1);
      case '&':
        return SetError(pos_, "unexpected '&'; use 'and'");
      case '|':
        return SetError(pos_, "unexpected '|'; use 'or'");
      default:
        break;
    }
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return SetError(pos_, "unexpected character (byte 0x" + Hex(static_cast<unsigned char>(c)) + ")");
    }
    return SetError(pos_, std::string("unexpected character '") + c + "'");
  }

  static std::string Hex(unsigned char b) {
    const char* d = "0123456789abcdef";
    return {d[b >> 4], d[b & 15]};
  }

  bool Cmp(Expression::Node::Op op, size_t len) {
    tok_ = Tok::kCmp;
    tok_cmp_ = op;
    pos_ += len;
    return true;
  }

  bool LexNumber() {
    size_t i = pos_;
    if (text_[i] == '-' || text_[i] == '+') ++i;
    while (i < text_.size() && IsDigit(text_[i])) ++i;
    if (i < text_.size() && text_[i] == '.') {
      ++i;
      if (i >= text_.size() || !IsDigit(text_[i])) {
        return SetError(i, "expected a digit after the decimal point");
      }
      while (i < text_.size() && IsDigit(text_[i])) ++i;
    }
    if (i < text_.size() && (text_[i] == 'e' || text_[i] == 'E')) {
      size_t j = i + 1;
      if (j < text_.size() && (text_[j] == '-' || text_[j] == '+')) ++j;
      if (j >= text_.size() || !IsDigit(text_[j])) {
        return SetError(j, "expected digits in the exponent");
      }
      while (j < text_.size() && IsDigit(text_[j])) ++j;
      i = j;
    }
    if (i < text_.size() && (IsIdentStart(text_[i]) || text_[i] == '.')) {
      return SetError(i, "unexpected character '" + std::string(1, text_[i]) + "' in a number");
    }
    std::string_view t = text_.substr(pos_, i - pos_);
    if (t[0] == '+') t.remove_prefix(1);
    double v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size() || !std::isfinite(v)) {
      return SetError(pos_, "number out of range: " + Snippet(text_.substr(pos_, i - pos_)));
    }
    tok_ = Tok::kNumber;
    tok_number_ = v;
    pos_ = i;
    return true;
  }

  // A quoted string at pos_; leaves pos_ after the closing quote.
  bool LexString(std::string* out) {
    const char q = text_[pos_];
    const size_t open = pos_;
    out->clear();
    size_t i = pos_ + 1;
    while (true) {
      if (i >= text_.size()) return SetError(open, "unterminated string");
      const char c = text_[i];
      if (c == q) break;
      if (c == '\\') {
        const char e = i + 1 < text_.size() ? text_[i + 1] : '\0';
        if (e != '\\' && e != '\'' && e != '"') {
          if (i + 1 >= text_.size()) return SetError(open, "unterminated string");
          return SetError(i, "unknown escape '\\" + std::string(1, e) +
                                 "' in a string (only \\\\, \\' and \\\" are escapes)");
        }
        *out += e;
        i += 2;
        continue;
      }
      *out += c;
      ++i;
    }
    pos_ = i + 1;
    return true;
  }

  // An identifier: a keyword, or the start of a reference path.
  bool LexWordOrRef() {
    const size_t start = pos_;
    size_t i = pos_;
    while (i < text_.size() && (IsIdentStart(text_[i]) || IsDigit(text_[i]))) ++i;
    std::string_view word = text_.substr(start, i - start);
    const bool continues = i < text_.size() && (text_[i] == '.' || text_[i] == '[');
    if (!continues) {
      static constexpr std::pair<std::string_view, Tok> kWords[] = {
          {"and", Tok::kAnd},   {"or", Tok::kOr},       {"not", Tok::kNot},
          {"true", Tok::kTrue}, {"false", Tok::kFalse}, {"null", Tok::kNull}};
      for (const auto& [w, t] : kWords) {
        if (word == w) {
          tok_ = t;
          pos_ = i;
          return true;
        }
      }
    }
    // A reference: segments joined by '.', or ["quoted"] segments.
    segments_.clear();
    segments_.emplace_back(word);
    while (i < text_.size() && (text_[i] == '.' || text_[i] == '[')) {
      if (text_[i] == '.') {
        size_t j = i + 1;
        while (j < text_.size() && IsSegmentChar(text_[j])) ++j;
        if (j == i + 1) {
          return SetError(i + 1, "expected a name after '.'");
        }
        segments_.emplace_back(text_.substr(i + 1, j - i - 1));
        i = j;
      } else {
        size_t j = i + 1;
        if (j >= text_.size() || (text_[j] != '"' && text_[j] != '\'')) {
          return SetError(j, "expected a quoted name after '[' (metrics[\"my.task\"].NAME)");
        }
        pos_ = j;
        std::string seg;
        if (!LexString(&seg)) return false;
        j = pos_;
        if (j >= text_.size() || text_[j] != ']') return SetError(j, "expected ']'");
        if (seg.empty()) return SetError(i, "empty name in '[...]'");
        segments_.push_back(std::move(seg));
        i = j + 1;
      }
    }
    pos_ = i;
    tok_ = Tok::kRef;
    return Classify(start, i);
  }

  bool Classify(size_t start, size_t end) {
    ExprRef r;
    r.text = std::string(text_.substr(start, end - start));
    r.offset = start;
    const std::vector<std::string>& s = segments_;
    auto ident = [&](size_t k, const char* what) {
      if (IsValidIdentifier(s[k])) return true;
      return SetError(start, std::string(what) + " '" + Snippet(s[k]) + "' in '" + Snippet(r.text) +
                                 "' must be an identifier (letters, digits and '_')");
    };
    if (s[0] == "params" && s.size() == 2) {
      if (!ident(1, "param name")) return false;
      r.kind = ExprRef::Kind::kParam;
      r.param = s[1];
    } else if (s[0] == "metrics" && s.size() == 3) {
      r.kind = ExprRef::Kind::kMetric;
      r.task = s[1];
      r.metric = s[2];
    } else if (s[0] == "models" && s.size() == 6 && s[3] == "metrics") {
      if (!ident(1, "model name") || !ident(2, "alias")) return false;
      r.kind = ExprRef::Kind::kAliasMetric;
      r.model = s[1];
      r.alias = s[2];
      r.task = s[4];
      r.metric = s[5];
    } else if (s.size() == 4 && s[1] == "metrics" && s[0] != "params" && s[0] != "metrics" &&
               s[0] != "models") {
      r.kind = ExprRef::Kind::kAliasMetric;
      r.alias = s[0];
      r.task = s[2];
      r.metric = s[3];
    } else {
      std::string msg = "unknown reference '" + Snippet(r.text) + "'";
      if (s.size() == 1) {
        static const std::vector<std::string> kKeywords = {"and", "or", "not", "true", "false", "null"};
        std::string lower;
        for (char c : s[0]) lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        for (const std::string& k : kKeywords) {
          if (lower == k) msg += "; did you mean '" + k + "'?";
        }
      } else if (s[0] != "params" && s[0] != "metrics" && s[0] != "models" && s[1] != "metrics") {
        msg += DidYouMean(s[0], {"params", "metrics", "models"});
      }
      if (msg.find("did you mean") == std::string::npos) {
        msg += " (expected params.NAME, metrics.TASK.NAME, ALIAS.metrics.TASK.NAME or "
               "models.MODEL.ALIAS.metrics.TASK.NAME)";
      }
      return SetError(start, msg);
    }
    // One entry per distinct reference, however it is spelled.
    std::string key;
    key += static_cast<char>(r.kind);
    for (const std::string* f : {&r.param, &r.task, &r.metric, &r.model, &r.alias}) {
      key += '\0';
      key += *f;
    }
    auto [it, inserted] = ref_index_.emplace(std::move(key), static_cast<int>(out_->refs_.size()));
    if (inserted) out_->refs_.push_back(std::move(r));
    tok_ref_ = it->second;
    return true;
  }

  int Add(Expression::Node node) {
    out_->nodes_.push_back(std::move(node));
    return static_cast<int>(out_->nodes_.size() - 1);
  }

  int ParseOr(int depth) { return ParseList(depth, Tok::kOr); }
  int ParseAnd(int depth) { return ParseList(depth, Tok::kAnd); }

  // or_expr / and_expr: n-ary, built iteratively.
  int ParseList(int depth, Tok op) {
    const size_t begin = tok_begin_;
    int first = op == Tok::kOr ? ParseAnd(depth) : ParseNot(depth);
    if (first < 0 || tok_ != op) return first;
    std::vector<int> operands{first};
    while (tok_ == op) {
      if (!Next()) return -1;
      int next = op == Tok::kOr ? ParseAnd(depth) : ParseNot(depth);
      if (next < 0) return -1;
      operands.push_back(next);
    }
    Expression::Node node;
    node.op = op == Tok::kOr ? Expression::Node::Op::kOr : Expression::Node::Op::kAnd;
    node.first = static_cast<uint32_t>(out_->lists_.size());
    node.count = static_cast<uint32_t>(operands.size());
    out_->lists_.insert(out_->lists_.end(), operands.begin(), operands.end());
    node.begin = static_cast<uint32_t>(begin);
    node.end = out_->nodes_[static_cast<size_t>(operands.back())].end;
    return Add(std::move(node));
  }

  bool Deeper(int depth) {
    if (depth < kMaxExprDepth) return true;
    return SetError(tok_begin_, "expression nested too deeply (more than " +
                                    std::to_string(kMaxExprDepth) + " levels of '(' and 'not')");
  }

  int ParseNot(int depth) {
    if (tok_ != Tok::kNot) return ParseComparison(depth);
    if (!Deeper(depth)) return -1;
    const size_t begin = tok_begin_;
    if (!Next()) return -1;
    int operand = ParseNot(depth + 1);
    if (operand < 0) return -1;
    Expression::Node node;
    node.op = Expression::Node::Op::kNot;
    node.lhs = operand;
    node.begin = static_cast<uint32_t>(begin);
    node.end = out_->nodes_[static_cast<size_t>(operand)].end;
    return Add(std::move(node));
  }

  int ParseComparison(int depth) {
    int lhs = ParsePrimary(depth);
    if (lhs < 0 || tok_ != Tok::kCmp) return lhs;
    const Expression::Node::Op op = tok_cmp_;
    const std::string op_text(text_.substr(tok_begin_, pos_ - tok_begin_));
    if (!Next()) return -1;
    if (tok_ == Tok::kEnd) {
      SetError(tok_begin_, "expected a value after '" + op_text + "'");
      return -1;
    }
    int rhs = ParsePrimary(depth);
    if (rhs < 0) return -1;
    if (tok_ == Tok::kCmp) {
      SetError(tok_begin_, "comparisons cannot be chained; write 'a < b and b < c'");
      return -1;
    }
    Expression::Node node;
    node.op = op;
    node.lhs = lhs;
    node.rhs = rhs;
    node.begin = out_->nodes_[static_cast<size_t>(lhs)].begin;
    node.end = out_->nodes_[static_cast<size_t>(rhs)].end;
    return Add(std::move(node));
  }

  int ParsePrimary(int depth) {
    Expression::Node node;
    node.begin = static_cast<uint32_t>(tok_begin_);
    switch (tok_) {
      case Tok::kNumber: node.literal = ExprValue::Number(tok_number_); break;
      case Tok::kString: node.literal = ExprValue::String(std::move(tok_string_)); break;
      case Tok::kTrue: node.literal = ExprValue::Bool(true); break;
      case Tok::kFalse: node.literal = ExprValue::Bool(false); break;
      case Tok::kNull: node.literal = ExprValue::Null(); break;
      case Tok::kRef:
        node.op = Expression::Node::Op::kRef;
        node.ref = tok_ref_;
        break;
      case Tok::kLParen: {
        if (!Deeper(depth)) return -1;
        const size_t open = tok_begin_;
        if (!Next()) return -1;
        if (tok_ == Tok::kRParen) {
          SetError(tok_begin_, "empty parentheses");
          return -1;
        }
        int inner = ParseOr(depth + 1);
        if (inner < 0) return -1;
        if (tok_ != Tok::kRParen) {
          if (tok_ == Tok::kEnd) {
            SetError(open, "unclosed '('");
          } else {
            SetError(tok_begin_, "expected ')' or an operator, got " + TokenText());
          }
          return -1;
        }
        // Widen an operator's span to the parentheses, so messages quote them. (A leaf
        // keeps its own span: QualifiedText edits the text at reference offsets.)
        Expression::Node& in = out_->nodes_[static_cast<size_t>(inner)];
        if (in.op != Expression::Node::Op::kRef && in.op != Expression::Node::Op::kLiteral) {
          in.begin = static_cast<uint32_t>(open);
          in.end = static_cast<uint32_t>(pos_);
        }
        if (!Next()) return -1;
        return inner;
      }
      case Tok::kEnd:
        SetError(tok_begin_, "expected a value at the end of the expression");
        return -1;
      default:
        SetError(tok_begin_, "expected a value, got " + TokenText());
        return -1;
    }
    node.end = static_cast<uint32_t>(pos_);
    if (!Next()) return -1;
    return Add(std::move(node));
  }

  std::string_view text_;
  Expression* out_;
  size_t pos_ = 0;

  Tok tok_ = Tok::kEnd;
  size_t tok_begin_ = 0;
  double tok_number_ = 0;
  std::string tok_string_;
  int tok_ref_ = -1;
  Expression::Node::Op tok_cmp_ = Expression::Node::Op::kEq;
  std::vector<std::string> segments_;
  std::map<std::string, int> ref_index_;

  std::string error_;
  size_t error_offset_ = 0;
};

bool Expression::Parse(std::string_view text, Expression* out, std::string* err,
                       size_t* err_offset) {
  *out = Expression();
  out->text_ = std::string(text);
  ExprParser parser(out->text_, out);
  return parser.Run(err, err_offset);
}

std::string Expression::QualifiedText(std::string_view model) const {
  std::vector<uint32_t> at;  // offsets of short-form occurrences
  for (const Node& n : nodes_) {
    if (n.op == Node::Op::kRef && refs_[static_cast<size_t>(n.ref)].kind == ExprRef::Kind::kAliasMetric &&
        refs_[static_cast<size_t>(n.ref)].model.empty())
      at.push_back(n.begin);
  }
  std::sort(at.begin(), at.end());
  std::string out;
  out.reserve(text_.size() + at.size() * (model.size() + 8));
  size_t pos = 0;
  for (uint32_t o : at) {
    out.append(text_, pos, o - pos);
    out += "models.";
    out += model;
    out += '.';
    pos = o;
  }
  out.append(text_, pos, std::string::npos);
  return out;
}

class ExprEvaluator {
 public:
  ExprEvaluator(const Expression& e, const std::function<ExprValue(const ExprRef&)>& resolve,
                std::string* trace)
      : e_(e), resolve_(resolve), trace_(trace), cache_(e.refs_.size()), done_(e.refs_.size(), 0) {}

  bool Eval(int index, ExprValue* out, std::string* err) {
    using Op = Expression::Node::Op;
    const Expression::Node& n = e_.nodes_[static_cast<size_t>(index)];
    switch (n.op) {
      case Op::kLiteral:
        *out = n.literal;
        return true;
      case Op::kRef:
        *out = Ref(n.ref);
        return true;
      case Op::kNot: {
        ExprValue v;
        if (!Eval(n.lhs, &v, err)) return false;
        if (!NeedBool("not", n.lhs, v, err)) return false;
        *out = ExprValue::Bool(!v.boolean);
        return true;
      }
      case Op::kAnd:
      case Op::kOr: {
        const bool is_and = n.op == Op::kAnd;
        for (uint32_t k = 0; k < n.count; ++k) {
          const int child = e_.lists_[n.first + k];
          ExprValue v;
          if (!Eval(child, &v, err)) return false;
          if (!NeedBool(is_and ? "and" : "or", child, v, err)) return false;
          if (v.boolean != is_and) {  // false for 'and', true for 'or': decided
            *out = v;
            return true;
          }
        }
        *out = ExprValue::Bool(is_and);
        return true;
      }
      default:
        break;
    }
    ExprValue a, b;
    if (!Eval(n.lhs, &a, err) || !Eval(n.rhs, &b, err)) return false;
    using T = ExprValue::Type;
    if (n.op == Op::kEq || n.op == Op::kNe) {
      bool equal;
      if (a.type == T::kNull || b.type == T::kNull) {
        equal = a.type == b.type;
      } else if (a.type != b.type) {
        return Mismatch(n, a, b, err);
      } else if (a.type == T::kNumber) {
        equal = a.number == b.number;
      } else if (a.type == T::kString) {
        equal = a.string == b.string;
      } else {
        equal = a.boolean == b.boolean;
      }
      *out = ExprValue::Bool(n.op == Op::kEq ? equal : !equal);
      return true;
    }
    if (a.type == T::kNull || b.type == T::kNull) {
      *out = ExprValue::Bool(false);
      return true;
    }
    if (a.type != b.type || a.type == T::kBool) return Mismatch(n, a, b, err);
    int c;
    if (a.type == T::kNumber) {
      c = a.number < b.number ? -1 : (a.number > b.number ? 1 : 0);
      if (std::isnan(a.number) || std::isnan(b.number)) {
        *out = ExprValue::Bool(false);
        return true;
      }
    } else {
      c = a.string.compare(b.string);
    }
    bool r = false;
    switch (n.op) {
      case Op::kLt: r = c < 0; break;
      case Op::kLe: r = c <= 0; break;
      case Op::kGt: r = c > 0; break;
      case Op::kGe: r = c >= 0; break;
      default: break;
    }
    *out = ExprValue::Bool(r);
    return true;
  }

  std::string Source(int index) const {
    const Expression::Node& n = e_.nodes_[static_cast<size_t>(index)];
    return Snippet(std::string_view(e_.text_).substr(n.begin, n.end - n.begin));
  }

 private:
  ExprValue Ref(int r) {
    const size_t i = static_cast<size_t>(r);
    if (!done_[i]) {
      cache_[i] = resolve_(e_.refs_[i]);
      done_[i] = 1;
      if (trace_) {
        if (!trace_->empty()) *trace_ += ", ";
        *trace_ += e_.refs_[i].text + " = " + cache_[i].ToString();
      }
    }
    return cache_[i];
  }

  bool NeedBool(const char* op, int child, const ExprValue& v, std::string* err) const {
    if (v.type == ExprValue::Type::kBool) return true;
    *err = std::string("'") + op + "' needs true or false, but " + Source(child) + " is " +
           (v.type == ExprValue::Type::kNull ? std::string("null")
                                             : std::string("a ") + ExprTypeName(v.type) + " (" +
                                                   Snippet(v.ToString()) + ")");
    return false;
  }

  bool Mismatch(const Expression::Node& n, const ExprValue& a, const ExprValue& b,
                std::string* err) const {
    const std::string what = Snippet(std::string_view(e_.text_).substr(n.begin, n.end - n.begin));
    if (a.type == b.type) {  // two booleans under an ordering
      *err = "cannot order booleans in '" + what + "': " + Source(n.lhs) + " = " + a.ToString() +
             ", " + Source(n.rhs) + " = " + b.ToString() + " (ordering needs two numbers or two strings)";
      return false;
    }
    *err = std::string("cannot compare a ") + ExprTypeName(a.type) + " with a " +
           ExprTypeName(b.type) + " in '" + what + "': " + Source(n.lhs) + " = " +
           Snippet(a.ToString()) + ", " + Source(n.rhs) + " = " + Snippet(b.ToString());
    return false;
  }

  const Expression& e_;
  const std::function<ExprValue(const ExprRef&)>& resolve_;
  std::string* trace_;
  std::vector<ExprValue> cache_;
  std::vector<char> done_;
};

bool Expression::Evaluate(const std::function<ExprValue(const ExprRef&)>& resolve, bool* result,
                          std::string* err, std::string* trace) const {
  if (trace) trace->clear();
  if (root_ < 0) {
    *err = "empty expression";
    return false;
  }
  ExprEvaluator ev(*this, resolve, trace);
  ExprValue v;
  if (!ev.Eval(root_, &v, err)) return false;
  if (v.type != ExprValue::Type::kBool) {
    *err = "the expression must yield true or false, but " + ev.Source(root_) + " is " +
           (v.type == ExprValue::Type::kNull
                ? std::string("null")
                : std::string("a ") + ExprTypeName(v.type) + " (" + Snippet(v.ToString()) + ")");
    return false;
  }
  *result = v.boolean;
  return true;
}

}  // namespace pipeline
