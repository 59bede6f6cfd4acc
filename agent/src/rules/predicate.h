// The fourteen comparison operators, over event properties (cJSON values).
// A missing property, a JSON null, or a type mismatch makes every operator
// false except not_exists: never an error.
#pragma once
#include <cjson/cJSON.h>

#include <vector>

#include "rules/ast.h"

namespace co::rules {

// The value at a dotted path inside `properties` (an object, or null), or null.
const cJSON *lookup(const cJSON *properties, const Path &path);

// `actual op literal`; `actual` null means absent; `literal` is null only for
// exists / not_exists. The literal's type was validated by the parser.
bool compare(Op op, const cJSON *actual, const cJSON *literal);

// What one event made of each distinct filter (by Filter::id), so the many
// cohorts that share a filter test it once. begin() before each event.
class FilterMemo {
 public:
  // `paths`: distinct filter paths (Filter::path_id).
  void begin(size_t filters, size_t paths = 0);
  // -1: not tested yet for this event; else 0 / 1.
  int get(uint32_t id) const { return id < stamp_.size() && stamp_[id] == event_ ? value_[id] : -1; }
  void set(uint32_t id, bool v) {
    if (id >= stamp_.size()) return;
    stamp_[id] = event_;
    value_[id] = v ? 1 : 0;
  }
  // lookup(properties, f.path), once per event for the filters that share
  // the path (many filters read one property: "categories contains X").
  const cJSON *lookup(const Filter &f, const cJSON *properties);

 private:
  std::vector<uint32_t> stamp_;
  std::vector<uint8_t> value_;
  std::vector<uint32_t> path_stamp_;
  std::vector<const cJSON *> node_;
  uint32_t event_ = 0;
};

// True when every filter holds on `properties`; `memo` (may be null) holds
// the results already known for this event.
bool matches(const std::vector<Filter> &where, const cJSON *properties, FilterMemo *memo = nullptr);

// `measured op value` for the numeric operators; NaN compares false.
bool compare_number(Op op, double measured, double value);

}  // namespace co::rules
