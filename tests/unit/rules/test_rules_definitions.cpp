// Definitions: every rejection names the cohort and the field; checksums do not
// depend on key order, whitespace, aliases or defaults written out.
#include <string>
#include <vector>

#include "rules_test.h"

using co::rules::Engine;
using co::rules::LoadReport;
using namespace rules_test;

namespace {

std::string rejection(const std::string &json) {
  Engine e;
  LoadReport report;
  co::rules::Status s = e.load(json, {}, kT0, &report);
  if (s.ok()) fail_msg("accepted: %s", json.c_str());
  return s.message;
}

std::string checksum(const std::string &json) {
  Engine e;
  load_ok(&e, json);
  return e.cohorts().at(0).checksum;
}

const char *const kEvent = R"({"type":"event","event_type":"A"})";

struct Case {
  std::string rule;  // the rule of cohort "1001"
  const char *message;
};

void every_rejection_names_cohort_and_field(void **) {
  const Case cases[] = {
      {single(std::string(kEvent) +
              R"(,{"type":"aggregate","event_type":"A","property":"x","metric":"median","operator":"gte","value":1})"),
       R"(cohort "1001": rule.conditions[1].metric: unknown metric "median")"},
      {single(R"({"type":"events","event_type":"A"})"),
       R"(cohort "1001": rule.conditions[0].type: unknown type "events")"},
      {single(R"({"type":"event","event_type":"A","operator":"greater"})"),
       R"(cohort "1001": rule.conditions[0].operator: unknown operator "greater")"},
      {R"({"logic":"XOR","conditions":[{"type":"event","event_type":"A"}]})",
       R"(cohort "1001": rule.logic: unknown logic "XOR")"},
      {single(R"({"type":"event","event_type":"A","window":"week"})"),
       R"(cohort "1001": rule.conditions[0].window: unknown window "week")"},
      {single(R"({"type":"aggregate","event_type":"A","metric":"sum","operator":"gte","value":1})"),
       R"(cohort "1001": rule.conditions[0].property: missing)"},
      {single(R"({"type":"event","event_type":"A","value":"3"})"),
       R"(cohort "1001": rule.conditions[0].value: expected a number)"},
      {single(R"({"type":"event","event_type":"A","window_dayz":3})"),
       R"(cohort "1001": rule.conditions[0].window_dayz: unknown key)"},
      {single(R"({"type":"event","event_type":"A","value":1,"value":2})"),
       R"(cohort "1001": rule.conditions[0].value: duplicate key)"},
      {single(R"({"type":"event"})"), R"(cohort "1001": rule.conditions[0].event_type: missing)"},
      {single(R"({"type":"event","event_type":""})"),
       R"(cohort "1001": rule.conditions[0].event_type: expected a non-empty string)"},
      {single(R"({"event_type":"A"})"), R"(cohort "1001": rule.conditions[0].type: missing)"},
      {single(R"({"type":"event","event_type":"A","operator":"contains","value":1})"),
       R"(cohort "1001": rule.conditions[0].operator: operator "contains" does not apply to type "event")"},
      {single(R"({"type":"aggregate","event_type":"A","property":"x","metric":"views","operator":"gte","value":1})"),
       R"(cohort "1001": rule.conditions[0].metric: metric "views" does not apply to type "aggregate")"},
      {single(R"({"type":"engagement","metric":"sum","operator":"gte","value":1})"),
       R"(cohort "1001": rule.conditions[0].metric: metric "sum" does not apply to type "engagement")"},
      {single(R"({"type":"event","event_type":"A","where":[{"property":"x","operator":"in","value":"a"}]})"),
       R"(cohort "1001": rule.conditions[0].where[0].value: operator "in" needs a non-empty array of strings or of numbers)"},
      {single(R"({"type":"event","event_type":"A","where":[{"property":"x","operator":"in","value":["a",1]}]})"),
       R"(cohort "1001": rule.conditions[0].where[0].value: operator "in" needs a non-empty array of strings or of numbers)"},
      {single(R"({"type":"event","event_type":"A","where":[{"property":"x","operator":"exists","value":1}]})"),
       R"(cohort "1001": rule.conditions[0].where[0].value: not allowed with operator "exists")"},
      {single(R"({"type":"event","event_type":"A","where":[{"property":"x","operator":"eq"}]})"),
       R"(cohort "1001": rule.conditions[0].where[0].value: missing)"},
      {single(R"({"type":"event","event_type":"A","where":[{"property":"x","operator":"starts_with","value":3}]})"),
       R"(cohort "1001": rule.conditions[0].where[0].value: operator "starts_with" needs a string)"},
      {single(R"({"type":"event","event_type":"A","where":[{"property":"a..b","operator":"exists"}]})"),
       R"(cohort "1001": rule.conditions[0].where[0].property: invalid property path "a..b")"},
      {single(R"({"type":"event","event_type":"A","where":[{"property":"x","operator":"eq","value":1,"op":"x"}]})"),
       R"(cohort "1001": rule.conditions[0].where[0].op: unknown key)"},
      {single(R"({"type":"event","event_type":"A","where":{}})"),
       R"(cohort "1001": rule.conditions[0].where: expected an array)"},
      {single(R"({"type":"event","event_type":"A","window_days":3,"window_hours":2})"),
       R"(cohort "1001": rule.conditions[0].window_hours: conflicts with window_days)"},
      {single(R"({"type":"event","event_type":"A","window_days":0})"),
       R"(cohort "1001": rule.conditions[0].window_days: expected a whole number from 1 to 36500)"},
      {single(R"({"type":"event","event_type":"A","window_minutes":1.5})"),
       R"(cohort "1001": rule.conditions[0].window_minutes: expected a whole number from 1 to 52560000)"},
      {single(R"({"type":"recency","event_type":"A","operator":"gt"})"),
       R"(cohort "1001": rule.conditions[0].window_days: missing)"},
      {single(R"({"type":"recency","event_type":"A","operator":"gt","window_days":3,"value":1})"),
       R"(cohort "1001": rule.conditions[0].value: unknown key)"},
      {single(R"({"type":"property","event_type":"A","property":"x","operator":"gt","value":true})"),
       R"(cohort "1001": rule.conditions[0].value: operator "gt" needs a string or number)"},
      {single(R"({"type":"cohort","cohort_id":"9999"})"),
       R"(cohort "1001": rule.conditions[0].cohort_id: unknown cohort "9999")"},
      {single(R"({"type":"cohort","cohort_id":"1001"})"),
       R"(cohort "1001": rule.conditions[0].cohort_id: cycle "1001" -> "1001")"},
      {R"({"logic":"NOT","conditions":[{"type":"event","event_type":"A"},{"type":"event","event_type":"B"}]})",
       R"(cohort "1001": rule.conditions: NOT takes exactly one condition)"},
      {R"({"logic":"AND","conditions":[]})", R"(cohort "1001": rule.conditions: must not be empty)"},
      {R"({"logic":"AND"})", R"(cohort "1001": rule.conditions: missing)"},
      {R"({"conditions":[{"type":"event","event_type":"A"}]})", R"(cohort "1001": rule.logic: missing)"},
      {R"({"logic":"AND","conditions":[{"logic":"OR","conditions":[{"type":"event","event_type":"A","where":[7]}]}]})",
       R"(cohort "1001": rule.conditions[0].conditions[0].where[0]: expected an object)"},
      {R"("x")", R"(cohort "1001": rule: expected an object)"},
  };
  for (const Case &c : cases) {
    std::string got = rejection(one_cohort(c.rule, "1001"));
    if (got != c.message) fail_msg("rule %s\n  got  %s\n  want %s", c.rule.c_str(), got.c_str(), c.message);
  }
}

void document_level_rejections(void **) {
  std::string ok_rule = single(kEvent);
  struct {
    std::string json;
    const char *message;
  } cases[] = {
      {"{", "definitions: not valid JSON"},
      {"[]", "definitions: expected an object"},
      {R"({"cohort":[]})", "cohort: unknown key"},
      {R"({})", "cohorts: missing"},
      {R"({"cohorts":{}})", "cohorts: expected an array"},
      {R"({"cohorts":[7]})", "cohorts[0]: expected an object"},
      {R"({"cohorts":[{"rule":)" + ok_rule + "}]}", "cohorts[0].id: missing"},
      {R"({"cohorts":[{"id":1001,"rule":)" + ok_rule + "}]}", "cohorts[0].id: expected a non-empty string"},
      {R"({"cohorts":[{"id":"a"}]})", R"(cohort "a": rule: missing)"},
      {R"({"cohorts":[{"id":"a","nmae":"x","rule":)" + ok_rule + "}]}", R"(cohort "a": nmae: unknown key)"},
      {R"({"cohorts":[{"id":"a","name":3,"rule":)" + ok_rule + "}]}", R"(cohort "a": name: expected a string)"},
      {R"({"cohorts":[{"id":"a","activations":["dfp",""],"rule":)" + ok_rule + "}]}",
       R"(cohort "a": activations[1]: expected a non-empty string)"},
      {R"({"cohorts":[{"id":"a","rule":)" + ok_rule + R"(},{"id":"a","rule":)" + ok_rule + "}]}",
       R"(cohort "a": id: duplicate cohort id)"},
      {R"({"cohorts":[{"id":"A","rule":)" + single(R"({"type":"cohort","cohort_id":"B"})") + R"(},{"id":"B","rule":)" +
           single(R"({"type":"cohort","cohort_id":"A","state":"entered"})") + "}]}",
       R"(cohort "A": rule.conditions[0].cohort_id: cycle "A" -> "B" -> "A")"},
      {R"({"cohorts":[{"id":"A","rule":)" + ok_rule + R"(},{"id":"B","rule":)" +
           single(R"({"type":"cohort","cohort_id":"A","state":"inside"})") + "}]}",
       R"(cohort "B": rule.conditions[0].state: unknown state "inside")"},
      {R"({"cohorts":[{"id":"A","rule":)" + ok_rule + R"(},{"id":"B","rule":)" +
           single(R"({"type":"cohort","cohort_id":"A","window_days":7})") + "}]}",
       R"(cohort "B": rule.conditions[0].state: a window needs state "entered" or "exited")"},
  };
  for (const auto &c : cases) {
    std::string got = rejection(c.json);
    if (got != c.message) fail_msg("doc %s\n  got  %s\n  want %s", c.json.c_str(), got.c_str(), c.message);
  }
}

void nesting_is_bounded(void **) {
  std::string rule = single(kEvent);
  for (int i = 0; i < 20; ++i) {
    rule.insert(0, R"({"logic":"OR","conditions":[)");
    rule += "]}";
  }
  std::string got = rejection(one_cohort(rule, "deep"));
  assert_true(got.find("groups nested deeper than 16") != std::string::npos);
}

void rejected_document_leaves_previous_in_force(void **) {
  Engine e;
  load_ok(&e, one_cohort(single(kEvent), "keep"));
  LoadReport report;
  assert_false(e.load("{\"cohorts\":[{\"id\":\"x\"}]}", {}, kT0, &report).ok());
  assert_int_equal(e.cohorts().size(), 1);
  assert_string_equal(e.cohorts()[0].id.c_str(), "keep");
}

void checksum_ignores_key_order_whitespace_aliases_defaults(void **) {
  std::string a = checksum(one_cohort(
      R"({"logic":"AND","conditions":[{"type":"monetary","event_type":"Order","property":"total","metric":"sum","operator":"gte","value":500},{"type":"event","event_type":"Videoview"}]})"));
  std::string b = checksum(
      "{ \"cohorts\" : [ { \"rule\" : {\n  \"conditions\" : [\n"
      "  { \"value\" : 500.0, \"operator\" : \"gte\", \"metric\" : \"sum\", \"property\" : \"total\",\n"
      "    \"event_type\" : \"Order\", \"type\" : \"aggregate\", \"where\": [], \"window\": \"lifetime\" },\n"
      "  { \"type\":\"event\", \"event_type\":\"Videoview\", \"operator\":\"gte\", \"value\":1 } ],\n"
      "  \"logic\" : \"AND\" }, \"id\" : \"other\", \"name\": \"renamed\" } ] }");
  assert_string_equal(a.c_str(), b.c_str());
  assert_int_equal(a.size(), 64);
  std::string c = checksum(one_cohort(
      R"({"logic":"AND","conditions":[{"type":"monetary","event_type":"Order","property":"total","metric":"sum","operator":"gte","value":501},{"type":"event","event_type":"Videoview"}]})"));
  assert_string_not_equal(a.c_str(), c.c_str());
}

void canonical_form_is_a_fixed_point(void **) {
  Engine e;
  load_ok(
      &e,
      one_cohort(
          R"({"logic":"OR","conditions":[{"type":"engagement","metric":"completion","operator":"gte","value":0.5,"window":"view"},{"logic":"NOT","conditions":[{"type":"property","event_type":"*","property":"v.genre","operator":"in","value":["a","b"],"window_hours":3}]},{"type":"recency","event_type":"A","operator":"gt","window_days":30}]})"));
  co::rules::CohortInfo info = e.cohorts()[0];
  assert_string_equal(
      info.rule.c_str(),
      R"({"conditions":[{"event_type":"*","metric":"completion","operator":"gte","type":"engagement","value":0.5,"where":[],"window":"view"},{"conditions":[{"event_type":"*","operator":"in","property":"v.genre","type":"property","value":["a","b"],"where":[],"window_hours":3}],"logic":"NOT"},{"event_type":"A","operator":"gt","type":"recency","where":[],"window_days":30}],"logic":"OR"})");
  assert_string_equal(checksum(one_cohort(info.rule)).c_str(), info.checksum.c_str());
}

void cohort_info_carries_name_and_activations(void **) {
  Engine e;
  load_ok(&e, R"({"cohorts":[{"id":"1001","name":"Football fans","activations":["dfp","freewheel"],"rule":)" +
                  single(kEvent) + "}]}");
  co::rules::CohortInfo info = e.cohorts()[0];
  assert_string_equal(info.name.c_str(), "Football fans");
  assert_int_equal(info.activations.size(), 2);
  assert_string_equal(info.activations[1].c_str(), "freewheel");
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_rejection_names_cohort_and_field),
      cmocka_unit_test(document_level_rejections),
      cmocka_unit_test(nesting_is_bounded),
      cmocka_unit_test(rejected_document_leaves_previous_in_force),
      cmocka_unit_test(checksum_ignores_key_order_whitespace_aliases_defaults),
      cmocka_unit_test(canonical_form_is_a_fixed_point),
      cmocka_unit_test(cohort_info_carries_name_and_activations),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
