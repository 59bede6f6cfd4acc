// Incremental state of one condition: mergeable summaries over sparse time
// buckets (or one summary for the session / view / lifetime), so an event costs
// O(1) amortised and a reading costs O(non-empty buckets in the window).
#pragma once
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "rules/ast.h"
#include "rules/bytes.h"
#include "rules/event.h"

namespace co::rules {

// What a condition measures at a moment.
struct Measure {
  bool has_value = false;  // false: "no value" (an empty avg/min/max/completion, a never-seen property)
  double number = 0;       // count, aggregate, engagement metric, or days since (+inf = never)
  bool match = false;      // property: the comparison, made when the value was seen
  std::string_view text;   // property: the last value, as JSON text

  static Measure of(double v) { return maybe(true, v); }
  static Measure maybe(bool has, double v) {
    Measure m;
    m.has_value = has;
    m.number = has ? v : 0;
    return m;
  }
};

// A reading that no passing of time changes.
constexpr int64_t kNoChange = std::numeric_limits<int64_t>::max();

// A horizon that prunes nothing.
constexpr int64_t kNoHorizon = std::numeric_limits<int64_t>::min();

class Accumulator {
 public:
  virtual ~Accumulator() = default;
  // Folds `e` in when it is selected by `c` (name and where); true when that
  // changed what measure() can return. Buckets that left the window as seen at
  // `horizon_ms` are dropped: no reading at or after `horizon_ms` can see them.
  virtual bool add(const Condition &c, const Event &e, int64_t horizon_ms) = 0;
  virtual Measure measure(const Condition &c, const Now &now) const = 0;
  // The earliest time after `now` at which, with no new event, the condition's
  // decision may differ from the one at `now` (kNoChange: never). Early is
  // allowed (it only costs a re-reading), late never.
  virtual int64_t changes_at(const Condition &c, const Now &now) const = 0;
  // The earliest time after `now` at which, with no new event, measure() may
  // return something else (a model's feature has no decision to wait for).
  // Early is allowed, late never.
  virtual int64_t measure_changes_at(const Condition &c, const Now &now) const = 0;
  virtual void encode(ByteWriter *w) const = 0;
  // Reads what encode wrote for the same condition. False on any inconsistency;
  // the accumulator is then unusable.
  virtual bool decode(const Condition &c, ByteReader *r) = 0;
};

// The accumulator for an event-reading condition; null for `cohort` conditions,
// which read another cohort instead of events.
std::unique_ptr<Accumulator> make_accumulator(const Condition &c);

}  // namespace co::rules
