// The fourteen comparison operators, over event properties (cJSON values).
// A missing property, a JSON null, or a type mismatch makes every operator
// false except not_exists: never an error.
#pragma once
#include <cjson/cJSON.h>

#include <vector>

#include "rules/ast.h"

namespace co::rules {

// The value at a dotted path inside `properties` (an object, or null), or null.
const cJSON *lookup(const cJSON *properties, const Path &path);

// `actual op literal`; `actual` null means absent; `literal` is null only for
// exists / not_exists. The literal's type was validated by the parser.
bool compare(Op op, const cJSON *actual, const cJSON *literal);

// True when every filter holds on `properties`.
bool matches(const std::vector<Filter> &where, const cJSON *properties);

// `measured op value` for the numeric operators; NaN compares false.
bool compare_number(Op op, double measured, double value);

}  // namespace co::rules
