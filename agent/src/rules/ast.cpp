#include "rules/ast.h"

#include <limits>

namespace co::rules {
namespace {

#define CO_RULES_ENUM_NAME(value, name) name,
const char *const kLogicNames[] = {CO_RULES_LOGICS(CO_RULES_ENUM_NAME)};
const char *const kTypeNames[] = {CO_RULES_TYPES(CO_RULES_ENUM_NAME)};
const char *const kOpNames[] = {CO_RULES_OPS(CO_RULES_ENUM_NAME)};
const char *const kMetricNames[] = {CO_RULES_METRICS(CO_RULES_ENUM_NAME)};
const char *const kStateNames[] = {CO_RULES_STATES(CO_RULES_ENUM_NAME)};
const char *const kTransformNames[] = {CO_RULES_TRANSFORMS(CO_RULES_ENUM_NAME)};
#undef CO_RULES_ENUM_NAME

template <class E, size_t N>
bool find_name(const char *const (&names)[N], std::string_view s, E *out) {
  for (size_t i = 0; i < N; ++i) {
    if (s == names[i]) {
      *out = static_cast<E>(i);
      return true;
    }
  }
  return false;
}

}  // namespace

const char *name_of(Logic v) {
  return kLogicNames[static_cast<size_t>(v)];
}
const char *name_of(Type v) {
  return kTypeNames[static_cast<size_t>(v)];
}
const char *name_of(Op v) {
  return kOpNames[static_cast<size_t>(v)];
}
const char *name_of(Metric v) {
  return kMetricNames[static_cast<size_t>(v)];
}
const char *name_of(MemberState v) {
  return kStateNames[static_cast<size_t>(v)];
}
const char *name_of(Transform v) {
  return kTransformNames[static_cast<size_t>(v)];
}

bool parse_name(std::string_view s, Logic *out) {
  return find_name(kLogicNames, s, out);
}
bool parse_name(std::string_view s, Type *out) {
  return find_name(kTypeNames, s, out);
}
bool parse_name(std::string_view s, Op *out) {
  return find_name(kOpNames, s, out);
}
bool parse_name(std::string_view s, Metric *out) {
  return find_name(kMetricNames, s, out);
}
bool parse_name(std::string_view s, MemberState *out) {
  return find_name(kStateNames, s, out);
}
bool parse_name(std::string_view s, Transform *out) {
  return find_name(kTransformNames, s, out);
}

bool is_numeric_op(Op op) {
  return op <= Op::lte;
}

}  // namespace co::rules
