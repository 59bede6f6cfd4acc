// The parsed, validated form of the local cohort rule language (see docs/rules.md).
// Produced by parser.cpp, read by canonical.cpp, accumulator.cpp and evaluator.cpp.
#pragma once
#include <cjson/cJSON.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace co::rules {

// Each enum and its spelling in the rule language come from one X-macro list,
// so a name can never drift from its value.
#define CO_RULES_LOGICS(X) X(all, "AND") X(any, "OR") X(none, "NOT")
#define CO_RULES_TYPES(X)   \
  X(event, "event")         \
  X(aggregate, "aggregate") \
  X(recency, "recency") X(property, "property") X(engagement, "engagement") X(cohort, "cohort")
#define CO_RULES_OPS(X)                                                                                           \
  X(eq, "eq")                                                                                                     \
  X(ne, "ne")                                                                                                     \
  X(gt, "gt")                                                                                                     \
  X(gte, "gte") X(lt, "lt") X(lte, "lte") X(in, "in") X(not_in, "not_in") X(contains, "contains")                 \
      X(not_contains, "not_contains") X(starts_with, "starts_with") X(ends_with, "ends_with") X(exists, "exists") \
          X(not_exists, "not_exists")
#define CO_RULES_METRICS(X) \
  X(sum, "sum")             \
  X(avg, "avg")             \
  X(min, "min")             \
  X(max, "max") X(count, "count") X(engaged_time, "engaged_time") X(completion, "completion") X(views, "views")
#define CO_RULES_STATES(X) X(in, "in") X(entered, "entered") X(exited, "exited")
#define CO_RULES_TRANSFORMS(X) X(identity, "identity") X(log1p, "log1p") X(cap, "cap")

#define CO_RULES_ENUM_VALUE(value, name) value,
enum class Logic : uint8_t { CO_RULES_LOGICS(CO_RULES_ENUM_VALUE) };
enum class Type : uint8_t { CO_RULES_TYPES(CO_RULES_ENUM_VALUE) };
enum class Op : uint8_t { CO_RULES_OPS(CO_RULES_ENUM_VALUE) };
enum class Metric : uint8_t { CO_RULES_METRICS(CO_RULES_ENUM_VALUE) };
enum class MemberState : uint8_t { CO_RULES_STATES(CO_RULES_ENUM_VALUE) };
enum class Transform : uint8_t { CO_RULES_TRANSFORMS(CO_RULES_ENUM_VALUE) };
#undef CO_RULES_ENUM_VALUE

const char *name_of(Logic v);
const char *name_of(Type v);
const char *name_of(Op v);
const char *name_of(Metric v);
const char *name_of(MemberState v);
const char *name_of(Transform v);
// Look a spelling up; false when it names nothing.
bool parse_name(std::string_view s, Logic *out);
bool parse_name(std::string_view s, Type *out);
bool parse_name(std::string_view s, Op *out);
bool parse_name(std::string_view s, Metric *out);
bool parse_name(std::string_view s, MemberState *out);
bool parse_name(std::string_view s, Transform *out);

// The six operators that compare two numbers (the only ones a measured count,
// aggregate, engagement or recency takes).
bool is_numeric_op(Op op);

enum class Scope : uint8_t { lifetime, session, view, days, hours, minutes };

// Which events a condition looks at. Timed windows count whole UTC-aligned
// buckets: days in hours, hours in minutes, minutes in seconds (the contract).
struct Window {
  Scope scope = Scope::lifetime;
  int64_t count = 0;  // days, hours or minutes; 0 for the untimed scopes

  bool timed() const { return scope >= Scope::days; }
  // 0 when untimed. Inline, as the bucket arithmetic below: every event and
  // every reading of a window goes through them.
  int64_t bucket_ms() const {
    return scope == Scope::days ? 3'600'000 : scope == Scope::hours ? 60'000 : scope == Scope::minutes ? 1'000 : 0;
  }
  // The window's width in buckets; 0 when untimed.
  int64_t buckets() const { return scope == Scope::days ? count * 24 : timed() ? count * 60 : 0; }
};

// floor(time_ms / bucket_ms), also for times before the epoch.
inline int64_t bucket_of(int64_t time_ms, int64_t bucket_ms) {
  int64_t q = time_ms / bucket_ms;
  return (time_ms % bucket_ms < 0) ? q - 1 : q;
}
// The time a bucket starts at, saturated to the int64 range.
inline int64_t bucket_start(int64_t bucket, int64_t bucket_ms) {
  int64_t t = 0;
  if (__builtin_mul_overflow(bucket, bucket_ms, &t)) {
    return bucket < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  }
  return t;
}
// The next moment after `now_ms` when the bucket changes: the start of the next one.
inline int64_t next_bucket_ms(int64_t now_ms, int64_t bucket_ms) {
  return bucket_start(bucket_of(now_ms, bucket_ms) + 1, bucket_ms);
}
// True when `bucket` is one of the `width` newest buckets up to and including `now_bucket`.
inline bool bucket_in_window(int64_t bucket, int64_t now_bucket, int64_t width) {
  return bucket <= now_bucket && bucket > now_bucket - width;
}

// A dotted property path, split once at parse time.
struct Path {
  std::string text;               // as written: "video.categories"
  std::vector<std::string> keys;  // {"video", "categories"}
};

// One `where` entry; also the comparison a `property` condition applies.
struct Filter {
  Path path;
  Op op = Op::eq;
  const cJSON *value = nullptr;  // into Document; null for exists / not_exists
  // Equal filters of a definitions document share an id (set by the engine),
  // so an event is tested against each distinct filter once.
  uint32_t id = UINT32_MAX;
  uint32_t path_id = UINT32_MAX;  // the same for filters of equal paths (set with `id`)
};

struct Condition {
  Type type = Type::event;
  std::string event_type;  // "*" matches every event name
  std::vector<Filter> where;
  Metric metric = Metric::count;  // aggregate, engagement
  Path property;                  // aggregate, property
  Op op = Op::gte;
  double number = 0;             // the value compared with (event, aggregate, engagement, recency)
  const cJSON *value = nullptr;  // property: the literal; null for exists / not_exists
  Window window;                 // recency: days holds the threshold (window_days)
  std::string cohort_id;         // cohort
  uint32_t cohort_index = 0;     // cohort: index into Definitions::cohorts
  MemberState state = MemberState::in;

  bool accumulates() const { return type != Type::cohort; }
  // As string_views: every accumulator of an event asks, and comparing a
  // std::string with "*" measures the literal and calls compare() each time.
  bool matches_name(std::string_view name) const {
    std::string_view type = event_type;
    return type == "*" || type == name;
  }
};

struct Node {
  bool group = true;
  Logic logic = Logic::all;
  std::vector<Node> children;  // group
  uint32_t condition = 0;      // leaf: index into Rule::conditions
};

// One input of a model: a measure (a condition whose accumulator gathers it,
// read as a number instead of compared), transformed and weighted.
struct Feature {
  std::string name;
  uint32_t condition = 0;  // its measure: index into Rule::conditions
  Transform transform = Transform::identity;
  double cap = 0;  // Transform::cap: the largest value
  double weight = 0;
  double missing = 0;  // the value when the measure has none ("default")
};

// A logistic model: member when sigmoid(bias + sum of weight * value) reaches
// the threshold, decided as score >= logit(threshold) so that no exp() and no
// rounding of the probability can move the decision (docs/rules.md).
struct Model {
  std::vector<Feature> features;
  double bias = 0;
  double threshold = 0.5;
  double logit = 0;  // logit(threshold), computed once
};

struct Rule {
  Node root;                          // unused when the rule is a model
  std::vector<Condition> conditions;  // depth-first document order; a model's features in order
  std::optional<Model> model;         // set: the rule is a model over its conditions
};

struct CjsonDeleter {
  void operator()(cJSON *p) const { cJSON_Delete(p); }
};
using Document = std::unique_ptr<cJSON, CjsonDeleter>;

struct CohortDef {
  std::string id;
  std::string name;
  std::vector<std::string> activations;
  Rule rule;
  std::string canonical;  // canonical JSON of the rule
  std::string checksum;   // lowercase hex SHA-256 of `canonical`
};

struct Definitions {
  Document doc;                    // owns every literal the rules point into
  std::vector<CohortDef> cohorts;  // document order
  std::vector<uint32_t> order;     // the same cohorts, each after those it reads
};

}  // namespace co::rules
