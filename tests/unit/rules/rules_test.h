// Shared by the rule engine tests: CMocka, owned events, small JSON helpers.
#pragma once
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}
// clang-format on

#include <cjson/cJSON.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "rules/engine.h"

namespace rules_test {

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
// 2024-01-01T00:00:00Z: a midnight, so bucket boundaries are easy to place.
constexpr int64_t kT0 = 1704067200000;

// An event that owns its strings and properties; view() borrows from it.
struct OwnedEvent {
  int64_t seq = 0;
  int64_t time_ms = 0;
  std::string name, session_id, view_id;
  std::unique_ptr<cJSON, void (*)(cJSON *)> properties{nullptr, cJSON_Delete};

  co::rules::Event view() const { return co::rules::Event{seq, time_ms, name, session_id, view_id, properties.get()}; }
};

// A growing history with increasing sequence numbers.
class History {
 public:
  const OwnedEvent &add(int64_t time_ms, std::string name, const char *props_json = "{}", std::string session = "s1",
                        std::string view = "") {
    auto e = std::make_unique<OwnedEvent>();
    e->seq = ++seq_;
    e->time_ms = time_ms;
    e->name = std::move(name);
    e->session_id = std::move(session);
    e->view_id = std::move(view);
    e->properties.reset(cJSON_Parse(props_json));
    assert_non_null(e->properties.get());
    events_.push_back(std::move(e));
    return *events_.back();
  }
  const std::vector<std::unique_ptr<OwnedEvent>> &events() const { return events_; }

 private:
  int64_t seq_ = 0;
  std::vector<std::unique_ptr<OwnedEvent>> events_;
};

inline co::rules::Now now_at(int64_t t, const char *session = "s1", const char *view = "") {
  return co::rules::Now{t, session, view};
}

// Loads `json` into `engine`, asserting success; returns the report.
inline co::rules::LoadReport load_ok(co::rules::Engine *engine, const std::string &json, int64_t now_ms = kT0,
                                     const std::vector<co::rules::SavedState> &saved = {}) {
  co::rules::LoadReport report;
  co::rules::Status s = engine->load(json, saved, now_ms, &report);
  if (!s.ok()) fail_msg("load failed: %s", s.message.c_str());
  engine->end_lookback();
  return report;
}

// {"cohorts":[{"id":ID,"rule":RULE}]}
inline std::string one_cohort(const std::string &rule, const std::string &id = "c1") {
  return "{\"cohorts\":[{\"id\":\"" + id + "\",\"rule\":" + rule + "}]}";
}
// A rule of one condition.
inline std::string single(const std::string &condition) {
  return "{\"logic\":\"AND\",\"conditions\":[" + condition + "]}";
}

inline bool is_member(const co::rules::Engine &e, const co::rules::Now &now, const std::string &id = "c1") {
  for (const std::string &m : e.members(now)) {
    if (m == id) return true;
  }
  return false;
}

// The explain JSON of cohort `id`, parsed (caller deletes).
inline cJSON *explain_json(const co::rules::Engine &e, const co::rules::Now &now, const std::string &id = "c1") {
  std::string text;
  co::rules::Status s = e.explain(id, now, &text);
  if (!s.ok()) fail_msg("explain failed: %s", s.message.c_str());
  cJSON *j = cJSON_Parse(text.c_str());
  assert_non_null(j);
  return j;
}

// "measured" of the first condition of a one-condition rule, as a double (NaN for null).
inline double measured(const co::rules::Engine &e, const co::rules::Now &now, const std::string &id = "c1") {
  cJSON *j = explain_json(e, now, id);
  cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "explain"), "conditions"), 0);
  cJSON *m = cJSON_GetObjectItem(c, "measured");
  double v = cJSON_IsNumber(m) ? m->valuedouble : (cJSON_IsTrue(m) ? 1.0 : cJSON_IsFalse(m) ? 0.0 : NAN);
  cJSON_Delete(j);
  return v;
}

inline int iterations(int full, int quick) {
  return std::getenv("COHORT_TEST_QUICK") ? quick : full;
}

}  // namespace rules_test
