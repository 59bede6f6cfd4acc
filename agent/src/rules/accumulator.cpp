#include "rules/accumulator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "rules/predicate.h"

namespace co::rules {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// No bucket ever holds 2^40 events; a saved count above it is corrupt, and the
// bound keeps merging any number of restored buckets clear of overflow.
constexpr uint64_t kMaxCount = uint64_t{1} << 40;

// Count, sum, min and max of the values in one bucket: merging two is exact for
// the count, and for the sum as long as the values add exactly in doubles.
struct Tally {
  int64_t count = 0;
  double sum = 0;
  double min = kInf;
  double max = -kInf;

  void merge(const Tally &o) {
    count += o.count;
    sum += o.sum;
    min = std::min(min, o.min);
    max = std::max(max, o.max);
  }
  void encode(ByteWriter *w) const {
    uint8_t mask = (count != 0) | (sum != 0) << 1 | (min != kInf) << 2 | (max != -kInf) << 3;
    w->u8(mask);
    if (mask & 1) w->uvar(static_cast<uint64_t>(count));
    if (mask & 2) w->f64(sum);
    if (mask & 4) w->f64(min);
    if (mask & 8) w->f64(max);
  }
  bool decode(ByteReader *r) {
    uint8_t mask = 0;
    uint64_t n = 0;
    if (!r->u8(&mask) || mask > 15) return false;
    if ((mask & 1) && (!r->uvar(&n) || n > kMaxCount)) return false;
    count = static_cast<int64_t>(n);
    return (!(mask & 2) || r->f64(&sum)) && (!(mask & 4) || r->f64(&min)) && (!(mask & 8) || r->f64(&max));
  }
};

// The newest selected value of a property (highest sequence number) and the
// result of the condition's comparison on it, made once when it was seen.
struct Latest {
  int64_t seq = std::numeric_limits<int64_t>::min();
  bool match = false;
  std::string value;  // JSON text, for explain

  void encode(ByteWriter *w) const {
    w->svar(seq);
    w->u8(match ? 1 : 0);
    w->str(value);
  }
  bool decode(ByteReader *r) {
    uint8_t m = 0;
    if (!r->svar(&seq) || !r->u8(&m) || m > 1) return false;
    match = m == 1;
    return r->str(&value);
  }
};

// Cells of one condition, by scope: one cell for the lifetime; one cell and the
// id it belongs to for a session or view window (a selected event of another
// session or view starts it afresh: sessions and views do not come back); and
// for timed windows, one cell per non-empty bucket, oldest first.
template <class Cell>
class Series {
 public:
  // The cell `e` lands in, or null when no reading can ever count it (a view
  // window, and an event outside any view).
  Cell *slot(const Window &w, const Event &e) {
    if (w.scope == Scope::session || w.scope == Scope::view) {
      std::string_view key = w.scope == Scope::session ? e.session_id : e.view_id;
      if (w.scope == Scope::view && key.empty()) return nullptr;
      if (key_ != key) {
        cells_.clear();
        key_.assign(key);
        ++generation_;
      }
    }
    return bucket_cell(w.timed() ? bucket_of(e.time_ms, w.bucket_ms()) : 0);
  }

  // Drops the buckets no reading can reach any more, calling dropped(cell)
  // for each first.
  template <class F>
  void prune(const Window &w, int64_t horizon_ms, F &&dropped) {
    if (!w.timed() || horizon_ms == kNoHorizon) return;
    int64_t oldest = bucket_of(horizon_ms, w.bucket_ms()) - w.buckets() + 1;
    auto keep = cells_.begin();
    for (; keep != cells_.end() && keep->first < oldest; ++keep) dropped(keep->second);
    cells_.erase(cells_.begin(), keep);
  }
  void prune(const Window &w, int64_t horizon_ms) {
    prune(w, horizon_ms, [](const Cell &) {});
  }

  // True when every cell lies inside the window at `now` (and is in scope).
  bool all_within(const Window &w, const Now &now) const {
    if (!in_scope(w, now)) return false;
    if (!w.timed() || cells_.empty()) return true;
    int64_t newest = bucket_of(now.time_ms, w.bucket_ms());
    return bucket_in_window(cells_.front().first, newest, w.buckets()) &&
           bucket_in_window(cells_.back().first, newest, w.buckets());
  }
  bool empty() const { return cells_.empty(); }

  // When the window at `now` next gains or loses a cell by time alone: the
  // oldest cell leaves, or a cell stamped later than `now` comes in.
  int64_t changes_at(const Window &w, const Now &now) const {
    if (!w.timed() || cells_.empty()) return kNoChange;
    int64_t ms = w.bucket_ms();
    int64_t newest = bucket_of(now.time_ms, ms);
    if (cells_.back().first > newest) return next_bucket_ms(now.time_ms, ms);
    // The oldest cell inside the window leaves first. Cells already outside
    // (kept until the next event prunes them) count in no reading: they
    // change nothing, and when every cell is out nothing changes.
    // Mostly a few cells left since the last event: stepped over, a search
    // past that.
    int64_t before = newest - w.buckets();
    auto first = cells_.begin();
    for (int step = 0; step < 8 && first != cells_.end() && first->first <= before; ++step) ++first;
    if (first != cells_.end() && first->first <= before)
      first = std::upper_bound(first, cells_.end(), before, [](int64_t b, const auto &c) { return b < c.first; });
    if (first == cells_.end()) return kNoChange;
    int64_t leaves = 0;
    if (__builtin_add_overflow(first->first, w.buckets(), &leaves)) return kNoChange;
    return bucket_start(leaves, ms);
  }

  template <class F>
  void visit_all(F &&f) const {
    for (const auto &c : cells_) f(c.second);
  }
  // Calls f(cell) for the cells of buckets before `bucket`, oldest first.
  template <class F>
  void visit_before(int64_t bucket, F &&f) const {
    for (auto it = cells_.begin(); it != cells_.end() && it->first < bucket; ++it) f(it->second);
  }
  // Calls f(bucket, cell) for the cells from `bucket` on, oldest first, while f returns true.
  template <class F>
  void walk_from(int64_t bucket, F &&f) const {
    for (const auto &c : cells_) {
      if (c.first >= bucket && !f(c.first, c.second)) return;
    }
  }
  int64_t newest_bucket() const { return cells_.empty() ? std::numeric_limits<int64_t>::min() : cells_.back().first; }

  // Calls f(cell) for the cells inside the window at `now`, oldest first.
  template <class F>
  void visit(const Window &w, const Now &now, F &&f) const {
    if (!in_scope(w, now)) return;
    int64_t newest = w.timed() ? bucket_of(now.time_ms, w.bucket_ms()) : 0;
    int64_t width = w.timed() ? w.buckets() : 1;
    for (const auto &c : cells_) {
      if (bucket_in_window(c.first, newest, width)) f(c.second);
    }
  }

  void encode(ByteWriter *w) const {
    w->str(key_);
    w->uvar(cells_.size());
    for (size_t i = 0; i < cells_.size(); ++i) {
      if (i == 0)
        w->svar(cells_[0].first);
      else
        // Unsigned, like decode_bucket(): ascending buckets can be more than
        // INT64_MAX apart (a loaded blob may hold any int64 bucket).
        w->uvar(static_cast<uint64_t>(cells_[i].first) - static_cast<uint64_t>(cells_[i - 1].first));
      cells_[i].second.encode(w);
    }
  }

  // Buckets must ascend strictly; an untimed scope holds at most bucket 0.
  bool decode(const Window &w, ByteReader *r) {
    uint64_t n = 0;
    if (!r->str(&key_) || !r->uvar(&n) || n > r->remaining()) return false;
    if (!w.timed() && n > 1) return false;
    cells_.resize(n);
    for (uint64_t i = 0; i < n; ++i) {
      if (!decode_bucket(i, r) || !cells_[i].second.decode(r)) return false;
    }
    return w.timed() || n == 0 || cells_[0].first == 0;
  }

 private:
  bool in_scope(const Window &w, const Now &now) const {
    switch (w.scope) {
      case Scope::session:
        return key_ == now.session_id;
      case Scope::view:
        return !now.view_id.empty() && key_ == now.view_id;
      default:
        return true;
    }
  }

  Cell *bucket_cell(int64_t bucket) {
    // Events come almost always in time order: the newest bucket is the hot path.
    if (cells_.empty() || cells_.back().first < bucket) {
      cells_.emplace_back(bucket, Cell{});
      return &cells_.back().second;
    }
    auto it =
        std::lower_bound(cells_.begin(), cells_.end(), bucket, [](const auto &c, int64_t b) { return c.first < b; });
    if (it->first != bucket) it = cells_.insert(it, {bucket, Cell{}});
    return &it->second;
  }

  bool decode_bucket(uint64_t i, ByteReader *r) {
    if (i == 0) return r->svar(&cells_[0].first);
    uint64_t delta = 0;
    int64_t prev = cells_[i - 1].first;
    // Unsigned: the room above `prev` is up to 2^64 - 1 when prev is negative.
    uint64_t room = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - static_cast<uint64_t>(prev);
    if (!r->uvar(&delta) || delta == 0 || delta > room) return false;
    cells_[i].first = static_cast<int64_t>(static_cast<uint64_t>(prev) + delta);  // <= INT64_MAX: checked
    return true;
  }

  std::string key_;
  std::vector<std::pair<int64_t, Cell>> cells_;
  uint64_t generation_ = 0;  // bumped when a new session / view empties the cells

 public:
  uint64_t generation() const { return generation_; }
  bool covers(const Window &w, const Now &now) const { return in_scope(w, now); }
};

// The decision on a measure, for the conditions read off a tally.
bool decides(const Condition &c, const Measure &m) {
  return m.has_value && compare_number(c.op, m.number, c.number);
}

bool selects(const Condition &c, const Event &e) {
  return c.matches_name(e.name) && matches(c.where, e.properties, e.filters);
}

Tally fold(const Series<Tally> &s, const Condition &c, const Now &now) {
  Tally t;
  s.visit(c.window, now, [&t](const Tally &cell) { t.merge(cell); });
  return t;
}

bool whole(double x) { return std::trunc(x) == x && std::fabs(x) < 9007199254740992.0; }  // 2^53

// The fold of every cell of a series, kept up to date as cells change: an
// event's delta is merged in, a pruned cell taken out again. Taking out is
// exact for the count, for the sum while every sum seen is a whole number
// below 2^53, and for min / max unless the cell held the extreme; otherwise the
// next reading refolds (a fractional sum refolds after 64 removals, so rounding
// never builds up). Since cells are pruned as events arrive, a reading at the
// time of the latest event finds every cell in its window and costs O(1); a
// reading later than that takes the few cells that left since out of a copy.
class RunningFold {
 public:
  void added(const Tally &delta) {
    read_valid_ = false;
    if (!valid_) return;
    tally_.merge(delta);
    whole_ = whole_ && whole(delta.sum) && whole(tally_.sum);
  }
  void dropped(const Tally &cell) {
    read_valid_ = false;
    if (valid_ && !take_out(&tally_, cell, &inexact_)) valid_ = false;
  }
  void invalidate() { valid_ = read_valid_ = false; }
  // After get(): every sum seen is whole, so subtracting is exact.
  bool whole_sums() const { return valid_ && whole_; }

  Tally get(const Series<Tally> &series, const Condition &c, const Now &now) const {
    if (!series.covers(c.window, now)) return Tally{};
    if (series.empty()) return Tally{};
    if (!valid_) refold(series);
    if (series.all_within(c.window, now)) return tally_;
    // A timed window's tally depends on the time alone: read again at the
    // same time (the cohorts and models that share it, then when it next
    // changes), it is the last one.
    if (read_valid_ && read_ms_ == now.time_ms) return read_;
    // Read later than the last event: the oldest cells may have left the
    // window since. Take them out of a copy (a few cells), or fold the window.
    int64_t newest = bucket_of(now.time_ms, c.window.bucket_ms());
    int64_t oldest = newest - c.window.buckets() + 1;
    if (series.newest_bucket() < oldest) return Tally{};  // every cell has left
    Tally t = tally_;
    int inexact = inexact_;
    bool ok = series.newest_bucket() <= newest;
    series.visit_before(oldest, [&](const Tally &cell) { ok = ok && take_out(&t, cell, &inexact); });
    read_ = ok ? t : fold(series, c, now);
    read_ms_ = now.time_ms;
    read_valid_ = true;
    return read_;
  }

 private:
  // Takes `cell` out of `t` when that is exact enough (see above).
  bool take_out(Tally *t, const Tally &cell, int *inexact) const {
    bool extreme = (cell.min != kInf && cell.min <= t->min) || (cell.max != -kInf && cell.max >= t->max);
    if (extreme || (!whole_ && ++*inexact > 64)) return false;
    t->count -= cell.count;
    t->sum -= cell.sum;
    return true;
  }
  void refold(const Series<Tally> &series) const {
    tally_ = Tally{};
    whole_ = true;
    series.visit_all([this](const Tally &cell) {
      tally_.merge(cell);
      whole_ = whole_ && whole(cell.sum);
    });
    whole_ = whole_ && whole(tally_.sum);
    inexact_ = 0;
    valid_ = true;
  }

  mutable bool valid_ = false;
  mutable bool whole_ = true;
  mutable int inexact_ = 0;
  mutable Tally tally_;
  // The last reading that took cells out (at read_ms_), until the cells change.
  mutable bool read_valid_ = false;
  mutable int64_t read_ms_ = 0;
  mutable Tally read_;
};

// The base of event, aggregate and engagement: a tally series with its running fold.
class WindowedTally : public Accumulator {
 public:
  void encode(ByteWriter *w) const override { series_.encode(w); }
  bool decode(const Condition &c, ByteReader *r) override {
    fold_.invalidate();
    return series_.decode(c.window, r);
  }

 protected:
  // Adds `delta` for event `e` to its cell (false when no cell takes it).
  bool add_tally(const Condition &c, const Event &e, const Tally &delta) {
    uint64_t generation = series_.generation();
    Tally *t = series_.slot(c.window, e);
    if (series_.generation() != generation) fold_.invalidate();
    if (t == nullptr) return false;
    t->merge(delta);
    fold_.added(delta);
    return true;
  }
  void prune(const Condition &c, int64_t horizon_ms) {
    series_.prune(c.window, horizon_ms, [this](const Tally &cell) { fold_.dropped(cell); });
    if (series_.empty()) fold_.invalidate();  // no rounding left behind
  }
  Tally tally(const Condition &c, const Now &now) const { return fold_.get(series_, c, now); }
  // What the condition measures of a tally of its window.
  virtual Measure of_tally(const Condition &c, const Tally &t) const = 0;
  // Whether that measure is a count or a sum (not min / max), so taking a
  // cell out of a tally gives the measure without the cell.
  virtual bool additive(const Condition &c) const = 0;

 public:
  Measure measure(const Condition &c, const Now &now) const final { return of_tally(c, tally(c, now)); }
  int64_t measure_changes_at(const Condition &c, const Now &now) const final {
    return series_.changes_at(c.window, now);
  }

  // Time alone only takes cells out of the window, oldest first, so the
  // decision can flip only as one leaves. For a count or a sum (or average)
  // the next few departures are stepped through and the first that flips it
  // answers (none of them: the last one stepped; no cells left to flip it:
  // never); for min / max the next departure answers.
  int64_t changes_at(const Condition &c, const Now &now) const override {
    int64_t next = series_.changes_at(c.window, now);
    if (next == kNoChange || !c.window.timed() || !additive(c)) return next;
    int64_t newest = bucket_of(now.time_ms, c.window.bucket_ms());
    if (series_.newest_bucket() > newest) return next;  // a cell still to come in
    Tally t = tally(c, now);
    // Fractional sums subtract with rounding: a step that lands near the
    // threshold counts as a flip (early is allowed, late never).
    bool exact = fold_.whole_sums() || c.type == Type::event || c.metric == Metric::count || c.metric == Metric::views;
    auto near = [&](const Measure &m) {
      double scale = std::max({1.0, std::fabs(c.number), std::fabs(m.number)});
      return !exact && m.has_value && std::fabs(m.number - c.number) <= 1e-9 * scale;
    };
    bool holds = decides(c, of_tally(c, t));
    int64_t width = c.window.buckets(), at = kNoChange;
    int steps = 0;
    bool stopped = false;  // at a flip, or after 8 steps
    series_.walk_from(newest - width + 1, [&](int64_t bucket, const Tally &cell) {
      if (steps++ == 8) return !(stopped = true);
      t.count -= cell.count;
      t.sum -= cell.sum;
      int64_t leaves = 0;
      at = __builtin_add_overflow(bucket, width, &leaves) ? kNoChange : bucket_start(leaves, c.window.bucket_ms());
      Measure m = of_tally(c, t);
      return !(stopped = decides(c, m) != holds || near(m));
    });
    return stopped ? at : kNoChange;
  }

 private:
  Series<Tally> series_;
  RunningFold fold_;
};

// event: how many selected events.
class EventCount final : public WindowedTally {
 public:
  bool add(const Condition &c, const Event &e, int64_t horizon_ms) override {
    if (!selects(c, e)) return false;
    bool added = add_tally(c, e, Tally{1, 0, kInf, -kInf});
    prune(c, horizon_ms);
    return added;
  }

 private:
  Measure of_tally(const Condition &, const Tally &t) const override {
    return Measure::of(static_cast<double>(t.count));
  }
  bool additive(const Condition &) const override { return true; }
};

// aggregate: count, sum, min, max of a numeric property; avg derived. Selected
// events whose property is missing or not a number contribute nothing.
class Aggregate final : public WindowedTally {
 public:
  bool add(const Condition &c, const Event &e, int64_t horizon_ms) override {
    if (!selects(c, e)) return false;
    const cJSON *v = lookup(e.properties, c.property);
    if (!cJSON_IsNumber(v)) return false;
    double x = v->valuedouble;
    bool added = add_tally(c, e, Tally{1, x, x, x});
    prune(c, horizon_ms);
    return added;
  }

 private:
  bool additive(const Condition &c) const override { return c.metric != Metric::min && c.metric != Metric::max; }
  Measure of_tally(const Condition &c, const Tally &t) const override {
    switch (c.metric) {
      case Metric::count:
        return Measure::of(static_cast<double>(t.count));
      case Metric::sum:
        return Measure::of(t.sum);
      case Metric::avg:
        return Measure::maybe(t.count > 0, t.count > 0 ? t.sum / static_cast<double>(t.count) : 0);
      case Metric::min:
        return Measure::maybe(t.count > 0, t.min);
      default:
        return Measure::maybe(t.count > 0, t.max);
    }
  }
};

// recency: the hour bucket of the newest selected event. Days since it count the
// current hour: (now_hour - last_hour + 1) / 24, so "lte N" holds exactly when a
// selected event is inside the N-day window and "gt N" when none is. An event
// stamped in the future counts as this hour.
class Recency final : public Accumulator {
 public:
  bool add(const Condition &c, const Event &e, int64_t) override {
    if (!selects(c, e)) return false;
    int64_t hour = bucket_of(e.time_ms, Window{Scope::days, 1}.bucket_ms());
    if (seen_ && hour <= last_hour_) return false;
    last_hour_ = hour;
    seen_ = true;
    return true;
  }
  Measure measure(const Condition &, const Now &now) const override {
    if (!seen_) return Measure::of(kInf);
    int64_t now_hour = bucket_of(now.time_ms, Window{Scope::days, 1}.bucket_ms());
    // Unsigned: a restored hour may lie anywhere in int64.
    uint64_t age = now_hour > last_hour_ ? static_cast<uint64_t>(now_hour) - static_cast<uint64_t>(last_hour_) : 0;
    return Measure::of((static_cast<double>(age) + 1) / 24.0);
  }
  // Days since only grow: "gt"/"gte" once true and "lt"/"lte" once false stay
  // so; before that the decision flips at one hour, found by stepping from an
  // estimate (age + 1 > 24 * value). "eq"/"ne" are re-read every hour.
  int64_t changes_at(const Condition &c, const Now &now) const override {
    if (!seen_) return kNoChange;
    int64_t hour_ms = Window{Scope::days, 1}.bucket_ms();
    bool rising = c.op == Op::gt || c.op == Op::gte;
    if (!rising && c.op != Op::lt && c.op != Op::lte) return next_bucket_ms(now.time_ms, hour_ms);
    bool now_holds = compare_number(c.op, measure(c, now).number, c.number);
    if (now_holds == rising) return kNoChange;
    double estimate = 24.0 * c.number - 2;
    if (!(estimate < 1e12)) return rising ? kNoChange : next_bucket_ms(now.time_ms, hour_ms);
    int64_t age = std::max<int64_t>(0, static_cast<int64_t>(estimate));
    for (int step = 0; step < 8; ++step, ++age) {
      bool holds = compare_number(c.op, (static_cast<double>(age) + 1) / 24.0, c.number);
      if (holds != now_holds) {
        int64_t hour = 0;
        if (__builtin_add_overflow(last_hour_, age, &hour)) return kNoChange;
        return std::max(bucket_start(hour, hour_ms), now.time_ms);
      }
    }
    return next_bucket_ms(now.time_ms, hour_ms);
  }
  // Days since grow by the hour.
  int64_t measure_changes_at(const Condition &, const Now &now) const override {
    return seen_ ? next_bucket_ms(now.time_ms, Window{Scope::days, 1}.bucket_ms()) : kNoChange;
  }
  void encode(ByteWriter *w) const override {
    w->u8(seen_ ? 1 : 0);
    if (seen_) w->svar(last_hour_);
  }
  bool decode(const Condition &, ByteReader *r) override {
    uint8_t seen = 0;
    if (!r->u8(&seen) || seen > 1) return false;
    seen_ = seen == 1;
    return !seen_ || r->svar(&last_hour_);
  }

 private:
  bool seen_ = false;
  int64_t last_hour_ = 0;
};

// property: the last value seen (present and not null) on selected events.
class LastValue final : public Accumulator {
 public:
  bool add(const Condition &c, const Event &e, int64_t horizon_ms) override {
    if (!selects(c, e)) return false;
    const cJSON *v = lookup(e.properties, c.property);
    if (v == nullptr || cJSON_IsNull(v)) return false;
    Latest *cell = series_.slot(c.window, e);
    if (cell == nullptr || cell->seq > e.seq) return false;
    cell->seq = e.seq;
    cell->match = compare(c.op, v, c.value);
    print(v, &cell->value);
    series_.prune(c.window, horizon_ms);
    return true;
  }
  Measure measure(const Condition &c, const Now &now) const override {
    const Latest *last = nullptr;
    series_.visit(c.window, now, [&last](const Latest &cell) {
      if (last == nullptr || cell.seq > last->seq) last = &cell;
    });
    Measure m = Measure::maybe(last != nullptr, 0);
    m.match = last != nullptr ? last->match : c.op == Op::not_exists;
    if (last != nullptr) m.text = last->value;
    return m;
  }
  int64_t changes_at(const Condition &c, const Now &now) const override { return series_.changes_at(c.window, now); }
  int64_t measure_changes_at(const Condition &c, const Now &now) const override { return changes_at(c, now); }
  void encode(ByteWriter *w) const override { series_.encode(w); }
  bool decode(const Condition &c, ByteReader *r) override { return series_.decode(c.window, r); }

 private:
  // `v` as JSON text into `out`. A property value is short: printed on the
  // stack and copied into the cell's string (whose room is kept), not
  // allocated and freed for every event that carries it.
  static void print(const cJSON *v, std::string *out) {
    char buf[128];
    // cJSON asks for 5 bytes to spare; it does not change the item.
    if (cJSON_PrintPreallocated(const_cast<cJSON *>(v), buf, sizeof buf - 5, false)) {
      out->assign(buf);
      return;
    }
    char *text = cJSON_PrintUnformatted(v);
    *out = text != nullptr ? text : "null";
    cJSON_free(text);
  }

  Series<Latest> series_;
};

// engagement: views are runs of events sharing a view_id; the first event of a
// run is the play event (Videoview, AudioPlay, or any name given), and an event
// of the run with a numeric time_spent_seconds is a completion (VideoCompletion,
// AudioCompletion). `event_type` and `where` select the play event; a selected
// view counts in its play event's bucket, its completions' engaged time and
// completion (max of percentage_watched / percentage_listened) in theirs.
class Engagement final : public WindowedTally {
 public:
  bool add(const Condition &c, const Event &e, int64_t horizon_ms) override {
    if (e.view_id.empty()) return false;
    bool changed = e.view_id != view_ && start_view(c, e);
    changed = (play_selected_ && add_completion(c, e)) || changed;
    prune(c, horizon_ms);
    return changed;
  }
  Measure of_tally(const Condition &c, const Tally &t) const override {
    switch (c.metric) {
      case Metric::views:
        return Measure::of(static_cast<double>(t.count));
      case Metric::engaged_time:
        return Measure::of(t.sum);
      default:
        return Measure::maybe(t.max != -kInf, t.max);
    }
  }
  bool additive(const Condition &c) const override { return c.metric != Metric::completion; }
  void encode(ByteWriter *w) const override {
    w->str(view_);
    w->u8(play_selected_ ? 1 : 0);
    WindowedTally::encode(w);
  }
  bool decode(const Condition &c, ByteReader *r) override {
    uint8_t selected = 0;
    if (!r->str(&view_) || !r->u8(&selected) || selected > 1) return false;
    play_selected_ = selected == 1;
    return WindowedTally::decode(c, r);
  }

 private:
  // True when the view counts (its play event is selected).
  bool start_view(const Condition &c, const Event &e) {
    view_.assign(e.view_id);
    play_selected_ = selects(c, e);
    if (!play_selected_) return false;
    add_tally(c, e, Tally{1, 0, kInf, -kInf});
    return true;
  }

  bool add_completion(const Condition &c, const Event &e) {
    const cJSON *spent = cJSON_GetObjectItemCaseSensitive(e.properties, "time_spent_seconds");
    if (!cJSON_IsNumber(spent)) return false;
    Tally delta{0, spent->valuedouble, kInf, -kInf};
    for (const char *key : {"percentage_watched", "percentage_listened"}) {
      const cJSON *pct = cJSON_GetObjectItemCaseSensitive(e.properties, key);
      if (cJSON_IsNumber(pct)) delta.max = std::max(delta.max, pct->valuedouble);
    }
    return add_tally(c, e, delta);
  }

  std::string view_;  // the view the last view-carrying event belonged to
  bool play_selected_ = false;
};

}  // namespace

std::unique_ptr<Accumulator> make_accumulator(const Condition &c) {
  switch (c.type) {
    case Type::event:
      return std::make_unique<EventCount>();
    case Type::aggregate:
      return std::make_unique<Aggregate>();
    case Type::recency:
      return std::make_unique<Recency>();
    case Type::property:
      return std::make_unique<LastValue>();
    case Type::engagement:
      return std::make_unique<Engagement>();
    default:
      return nullptr;
  }
}

}  // namespace co::rules
