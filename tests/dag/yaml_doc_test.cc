#include "dag/yaml_doc.h"

#include <gtest/gtest.h>

#include <string>

namespace pipeline {
namespace {

TEST(YamlDocTest, PositionsKindsAndPlainFlag) {
  YamlDoc doc;
  std::vector<YamlError> errors;
  ASSERT_TRUE(ParseYaml("a: 1\nb: \"2\"\nc: [x, ~]\nd:\n", {}, &doc, &errors));
  EXPECT_TRUE(errors.empty());
  int root = doc.root();
  ASSERT_EQ(doc.node(root).kind, YamlNode::Kind::kMap);
  ASSERT_EQ(doc.node(root).size, 4u);
  EXPECT_EQ(doc.Text(doc.Key(root, 1)), "b");
  EXPECT_EQ(doc.node(doc.Key(root, 1)).line, 2);
  EXPECT_EQ(doc.node(doc.Key(root, 1)).col, 1);
  EXPECT_TRUE(doc.node(doc.Value(root, 0)).plain);
  EXPECT_FALSE(doc.node(doc.Value(root, 1)).plain);
  EXPECT_EQ(doc.node(doc.Value(root, 1)).col, 4);
  int seq = doc.Value(root, 2);
  ASSERT_EQ(doc.node(seq).kind, YamlNode::Kind::kSeq);
  EXPECT_EQ(doc.Text(doc.Item(seq, 0)), "x");
  EXPECT_EQ(doc.node(doc.Item(seq, 1)).kind, YamlNode::Kind::kNull);
  EXPECT_EQ(doc.node(doc.Value(root, 3)).kind, YamlNode::Kind::kNull);
}

TEST(YamlDocTest, AliasesShareTheTarget) {
  YamlDoc doc;
  std::vector<YamlError> errors;
  ASSERT_TRUE(ParseYaml("a: &x {k: v}\nb: *x\n", {}, &doc, &errors));
  int root = doc.root();
  int b = doc.Value(root, 1);
  EXPECT_EQ(doc.node(b).kind, YamlNode::Kind::kAlias);
  EXPECT_EQ(doc.Resolve(b), doc.Value(root, 0));
  EXPECT_EQ(doc.KindOf(b), YamlNode::Kind::kMap);
}

TEST(YamlDocTest, DuplicateKeysInLargeMapKeepTheFirst) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "k" + std::to_string(i) + ": " + std::to_string(i) + "\n";
  text += "k7: again\n";  // line 41
  YamlDoc doc;
  std::vector<YamlError> errors;
  ASSERT_TRUE(ParseYaml(text, {}, &doc, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "duplicate key 'k7' (first defined at line 8)");
  EXPECT_EQ(errors[0].line, 41);
  EXPECT_EQ(errors[0].col, 1);
  EXPECT_EQ(doc.node(doc.root()).size, 40u);
  EXPECT_EQ(doc.Text(doc.Value(doc.root(), 7)), "7");
}

TEST(YamlDocTest, EmptyStreamHasNoRoot) {
  YamlDoc doc;
  std::vector<YamlError> errors;
  ASSERT_TRUE(ParseYaml("# only a comment\n", {}, &doc, &errors));
  EXPECT_EQ(doc.root(), -1);
}

TEST(YamlDocTest, NodeBudgetCountsPlainNodesToo) {
  YamlDoc doc;
  std::vector<YamlError> errors;
  YamlLimits limits;
  limits.max_nodes = 10;
  EXPECT_FALSE(ParseYaml("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]", limits, &doc, &errors));
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors.back().message, "document exceeds 10 nodes");
}

}  // namespace
}  // namespace pipeline
