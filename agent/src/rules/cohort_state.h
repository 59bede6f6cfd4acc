// Everything the engine keeps for one cohort, and its persisted form.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rules/accumulator.h"
#include "rules/ast.h"

namespace co::rules {

// When membership last changed one way, with the context it changed in (so
// `cohort` conditions can ask "entered in this session / view / N days").
struct Transition {
  bool happened = false;
  int64_t time_ms = 0;
  std::string session_id;
  std::string view_id;
};

// Membership as last reported by Engine::poll. It belongs to the cohort id, not
// to a rule: a changed rule keeps it, so only a real change is reported.
struct Membership {
  bool member = false;
  Transition entered;
  Transition exited;
};

struct CohortState {
  // Parallel to Rule::conditions. Live cohorts whose conditions gather the same
  // events share one accumulator (Engine: one add per event, not one per cohort).
  std::vector<std::shared_ptr<Accumulator>> conditions;
  Membership membership;
};

// Empty state for `rule`: what a new or changed rule starts from before look-back.
CohortState fresh_state(const Rule &rule);

// The versioned, CRC-sealed blob: checksum, covered sequence, membership,
// then each condition's state.
std::string encode_state(const CohortState &state, const Rule &rule, const std::string &checksum, int64_t seq);

enum class Decoded {
  full,             // state and membership restored
  membership_only,  // the blob is sound but was made for another checksum
  corrupt,          // rejected whole: nothing restored
};
// `state` must be fresh_state(rule); on `full` it holds the saved state and *seq
// the sequence it covers; on `membership_only` only its membership is restored.
Decoded decode_state(std::string_view blob, const Rule &rule, const std::string &checksum, CohortState *state,
                     int64_t *seq);

}  // namespace co::rules
