// The rule language, clause by clause: operators, windows and their bucket
// boundaries, session / view resets, recency with time passing, aggregates with
// no value, engagement, property, cohort states, and the explain shape.
#include <cstring>
#include <string>

#include "rules_test.h"

using co::rules::Engine;
using namespace rules_test;

namespace {

// An engine with one cohort "c1" of one condition, fed from `history`.
struct Fixture {
  Engine engine;
  History history;

  explicit Fixture(const std::string &condition) { load_ok(&engine, one_cohort(single(condition))); }
  void add(int64_t t, const char *name, const char *props = "{}", const char *session = "s1", const char *view = "") {
    engine.observe(history.add(t, name, props, session, view).view());
  }
};

struct OpCase {
  const char *filter;  // {"property","operator","value"?}
  const char *props;
  bool expected;
};

void every_operator(void **) {
  const OpCase cases[] = {
      {R"("property":"g","operator":"eq","value":"drama")", R"({"g":"drama"})", true},
      {R"("property":"g","operator":"eq","value":"drama")", R"({"g":"comedy"})", false},
      {R"("property":"n","operator":"eq","value":3)", R"({"n":3.0})", true},
      {R"("property":"n","operator":"eq","value":3)", R"({"n":"3"})", false},  // type mismatch
      {R"("property":"b","operator":"eq","value":true)", R"({"b":true})", true},
      {R"("property":"g","operator":"ne","value":"drama")", R"({"g":"comedy"})", true},
      {R"("property":"g","operator":"ne","value":"drama")", R"({"g":"drama"})", false},
      {R"("property":"g","operator":"ne","value":"drama")", R"({"g":7})", false},  // mismatch is false
      {R"("property":"g","operator":"ne","value":"drama")", R"({})", false},       // absent is false
      {R"("property":"n","operator":"gt","value":2)", R"({"n":2.5})", true},
      {R"("property":"n","operator":"gt","value":2)", R"({"n":2})", false},
      {R"("property":"n","operator":"gte","value":2)", R"({"n":2})", true},
      {R"("property":"n","operator":"lt","value":2)", R"({"n":1})", true},
      {R"("property":"n","operator":"lte","value":2)", R"({"n":2})", true},
      {R"("property":"n","operator":"lte","value":2)", R"({"n":"1"})", false},
      {R"("property":"d","operator":"gt","value":"2024-01-01")", R"({"d":"2024-02-01"})", true},
      {R"("property":"g","operator":"in","value":["a","b"])", R"({"g":"b"})", true},
      {R"("property":"g","operator":"in","value":["a","b"])", R"({"g":"c"})", false},
      {R"("property":"n","operator":"in","value":[1,2])", R"({"n":2})", true},
      {R"("property":"g","operator":"not_in","value":["a","b"])", R"({"g":"c"})", true},
      {R"("property":"g","operator":"not_in","value":["a","b"])", R"({"g":"a"})", false},
      {R"("property":"g","operator":"not_in","value":["a","b"])", R"({"g":3})", false},  // mismatch
      {R"("property":"g","operator":"not_in","value":["a","b"])", R"({})", false},
      {R"("property":"c","operator":"contains","value":"football")", R"({"c":["news","football"]})", true},
      {R"("property":"c","operator":"contains","value":"foot")", R"({"c":["news","football"]})",
       false},  // element, not substring
      {R"("property":"c","operator":"contains","value":"foot")", R"({"c":"football"})", true},
      {R"("property":"c","operator":"contains","value":2)", R"({"c":[1,2]})", true},
      {R"("property":"c","operator":"contains","value":2)", R"({"c":"12"})", false},
      {R"("property":"c","operator":"not_contains","value":"drama")", R"({"c":["news"]})", true},
      {R"("property":"c","operator":"not_contains","value":"ne")", R"({"c":"news"})", false},
      {R"("property":"c","operator":"not_contains","value":"x")", R"({"c":5})", false},
      {R"("property":"c","operator":"not_contains","value":"x")", R"({})", false},
      {R"("property":"t","operator":"starts_with","value":"Foot")", R"({"t":"Football"})", true},
      {R"("property":"t","operator":"starts_with","value":"ball")", R"({"t":"Football"})", false},
      {R"("property":"t","operator":"ends_with","value":"ball")", R"({"t":"Football"})", true},
      {R"("property":"t","operator":"ends_with","value":"Football!")", R"({"t":"Football"})", false},
      {R"("property":"t","operator":"ends_with","value":"1")", R"({"t":1})", false},
      {R"("property":"t","operator":"exists")", R"({"t":0})", true},
      {R"("property":"t","operator":"exists")", R"({"t":null})", false},
      {R"("property":"t","operator":"exists")", R"({})", false},
      {R"("property":"t","operator":"not_exists")", R"({})", true},
      {R"("property":"t","operator":"not_exists")", R"({"t":"x"})", false},
      {R"("property":"video.categories","operator":"contains","value":"football")",
       R"({"video":{"categories":["football"]}})", true},
      {R"("property":"video.categories","operator":"exists")", R"({"video":"flat"})", false},
  };
  for (const OpCase &c : cases) {
    Fixture f(std::string(R"({"type":"event","event_type":"A","where":[{)") + c.filter + "}]}");
    f.add(kT0, "A", c.props);
    if (is_member(f.engine, now_at(kT0)) != c.expected) {
      fail_msg("filter {%s} on %s: expected %d", c.filter, c.props, c.expected);
    }
  }
}

void event_defaults_and_wildcard(void **) {
  Fixture f(R"({"type":"event","event_type":"*"})");
  assert_false(is_member(f.engine, now_at(kT0)));
  f.add(kT0, "Anything");
  assert_true(is_member(f.engine, now_at(kT0)));
  Fixture names(R"({"type":"event","event_type":"videoview"})");  // names are case-sensitive
  names.add(kT0, "Videoview");
  assert_false(is_member(names.engine, now_at(kT0)));
}

// An event is inside a window of N units when its bucket is one of the
// N*(unit/bucket) newest buckets up to and including the current one.
void window_bucket_boundaries(void **) {
  struct {
    const char *window;
    int64_t bucket;
    int64_t buckets;
  } kinds[] = {{R"("window_minutes":2)", kSecond, 120},
               {R"("window_hours":2)", kMinute, 120},
               {R"("window_days":2)", kHour, 48}};
  for (const auto &k : kinds) {
    Fixture f(std::string(R"({"type":"event","event_type":"A",)") + k.window + "}");
    int64_t t = kT0 + k.bucket - 1;  // the last millisecond of the first bucket
    f.add(t, "A");
    int64_t last_in = kT0 + k.buckets * k.bucket - 1;  // the last bucket that still holds it
    assert_true(is_member(f.engine, now_at(last_in)));
    assert_false(is_member(f.engine, now_at(last_in + 1)));
    assert_false(is_member(f.engine, now_at(kT0 - 1)));  // not yet: a future bucket is outside
    assert_true(is_member(f.engine, now_at(kT0)));
  }
}

void old_buckets_are_pruned_not_miscounted(void **) {
  Fixture f(R"({"type":"event","event_type":"A","operator":"gte","value":2,"window_minutes":1})");
  f.add(kT0, "A");
  f.engine.poll(now_at(kT0 + 2 * kMinute));
  f.add(kT0 + 2 * kMinute, "A");
  assert_false(is_member(f.engine, now_at(kT0 + 2 * kMinute)));
  assert_true(measured(f.engine, now_at(kT0 + 2 * kMinute)) == 1);
}

void session_window_resets_and_follows_now(void **) {
  Fixture f(R"({"type":"event","event_type":"A","operator":"gte","value":2,"window":"session"})");
  f.add(kT0, "A", "{}", "s1");
  f.add(kT0 + 1, "A", "{}", "s1");
  assert_true(is_member(f.engine, now_at(kT0, "s1")));
  // The session was renewed and nothing arrived yet: nothing in this session.
  assert_false(is_member(f.engine, now_at(kT0, "s2")));
  f.add(kT0 + 2, "A", "{}", "s2");
  assert_true(measured(f.engine, now_at(kT0 + 2, "s2")) == 1);
  assert_true(measured(f.engine, now_at(kT0 + 2, "s1")) == 0);
}

void view_window_counts_the_current_view(void **) {
  Fixture f(R"({"type":"event","event_type":"*","window":"view"})");
  f.add(kT0, "A", "{}", "s1", "");  // outside any view
  assert_false(is_member(f.engine, now_at(kT0, "s1", "")));
  f.add(kT0, "Videoview", "{}", "s1", "v1");
  f.add(kT0, "B", "{}", "s1", "v1");
  assert_true(measured(f.engine, now_at(kT0, "s1", "v1")) == 2);
  assert_true(measured(f.engine, now_at(kT0, "s1", "v2")) == 0);
}

void recency_moves_with_time_alone(void **) {
  Fixture f(R"({"type":"recency","event_type":"A","operator":"gt","window_days":30})");
  assert_true(is_member(f.engine, now_at(kT0)));  // never = infinitely long ago
  f.add(kT0, "A");
  assert_false(is_member(f.engine, now_at(kT0)));
  assert_true(measured(f.engine, now_at(kT0)) == 1.0 / 24);  // the current hour counts
  assert_false(is_member(f.engine, now_at(kT0 + 30 * kDay - 1)));
  assert_true(is_member(f.engine, now_at(kT0 + 30 * kDay)));  // no longer in the 30-day window
  co::rules::Changes c = f.engine.poll(now_at(kT0));
  assert_int_equal(c.exited.size(), 0);
  c = f.engine.poll(now_at(kT0 + 30 * kDay));  // no event: the clock alone moves it
  assert_int_equal(c.entered.size(), 1);
}

void aggregate_without_values(void **) {
  const char *metrics[] = {"sum", "count", "avg", "min", "max"};
  for (const char *m : metrics) {
    Fixture f(std::string(R"({"type":"aggregate","event_type":"Order","property":"total","metric":")") + m +
              R"(","operator":"lte","value":10})");
    f.add(kT0, "Order", R"({"total":"12"})");  // not a number: contributes nothing
    bool zero_valued = std::string(m) == "sum" || std::string(m) == "count";
    assert_int_equal(is_member(f.engine, now_at(kT0)), zero_valued);
  }
  Fixture f(
      R"({"type":"monetary","event_type":"Order","property":"total","metric":"avg","operator":"gte","value":15})");
  f.add(kT0, "Order", R"({"total":10})");
  f.add(kT0, "Order", R"({"total":20})");
  assert_true(is_member(f.engine, now_at(kT0)));
}

void property_keeps_the_last_value(void **) {
  Fixture f(R"({"type":"property","event_type":"Profile","property":"tier","operator":"eq","value":"gold"})");
  f.add(kT0, "Profile", R"({"tier":"gold"})");
  assert_true(is_member(f.engine, now_at(kT0)));
  f.add(kT0 + 1, "Profile", R"({"other":1})");  // not a value: the last value stays
  assert_true(is_member(f.engine, now_at(kT0)));
  f.add(kT0 + 2, "Profile", R"({"tier":"silver"})");
  assert_false(is_member(f.engine, now_at(kT0)));
  Fixture none(R"({"type":"property","event_type":"P","property":"x","operator":"not_exists"})");
  assert_true(is_member(none.engine, now_at(kT0)));
}

void engagement_joins_play_and_completion(void **) {
  const char *completion = R"({"time_spent_seconds":300,"percentage_watched":0.75})";
  struct {
    const char *metric;
    double expected;
  } cases[] = {{"views", 2}, {"engaged_time", 400}, {"completion", 0.75}};
  for (const auto &c : cases) {
    Fixture f(
        std::string(R"({"type":"engagement","event_type":"Videoview","metric":")") + c.metric +
        R"(","operator":"gte","value":0,"where":[{"property":"genre","operator":"eq","value":"drama"}],"window_days":1})");
    f.add(kT0, "Videoview", R"({"genre":"drama"})", "s1", "v1");
    f.add(kT0 + 1, "SegmentEntry", "{}", "s1", "v1");  // not a play: same view
    f.add(kT0 + 2, "VideoCompletion", completion, "s1", "v1");
    f.add(kT0 + 3, "Videoview", R"({"genre":"news"})", "s1", "v2");  // not selected: its completion neither
    f.add(kT0 + 4, "VideoCompletion", R"({"time_spent_seconds":1000,"percentage_watched":1})", "s1", "v2");
    f.add(kT0 + 5, "AudioPlay", R"({"genre":"drama"})", "s1", "v3");  // another name: not a Videoview
    f.add(kT0 + 6, "Videoview", R"({"genre":"drama"})", "s1", "v4");
    f.add(kT0 + 7, "VideoCompletion", R"({"time_spent_seconds":100,"percentage_listened":0.5})", "s1", "v4");
    assert_true(measured(f.engine, now_at(kT0 + 8)) == c.expected);
  }
  Fixture none(R"({"type":"engagement","metric":"completion","operator":"lt","value":1})");
  assert_false(is_member(none.engine, now_at(kT0)));  // no completion: no value
}

void cohort_states(void **) {
  Engine e;
  History h;
  load_ok(&e, R"({"cohorts":[{"id":"base","rule":)" + single(R"({"type":"event","event_type":"A","window_hours":1})") +
                  R"(},{"id":"in","rule":)" + single(R"({"type":"cohort","cohort_id":"base"})") +
                  R"(},{"id":"entered","rule":)" +
                  single(R"({"type":"cohort","cohort_id":"base","state":"entered","window_minutes":10})") +
                  R"(},{"id":"exited","rule":)" + single(R"({"type":"cohort","cohort_id":"base","state":"exited"})") +
                  "}]}");
  e.poll(now_at(kT0));
  e.observe(h.add(kT0, "A").view());
  co::rules::Changes c = e.poll(now_at(kT0));
  assert_true((c.entered == std::vector<std::string>{"base", "in", "entered"}));
  c = e.poll(now_at(kT0 + 10 * kMinute));
  assert_true((c.exited == std::vector<std::string>{"entered"}));
  c = e.poll(now_at(kT0 + kHour));
  assert_true((c.exited == std::vector<std::string>{"base", "in"}));
  assert_true((c.entered == std::vector<std::string>{"exited"}));
  assert_true(measured(e, now_at(kT0 + kHour), "exited") == static_cast<double>(kT0 + kHour));
}

// The last value is kept as JSON text for explain: a short one, then one too
// long to print on the stack (the cell's text is replaced, not appended to).
void property_text_of_any_length(void **) {
  Fixture f(R"({"type":"property","event_type":"Profile","property":"tier","operator":"exists"})");
  std::string json;
  f.add(kT0, "Profile", R"({"tier":{"name":"gold","rank":[1,2.5,null,true]}})");
  assert_true(f.engine.explain("c1", now_at(kT0), &json).ok());
  assert_non_null(strstr(json.c_str(), R"("measured":{"name":"gold","rank":[1,2.5,null,true]})"));
  std::string text(300, 'x');
  std::string props = R"({"tier":")" + text + R"("})";
  f.add(kT0 + 1, "Profile", props.c_str());
  assert_true(f.engine.explain("c1", now_at(kT0), &json).ok());
  std::string expected = R"("text":"last tier \")" + text + R"(\", needed exists in lifetime")";
  assert_non_null(strstr(json.c_str(), expected.c_str()));
  f.add(kT0 + 2, "Profile", R"({"tier":7})");
  assert_true(f.engine.explain("c1", now_at(kT0), &json).ok());
  assert_non_null(strstr(json.c_str(), R"("text":"last tier 7, needed exists in lifetime")"));
}

void explain_shape(void **) {
  Fixture f(
      R"({"type":"event","event_type":"Videoview","where":[{"property":"categories","operator":"contains","value":"football"}],"operator":"gte","value":3,"window_days":30})");
  f.add(kT0, "Videoview", R"({"categories":["football"]})");
  f.add(kT0, "Videoview", R"({"categories":["football"]})");
  std::string json;
  assert_true(f.engine.explain("c1", now_at(kT0), &json).ok());
  assert_string_equal(
      json.c_str(),
      R"({"match":false,"explain":{"logic":"AND","match":false,"conditions":[{"type":"event","event_type":"Videoview","measured":2,"operator":"gte","value":3,"window":"30 days","match":false,"text":"count 2 of needed ≥3 in 30 days"}]}})");
  assert_false(f.engine.explain("nope", now_at(kT0), &json).ok());
}

void preview_over_given_history(void **) {
  Engine e;
  load_ok(&e, one_cohort(single(R"({"type":"event","event_type":"A"})"), "base"));
  std::unique_ptr<co::rules::Preview> p;
  co::rules::Status bad =
      co::rules::Preview::compile(e, single(R"({"type":"event","event_type":"A","metric":"x"})"), &p);
  assert_string_equal(bad.message.c_str(), "rule.conditions[0].metric: unknown key");
  std::string rule =
      R"({"logic":"AND","conditions":[{"type":"event","event_type":"B","value":2},{"logic":"NOT","conditions":[{"type":"cohort","cohort_id":"base"}]}]})";
  assert_true(co::rules::Preview::compile(e, rule, &p).ok());
  History h;
  p->observe(h.add(kT0, "B").view());
  p->observe(h.add(kT0, "B").view());
  std::string json = p->explain(now_at(kT0));
  assert_true(json.rfind(R"({"match":true,"explain":{"logic":"AND","match":true,)", 0) == 0);
  e.observe(h.add(kT0, "A").view());
  assert_true(p->explain(now_at(kT0)).rfind(R"({"match":false,)", 0) == 0);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_operator),
      cmocka_unit_test(event_defaults_and_wildcard),
      cmocka_unit_test(window_bucket_boundaries),
      cmocka_unit_test(old_buckets_are_pruned_not_miscounted),
      cmocka_unit_test(session_window_resets_and_follows_now),
      cmocka_unit_test(view_window_counts_the_current_view),
      cmocka_unit_test(recency_moves_with_time_alone),
      cmocka_unit_test(aggregate_without_values),
      cmocka_unit_test(property_keeps_the_last_value),
      cmocka_unit_test(engagement_joins_play_and_completion),
      cmocka_unit_test(cohort_states),
      cmocka_unit_test(property_text_of_any_length),
      cmocka_unit_test(explain_shape),
      cmocka_unit_test(preview_over_given_history),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
