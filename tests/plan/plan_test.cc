#include "plan/plan.h"

#include <gtest/gtest.h>

#include "testing/dag_builder.h"

namespace pipeline {
namespace {

using testing::DagBuilder;

std::vector<int> Ready(const std::vector<PlanDecision>& ds) {
  std::vector<int> out;
  for (const auto& d : ds)
    if (d.state == TaskState::kReady) out.push_back(d.task);
  return out;
}

// Runs the plan to completion, finishing tasks in start order with |outcome(task)|;
// returns the start order.
template <class F>
std::vector<std::string> Drive(const Dag& dag, Plan* plan, F outcome) {
  std::vector<PlanDecision> ds;
  plan->Start(&ds);
  std::vector<std::string> order;
  while (plan->more_to_do()) {
    int t = plan->PopRunnable();
    if (t < 0) break;
    order.push_back(dag.tasks[static_cast<size_t>(t)].id);
    ds.clear();
    plan->Finish(t, outcome(t), &ds);
  }
  return order;
}

TEST(Plan, ChainRunsInOrder) {
  DagBuilder b;
  b.Add("a");
  b.Add("b", {"a"});
  b.Add("c", {"b"});
  Dag dag = b.Build();
  Plan plan(dag, 4);
  auto order = Drive(dag, &plan, [](int) { return TaskState::kSuccess; });
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_FALSE(plan.more_to_do());
  EXPECT_TRUE(plan.Succeeded());
}

TEST(Plan, TaskBecomesReadyTheMomentItsLastUpstreamFinishes) {
  DagBuilder b;
  b.Add("a");
  b.Add("b");
  b.Add("c", {"a", "b"});
  Dag dag = b.Build();
  Plan plan(dag, 2);
  std::vector<PlanDecision> ds;
  plan.Start(&ds);
  EXPECT_EQ(Ready(ds), (std::vector<int>{0, 1}));
  int x = plan.PopRunnable(), y = plan.PopRunnable();
  EXPECT_EQ(plan.PopRunnable(), -1);  // 2 slots
  ds.clear();
  plan.Finish(x, TaskState::kSuccess, &ds);
  EXPECT_TRUE(Ready(ds).empty());
  plan.Finish(y, TaskState::kSuccess, &ds);
  EXPECT_EQ(Ready(ds), (std::vector<int>{2}));
}

TEST(Plan, CriticalPathFirst) {
  // "short" is a lone task; "long1 -> long2 -> long3" is the critical path. With one
  // slot, long1 must start first even though short comes first in the file.
  DagBuilder b;
  b.Add("short");
  b.Add("long1");
  b.Add("long2", {"long1"});
  b.Add("long3", {"long2"});
  Dag dag = b.Build();
  Plan plan(dag, 1);
  auto order = Drive(dag, &plan, [](int) { return TaskState::kSuccess; });
  EXPECT_EQ(order.front(), "long1");
}

TEST(Plan, ExplicitPriorityWins) {
  DagBuilder b;
  b.Add("a");
  Task& t = b.Add("b");
  t.priority = 100;
  t.priority_set = true;
  b.Add("c", {"a"});
  Dag dag = b.Build();
  Plan plan(dag, 1);
  auto order = Drive(dag, &plan, [](int) { return TaskState::kSuccess; });
  EXPECT_EQ(order.front(), "b");
}

TEST(Plan, TiesBreakByFileOrder) {
  DagBuilder b;
  for (const char* id : {"t0", "t1", "t2", "t3"}) b.Add(id);
  Dag dag = b.Build();
  Plan plan(dag, 1);
  auto order = Drive(dag, &plan, [](int) { return TaskState::kSuccess; });
  EXPECT_EQ(order, (std::vector<std::string>{"t0", "t1", "t2", "t3"}));
}

TEST(Plan, FailurePropagatesButIndependentBranchesContinue) {
  DagBuilder b;
  b.Add("bad");
  b.Add("after_bad", {"bad"});
  b.Add("after_after", {"after_bad"});
  b.Add("good");
  b.Add("after_good", {"good"});
  Dag dag = b.Build();
  Plan plan(dag, 1);
  auto order = Drive(dag, &plan, [&](int t) {
    return dag.tasks[static_cast<size_t>(t)].id == "bad" ? TaskState::kFailed : TaskState::kSuccess;
  });
  EXPECT_EQ(plan.state(1), TaskState::kUpstreamFailed);
  EXPECT_EQ(plan.state(2), TaskState::kUpstreamFailed);
  EXPECT_EQ(plan.state(4), TaskState::kSuccess);
  EXPECT_EQ(order.size(), 3u);
  EXPECT_FALSE(plan.Succeeded());
  EXPECT_FALSE(plan.more_to_do());
}

struct RuleCase {
  TriggerRule rule;
  TaskState a, b;        // outcomes of the two upstreams
  TaskState expected;    // the downstream's final state
};

class TriggerRules : public ::testing::TestWithParam<RuleCase> {};

TEST_P(TriggerRules, Decide) {
  const RuleCase& c = GetParam();
  DagBuilder b;
  b.Add("a");
  b.Add("b");
  b.Add("d", {"a", "b"}).trigger_rule = c.rule;
  Dag dag = b.Build();
  Plan plan(dag, 2);
  Drive(dag, &plan, [&](int t) { return t == 0 ? c.a : t == 1 ? c.b : TaskState::kSuccess; });
  EXPECT_EQ(plan.state(2), c.expected) << TriggerRuleName(c.rule) << " with " << TaskStateName(c.a)
                                       << "," << TaskStateName(c.b);
}

constexpr TaskState S = TaskState::kSuccess, F = TaskState::kFailed, UF = TaskState::kUpstreamFailed,
                    SK = TaskState::kSkipped;

INSTANTIATE_TEST_SUITE_P(
    AllRules, TriggerRules,
    ::testing::Values(RuleCase{TriggerRule::kAllSuccess, S, S, S}, RuleCase{TriggerRule::kAllSuccess, S, F, UF},
                      RuleCase{TriggerRule::kAllDone, F, F, S}, RuleCase{TriggerRule::kAllDone, S, F, S},
                      RuleCase{TriggerRule::kAllFailed, F, F, S}, RuleCase{TriggerRule::kAllFailed, F, S, SK},
                      RuleCase{TriggerRule::kOneSuccess, F, S, S}, RuleCase{TriggerRule::kOneSuccess, F, F, UF},
                      RuleCase{TriggerRule::kOneFailed, S, F, S}, RuleCase{TriggerRule::kOneFailed, S, S, SK},
                      RuleCase{TriggerRule::kNoneFailed, S, S, S}, RuleCase{TriggerRule::kNoneFailed, F, S, UF}));

TEST(Plan, SkippedUpstreamSkipsAllSuccessButNotNoneFailed) {
  DagBuilder b;
  b.Add("a");
  b.Add("gate", {"a"}).trigger_rule = TriggerRule::kAllFailed;  // skipped: a succeeds
  b.Add("strict", {"gate"});
  b.Add("lenient", {"gate"}).trigger_rule = TriggerRule::kNoneFailed;
  Dag dag = b.Build();
  Plan plan(dag, 1);
  Drive(dag, &plan, [](int) { return TaskState::kSuccess; });
  EXPECT_EQ(plan.state(1), TaskState::kSkipped);
  EXPECT_EQ(plan.state(2), TaskState::kSkipped);
  EXPECT_EQ(plan.state(3), TaskState::kSuccess);
  EXPECT_TRUE(plan.Succeeded());
}

TEST(Plan, OneFailedFiresBeforeOtherUpstreamsFinish) {
  DagBuilder b;
  b.Add("fast_fail");
  b.Add("slow");
  b.Add("alert", {"fast_fail", "slow"}).trigger_rule = TriggerRule::kOneFailed;
  Dag dag = b.Build();
  Plan plan(dag, 2);
  std::vector<PlanDecision> ds;
  plan.Start(&ds);
  int a = plan.PopRunnable();
  plan.PopRunnable();
  ds.clear();
  plan.Finish(a, TaskState::kFailed, &ds);
  EXPECT_EQ(Ready(ds), (std::vector<int>{2}));
}

TEST(Plan, UpstreamFailedReasonNamesTheTask) {
  DagBuilder b;
  b.Add("ingest");
  b.Add("train", {"ingest"});
  Dag dag = b.Build();
  Plan plan(dag, 1);
  std::vector<PlanDecision> ds;
  plan.Start(&ds);
  int t = plan.PopRunnable();
  ds.clear();
  plan.Finish(t, TaskState::kFailed, &ds);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].state, TaskState::kUpstreamFailed);
  EXPECT_NE(ds[0].reason.find("'ingest'"), std::string::npos) << ds[0].reason;
}

TEST(Plan, PoolLimitsConcurrencyWithinGlobalSlots) {
  DagBuilder b;
  b.Pool("gpu", 1);
  b.Add("g1").pool = "gpu";
  b.Add("g2").pool = "gpu";
  b.Add("cpu");
  Dag dag = b.Build();
  Plan plan(dag, 3);
  std::vector<PlanDecision> ds;
  plan.Start(&ds);
  int first = plan.PopRunnable();
  int second = plan.PopRunnable();
  EXPECT_EQ(plan.PopRunnable(), -1);  // g2 waits for the gpu slot although a global slot is free
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 2);
  plan.Finish(first, TaskState::kSuccess, &ds);
  EXPECT_EQ(plan.PopRunnable(), 1);
}

TEST(Plan, RetryReleasesSlotAndRequeues) {
  DagBuilder b;
  b.Add("flaky");
  b.Add("other");
  Dag dag = b.Build();
  Plan plan(dag, 1);
  std::vector<PlanDecision> ds;
  plan.Start(&ds);
  int t = plan.PopRunnable();
  EXPECT_EQ(t, 0);
  plan.WillRetry(t);
  EXPECT_EQ(plan.state(t), TaskState::kUpForRetry);
  EXPECT_EQ(plan.PopRunnable(), 1);  // the slot went to the other task meanwhile
  plan.Finish(1, TaskState::kSuccess, &ds);
  plan.Requeue(t);
  EXPECT_EQ(plan.PopRunnable(), 0);
  plan.Finish(0, TaskState::kSuccess, &ds);
  EXPECT_FALSE(plan.more_to_do());
}

TEST(Plan, CancelMarksEverythingNotRunning) {
  DagBuilder b;
  b.Add("a");
  b.Add("b", {"a"});
  b.Add("c");
  Dag dag = b.Build();
  Plan plan(dag, 1);
  std::vector<PlanDecision> ds;
  plan.Start(&ds);
  int t = plan.PopRunnable();
  std::vector<int> cancelled;
  plan.Cancel(&cancelled);
  EXPECT_EQ(cancelled.size(), 2u);
  EXPECT_EQ(plan.PopRunnable(), -1);
  EXPECT_TRUE(plan.more_to_do());  // the running one
  ds.clear();
  plan.Finish(t, TaskState::kCancelled, &ds);
  EXPECT_TRUE(ds.empty());
  EXPECT_FALSE(plan.more_to_do());
}

TEST(Plan, PresetSuccessIsNotRunAgain) {
  DagBuilder b;
  b.Add("a");
  b.Add("b", {"a"});
  b.Add("c", {"b"});
  Dag dag = b.Build();
  Plan plan(dag, 1);
  plan.Preset(0, TaskState::kSuccess);
  plan.Preset(1, TaskState::kSuccess);
  auto order = Drive(dag, &plan, [](int) { return TaskState::kSuccess; });
  EXPECT_EQ(order, (std::vector<std::string>{"c"}));
}

TEST(Plan, LongFailureCascadeDoesNotRecurse) {
  DagBuilder b;
  b.Add("t0");
  for (int i = 1; i < 20000; ++i) b.Add("t" + std::to_string(i), {"t" + std::to_string(i - 1)});
  Dag dag = b.Build();
  Plan plan(dag, 2);
  Drive(dag, &plan, [](int) { return TaskState::kFailed; });
  EXPECT_EQ(plan.state(19999), TaskState::kUpstreamFailed);
  EXPECT_FALSE(plan.more_to_do());
}

}  // namespace
}  // namespace pipeline
