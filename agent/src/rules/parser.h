// JSON text -> validated rules. A document with any error is rejected whole; the
// message names the cohort and the field path, e.g.
//   cohort "1001": rule.conditions[1].metric: unknown metric "median"
#pragma once
#include <string_view>
#include <vector>

#include "rules/ast.h"
#include "rules/status.h"

namespace co::rules {

// A definitions document: {"cohorts": [{"id", "name"?, "activations"?, "rule"}, ...]}.
// On success `out` holds every cohort with its canonical form, checksum and a
// dependency order; on failure `out` is untouched.
Status parse_definitions(std::string_view json, Definitions *out);

// One ad-hoc rule group (definitions.preview). Its `cohort` conditions may name
// the cohorts of `known`. `doc` receives the parsed JSON the rule points into.
Status parse_rule(std::string_view json, const std::vector<CohortDef> &known, Document *doc, Rule *out);

}  // namespace co::rules
