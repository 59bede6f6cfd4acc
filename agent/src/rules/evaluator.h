// Reads membership (and its explanation) off cohort states at a moment.
#pragma once
#include <cjson/cJSON.h>

#include <cstdint>
#include <string>
#include <vector>

#include "rules/ast.h"
#include "rules/cohort_state.h"
#include "rules/event.h"

namespace co::rules {

// A cohort as the evaluator reads it.
struct CohortRef {
  const CohortDef *def;
  const CohortState *state;
};

// One reading at `now` over a set of cohorts (indexed as in Definitions::cohorts).
// `cohort` conditions with state "in" read the referenced cohort live, at the
// same `now`; "entered" / "exited" read its recorded transitions.
class Evaluator {
 public:
  Evaluator(const std::vector<CohortRef> &cohorts, const Now &now);

  // Live membership of cohort `index`, computed once per Evaluator.
  bool member(uint32_t index);
  // Computes it afresh, and sets *changes_at to the earliest time after `now`
  // at which it may change with no new event (a conservative bound).
  bool member(uint32_t index, int64_t *changes_at);
  // Takes `member` as cohort `index`'s membership without reading it (a poll
  // knows nothing has moved it since it was recorded).
  void known(uint32_t index, bool member) { memo_[index] = member ? 1 : 0; }

  // Evaluates `rule` over `state`. When `explain` (an empty JSON object) is
  // given, every condition is measured and described into it:
  // {"logic","match","conditions":[{"type",…,"measured","operator","value","window","match","text"}]};
  // for a model, {"model","match","bias","threshold","score","probability","features":[{"name","type",…,
  // "measured","transform","default","value","weight","contribution","text"}],"text"}.
  bool evaluate(const Rule &rule, const CohortState &state, cJSON *explain);

 private:
  bool model(const Rule &rule, const CohortState &state, cJSON *explain);
  // Feature `k` of a model read now: its contribution; fills `explain` when given.
  // With `due` (while a poll reads), when time alone may change it.
  double feature(const Rule &rule, const CohortState &state, uint32_t k, cJSON *explain, int64_t *due);
  double log1p_memo(double x);
  struct MeasureMemo;
  // What `acc` measures for `c` now, and when time alone may change it.
  const MeasureMemo &measure_memo(const Condition &c, const Accumulator *acc);
  bool node(const Rule &rule, const CohortState &state, const Node &n, cJSON *explain);
  bool condition(const Condition &c, const Accumulator *acc, cJSON *explain);
  bool cohort_condition(const Condition &c, cJSON *explain);
  bool transition_in_window(const Transition &t, const Window &w) const;

  const std::vector<CohortRef> &cohorts_;
  const Now &now_;
  std::vector<int8_t> memo_;       // -1 unknown, else 0 / 1
  int64_t *changes_at_ = nullptr;  // while member(index, changes_at) runs
  // Models that share a feature's measure take log1p of the same number: the
  // last few results, by the number's bits (a miss only costs the computation).
  struct LogMemo {
    bool set = false;
    uint64_t bits = 0;
    double value = 0;
  };
  LogMemo log_memo_[16];
  // Models built from the same blocks read the same shared accumulator (a
  // reading can cost a fold of its window): the last readings, by accumulator
  // and metric, which with the window and the comparison of a property match
  // (all in the gathering key) decide what it measures.
  struct MeasureMemo {
    const Accumulator *acc = nullptr;
    Metric metric = Metric::count;
    Measure m;
    bool timed = false;  // changes_at taken (a poll reads)
    int64_t changes_at = kNoChange;
  };
  std::vector<MeasureMemo> measure_memo_;  // 64 slots, made when a model is first read
};

}  // namespace co::rules
