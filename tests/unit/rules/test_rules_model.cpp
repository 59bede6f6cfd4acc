// Modeled cohorts: validation that names the feature, the score and its
// explanation, the decision at the threshold, time alone moving a model,
// look-back, save / restore and preview, and the arithmetic that must give the
// same bits on every platform.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rules/model_math.h"
#include "rules_test.h"

using co::rules::Engine;
using co::rules::LoadReport;
using co::rules::SavedState;
using namespace rules_test;

namespace {

std::string fixture(const char *name) {
  std::ifstream in(std::string(COHORT_RULES_FIXTURES) + "/" + name);
  if (!in) fail_msg("cannot read fixture %s", name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// {"model":"logistic","bias":B,"threshold":T,"features":[FEATURES]}
std::string model(const std::string &features, double bias = 0, double threshold = 0.5) {
  char head[160];
  std::snprintf(head, sizeof head, R"({"model":"logistic","bias":%.17g,"threshold":%.17g,"features":[)", bias,
                threshold);
  return head + features + "]}";
}

std::string rejection(const std::string &rule) {
  Engine e;
  LoadReport report;
  co::rules::Status s = e.load(one_cohort(rule, "m"), {}, kT0, &report);
  if (s.ok()) fail_msg("accepted: %s", rule.c_str());
  return s.message;
}

const char *const kViews = R"({"name":"views","type":"event","event_type":"A","weight":1})";

void rejections_name_the_feature(void **) {
  struct Case {
    std::string rule;
    const char *message;
  };
  const Case cases[] = {
      {model(std::string(kViews) +
             R"(,{"name":"t","type":"aggregate","event_type":"A","property":"x","metric":"median","weight":1})"),
       R"(cohort "m": rule.features["t"].metric: unknown metric "median")"},
      {model(R"({"name":"v","type":"event","event_type":"A"})"), R"(cohort "m": rule.features["v"].weight: missing)"},
      {model(R"({"name":"v","type":"event","event_type":"A","weight":"1"})"),
       R"(cohort "m": rule.features["v"].weight: expected a number)"},
      {model(R"({"name":"v","type":"event","event_type":"A","weight":1,"operator":"gte"})"),
       R"(cohort "m": rule.features["v"].operator: unknown key)"},
      {model(R"({"name":"v","type":"event","event_type":"A","weight":1,"transform":"sqrt"})"),
       R"(cohort "m": rule.features["v"].transform: unknown transform "sqrt")"},
      {model(R"({"name":"v","type":"event","event_type":"A","weight":1,"transform":"cap"})"),
       R"(cohort "m": rule.features["v"].cap: missing)"},
      {model(R"({"name":"v","type":"event","event_type":"A","weight":1,"transform":"cap","cap":0})"),
       R"(cohort "m": rule.features["v"].cap: expected a number above 0)"},
      {model(R"({"name":"v","type":"event","event_type":"A","weight":1,"cap":5})"),
       R"(cohort "m": rule.features["v"].cap: needs transform "cap")"},
      {model(R"({"name":"v","type":"event","event_type":"A","weight":1,"default":null})"),
       R"(cohort "m": rule.features["v"].default: expected a number)"},
      {model(R"({"name":"v","type":"recency","event_type":"A","weight":1,"window_days":3})"),
       R"(cohort "m": rule.features["v"].window_days: unknown key)"},
      {model(R"({"name":"v","type":"cohort","cohort_id":"m","weight":1})"),
       R"(cohort "m": rule.features["v"].type: type "cohort" cannot be a feature)"},
      {model(R"({"name":"v","type":"event","event_type":"A","weight":1,"window_days":0})"),
       R"(cohort "m": rule.features["v"].window_days: expected a whole number from 1 to 36500)"},
      {model(
           R"({"name":"p","type":"property","event_type":"A","property":"s","operator":"in","value":"x","weight":1})"),
       R"(cohort "m": rule.features["p"].value: operator "in" needs a non-empty array of strings or of numbers)"},
      {model(std::string(kViews) + "," + kViews),
       R"(cohort "m": rule.features[1].name: duplicate feature name "views")"},
      {model(R"({"type":"event","event_type":"A","weight":1})"), R"(cohort "m": rule.features[0].name: missing)"},
      {model(R"({"name":"","type":"event","event_type":"A","weight":1})"),
       R"(cohort "m": rule.features[0].name: expected a non-empty string)"},
      {model(R"(7)"), R"(cohort "m": rule.features[0]: expected an object)"},
      {model(""), R"(cohort "m": rule.features: must not be empty)"},
      {model(kViews, 0, 1), R"(cohort "m": rule.threshold: expected a number between 0 and 1 (both excluded))"},
      {model(kViews, 0, 0), R"(cohort "m": rule.threshold: expected a number between 0 and 1 (both excluded))"},
      {R"({"model":"logistic","threshold":0.5,"features":[{"name":"v","type":"event","event_type":"A","weight":1}]})",
       R"(cohort "m": rule.bias: missing)"},
      {R"({"model":"forest","bias":0,"threshold":0.5,"features":[]})",
       R"(cohort "m": rule.model: unknown model "forest")"},
      {R"({"model":"logistic","bias":0,"threshold":0.5,"features":[],"logic":"AND"})",
       R"(cohort "m": rule.logic: unknown key)"},
      {single(model(kViews)), R"(cohort "m": rule.conditions[0]: a model can only be a cohort's whole rule)"},
  };
  for (const Case &c : cases) {
    std::string got = rejection(c.rule);
    if (got != c.message) fail_msg("rule %s\n got  %s\n want %s", c.rule.c_str(), got.c_str(), c.message);
  }
  std::string many;
  for (int i = 0; i < 65; ++i) {
    many += (i ? "," : "") + std::string(R"({"name":"f)") + std::to_string(i) +
            R"(","type":"event","event_type":"A","weight":1})";
  }
  assert_string_equal(rejection(model(many)).c_str(), R"(cohort "m": rule.features: more than 64 features)");
}

// The feature of `explain` named `name`.
const cJSON *feature(const cJSON *explain, const char *name) {
  const cJSON *f = nullptr;
  cJSON_ArrayForEach(f, cJSON_GetObjectItem(cJSON_GetObjectItem(explain, "explain"), "features")) {
    if (std::strcmp(cJSON_GetObjectItem(f, "name")->valuestring, name) == 0) return f;
  }
  fail_msg("no feature %s", name);
  return nullptr;
}

double number(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItem(o, key);
  if (!cJSON_IsNumber(v)) fail_msg("%s is not a number", key);
  return v->valuedouble;
}

void near(double got, double want) {
  if (std::fabs(got - want) > 1e-12 * std::max(1.0, std::fabs(want))) fail_msg("got %.17g, want %.17g", got, want);
}

// The lookalike example of docs/rules.md, fed a week of viewing: every
// feature's measure, value and contribution, the score and the probability.
void explain_shows_every_feature_and_the_probability(void **) {
  Engine e;
  History h;
  load_ok(&e, fixture("lookalike_model.json"));
  const char *football = R"({"categories":["football"],"genre":"sport"})";
  e.observe(h.add(kT0, "Videoview", football, "s1", "v1").view());
  e.observe(h.add(kT0 + 40 * kMinute, "VideoCompletion", R"({"time_spent_seconds":2400,"percentage_watched":0.8})",
                  "s1", "v1")
                .view());
  e.observe(h.add(kT0 + kDay, "Videoview", football, "s2", "v2").view());
  e.observe(h.add(kT0 + kDay + kHour, "VideoCompletion", R"({"time_spent_seconds":6000,"percentage_watched":0.6})",
                  "s2", "v2")
                .view());
  e.observe(h.add(kT0 + 2 * kDay, "Videoview", R"({"categories":["football"],"genre":"news"})", "s3", "v3").view());
  e.observe(h.add(kT0 + 2 * kDay, "PageView", R"({"section":"sport"})", "s3").view());
  int64_t t = kT0 + 3 * kDay + 5 * kHour;
  cJSON *j = explain_json(e, now_at(t, "s3"), "2001");

  const cJSON *views = feature(j, "football_views");
  assert_int_equal(number(views, "measured"), 3);
  near(number(views, "value"), std::log1p(3.0));
  near(number(views, "contribution"), 1.2 * std::log1p(3.0));
  const cJSON *minutes = feature(j, "sport_minutes");
  assert_int_equal(number(minutes, "measured"), 8400);  // both sport views' engaged time
  assert_int_equal(number(minutes, "value"), 7200);     // capped
  near(number(minutes, "contribution"), 2.16);
  const cJSON *completion = feature(j, "completion");
  near(number(completion, "measured"), 0.7);
  near(number(completion, "contribution"), 1.05);
  const cJSON *since = feature(j, "days_since_sport");
  near(number(since, "measured"), (2 * 24 + 5 + 1) / 24.0);  // the last sport view, counting this hour
  near(number(since, "contribution"), -0.05 * 54 / 24.0);
  const cJSON *section = feature(j, "sport_section");
  assert_string_equal(cJSON_GetObjectItem(section, "measured")->valuestring, "sport");
  assert_int_equal(number(section, "value"), 1);
  near(number(section, "contribution"), 0.6);

  double score = -3.0 + 1.2 * std::log1p(3.0) + 2.16 + 1.05 - 0.05 * 54 / 24.0 + 0.6;
  const cJSON *x = cJSON_GetObjectItem(j, "explain");
  near(number(x, "score"), score);
  near(number(x, "probability"), 1 / (1 + std::exp(-score)));
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(x, "match")));
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "match")));
  assert_non_null(std::strstr(cJSON_GetObjectItem(views, "text")->valuestring, "count 3 in 30 days → log1p"));
  cJSON_Delete(j);

  // A month later only the recency (capped, then its default once never...) is left.
  t = kT0 + 45 * kDay;
  j = explain_json(e, now_at(t, "s9"), "2001");
  assert_int_equal(number(feature(j, "football_views"), "value"), 0);
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(feature(j, "completion"), "measured")));  // no value: default 0
  assert_int_equal(number(feature(j, "days_since_sport"), "value"), 30);
  assert_int_equal(number(feature(j, "sport_section"), "value"), 0);
  assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "match")));
  cJSON_Delete(j);
}

// The decision is score >= logit(threshold): at threshold 0.5 (logit 0) a
// score of exactly 0 is in, however the probability would round.
void threshold_is_decided_on_the_score(void **) {
  Engine e;
  History h;
  load_ok(&e, one_cohort(model(R"({"name":"n","type":"event","event_type":"A","weight":1})", -2, 0.5)));
  e.observe(h.add(kT0, "A").view());
  assert_false(is_member(e, now_at(kT0)));
  e.observe(h.add(kT0, "A").view());
  assert_true(is_member(e, now_at(kT0)));
  assert_true(co::rules::model_logit(0.5) == 0);
  // Missing values take the default, then the transform: avg of nothing -> 4 -> capped 3.
  Engine d;
  load_ok(
      &d,
      one_cohort(model(
          R"({"name":"a","type":"aggregate","event_type":"A","metric":"avg","property":"x","default":4,"transform":"cap","cap":3,"weight":1})",
          -3, 0.5)));
  assert_true(is_member(d, now_at(kT0)));
  d.observe(History().add(kT0, "A", R"({"x":2})").view());
  assert_false(is_member(d, now_at(kT0)));
}

// A feature's window moves with time alone: poll reports the exit without a
// new event, an hour after the event left the window.
void time_alone_moves_a_model(void **) {
  Engine e;
  History h;
  load_ok(&e,
          one_cohort(model(R"({"name":"n","type":"event","event_type":"A","window_hours":1,"weight":1})", -1, 0.5)));
  e.observe(h.add(kT0 + 10 * kMinute, "A").view());
  assert_int_equal(e.poll(now_at(kT0 + 10 * kMinute)).entered.size(), 1);
  assert_int_equal(e.poll(now_at(kT0 + 69 * kMinute)).exited.size(), 0);
  assert_int_equal(e.poll(now_at(kT0 + 70 * kMinute)).exited.size(), 1);
  // Recency grows by the hour: a negative weight on days since lets it out.
  Engine r;
  load_ok(&r, one_cohort(model(R"({"name":"d","type":"recency","event_type":"A","weight":-24})", 2.5, 0.5)));
  r.observe(History().add(kT0, "A").view());
  assert_int_equal(r.poll(now_at(kT0)).entered.size(), 1);             // 1/24 day: score 1.5
  assert_int_equal(r.poll(now_at(kT0 + kHour)).exited.size(), 0);      // 2/24: score 0.5
  assert_int_equal(r.poll(now_at(kT0 + 2 * kHour)).exited.size(), 1);  // 3/24: score -0.5
}

// A poll scores a model again only when its values have moved far enough to
// reach its threshold. One that sits right at it, or crosses it by an ulp,
// is decided as a full reading decides it.
void a_model_at_its_threshold_is_decided_exactly(void **) {
  // Days since grow by 1/24 an hour: 2.5 - 60/24 is exactly 0, the logit of
  // 0.5 (in), an hour later below (out). Polled every hour, or every 7.
  for (int64_t step : {int64_t{1}, int64_t{7}}) {
    Engine e;
    load_ok(&e, one_cohort(model(R"({"name":"d","type":"recency","event_type":"A","weight":-1})", 2.5, 0.5)));
    e.observe(History().add(kT0, "A").view());
    assert_int_equal(e.poll(now_at(kT0)).entered.size(), 1);
    for (int64_t hour = step; hour < 59; hour += step) {
      co::rules::Changes c = e.poll(now_at(kT0 + hour * kHour));
      assert_int_equal(c.entered.size() + c.exited.size(), 0);
    }
    assert_int_equal(e.poll(now_at(kT0 + 59 * kHour)).exited.size(), 0);
    assert_true(is_member(e, now_at(kT0 + 59 * kHour)));
    assert_int_equal(e.poll(now_at(kT0 + 60 * kHour)).exited.size(), 1);
  }
  // Rounding: 1e17 + x loses x to the nearest 16, so the score
  // (1e17 + x) - 1e17 is 16 at x = 9, 12 above the threshold's logit (3.9),
  // and 0 at x = 7.9, below it: a change of 1.1 flips the decision.
  Engine big;
  load_ok(&big, one_cohort(model(R"({"name":"x","type":"aggregate","event_type":"A","property":"x","metric":"avg",)"
                                 R"("window_hours":1,"weight":1},)"
                                 R"({"name":"b","type":"event","event_type":"B","weight":-1e17})",
                                 1e17, 0.98)));
  History g;
  big.observe(g.add(kT0, "B").view());
  big.observe(g.add(kT0 + 2 * kHour, "A", R"({"x":9})").view());
  assert_int_equal(big.poll(now_at(kT0 + 2 * kHour)).entered.size(), 1);
  big.observe(g.add(kT0 + 4 * kHour, "A", R"({"x":7.9})").view());
  assert_int_equal(big.poll(now_at(kT0 + 4 * kHour)).exited.size(), 1);
  assert_false(is_member(big, now_at(kT0 + 4 * kHour)));
  // An average an ulp either side of where the score meets logit(0.7) (not a
  // round number), with a tiny weight on days since and now and then a jump
  // far away and back: each poll reports what a full reading says.
  const double logit = co::rules::model_logit(0.7);
  Engine e;
  load_ok(&e, one_cohort(model(R"({"name":"x","type":"aggregate","event_type":"A","property":"x","metric":"avg",)"
                               R"("window_hours":2,"weight":1},)"
                               R"({"name":"d","type":"recency","event_type":"B","weight":1e-13})",
                               logit - 0.25, 0.7)));
  History h;
  bool member = false;
  uint64_t seed = 7;
  int64_t t = kT0;
  for (int i = 0; i < iterations(2000, 400); ++i) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;
    auto pick = static_cast<int>(seed >> 60);
    double x = pick < 5    ? 0.25
               : pick < 9  ? std::nextafter(0.25, 0.0)
               : pick < 13 ? std::nextafter(0.25, 1.0)
               : pick < 14 ? 9
                           : -9;
    char props[64];
    std::snprintf(props, sizeof props, R"({"x":%.17g})", x);
    t += (seed >> 40 & 3) == 0 ? 61 * kMinute : 7 * kMinute;
    e.observe(h.add(t, (seed >> 44 & 7) == 0 ? "B" : "A", props).view());
    co::rules::Changes c = e.poll(now_at(t));
    member = !c.entered.empty() || (member && c.exited.empty());
    assert_int_equal(member, is_member(e, now_at(t)));
    // Time alone, to a moment between events.
    c = e.poll(now_at(t + 3 * kMinute));
    member = !c.entered.empty() || (member && c.exited.empty());
    assert_int_equal(member, is_member(e, now_at(t + 3 * kMinute)));
  }
}

std::string explained(const Engine &e, int64_t t, const char *id = "2001") {
  std::string json;
  assert_true(e.explain(id, now_at(t, "s2"), &json).ok());
  return json;
}

void feed(History *h, Engine *e, int64_t start) {
  const char *props[] = {R"({"categories":["football"],"genre":"sport"})", R"({"genre":"news"})",
                         R"({"time_spent_seconds":300,"percentage_watched":0.25})", R"({"section":"sport"})"};
  const char *names[] = {"Videoview", "Videoview", "VideoCompletion", "PageView"};
  for (int i = 0; i < 40; ++i) {
    std::string view = i % 4 == 3 ? "" : "v" + std::to_string(i / 3);
    e->observe(h->add(start + i * 7 * kMinute, names[i % 4], props[i % 4], i < 20 ? "s1" : "s2", view).view());
  }
}

// Look-back, save / restore and preview all read a model as the live engine does.
void lookback_restore_and_preview_agree(void **) {
  std::string defs = fixture("lookalike_model.json");
  Engine live;
  History h;
  load_ok(&live, defs);
  feed(&h, &live, kT0);
  int64_t t = kT0 + 6 * kHour;
  live.poll(now_at(t, "s2"));

  Engine rebuilt;
  LoadReport report;
  assert_true(rebuilt.load(defs, {}, t, &report).ok());
  assert_int_equal(report.lookback.size(), 1);
  for (const auto &ev : h.events()) rebuilt.lookback(ev->view());
  rebuilt.end_lookback();
  assert_string_equal(explained(rebuilt, t).c_str(), explained(live, t).c_str());

  std::vector<SavedState> saved = live.save();
  Engine restored;
  LoadReport r2;
  assert_true(restored.load(defs, saved, t, &r2).ok());
  assert_true(r2.lookback.empty() && r2.discarded.empty());
  assert_string_equal(explained(restored, t).c_str(), explained(live, t).c_str());

  std::unique_ptr<co::rules::Preview> preview;
  cJSON *doc = cJSON_Parse(defs.c_str());
  char *rule =
      cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "cohorts"), 0), "rule"));
  assert_true(co::rules::Preview::compile(live, rule, &preview).ok());
  cJSON_free(rule);
  cJSON_Delete(doc);
  for (const auto &ev : h.events()) preview->observe(ev->view());
  assert_string_equal(preview->explain(now_at(t, "s2")).c_str(), explained(live, t).c_str());

  std::unique_ptr<co::rules::Preview> bad;
  co::rules::Status s = co::rules::Preview::compile(live, model(R"({"name":"v","type":"event","weight":1})"), &bad);
  assert_string_equal(s.message.c_str(), R"(rule.features["v"].event_type: missing)");
}

// The count a model's feature reads in cohort `id`'s explanation.
double views_of(const Engine &e, int64_t t, const char *id) {
  cJSON *j = explain_json(e, now_at(t), id);
  double v = number(feature(j, "views"), "measured");
  cJSON_Delete(j);
  return v;
}

// A live event newer than anything covered reaches the models' accumulators
// once each, with no pass over the models; an event a model took already is
// skipped all the same: observed again, or replayed after a reload that
// brings another cohort's saved state from further back.
void models_take_an_event_once(void **) {
  const std::string m = R"({"id":"m","rule":)" + model(kViews) + "}";
  const std::string r =
      R"({"id":"r","rule":)" + single(R"({"type":"event","event_type":"A","operator":"gte","value":3})") + "}";
  Engine e;
  load_ok(&e, "{\"cohorts\":[" + m + "]}");
  History h;
  for (int i = 0; i < 3; ++i) e.observe(h.add(kT0 + i * kMinute, "A").view());
  int64_t t = kT0 + 3 * kMinute;
  // No poll in between: a poll's bookkeeping would cover what the model took.
  Engine other;  // saw the first event only
  load_ok(&other, "{\"cohorts\":[" + r + "]}");
  other.observe(h.events()[0]->view());
  LoadReport report = load_ok(&e, "{\"cohorts\":[" + r + "," + m + "]}", t, other.save());
  assert_true(report.lookback.empty());
  assert_int_equal(report.replay_after_seq, h.events()[0]->seq);
  for (size_t i = 1; i < h.events().size(); ++i) e.observe(h.events()[i]->view());
  near(views_of(e, t, "m"), 3);
  near(measured(e, now_at(t), "r"), 3);  // its own saved event, then the two replayed

  e.observe(h.add(t, "A").view());
  e.observe(h.events()[3]->view());  // again
  near(views_of(e, t, "m"), 4);
  near(measured(e, now_at(t), "r"), 4);
}

// Rules read a modeled cohort like any other; the canonical form of a model
// is a fixed point and its checksum follows what the model says, not how.
void models_compose_and_have_a_canonical_form(void **) {
  std::string defs = R"({"cohorts":[{"id":"m","rule":)" + model(kViews, -0.5) +
                     R"(},{"id":"r","rule":{"logic":"NOT","conditions":[{"type":"cohort","cohort_id":"m"}]}}]})";
  Engine e;
  History h;
  load_ok(&e, defs);
  assert_true(e.members(now_at(kT0)) == std::vector<std::string>{"r"});
  e.observe(h.add(kT0, "A").view());
  assert_true(e.members(now_at(kT0)) == std::vector<std::string>{"m"});

  std::string canonical = e.cohorts().at(0).rule;
  assert_string_equal(
      canonical.c_str(),
      R"({"bias":-0.5,"features":[{"default":0,"event_type":"A","name":"views","transform":"identity",)"
      R"("type":"event","weight":1,"where":[],"window":"lifetime"}],"model":"logistic","threshold":0.5})");
  Engine again;
  load_ok(&again, one_cohort(canonical, "m"));
  assert_string_equal(again.cohorts().at(0).checksum.c_str(), e.cohorts().at(0).checksum.c_str());
  Engine reweighted;
  load_ok(&reweighted, one_cohort(model(R"({"name":"views","type":"event","event_type":"A","weight":2})", -0.5), "m"));
  assert_string_not_equal(reweighted.cohorts().at(0).checksum.c_str(), e.cohorts().at(0).checksum.c_str());
}

uint64_t bits(double v) {
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// Within a few ulp of the C library, and these exact bits on every platform
// (the values were taken on x86-64; aarch64 and armhf run this test too).
void arithmetic_is_the_same_everywhere(void **) {
  for (double x = 1e-9; x < 1e12; x *= 1.7) {
    near(co::rules::model_log1p(x), std::log1p(x));
    near(co::rules::model_log1p(-x), -std::log1p(x));
    near(co::rules::model_log(x), std::log(x));
  }
  for (double x = -700; x < 700; x += 3.3) {
    double want = std::exp(x);
    if (std::fabs(co::rules::model_exp(x) - want) > 4e-16 * want) fail_msg("exp(%g)", x);
  }
  for (double p = 0.01; p < 1; p += 0.01) near(co::rules::model_sigmoid(co::rules::model_logit(p)), p);
  struct Golden {
    double (*f)(double);
    double x;
    uint64_t bits;
  };
  const Golden goldens[] = {
      {co::rules::model_log1p, 3, 0x3ff62e42fefa39efull},     {co::rules::model_log1p, 1e-7, 0x3e7ad7f2843813daull},
      {co::rules::model_log1p, -0.75, 0xbfe1e85f5e7040d0ull}, {co::rules::model_log1p, 8400, 0x4022127c7d2c42d9ull},
      {co::rules::model_log1p, 1e300, 0x4085963447f87fb5ull}, {co::rules::model_exp, -1.5, 0x3fcc8f87724b5c1dull},
      {co::rules::model_exp, 0.3, 0x3ff599058c8c1a96ull},     {co::rules::model_exp, 700, 0x7f0d945df4f8ec8eull},
      {co::rules::model_exp, -740, 0x0000000000000055ull},    {co::rules::model_logit, 0.6, 0x3fd9f323ecbf984aull},
      {co::rules::model_logit, 0.001, 0xc01ba084531f2626ull}, {co::rules::model_logit, 0.999, 0x401ba084531f2625ull},
      {co::rules::model_sigmoid, 0.4, 0x3fe32873061674b2ull}, {co::rules::model_sigmoid, -12.5, 0x3ecf42e59cdcdad4ull},
      {co::rules::model_sigmoid, 36, 0x3feffffffffffffeull},
  };
  for (const Golden &g : goldens) {
    if (bits(g.f(g.x)) != g.bits) {
      fail_msg("f(%.17g) = %016llx, want %016llx", g.x, static_cast<unsigned long long>(bits(g.f(g.x))),
               static_cast<unsigned long long>(g.bits));
    }
  }
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rejections_name_the_feature),
      cmocka_unit_test(explain_shows_every_feature_and_the_probability),
      cmocka_unit_test(threshold_is_decided_on_the_score),
      cmocka_unit_test(time_alone_moves_a_model),
      cmocka_unit_test(a_model_at_its_threshold_is_decided_exactly),
      cmocka_unit_test(lookback_restore_and_preview_agree),
      cmocka_unit_test(models_take_an_event_once),
      cmocka_unit_test(models_compose_and_have_a_canonical_form),
      cmocka_unit_test(arithmetic_is_the_same_everywhere),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
