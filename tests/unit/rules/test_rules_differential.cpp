// Differential test: random definitions (rules and models), events, clock
// moves, polls, save / restore (with crash replay), reloads and look-backs;
// after every step the engine must answer exactly as the brute-force
// reference: membership, entered / exited, every condition's measured value,
// and every feature's measured value, value and contribution with the score
// and the probability of each model, bit for bit.
#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "reference.h"
#include "rules_test.h"

using co::rules::Engine;
using co::rules::LoadReport;
using co::rules::Now;
using co::rules::SavedState;
using namespace rules_test;

namespace {

// Deterministic on every platform: only the raw mt19937_64 stream is used.
class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  int pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  bool chance(int percent) { return pick(100) < percent; }
  template <class T>
  T one_of(std::initializer_list<T> list) {
    return list.begin()[pick(static_cast<int>(list.size()))];
  }
  // Multiples of 1/4: sums of them are exact in doubles, whatever the order.
  double quarter(int max_quarters) { return pick(max_quarters + 1) / 4.0; }

 private:
  std::mt19937_64 rng_;
};

cJSON *random_literal(Gen &g, const std::string &op) {
  if (op == "in" || op == "not_in") {
    return g.chance(50) ? cJSON_Parse("[\"football\",\"drama\",\"x\"]") : cJSON_Parse("[1,2,0.5]");
  }
  if (op == "starts_with" || op == "ends_with") return cJSON_CreateString(g.one_of({"foot", "ball", "dr", ""}));
  if (op == "eq" || op == "ne") {
    switch (g.pick(4)) {
      case 0:
        return cJSON_CreateString(g.one_of({"football", "x", "drama"}));
      case 1:
        return cJSON_CreateNumber(g.quarter(8));
      case 2:
        return cJSON_CreateBool(g.chance(50));
      default:
        return cJSON_CreateNumber(g.pick(3));
    }
  }
  if (g.chance(60)) return cJSON_CreateString(g.one_of({"foot", "football", "a", "x", "drama", "b"}));
  return cJSON_CreateNumber(g.chance(50) ? g.pick(3) : g.quarter(8));
}

const char *random_op(Gen &g) {
  return g.one_of({"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "not_contains", "starts_with",
                   "ends_with", "exists", "not_exists"});
}

const char *numeric_op(Gen &g) {
  return g.one_of({"eq", "ne", "gt", "gte", "lt", "lte"});
}

void add_comparison(Gen &g, cJSON *o, const char *op) {
  cJSON_AddStringToObject(o, "operator", op);
  std::string s = op;
  if (s != "exists" && s != "not_exists") cJSON_AddItemToObject(o, "value", random_literal(g, s));
}

cJSON *random_where(Gen &g) {
  cJSON *list = cJSON_CreateArray();
  for (int i = g.pick(3); i > 0; --i) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "property", g.one_of({"s", "n", "tags", "b", "v.c", "nope"}));
    add_comparison(g, f, random_op(g));
    cJSON_AddItemToArray(list, f);
  }
  return list;
}

void add_window(Gen &g, cJSON *o) {
  switch (g.pick(7)) {
    case 0:
      break;  // lifetime by default
    case 1:
      cJSON_AddStringToObject(o, "window", g.one_of({"lifetime", "session", "view"}));
      break;
    case 2:
      cJSON_AddStringToObject(o, "window", "session");
      break;
    case 3:
      cJSON_AddStringToObject(o, "window", "view");
      break;
    case 4:
      cJSON_AddNumberToObject(o, "window_minutes", 1 + g.pick(3));
      break;
    case 5:
      cJSON_AddNumberToObject(o, "window_hours", 1 + g.pick(2));
      break;
    default:
      cJSON_AddNumberToObject(o, "window_days", 1 + g.pick(2));
      break;
  }
}

void add_selection(Gen &g, cJSON *o, bool optional_type) {
  if (!optional_type || g.chance(50)) {
    cJSON_AddStringToObject(o, "event_type", g.one_of({"A", "B", "Videoview", "VideoCompletion", "*"}));
  }
  if (g.chance(60)) cJSON_AddItemToObject(o, "where", random_where(g));
}

// Conditions a scenario draws from again and again (null: none), as cohorts
// built from the same building blocks do: the engine then shares their
// accumulators, and each copy gets its own decision.
std::vector<cJSON *> *g_pool = nullptr;

void replace(cJSON *o, const char *key, cJSON *item) {
  cJSON_DeleteItemFromObjectCaseSensitive(o, key);
  cJSON_AddItemToObject(o, key, item);
}

cJSON *from_pool(Gen &g) {
  cJSON *o = cJSON_Duplicate((*g_pool)[static_cast<size_t>(g.pick(static_cast<int>(g_pool->size())))], 1);
  std::string type = cJSON_GetObjectItem(o, "type")->valuestring;
  if (type == "property") return o;  // its comparison is part of what it gathers
  replace(o, "operator", cJSON_CreateString(numeric_op(g)));
  if (type == "event") replace(o, "value", cJSON_CreateNumber(g.pick(4)));
  if (type == "aggregate" || type == "monetary") {
    replace(o, "metric", cJSON_CreateString(g.one_of({"sum", "avg", "min", "max", "count"})));
    replace(o, "value", cJSON_CreateNumber(g.quarter(12)));
  }
  if (type == "engagement") {
    replace(o, "metric", cJSON_CreateString(g.one_of({"engaged_time", "completion", "views"})));
    replace(o, "value", cJSON_CreateNumber(g.quarter(8)));
  }
  return o;
}

cJSON *random_condition(Gen &g, int self) {
  if (g_pool != nullptr && g.chance(70)) return from_pool(g);
  cJSON *o = cJSON_CreateObject();
  int type = g.pick(6);
  if (type == 5 && self == 0) type = 0;  // the first cohort has nothing to read
  if (type == 0) {
    cJSON_AddStringToObject(o, "type", "event");
    add_selection(g, o, false);
    if (g.chance(70)) cJSON_AddStringToObject(o, "operator", numeric_op(g));
    if (g.chance(70)) cJSON_AddNumberToObject(o, "value", g.pick(4));
    add_window(g, o);
  } else if (type == 1) {
    cJSON_AddStringToObject(o, "type", g.one_of({"aggregate", "monetary"}));
    add_selection(g, o, false);
    cJSON_AddStringToObject(o, "metric", g.one_of({"sum", "avg", "min", "max", "count"}));
    cJSON_AddStringToObject(o, "property", g.one_of({"n", "v.c", "time_spent_seconds"}));
    cJSON_AddStringToObject(o, "operator", numeric_op(g));
    cJSON_AddNumberToObject(o, "value", g.quarter(12));
    add_window(g, o);
  } else if (type == 2) {
    cJSON_AddStringToObject(o, "type", "recency");
    add_selection(g, o, false);
    cJSON_AddStringToObject(o, "operator", numeric_op(g));
    cJSON_AddNumberToObject(o, "window_days", g.pick(3));
  } else if (type == 3) {
    cJSON_AddStringToObject(o, "type", "property");
    add_selection(g, o, false);
    cJSON_AddStringToObject(o, "property", g.one_of({"s", "n", "tags", "b", "v.c"}));
    add_comparison(g, o, random_op(g));
    add_window(g, o);
  } else if (type == 4) {
    cJSON_AddStringToObject(o, "type", "engagement");
    add_selection(g, o, true);
    cJSON_AddStringToObject(o, "metric", g.one_of({"engaged_time", "completion", "views"}));
    cJSON_AddStringToObject(o, "operator", numeric_op(g));
    cJSON_AddNumberToObject(o, "value", g.quarter(8));
    add_window(g, o);
  } else {
    cJSON_AddStringToObject(o, "type", "cohort");
    cJSON_AddStringToObject(o, "cohort_id", ("c" + std::to_string(g.pick(self))).c_str());
    const char *state = g.one_of({"in", "in", "entered", "exited"});
    if (std::string(state) != "in" || g.chance(50)) cJSON_AddStringToObject(o, "state", state);
    if (std::string(state) != "in") add_window(g, o);
  }
  return o;
}

cJSON *random_group(Gen &g, int self, int depth) {
  cJSON *o = cJSON_CreateObject();
  const char *logic = g.one_of({"AND", "OR", "NOT", "AND"});
  cJSON_AddStringToObject(o, "logic", logic);
  cJSON *list = cJSON_AddArrayToObject(o, "conditions");
  int n = std::string(logic) == "NOT" ? 1 : 1 + g.pick(3);
  for (int i = 0; i < n; ++i) {
    bool nest = depth < 2 && g.chance(20);
    cJSON_AddItemToArray(list, nest ? random_group(g, self, depth + 1) : random_condition(g, self));
  }
  return o;
}

// A model's feature: a random measure (drawn from the pool too, so features
// share accumulators with conditions), its comparison dropped unless it is a
// property match. Weights, bias and values are multiples of 1/4, so identity
// and cap scores land exactly on the threshold 0.5 (logit 0) now and then.
cJSON *random_feature(Gen &g, int index) {
  cJSON *o = random_condition(g, 0);  // the first cohort's: no cohort condition
  std::string type = cJSON_GetObjectItem(o, "type")->valuestring;
  if (type != "property") {
    cJSON_DeleteItemFromObjectCaseSensitive(o, "operator");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "value");
  }
  if (type == "recency") cJSON_DeleteItemFromObjectCaseSensitive(o, "window_days");
  cJSON_AddStringToObject(o, "name", ("f" + std::to_string(index)).c_str());
  const char *transform = g.one_of({"identity", "log1p", "cap", ""});
  if (*transform != '\0') cJSON_AddStringToObject(o, "transform", transform);
  if (std::string(transform) == "cap") cJSON_AddNumberToObject(o, "cap", 0.25 + g.quarter(12));
  if (g.chance(50)) cJSON_AddNumberToObject(o, "default", g.quarter(16) - 1);
  cJSON_AddNumberToObject(o, "weight", g.quarter(16) - 2);
  return o;
}

cJSON *random_model(Gen &g) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", "logistic");
  cJSON_AddNumberToObject(o, "bias", g.quarter(16) - 2);
  cJSON_AddNumberToObject(o, "threshold", g.one_of({0.5, 0.5, 0.25, 0.75, 0.1, 0.9}));
  cJSON *list = cJSON_AddArrayToObject(o, "features");
  for (int i = 1 + g.pick(4); i > 0; --i) cJSON_AddItemToArray(list, random_feature(g, i));
  return o;
}

// A cohort's rule: a group of conditions, or one time in four a model.
cJSON *random_rule(Gen &g, int self) {
  return g.chance(25) ? random_model(g) : random_group(g, self, 0);
}

std::string print(cJSON *j) {
  char *p = cJSON_PrintUnformatted(j);
  std::string s = p;
  cJSON_free(p);
  cJSON_Delete(j);
  return s;
}

std::string definitions(const std::vector<std::string> &rules) {
  std::string out = "{\"cohorts\":[";
  for (size_t i = 0; i < rules.size(); ++i) {
    out += (i ? "," : "") + std::string("{\"id\":\"c") + std::to_string(i) + "\",\"rule\":" + rules[i] + "}";
  }
  return out + "]}";
}

// One random scenario, checked step by step.
class Scenario {
 public:
  explicit Scenario(uint64_t seed) : g_(seed) {
    // Two scenarios in five build their cohorts from a small pool.
    if (g_.chance(40)) {
      for (int i = 1 + g_.pick(2); i > 0; --i) pool_.push_back(random_condition(g_, 0));
      g_pool = &pool_;
    }
    int n = (g_pool != nullptr ? 2 : 1) + g_.pick(3);
    for (int i = 0; i < n; ++i) rules_.push_back(print(random_rule(g_, i)));
    clock_ = kT0 + g_.pick(2 * 86400) * kSecond;
    engine_ = std::make_unique<Engine>();
    load(*engine_, {});
    lookback_all(*engine_);  // nothing to look back over yet: makes the cohorts live
    ref_.load(engine_->cohorts());
  }

  ~Scenario() {
    g_pool = nullptr;
    for (cJSON *c : pool_) cJSON_Delete(c);
  }
  Scenario(const Scenario &) = delete;
  Scenario &operator=(const Scenario &) = delete;

  void run(int steps) {
    for (int i = 0; i < steps; ++i) {
      int r = g_.pick(100);
      if (r < 45)
        event();
      else if (r < 65)
        advance();
      else if (r < 88)
        check();
      else if (r < 93)
        snapshot_ = engine_->save();
      else if (r < 97)
        reload();
      else
        lookback_agrees();
    }
    check();
  }

 private:
  Now now() const { return Now{clock_, session_, last_view_}; }

  LoadReport load(Engine &e, const std::vector<SavedState> &saved) {
    LoadReport report;
    co::rules::Status s = e.load(definitions(rules_), saved, clock_, &report);
    if (!s.ok()) fail_msg("generated definitions rejected: %s\n%s", s.message.c_str(), definitions(rules_).c_str());
    return report;
  }

  void lookback_all(Engine &e) {
    for (const auto &ev : history_.events()) e.lookback(ev->view());
    e.end_lookback();
  }

  cJSON *properties(const std::string &name) {
    cJSON *p = cJSON_CreateObject();
    if (g_.chance(70))
      cJSON_AddNumberToObject(p, "n", g_.quarter(8));
    else if (g_.chance(30))
      cJSON_AddStringToObject(p, "n", "3");
    if (g_.chance(70)) cJSON_AddStringToObject(p, "s", g_.one_of({"football", "foot", "ball", "drama", "", "x"}));
    if (g_.chance(50)) {
      cJSON *tags = cJSON_AddArrayToObject(p, "tags");
      if (g_.chance(50)) cJSON_AddItemToArray(tags, cJSON_CreateString("football"));
      if (g_.chance(50)) cJSON_AddItemToArray(tags, cJSON_CreateString("drama"));
      if (g_.chance(30)) cJSON_AddItemToArray(tags, cJSON_CreateNumber(1));
    }
    if (g_.chance(40)) cJSON_AddBoolToObject(p, "b", g_.chance(50));
    if (g_.chance(40)) {
      cJSON *v = cJSON_AddObjectToObject(p, "v");
      if (g_.chance(80)) {
        if (g_.chance(50))
          cJSON_AddStringToObject(v, "c", g_.one_of({"x", "y"}));
        else
          cJSON_AddNumberToObject(v, "c", g_.quarter(8));
      }
    }
    if (name == "VideoCompletion" || g_.chance(5)) {
      cJSON_AddNumberToObject(p, "time_spent_seconds", g_.quarter(40));
      if (g_.chance(80))
        cJSON_AddNumberToObject(p, g_.one_of({"percentage_watched", "percentage_listened"}), g_.quarter(4));
    }
    return p;
  }

  void event() {
    std::string name = g_.one_of({"A", "B", "Videoview", "VideoCompletion", "Videoview"});
    std::string view;
    if (name == "Videoview" && (view_.empty() || g_.chance(70))) view_ = "v" + std::to_string(++views_);
    if (name == "Videoview" || name == "VideoCompletion" || g_.chance(40)) view = view_;
    int64_t t = clock_;
    int r = g_.pick(100);
    if (r < 20)
      t -= g_.pick(90 * 60) * kSecond;
    else if (r < 28)
      t += (1 + g_.pick(120)) * kSecond;
    std::string props = print(properties(name));
    const OwnedEvent &e = history_.add(t, name, props.c_str(), session_, view);
    if (!view.empty()) last_view_ = view;
    engine_->observe(e.view());
    ref_.observe(&e);
  }

  void advance() {
    clock_ += g_.one_of<int64_t>(
        {kSecond, 30 * kSecond, 59 * kSecond, kMinute, 7 * kMinute, kHour, 5 * kHour, kDay, 2 * kDay});
    if (g_.chance(25)) session_ = "s" + std::to_string(++sessions_);
  }

  // A snapshot taken since the last poll: crash now, restore it, replay what it missed.
  void crash_and_restore() {
    auto restored = std::make_unique<Engine>();
    LoadReport report = load(*restored, snapshot_);
    assert_true(report.lookback.empty());
    assert_true(report.discarded.empty());
    std::vector<SavedState> again = restored->save();
    assert_int_equal(again.size(), snapshot_.size());
    for (size_t i = 0; i < again.size(); ++i) assert_true(again[i].blob == snapshot_[i].blob);
    for (const auto &ev : history_.events()) {
      if (ev->seq > report.replay_after_seq) restored->observe(ev->view());
    }
    engine_ = std::move(restored);
    snapshot_.clear();
  }

  void check() {
    if (!snapshot_.empty()) crash_and_restore();
    co::rules::Changes got = engine_->poll(now());
    std::vector<std::string> entered, exited;
    ref_.poll(now(), &entered, &exited);
    std::sort(got.entered.begin(), got.entered.end());
    std::sort(got.exited.begin(), got.exited.end());
    assert_true(got.entered == entered);
    assert_true(got.exited == exited);
    assert_true(engine_->members(now()) == ref_.members(now()));
    compare_measures(*engine_);
  }

  void compare_measures(const Engine &e) {
    for (const co::rules::CohortInfo &c : e.cohorts()) {
      std::string got = rules_ref::engine_measured(e, c.id, now());
      std::string want = ref_.measured(c.id, now());
      if (got != want) {
        fail_msg("cohort %s at %lld: engine %s, reference %s\nrule %s", c.id.c_str(), static_cast<long long>(clock_),
                 got.c_str(), want.c_str(), c.rule.c_str());
      }
    }
  }

  void reload() {
    if (!snapshot_.empty()) crash_and_restore();
    size_t changed = static_cast<size_t>(g_.pick(static_cast<int>(rules_.size()) + 1));
    if (changed < rules_.size()) rules_[changed] = print(random_rule(g_, static_cast<int>(changed)));
    LoadReport report = load(*engine_, {});
    bool same = true;
    for (const std::string &id : report.lookback) same = same && id == "c" + std::to_string(changed);
    assert_true(same);
    lookback_all(*engine_);
    ref_.load(engine_->cohorts());
  }

  // A fresh engine rebuilt from history reads the same (transitions aside: they
  // are recorded by polls, which a rebuilt engine has not seen).
  void lookback_agrees() {
    for (const std::string &r : rules_) {
      if (r.find("\"entered\"") != std::string::npos || r.find("\"exited\"") != std::string::npos) return;
    }
    Engine fresh;
    LoadReport report = load(fresh, {});
    assert_int_equal(report.lookback.size(), rules_.size());
    lookback_all(fresh);
    for (const co::rules::CohortInfo &c : fresh.cohorts()) {
      std::string rebuilt = rules_ref::engine_measured(fresh, c.id, now());
      std::string live = rules_ref::engine_measured(*engine_, c.id, now());
      if (rebuilt != live) {
        fail_msg("cohort %s: rebuilt %s, live %s, reference %s\nrule %s", c.id.c_str(), rebuilt.c_str(), live.c_str(),
                 ref_.measured(c.id, now()).c_str(), c.rule.c_str());
      }
    }
    assert_true(fresh.members(now()) == engine_->members(now()));
  }

  Gen g_;
  std::vector<cJSON *> pool_;
  std::vector<std::string> rules_;
  int64_t clock_ = 0;
  std::string session_ = "s0", view_, last_view_;
  int sessions_ = 0, views_ = 0;
  History history_;
  std::unique_ptr<Engine> engine_;
  rules_ref::Reference ref_;
  std::vector<SavedState> snapshot_;
};

void engine_equals_reference(void **) {
  int runs = iterations(10000, 1000);
  for (int i = 0; i < runs; ++i) Scenario(0x5eed0000u + static_cast<uint64_t>(i)).run(40);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(engine_equals_reference),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
