#include "rules/model_table.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <tuple>

#include "rules/model_math.h"

namespace co::rules {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

uint64_t bits_of(double x) {
  uint64_t b = 0;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// How far the exact score may move from `score` (a left-to-right sum whose
// terms add up to `size` in magnitude) before a score summed the same way can
// land on the other side of `logit`. The rounding of a sum of at most 65 terms
// is below 65 * 2^-53 of `size` (about 1e-14), and so is the new sum's; the
// difference to the threshold is rounded too: 1e-9 of `size` and `logit` is
// far above all three. Each change taken off the room is rounded too (by at
// most 2^-53 of the room): a millionth off the distance covers a billion.
// Not finite (an infinite or NaN term): -inf or NaN, every change scores again.
double room(double score, double size, double logit) {
  return (std::fabs(score - logit) - 1e-9 * (size + std::fabs(logit))) * (1 - 1e-6);
}

}  // namespace

void ModelTable::clear() {
  built_ = false;
  values_.clear();
  current_.clear();
  rows_.clear();
  model_of_.clear();
  terms_.clear();
  first_.clear();
  slots_.clear();
  by_accumulator_.clear();
  listed_.clear();
}

void ModelTable::build(const std::vector<CohortDef> &defs, const std::vector<const CohortState *> &states) {
  using Key = std::tuple<const Accumulator *, Metric, Transform, uint64_t, uint64_t>;
  clear();
  std::map<Key, uint32_t> seen;
  model_of_.resize(defs.size(), 0);
  uint32_t last_model = 0;
  for (uint32_t i = 0; i < defs.size(); ++i) {
    const Rule &rule = defs[i].rule;
    if (!rule.model) continue;
    last_model = i + 1;
    first_.resize(i + 1, 0);
    first_[i] = static_cast<uint32_t>(slots_.size());
    slots_.resize(slots_.size() + rule.conditions.size(), 0);
    auto model = static_cast<uint32_t>(rows_.size());
    model_of_[i] = model;
    rows_.push_back(Row{static_cast<uint32_t>(terms_.size()), 0, i, rule.model->bias, rule.model->logit});
    for (const Feature &f : rule.model->features) {
      const Condition &c = rule.conditions[f.condition];
      const Accumulator *acc = states[i]->conditions[f.condition].get();
      // The accumulator and the metric make the measure (the window and a
      // property's comparison are in the key that shares accumulators).
      Key key{acc, c.metric, f.transform, bits_of(f.cap), bits_of(f.missing)};
      auto it = seen.emplace(key, static_cast<uint32_t>(values_.size())).first;
      if (it->second == values_.size()) {
        Value v;
        v.condition = &c;
        v.accumulator = acc;
        v.feature = &f;
        v.context = c.window.scope == Scope::session ? 1 : c.window.scope == Scope::view ? 2 : 0;
        values_.push_back(std::move(v));
        by_accumulator_[acc].push_back(it->second);
      }
      Value &v = values_[it->second];
      if (v.uses.empty() || v.uses.back().model != model)
        v.uses.push_back({model, std::fabs(f.weight)});
      else
        v.uses.back().weight += std::fabs(f.weight);
      slots_[first_[i] + f.condition] = it->second;
      terms_.push_back({it->second, f.weight});
    }
    rows_.back().end = static_cast<uint32_t>(terms_.size());
  }
  first_.resize(last_model);
  current_.assign(values_.size(), 0);
  // Every model is scored at the first refresh (one without features too:
  // no value lists it), and the list never holds more: made at its size.
  listed_.reserve(rows_.size());
  for (uint32_t r = 0; r < rows_.size(); ++r) {
    rows_[r].listed = true;
    listed_.push_back(r);
  }
  built_ = true;
}

void ModelTable::refresh(const Now &now, bool session, bool view, std::vector<uint32_t> *moved) {
  moved->reserve(moved->size() + rows_.size());  // nothing below allocates
  for (size_t k = 0; k < values_.size(); ++k) {
    Value &v = values_[k];
    bool context = (v.context == 1 && session) || (v.context == 2 && view);
    if (!v.stale && now.time_ms < v.due && !context) continue;
    const Condition &c = *v.condition;
    double x = 0;
    // Out of memory here (a property's text is copied), the values before
    // are kept and their models listed: scored at the next poll.
    bool has = feature_input(c, v.accumulator->measure(c, now), &x);
    const Feature &f = *v.feature;
    double value = f.transform == Transform::log1p ? log1p_(has ? x : f.missing) : feature_value(f, has, x);
    int64_t due = v.accumulator->measure_changes_at(c, now);
    if (!v.read || bits_of(value) != bits_of(current_[k])) {
      // Never read: an infinite change (NaN with a zero weight) lists every model.
      double change = v.read ? std::fabs(value - current_[k]) : kInf;
      for (const Use &u : v.uses) {
        Row &row = rows_[u.model];
        row.room -= u.weight * change;
        if (row.room > 0 || row.listed) continue;  // NaN: listed
        row.listed = true;
        listed_.push_back(u.model);
      }
    }
    v.due = due;
    v.stale = false;
    v.read = true;
    current_[k] = value;
  }
  // In one pass of its own, with nothing between the rows: the scores of
  // several models are summed side by side.
  for (uint32_t r : listed_) {
    Row &row = rows_[r];
    row.listed = false;
    // As Evaluator::model: score = bias + w1 * v1 + w2 * v2 + ..., left to right.
    double score = row.bias, size = std::fabs(row.bias);
    for (uint32_t t = row.begin; t < row.end; ++t) {
      double term = terms_[t].weight * current_[terms_[t].value];
      score += term;
      size += std::fabs(term);
    }
    row.member = score >= row.logit;
    row.room = room(score, size, row.logit);
    moved->push_back(row.cohort);
  }
  listed_.clear();
}

}  // namespace co::rules
