#include "rules/accumulator.h"

#include <algorithm>
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

  // Drops the buckets no reading can reach any more; true when any went.
  bool prune(const Window &w, int64_t horizon_ms) {
    if (!w.timed() || horizon_ms == kNoHorizon) return false;
    int64_t oldest = bucket_of(horizon_ms, w.bucket_ms()) - w.buckets() + 1;
    auto keep = std::find_if(cells_.begin(), cells_.end(), [oldest](const auto &c) { return c.first >= oldest; });
    bool any = keep != cells_.begin();
    cells_.erase(cells_.begin(), keep);
    return any;
  }

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
        w->uvar(static_cast<uint64_t>(cells_[i].first - cells_[i - 1].first));
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

bool selects(const Condition &c, const Event &e) {
  return c.matches_name(e.name) && matches(c.where, e.properties);
}

Tally fold(const Series<Tally> &s, const Condition &c, const Now &now) {
  Tally t;
  s.visit(c.window, now, [&t](const Tally &cell) { t.merge(cell); });
  return t;
}

// The fold of a series over its window, cached for the newest bucket it was
// taken at: an event landing inside that window merges into it, so a reading
// costs O(1) until the window slides, instead of a fold over every bucket of,
// say, a 30-day window (720 hour buckets).
class CachedFold {
 public:
  // After series.slot()/prune() for event `e` added `delta` to a cell.
  void added(const Condition &c, const Event &e, const Tally &delta, bool reset) {
    if (reset) {
      valid_ = false;
      return;
    }
    if (!valid_) return;
    int64_t bucket = c.window.timed() ? bucket_of(e.time_ms, c.window.bucket_ms()) : 0;
    int64_t width = c.window.timed() ? c.window.buckets() : 1;
    if (bucket_in_window(bucket, newest_, width)) {
      tally_.merge(delta);
    } else if (bucket > newest_) {
      valid_ = false;  // a newer bucket: the window slides at the next reading
    }
  }
  Tally get(const Series<Tally> &series, const Condition &c, const Now &now) const {
    if (!series.covers(c.window, now)) return Tally{};
    int64_t newest = c.window.timed() ? bucket_of(now.time_ms, c.window.bucket_ms()) : 0;
    if (!valid_ || newest_ != newest) {
      tally_ = fold(series, c, now);
      newest_ = newest;
      valid_ = true;
    }
    return tally_;
  }
  void invalidate() { valid_ = false; }

 private:
  mutable bool valid_ = false;
  mutable int64_t newest_ = 0;
  mutable Tally tally_;
};

// Adds `delta` for event `e` to its cell, prunes, and keeps the cache right.
bool add_to(Series<Tally> &series, CachedFold &cache, const Condition &c, const Event &e, const Tally &delta,
            int64_t horizon_ms) {
  uint64_t generation = series.generation();
  Tally *t = series.slot(c.window, e);
  if (t != nullptr) t->merge(delta);
  bool pruned = series.prune(c.window, horizon_ms);
  if (t != nullptr || pruned || series.generation() != generation) {
    cache.added(c, e, delta, pruned || series.generation() != generation || t == nullptr);
  }
  return t != nullptr;
}

// The base of event and aggregate: a tally series with its cached fold.
class WindowedTally : public Accumulator {
 public:
  void encode(ByteWriter *w) const override { series_.encode(w); }
  bool decode(const Condition &c, ByteReader *r) override {
    cache_.invalidate();
    return series_.decode(c.window, r);
  }

 protected:
  bool add_tally(const Condition &c, const Event &e, const Tally &delta, int64_t horizon_ms) {
    return add_to(series_, cache_, c, e, delta, horizon_ms);
  }
  Tally tally(const Condition &c, const Now &now) const { return cache_.get(series_, c, now); }

 private:
  Series<Tally> series_;
  CachedFold cache_;
};

// event: how many selected events.
class EventCount final : public WindowedTally {
 public:
  bool add(const Condition &c, const Event &e, int64_t horizon_ms) override {
    if (!selects(c, e)) return false;
    return add_tally(c, e, Tally{1, 0, kInf, -kInf}, horizon_ms);
  }
  Measure measure(const Condition &c, const Now &now) const override {
    return Measure::of(static_cast<double>(tally(c, now).count));
  }
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
    return add_tally(c, e, Tally{1, x, x, x}, horizon_ms);
  }
  Measure measure(const Condition &c, const Now &now) const override {
    Tally t = tally(c, now);
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
    char *text = cJSON_PrintUnformatted(v);
    cell->value = text != nullptr ? text : "null";
    cJSON_free(text);
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
  void encode(ByteWriter *w) const override { series_.encode(w); }
  bool decode(const Condition &c, ByteReader *r) override { return series_.decode(c.window, r); }

 private:
  Series<Latest> series_;
};

// engagement: views are runs of events sharing a view_id; the first event of a
// run is the play event (Videoview, AudioPlay, or any name given), and an event
// of the run with a numeric time_spent_seconds is a completion (VideoCompletion,
// AudioCompletion). `event_type` and `where` select the play event; a selected
// view counts in its play event's bucket, its completions' engaged time and
// completion (max of percentage_watched / percentage_listened) in theirs.
class Engagement final : public Accumulator {
 public:
  bool add(const Condition &c, const Event &e, int64_t horizon_ms) override {
    if (e.view_id.empty()) return false;
    bool changed = e.view_id != view_ && start_view(c, e);
    changed = (play_selected_ && add_completion(c, e)) || changed;
    series_.prune(c.window, horizon_ms);
    return changed;
  }
  Measure measure(const Condition &c, const Now &now) const override {
    Tally t = fold(series_, c, now);
    switch (c.metric) {
      case Metric::views:
        return Measure::of(static_cast<double>(t.count));
      case Metric::engaged_time:
        return Measure::of(t.sum);
      default:
        return Measure::maybe(t.max != -kInf, t.max);
    }
  }
  void encode(ByteWriter *w) const override {
    w->str(view_);
    w->u8(play_selected_ ? 1 : 0);
    series_.encode(w);
  }
  bool decode(const Condition &c, ByteReader *r) override {
    uint8_t selected = 0;
    if (!r->str(&view_) || !r->u8(&selected) || selected > 1) return false;
    play_selected_ = selected == 1;
    return series_.decode(c.window, r);
  }

 private:
  // True when the view counts (its play event is selected).
  bool start_view(const Condition &c, const Event &e) {
    view_.assign(e.view_id);
    play_selected_ = selects(c, e);
    if (!play_selected_) return false;
    if (Tally *t = series_.slot(c.window, e)) ++t->count;
    return true;
  }

  bool add_completion(const Condition &c, const Event &e) {
    const cJSON *spent = cJSON_GetObjectItemCaseSensitive(e.properties, "time_spent_seconds");
    if (!cJSON_IsNumber(spent)) return false;
    Tally *t = series_.slot(c.window, e);
    if (t == nullptr) return false;
    t->sum += spent->valuedouble;
    for (const char *key : {"percentage_watched", "percentage_listened"}) {
      const cJSON *pct = cJSON_GetObjectItemCaseSensitive(e.properties, key);
      if (cJSON_IsNumber(pct)) t->max = std::max(t->max, pct->valuedouble);
    }
    return true;
  }

  std::string view_;  // the view the last view-carrying event belonged to
  bool play_selected_ = false;
  Series<Tally> series_;
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
