// What polls keep of the modeled cohorts between readings: each distinct
// feature value once for all the models that use it.
//
// Models exported from one lookalike family use the same few measures with
// their own weights, so a feature value (a measure, transformed) is shared by
// many models. The table holds each distinct value with when it must be read
// again (its accumulator took an event that changed it, time alone may change
// it, its session or view moved). A poll first reads again what may have
// moved, each value once however many models use it, and only the models one
// of whose values came out different are scored again: bias plus weight times
// value, summed left to right, the same bits as a full reading
// (Evaluator::model).
//
// Most changes cannot flip a decision: a model far from its threshold stays
// where it is when a "days since" grows by an hour. A model keeps its room:
// how far its last score was from the threshold (less a margin for the
// rounding of both sums), less |weight x change| for every change of one of
// its values since; only a model whose room runs out is scored again. The
// decision is the one a full reading makes (explain reads fully: its score
// and probability are exact).
#pragma once
#include <cstdint>
#include <limits>
#include <unordered_map>
#include <vector>

#include "rules/ast.h"
#include "rules/cohort_state.h"
#include "rules/event.h"
#include "rules/model_math.h"

namespace co::rules {

class ModelTable {
 public:
  // Forgets every value: the next build() reads them all afresh. Until then
  // changed() does nothing (the indexes no longer match the cohorts).
  void clear();
  bool built() const { return built_; }
  // One value per distinct (accumulator, metric, transform, cap, default) of
  // the models among `defs`, read over `states` (parallel to defs).
  void build(const std::vector<CohortDef> &defs, const std::vector<const CohortState *> &states);
  bool empty() const { return values_.empty(); }

  // Condition `condition` of model cohort `cohort` took an event that changed
  // its measure.
  // An accumulator took an event that changed its measures.
  void changed(const Accumulator *accumulator) {
    auto it = by_accumulator_.find(accumulator);
    if (it == by_accumulator_.end()) return;
    for (uint32_t v : it->second) values_[v].stale = true;
  }
  void changed(uint32_t cohort, uint32_t condition) {
    if (cohort < first_.size()) values_[slots_[first_[cohort] + condition]].stale = true;
  }

  // Reads again every value that may have moved at `now` (`session` / `view`:
  // the poll's context differs from the previous poll's), scores again the
  // models whose decision the changes may flip (every model after build())
  // and appends them to `moved`, once each: only those can decide differently.
  void refresh(const Now &now, bool session, bool view, std::vector<uint32_t> *moved);

  // Whether model cohort `cohort` holds, on the values as last refreshed.
  bool member(uint32_t cohort) const { return rows_[model_of_[cohort]].member; }

 private:
  struct Use {
    uint32_t model;  // its row
    double weight;
  };
  struct Value {
    const Condition *condition = nullptr;
    const Accumulator *accumulator = nullptr;
    const Feature *feature = nullptr;  // its transform, cap and default
    int64_t due = 0;                   // when time alone may change it
    uint8_t context = 0;               // 1: a session window, 2: a view window
    bool stale = true;
    bool read = false;  // read at least once
    // The models that use it, each once with the sum of |weight| of its terms
    // on it: how far a change of the value can move that model's score.
    std::vector<Use> uses;
  };
  // A model: its score in one run is terms_[begin, end) after its bias.
  struct Row {
    uint32_t begin = 0, end = 0;
    uint32_t cohort = 0;
    double bias = 0, logit = 0;
    // How far the score may still move before the decision can flip: the
    // distance at the last scoring less the drift since. Not above 0 (never
    // scored, at the threshold, NaN): the next change scores it again.
    double room = -std::numeric_limits<double>::infinity();
    bool listed = false;  // in listed_, to be scored
    bool member = false;  // the decision on the values as last scored
  };
  struct Term {
    uint32_t value;
    double weight;
  };

  bool built_ = false;
  std::vector<Value> values_;
  std::vector<double> current_;     // parallel to values_: as last read
  std::vector<Row> rows_;           // the models, in definitions order
  std::vector<uint32_t> model_of_;  // by cohort: its row (models only)
  std::vector<Term> terms_;
  std::vector<uint32_t> first_;  // by cohort: where its conditions start in slots_ (models only)
  std::vector<uint32_t> slots_;  // by cohort and condition: its value
  std::unordered_map<const Accumulator *, std::vector<uint32_t>> by_accumulator_;
  std::vector<uint32_t> listed_;  // rows to score at the end of this refresh
  Log1pTable log1p_;
};

}  // namespace co::rules
