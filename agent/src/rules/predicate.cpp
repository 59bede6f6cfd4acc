#include "rules/predicate.h"

#include <algorithm>

#include <cstring>

namespace co::rules {
namespace {

// The type tests of cJSON_Is*(), inlined: an event is tested against every
// distinct filter that reads its name, and a call into the library per test
// was most of the cost of a filter.
int kind_of(const cJSON *v) {
  return v != nullptr ? (v->type & 0xFF) : cJSON_Invalid;
}
bool is_number(const cJSON *v) {
  return kind_of(v) == cJSON_Number;
}
bool is_string(const cJSON *v) {
  return kind_of(v) == cJSON_String;
}
bool is_bool(const cJSON *v) {
  return kind_of(v) == cJSON_True || kind_of(v) == cJSON_False;
}

bool present(const cJSON *v) {
  return v != nullptr && kind_of(v) != cJSON_NULL;
}

bool is_true(const cJSON *v) {
  return kind_of(v) == cJSON_True;
}

// Both numbers, both strings or both booleans.
bool same_kind(const cJSON *a, const cJSON *b) {
  return (is_number(a) && is_number(b)) || (is_string(a) && is_string(b)) || (is_bool(a) && is_bool(b));
}

// Equality of two scalars of the same JSON type; different types are unequal.
bool same_scalar(const cJSON *a, const cJSON *b) {
  if (!same_kind(a, b)) return false;
  if (is_number(a)) return a->valuedouble == b->valuedouble;
  if (is_string(a)) return std::strcmp(a->valuestring, b->valuestring) == 0;
  return is_true(a) == is_true(b);
}

// Ordering for gt/gte/lt/lte: numbers numerically, strings bytewise (so ISO 8601
// dates order correctly). Returns false when the two are not comparable.
bool order(const cJSON *a, const cJSON *b, int *cmp) {
  if (is_number(a) && is_number(b)) {
    double x = a->valuedouble, y = b->valuedouble;
    if (x != x || y != y) return false;  // NaN orders with nothing
    *cmp = (x > y) - (x < y);
    return true;
  }
  if (is_string(a) && is_string(b)) {
    *cmp = std::strcmp(a->valuestring, b->valuestring);
    return true;
  }
  return false;
}

bool in_list(const cJSON *actual, const cJSON *list) {
  const cJSON *item = nullptr;
  cJSON_ArrayForEach(item, list) {
    if (same_scalar(actual, item)) return true;
  }
  return false;
}

// not_in is only meaningful for a value of the list's (homogeneous) type.
bool not_in_list(const cJSON *actual, const cJSON *list) {
  return list->child != nullptr && same_kind(actual, list->child) && !in_list(actual, list);
}

bool has_substring(const cJSON *actual, const cJSON *literal) {
  return std::strstr(actual->valuestring, literal->valuestring) != nullptr;
}

// contains: an array holds an equal element; a string holds the literal string.
// *applicable says whether the test made sense at all (for not_contains).
bool contains(const cJSON *actual, const cJSON *literal, bool *applicable) {
  if (kind_of(actual) == cJSON_Array) {
    *applicable = true;
    return in_list(literal, actual);
  }
  *applicable = is_string(actual) && is_string(literal);
  return *applicable && has_substring(actual, literal);
}

bool affix(const cJSON *actual, const cJSON *literal, bool at_end) {
  if (!is_string(actual) || !is_string(literal)) return false;
  size_t n = std::strlen(actual->valuestring), k = std::strlen(literal->valuestring);
  if (k > n) return false;
  const char *from = actual->valuestring + (at_end ? n - k : 0);
  return std::memcmp(from, literal->valuestring, k) == 0;
}

bool ordered(Op op, const cJSON *actual, const cJSON *literal) {
  int cmp = 0;
  if (!order(actual, literal, &cmp)) return false;
  switch (op) {
    case Op::gt:
      return cmp > 0;
    case Op::gte:
      return cmp >= 0;
    case Op::lt:
      return cmp < 0;
    default:
      return cmp <= 0;
  }
}

}  // namespace

const cJSON *lookup(const cJSON *properties, const Path &path) {
  const cJSON *node = properties;
  for (const std::string &key : path.keys) {
    if (kind_of(node) != cJSON_Object) return nullptr;
    node = cJSON_GetObjectItemCaseSensitive(node, key.c_str());
  }
  return node;
}

bool compare(Op op, const cJSON *actual, const cJSON *literal) {
  if (op == Op::exists) return present(actual);
  if (op == Op::not_exists) return !present(actual);
  if (!present(actual)) return false;
  bool applicable = false;
  switch (op) {
    case Op::eq:
      return same_scalar(actual, literal);
    case Op::ne:
      return same_kind(actual, literal) && !same_scalar(actual, literal);
    case Op::gt:
    case Op::gte:
    case Op::lt:
    case Op::lte:
      return ordered(op, actual, literal);
    case Op::in:
      return in_list(actual, literal);
    case Op::not_in:
      return not_in_list(actual, literal);
    case Op::contains:
      return contains(actual, literal, &applicable);
    case Op::not_contains:
      return !contains(actual, literal, &applicable) && applicable;
    case Op::starts_with:
      return affix(actual, literal, false);
    case Op::ends_with:
      return affix(actual, literal, true);
    default:
      return false;
  }
}

void FilterMemo::begin(size_t filters, size_t paths) {
  if (stamp_.size() != filters || value_.size() != filters || path_stamp_.size() != paths) {
    std::vector<uint32_t> stamp(filters, 0);  // all or none (a throw leaves them as they were)
    std::vector<uint8_t> value(filters, 0);
    std::vector<uint32_t> path_stamp(paths, 0);
    std::vector<const cJSON *> node(paths, nullptr);
    stamp_.swap(stamp);
    value_.swap(value);
    path_stamp_.swap(path_stamp);
    node_.swap(node);
    event_ = 0;
  }
  if (++event_ == 0) {  // wrapped: forget every stamp
    std::fill(stamp_.begin(), stamp_.end(), 0);
    std::fill(path_stamp_.begin(), path_stamp_.end(), 0);
    event_ = 1;
  }
}

const cJSON *FilterMemo::lookup(const Filter &f, const cJSON *properties) {
  if (f.path_id >= path_stamp_.size()) return co::rules::lookup(properties, f.path);
  if (path_stamp_[f.path_id] != event_) {
    node_[f.path_id] = co::rules::lookup(properties, f.path);
    path_stamp_[f.path_id] = event_;
  }
  return node_[f.path_id];
}

bool matches(const std::vector<Filter> &where, const cJSON *properties, FilterMemo *memo) {
  for (const Filter &f : where) {
    int known = memo != nullptr ? memo->get(f.id) : -1;
    if (known < 0) {
      bool holds = compare(f.op, memo != nullptr ? memo->lookup(f, properties) : lookup(properties, f.path), f.value);
      if (memo != nullptr) memo->set(f.id, holds);
      if (!holds) return false;
      continue;
    }
    if (known == 0) return false;
  }
  return true;
}

bool compare_number(Op op, double measured, double value) {
  switch (op) {
    case Op::eq:
      return measured == value;
    case Op::ne:
      return measured != value && measured == measured;
    case Op::gt:
      return measured > value;
    case Op::gte:
      return measured >= value;
    case Op::lt:
      return measured < value;
    case Op::lte:
      return measured <= value;
    default:
      return false;
  }
}

}  // namespace co::rules
