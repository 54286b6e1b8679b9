// Boolean expressions for a task's `when:` gate (docs/expressions.md).
//
//   metrics.train.accuracy >= params.min_accuracy and
//     (production.metrics.train.accuracy == null or
//      metrics.train.accuracy >= production.metrics.train.accuracy)
//
// Grammar, lowest precedence first:
//   or_expr    := and_expr ('or' and_expr)*
//   and_expr   := not_expr ('and' not_expr)*
//   not_expr   := 'not' not_expr | comparison
//   comparison := primary (('=='|'!='|'<'|'<='|'>'|'>=') primary)?   // not chainable
//   primary    := NUMBER | STRING | 'true' | 'false' | 'null' | reference | '(' or_expr ')'
// A reference is a dotted path whose segments are [A-Za-z0-9_-]+, or a quoted string in
// brackets for segments holding other characters (metrics["my.task"].accuracy). Four
// shapes are references; anything else is a parse error:
//   params.NAME
//   metrics.TASK.NAME
//   ALIAS.metrics.TASK.NAME                 (short form; the loader fills in the model)
//   models.MODEL.ALIAS.metrics.TASK.NAME
// Parsing is one left-to-right pass, O(n), with nesting ('(' and 'not') limited to
// kMaxExprDepth levels so hostile input cannot exhaust the stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/dag.h"

namespace pipeline {

/// Nesting limit for parentheses and 'not'.
constexpr int kMaxExprDepth = 64;

struct ExprValue {
  enum class Type : uint8_t { kNull, kNumber, kString, kBool } type = Type::kNull;
  double number = 0;
  std::string string;
  bool boolean = false;

  static ExprValue Null();
  static ExprValue Number(double v);
  static ExprValue String(std::string v);
  static ExprValue Bool(bool v);
  /// 0.71, 'abc' (with \' and \\ escaped), true, null.
  std::string ToString() const;
};

/// "null", "number", "string", "boolean".
const char* ExprTypeName(ExprValue::Type t);

/// A param's value as an expression value: integers and numbers become numbers, booleans
/// booleans, strings strings. (For the engine's resolver.)
ExprValue ExprValueFromParam(const ParamValue& p);

struct ExprRef {
  enum class Kind : uint8_t { kParam, kMetric, kAliasMetric } kind = Kind::kParam;
  std::string param;         ///< kParam
  std::string task, metric;  ///< kMetric, kAliasMetric
  std::string model, alias;  ///< kAliasMetric; model "" for the short form
  std::string text;          ///< the reference as written, e.g. "metrics.train.accuracy"
  size_t offset = 0;         ///< byte offset of |text| in the expression text
};

class Expression {
 public:
  /// Parses |text|. On error returns false with |*err| and |*err_offset| (byte offset in
  /// |text|); |*out| is then unspecified.
  static bool Parse(std::string_view text, Expression* out, std::string* err, size_t* err_offset);

  /// Distinct references in order of first appearance (one entry per reference, however
  /// often it is written; metrics.a.b and metrics["a"].b are the same reference).
  const std::vector<ExprRef>& refs() const { return refs_; }

  /// The expression text with every short-form reference ALIAS.metrics.TASK.NAME written
  /// as models.|model|.ALIAS.metrics.TASK.NAME; everything else byte for byte. The loader
  /// stores this in Task::when, so parsing Task::when always yields refs with |model| set.
  std::string QualifiedText(std::string_view model) const;

  /// Evaluates. |resolve| is called at most once per distinct reference, and only for
  /// references the evaluation consults ('and'/'or' short-circuit). Returns false with
  /// |*err| on a runtime type error (comparing a number with a string, 'and' on a number,
  /// a non-boolean result). |*trace| (may be null) receives "metrics.train.accuracy =
  /// 0.71, params.min_accuracy = 0.8": every reference consulted, in the order consulted.
  bool Evaluate(const std::function<ExprValue(const ExprRef&)>& resolve, bool* result,
                std::string* err, std::string* trace) const;

 private:
  friend class ExprParser;
  friend class ExprEvaluator;

  // Syntax tree in one vector. 'and'/'or' are n-ary (operands in |lists_|), so the tree
  // is only as deep as the nesting, which Parse bounds; evaluation recursion is safe.
  struct Node {
    enum class Op : uint8_t { kLiteral, kRef, kNot, kAnd, kOr, kEq, kNe, kLt, kLe, kGt, kGe };
    Op op = Op::kLiteral;
    int lhs = -1, rhs = -1;          // kNot: lhs; comparisons: lhs, rhs
    uint32_t first = 0, count = 0;   // kAnd, kOr: operands are lists_[first, first + count)
    int ref = -1;                    // kRef: index into refs_
    ExprValue literal;               // kLiteral
    uint32_t begin = 0, end = 0;     // source span, for messages
  };
  std::string text_;
  std::vector<Node> nodes_;
  std::vector<int> lists_;
  std::vector<ExprRef> refs_;
  int root_ = -1;
};

}  // namespace pipeline
