// A brute-force reference evaluator for the rule language. It shares nothing
// with the engine's evaluation: it reads the canonical JSON of each rule and
// recomputes every condition (and every feature of a model) from the full event
// list on every question, at the contract's bucket resolution. Of the engine it
// uses only the model arithmetic (rules/model_math.h), whose bits are the
// contract. The differential test holds the engine to it.
#pragma once
#include <cjson/cJSON.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "rules/engine.h"
#include "rules_test.h"

namespace rules_ref {

class Reference {
 public:
  Reference() = default;
  ~Reference();
  Reference(const Reference &) = delete;
  Reference &operator=(const Reference &) = delete;

  // Replaces the definitions with the engine's canonical rules. Reported
  // membership and transitions carry over by cohort id, as the engine's do.
  void load(const std::vector<co::rules::CohortInfo> &cohorts);
  // The event stays owned by the caller and must outlive the Reference.
  void observe(const rules_test::OwnedEvent *e) { history_.push_back(e); }
  // Reads every cohort, records transitions; entered / exited come back sorted.
  void poll(const co::rules::Now &now, std::vector<std::string> *entered, std::vector<std::string> *exited);
  std::vector<std::string> members(const co::rules::Now &now) const;
  // "match|[measured, ...]": the cohort's match and each condition's measured
  // value, depth-first, as JSON.
  std::string measured(const std::string &id, const co::rules::Now &now) const;

 private:
  struct Transition {
    bool happened = false;
    int64_t time_ms = 0;
    std::string session, view;
  };
  struct Reported {
    bool member = false;
    Transition entered, exited;
  };
  struct Cohort {
    std::string id;
    cJSON *rule = nullptr;
  };

  // A measure at a moment: a number (or none), and for a property its last
  // value and the comparison; `shown` is what explain gives as "measured".
  struct Measured {
    bool has = false;
    double number = 0;
    bool match = false;
    cJSON *shown = nullptr;
    Measured() = default;
    ~Measured();
    Measured(Measured &&o) noexcept : has(o.has), number(o.number), match(o.match), shown(o.shown) {
      o.shown = nullptr;
    }
    Measured(const Measured &) = delete;
    Measured &operator=(const Measured &) = delete;
    void set(bool has_value, double v) {
      has = has_value;
      number = v;
      shown = has && !std::isinf(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
    }
  };

  bool member(size_t cohort, const co::rules::Now &now) const;
  Measured measure(const cJSON *c, const co::rules::Now &now) const;
  bool model(const cJSON *m, const co::rules::Now &now, cJSON *measured) const;
  bool node(const cJSON *n, const co::rules::Now &now, cJSON *measured) const;
  bool condition(const cJSON *c, const co::rules::Now &now, cJSON *measured) const;
  size_t index_of(const std::string &id) const;
  std::vector<size_t> dependency_order() const;

  std::vector<Cohort> cohorts_;
  std::map<std::string, Reported> reported_;
  std::vector<const rules_test::OwnedEvent *> history_;
};

// The engine's answer in the same "match|[...]" form, from Engine::explain.
std::string engine_measured(const co::rules::Engine &engine, const std::string &id, const co::rules::Now &now);

}  // namespace rules_ref
