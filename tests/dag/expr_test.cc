#include "dag/expr.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace pipeline {
namespace {

// Values by reference text; anything missing resolves to null. Counts calls.
struct Env {
  std::map<std::string, ExprValue> values;
  std::map<std::string, int> calls;
  std::function<ExprValue(const ExprRef&)> Resolver() {
    return [this](const ExprRef& r) {
      ++calls[r.text];
      auto it = values.find(r.text);
      return it == values.end() ? ExprValue::Null() : it->second;
    };
  }
};

Expression MustParse(std::string_view text) {
  Expression e;
  std::string err;
  size_t off = 0;
  EXPECT_TRUE(Expression::Parse(text, &e, &err, &off)) << text << ": " << err << " at " << off;
  return e;
}

// Parses and evaluates; fails the test on any error.
bool Eval(std::string_view text, Env* env = nullptr, std::string* trace = nullptr) {
  Env empty;
  if (!env) env = &empty;
  Expression e = MustParse(text);
  bool result = false;
  std::string err;
  EXPECT_TRUE(e.Evaluate(env->Resolver(), &result, &err, trace)) << text << ": " << err;
  return result;
}

// Parses and evaluates, expecting a runtime error; returns it.
std::string EvalError(std::string_view text, Env* env = nullptr) {
  Env empty;
  if (!env) env = &empty;
  Expression e = MustParse(text);
  bool result = false;
  std::string err;
  EXPECT_FALSE(e.Evaluate(env->Resolver(), &result, &err, nullptr)) << text;
  return err;
}

// Expects a parse error; returns "offset: message".
std::string ParseError(std::string_view text) {
  Expression e;
  std::string err;
  size_t off = 0;
  EXPECT_FALSE(Expression::Parse(text, &e, &err, &off)) << text;
  return std::to_string(off) + ": " + err;
}

TEST(ExprTest, Literals) {
  EXPECT_TRUE(Eval("true"));
  EXPECT_FALSE(Eval("false"));
  EXPECT_TRUE(Eval("1 == 1"));
  EXPECT_TRUE(Eval("-2.5 < 1"));
  EXPECT_TRUE(Eval("1e-3 == 0.001"));
  EXPECT_TRUE(Eval("+3 == 3"));
  EXPECT_TRUE(Eval("2E2 == 200"));
  EXPECT_TRUE(Eval("'abc' == \"abc\""));
  EXPECT_TRUE(Eval("null == null"));
}

TEST(ExprTest, Comparisons) {
  EXPECT_TRUE(Eval("1 < 2"));
  EXPECT_FALSE(Eval("2 < 2"));
  EXPECT_TRUE(Eval("2 <= 2"));
  EXPECT_FALSE(Eval("3 <= 2"));
  EXPECT_TRUE(Eval("3 > 2"));
  EXPECT_FALSE(Eval("2 > 2"));
  EXPECT_TRUE(Eval("2 >= 2"));
  EXPECT_FALSE(Eval("1 >= 2"));
  EXPECT_TRUE(Eval("1 != 2"));
  EXPECT_FALSE(Eval("1 != 1"));
  EXPECT_TRUE(Eval("'a' < 'b'"));
  EXPECT_TRUE(Eval("'abc' > 'ab'"));
  EXPECT_TRUE(Eval("'b' >= 'b'"));
  EXPECT_TRUE(Eval("true == true"));
  EXPECT_TRUE(Eval("true != false"));
}

TEST(ExprTest, Precedence) {
  // not binds looser than comparison: not (1 == 2).
  EXPECT_TRUE(Eval("not 1 == 2"));
  // and binds tighter than or: true or (false and false).
  EXPECT_TRUE(Eval("true or false and false"));
  EXPECT_FALSE(Eval("(true or false) and false"));
  EXPECT_FALSE(Eval("not true and true"));  // (not true) and true
  EXPECT_TRUE(Eval("not not true"));
  EXPECT_TRUE(Eval("false or not false"));
  // With references: a or b and c.
  Env env;
  env.values["params.a"] = ExprValue::Bool(true);
  env.values["params.b"] = ExprValue::Bool(false);
  env.values["params.c"] = ExprValue::Bool(false);
  EXPECT_TRUE(Eval("params.a or params.b and params.c", &env));
  EXPECT_FALSE(Eval("not params.a == true", &env));
}

TEST(ExprTest, NullSemantics) {
  Env env;
  env.values["params.x"] = ExprValue::Number(1);
  // metrics.t.m resolves to null.
  EXPECT_TRUE(Eval("metrics.t.m == null", &env));
  EXPECT_FALSE(Eval("metrics.t.m != null", &env));
  EXPECT_FALSE(Eval("params.x == null", &env));
  EXPECT_TRUE(Eval("params.x != null", &env));
  EXPECT_FALSE(Eval("metrics.t.m < 1", &env));
  EXPECT_FALSE(Eval("metrics.t.m >= 1", &env));
  EXPECT_FALSE(Eval("1 > null"));
  EXPECT_FALSE(Eval("null <= null"));
  EXPECT_FALSE(Eval("'a' == null"));
  EXPECT_FALSE(Eval("true == null"));
  // The typical "first model ever" gate.
  EXPECT_TRUE(Eval("prod.metrics.t.m == null or params.x >= prod.metrics.t.m", &env));
}

TEST(ExprTest, StringEscapes) {
  Env env;
  env.values["params.s"] = ExprValue::String("it's \"q\" \\ ");
  EXPECT_TRUE(Eval("params.s == 'it\\'s \"q\" \\\\ '", &env));
  EXPECT_TRUE(Eval("params.s == \"it's \\\"q\\\" \\\\ \"", &env));
  EXPECT_EQ(ParseError("'a\\n'"),
            "2: unknown escape '\\n' in a string (only \\\\, \\' and \\\" are escapes)");
  EXPECT_EQ(ExprValue::String("it's \\").ToString(), "'it\\'s \\\\'");
}

TEST(ExprTest, ValueToString) {
  EXPECT_EQ(ExprValue::Number(0.71).ToString(), "0.71");
  EXPECT_EQ(ExprValue::Number(1).ToString(), "1");
  EXPECT_EQ(ExprValue::Number(-2.5).ToString(), "-2.5");
  EXPECT_EQ(ExprValue::String("abc").ToString(), "'abc'");
  EXPECT_EQ(ExprValue::Bool(true).ToString(), "true");
  EXPECT_EQ(ExprValue::Bool(false).ToString(), "false");
  EXPECT_EQ(ExprValue::Null().ToString(), "null");
}

TEST(ExprTest, ParamValues) {
  EXPECT_EQ(ExprValueFromParam({ParamValue::Type::kInt, "5"}).number, 5);
  EXPECT_EQ(ExprValueFromParam({ParamValue::Type::kFloat, "0.8"}).number, 0.8);
  EXPECT_EQ(ExprValueFromParam({ParamValue::Type::kBool, "true"}).type, ExprValue::Type::kBool);
  EXPECT_TRUE(ExprValueFromParam({ParamValue::Type::kBool, "true"}).boolean);
  EXPECT_EQ(ExprValueFromParam({ParamValue::Type::kString, "5"}).type, ExprValue::Type::kString);
}

TEST(ExprTest, References) {
  Expression e = MustParse(
      "params.min_accuracy <= metrics.train.accuracy and "
      "production.metrics.train.accuracy != models.churn.staging.metrics[\"my.task\"].f1 and "
      "metrics['train'].accuracy > 0 and metrics.my-task_2.val-loss < 1");
  const auto& r = e.refs();
  ASSERT_EQ(r.size(), 5u);  // metrics['train'].accuracy is metrics.train.accuracy
  EXPECT_EQ(r[0].kind, ExprRef::Kind::kParam);
  EXPECT_EQ(r[0].param, "min_accuracy");
  EXPECT_EQ(r[0].text, "params.min_accuracy");
  EXPECT_EQ(r[0].offset, 0u);
  EXPECT_EQ(r[1].kind, ExprRef::Kind::kMetric);
  EXPECT_EQ(r[1].task, "train");
  EXPECT_EQ(r[1].metric, "accuracy");
  EXPECT_EQ(r[1].offset, 23u);
  EXPECT_EQ(r[2].kind, ExprRef::Kind::kAliasMetric);
  EXPECT_EQ(r[2].model, "");
  EXPECT_EQ(r[2].alias, "production");
  EXPECT_EQ(r[2].task, "train");
  EXPECT_EQ(r[2].metric, "accuracy");
  EXPECT_EQ(r[3].kind, ExprRef::Kind::kAliasMetric);
  EXPECT_EQ(r[3].model, "churn");
  EXPECT_EQ(r[3].alias, "staging");
  EXPECT_EQ(r[3].task, "my.task");
  EXPECT_EQ(r[3].metric, "f1");
  EXPECT_EQ(r[3].text, "models.churn.staging.metrics[\"my.task\"].f1");
  EXPECT_EQ(r[4].task, "my-task_2");
  EXPECT_EQ(r[4].metric, "val-loss");
}

TEST(ExprTest, QualifiedText) {
  Expression e = MustParse(
      "(production.metrics.t.a == null) or prod.metrics.t.a > models.m.x.metrics.t.a or "
      "production.metrics.t.a >= 1");
  EXPECT_EQ(e.QualifiedText("churn"),
            "(models.churn.production.metrics.t.a == null) or models.churn.prod.metrics.t.a > "
            "models.m.x.metrics.t.a or models.churn.production.metrics.t.a >= 1");
  Expression q = MustParse(e.QualifiedText("churn"));
  for (const ExprRef& r : q.refs()) {
    if (r.kind == ExprRef::Kind::kAliasMetric) {
      EXPECT_FALSE(r.model.empty()) << r.text;
    }
  }
  EXPECT_EQ(MustParse("params.a == 1").QualifiedText("churn"), "params.a == 1");
}

TEST(ExprTest, ResolveOncePerReferenceAndShortCircuit) {
  Env env;
  env.values["params.a"] = ExprValue::Number(1);
  EXPECT_TRUE(Eval("params.a == 1 and params.a >= 1 and metrics['t'].m == null and "
                   "metrics.t.m == null",
                   &env));
  EXPECT_EQ(env.calls["params.a"], 1);
  EXPECT_EQ(env.calls["metrics['t'].m"], 1);
  EXPECT_EQ(env.calls.count("metrics.t.m"), 0u);  // same reference, first spelling
  // Short-circuit: the right side is never consulted.
  Env env2;
  EXPECT_FALSE(Eval("false and params.b == 1", &env2));
  EXPECT_TRUE(Eval("true or params.b == 1", &env2));
  EXPECT_EQ(env2.calls.count("params.b"), 0u);
}

TEST(ExprTest, Trace) {
  Env env;
  env.values["metrics.train.accuracy"] = ExprValue::Number(0.71);
  env.values["params.min_accuracy"] = ExprValue::Number(0.8);
  env.values["params.name"] = ExprValue::String("a'b");
  std::string trace = "stale";
  EXPECT_FALSE(Eval("metrics.train.accuracy >= params.min_accuracy and params.name == 'x'", &env,
                    &trace));
  EXPECT_EQ(trace, "metrics.train.accuracy = 0.71, params.min_accuracy = 0.8");
  EXPECT_FALSE(Eval("params.name == 'x' or production.metrics.t.m != null", &env, &trace));
  EXPECT_EQ(trace, "params.name = 'a\\'b', production.metrics.t.m = null");
}

TEST(ExprTest, RuntimeTypeErrors) {
  Env env;
  env.values["metrics.train.accuracy"] = ExprValue::Number(0.71);
  env.values["params.name"] = ExprValue::String("abc");
  env.values["params.flag"] = ExprValue::Bool(true);
  EXPECT_EQ(EvalError("metrics.train.accuracy >= params.name", &env),
            "cannot compare a number with a string in 'metrics.train.accuracy >= params.name': "
            "metrics.train.accuracy = 0.71, params.name = 'abc'");
  EXPECT_EQ(EvalError("params.name == 1", &env),
            "cannot compare a string with a number in 'params.name == 1': params.name = 'abc', "
            "1 = 1");
  EXPECT_EQ(EvalError("params.flag != 1", &env),
            "cannot compare a boolean with a number in 'params.flag != 1': params.flag = true, "
            "1 = 1");
  EXPECT_EQ(EvalError("params.flag < true", &env),
            "cannot order booleans in 'params.flag < true': params.flag = true, true = true "
            "(ordering needs two numbers or two strings)");
  EXPECT_EQ(EvalError("metrics.train.accuracy and true", &env),
            "'and' needs true or false, but metrics.train.accuracy is a number (0.71)");
  EXPECT_EQ(EvalError("false or metrics.x.y", &env),
            "'or' needs true or false, but metrics.x.y is null");
  EXPECT_EQ(EvalError("not 1"), "'not' needs true or false, but 1 is a number (1)");
  EXPECT_EQ(EvalError("(1 == 2 or 2) and true"),
            "'or' needs true or false, but 2 is a number (2)");
  EXPECT_EQ(EvalError("metrics.train.accuracy", &env),
            "the expression must yield true or false, but metrics.train.accuracy is a number "
            "(0.71)");
  EXPECT_EQ(EvalError("null"), "the expression must yield true or false, but null is null");
  EXPECT_EQ(EvalError("'x'"), "the expression must yield true or false, but 'x' is a string ('x')");
  // A bool param alone is a fine gate.
  EXPECT_TRUE(Eval("params.flag", &env));
}

TEST(ExprTest, ParseErrors) {
  EXPECT_EQ(ParseError(""), "0: empty expression");
  EXPECT_EQ(ParseError("   "), "0: empty expression");
  EXPECT_EQ(ParseError("params.a == 'abc"), "12: unterminated string");
  EXPECT_EQ(ParseError("params.a <"), "10: expected a value after '<'");
  EXPECT_EQ(ParseError("params.a < params.b < 3"),
            "20: comparisons cannot be chained; write 'a < b and b < c'");
  EXPECT_EQ(ParseError("1 == 1 and foo.bar"),
            "11: unknown reference 'foo.bar' (expected params.NAME, metrics.TASK.NAME, "
            "ALIAS.metrics.TASK.NAME or models.MODEL.ALIAS.metrics.TASK.NAME)");
  EXPECT_EQ(ParseError("metric.train.acc > 1"),
            "0: unknown reference 'metric.train.acc'; did you mean 'metrics'?");
  EXPECT_EQ(ParseError("metrics.train > 1"),
            "0: unknown reference 'metrics.train' (expected params.NAME, metrics.TASK.NAME, "
            "ALIAS.metrics.TASK.NAME or models.MODEL.ALIAS.metrics.TASK.NAME)");
  EXPECT_EQ(ParseError("accuracy"),
            "0: unknown reference 'accuracy' (expected params.NAME, metrics.TASK.NAME, "
            "ALIAS.metrics.TASK.NAME or models.MODEL.ALIAS.metrics.TASK.NAME)");
  EXPECT_EQ(ParseError("True"), "0: unknown reference 'True'; did you mean 'true'?");
  EXPECT_EQ(ParseError("params.a = 1"), "9: '=' is not an operator; use '==' to compare");
  EXPECT_EQ(ParseError("true && false"), "5: unexpected '&'; use 'and'");
  EXPECT_EQ(ParseError("true || false"), "5: unexpected '|'; use 'or'");
  EXPECT_EQ(ParseError("!true"), "0: unexpected '!'; use 'not'");
  EXPECT_EQ(ParseError("(true"), "0: unclosed '('");
  EXPECT_EQ(ParseError("true)"), "4: unmatched ')'");
  EXPECT_EQ(ParseError("()"), "1: empty parentheses");
  EXPECT_EQ(ParseError("true false"),
            "5: unexpected 'false' after a complete expression (missing 'and' or 'or'?)");
  EXPECT_EQ(ParseError("true and"), "8: expected a value at the end of the expression");
  EXPECT_EQ(ParseError("and true"), "0: expected a value, got 'and'");
  EXPECT_EQ(ParseError("1.x == 1"), "2: expected a digit after the decimal point");
  EXPECT_EQ(ParseError("1e == 1"), "2: expected digits in the exponent");
  EXPECT_EQ(ParseError("1e999 > 1"), "0: number out of range: 1e999");
  EXPECT_EQ(ParseError("12abc > 1"), "2: unexpected character 'a' in a number");
  EXPECT_EQ(ParseError("params. == 1"), "7: expected a name after '.'");
  EXPECT_EQ(ParseError("params.a-b == 1"),
            "0: param name 'a-b' in 'params.a-b' must be an identifier (letters, digits and '_')");
  EXPECT_EQ(ParseError("metrics[train].x"),
            "8: expected a quoted name after '[' (metrics[\"my.task\"].NAME)");
  EXPECT_EQ(ParseError("metrics['t'.x"), "11: expected ']'");
  EXPECT_EQ(ParseError("1 == 1 # comment"), "7: unexpected character '#'");
  EXPECT_EQ(ParseError("1 == \x01"), "5: unexpected character (byte 0x01)");
}

TEST(ExprTest, DeepNestingIsAnErrorNotACrash) {
  std::string ok(kMaxExprDepth, '(');
  ok += "true";
  ok += std::string(kMaxExprDepth, ')');
  EXPECT_TRUE(Eval(ok));
  std::string deep(100000, '(');
  deep += "true";
  deep += std::string(100000, ')');
  EXPECT_EQ(ParseError(deep),
            "64: expression nested too deeply (more than 64 levels of '(' and 'not')");
  std::string nots;
  for (int i = 0; i < 100000; ++i) nots += "not ";
  nots += "true";
  EXPECT_EQ(ParseError(nots),
            "256: expression nested too deeply (more than 64 levels of '(' and 'not')");
}

TEST(ExprTest, LongFlatChainsEvaluateWithoutRecursion) {
  // 'or' and 'and' are n-ary, so a 100k-operand chain is shallow.
  std::string chain = "false";
  for (int i = 0; i < 100000; ++i) chain += " or false";
  chain += " or true";
  EXPECT_TRUE(Eval(chain));
}

}  // namespace
}  // namespace pipeline
