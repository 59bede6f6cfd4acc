#include "rules/parser.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>

#include "rules/canonical.h"
#include "rules/model_math.h"

namespace co::rules {
namespace {

// Deep enough for any rule a person writes; shallow enough that a hostile
// document cannot exhaust the stack.
constexpr int kMaxDepth = 16;
// A century: far beyond any retention, small enough that bucket arithmetic on
// any int64 timestamp cannot overflow.
constexpr int64_t kMaxDays = 36'500;
constexpr int64_t kMaxHours = kMaxDays * 24;
constexpr int64_t kMaxMinutes = kMaxHours * 60;
// A model of more features than this is not what a device should score on
// every event.
constexpr size_t kMaxFeatures = 64;

using IdMap = std::map<std::string, uint32_t, std::less<>>;

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}
std::string at(const std::string &path, const char *key) {
  return path.empty() ? key : path + "." + key;
}
std::string item(const std::string &path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

const cJSON *field(const cJSON *obj, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(obj, key);
}

bool is_whole(double v, int64_t lo, int64_t hi) {
  return std::isfinite(v) && v == std::floor(v) && v >= static_cast<double>(lo) && v <= static_cast<double>(hi);
}

// A `cohort` condition's edge to the cohort it reads, kept for the cycle check.
struct Reference {
  uint32_t target;
  std::string path;
};

// Validates one rule group and builds its Rule. Stops at the first error.
class RuleParser {
 public:
  RuleParser(std::string prefix, const IdMap &ids) : prefix_(std::move(prefix)), ids_(ids) {}

  bool parse(const cJSON *json, const std::string &path, Rule *out) {
    rule_ = out;
    if (!cJSON_IsObject(json)) return fail(path, "expected an object");
    if (field(json, "model") != nullptr) return model(json, path, out);
    out->root.group = true;
    return group(json, path, 0, &out->root);
  }
  const std::string &error() const { return error_; }
  const std::vector<Reference> &references() const { return refs_; }

 private:
  bool fail(const std::string &path, const std::string &what) {
    error_ = prefix_ + path + ": " + what;
    return false;
  }

  // Rejects unknown and repeated keys: a typo silently ignored is a rule that
  // quietly means something else.
  bool keys(const cJSON *obj, const std::string &path, const std::vector<const char *> &allowed) {
    for (const cJSON *k = obj->child; k != nullptr; k = k->next) {
      bool known = false;
      for (const char *a : allowed) known = known || std::strcmp(a, k->string) == 0;
      if (!known) return fail(at(path, k->string), "unknown key");
      for (const cJSON *e = obj->child; e != k; e = e->next) {
        if (std::strcmp(e->string, k->string) == 0) return fail(at(path, k->string), "duplicate key");
      }
    }
    return true;
  }

  bool string_field(const cJSON *obj, const std::string &path, const char *key, std::string *out) {
    const cJSON *v = field(obj, key);
    if (v == nullptr) return fail(at(path, key), "missing");
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
      return fail(at(path, key), "expected a non-empty string");
    }
    *out = v->valuestring;
    return true;
  }

  bool number_field(const cJSON *obj, const std::string &path, const char *key, double *out) {
    const cJSON *v = field(obj, key);
    if (v == nullptr) return fail(at(path, key), "missing");
    if (!cJSON_IsNumber(v) || !std::isfinite(v->valuedouble)) return fail(at(path, key), "expected a number");
    *out = v->valuedouble;
    return true;
  }

  template <class E>
  bool enum_field(const cJSON *obj, const std::string &path, const char *key, const char *what, E *out) {
    std::string s;
    if (!string_field(obj, path, key, &s)) return false;
    if (!parse_name(s, out)) return fail(at(path, key), std::string("unknown ") + what + " " + quoted(s));
    return true;
  }

  bool path_field(const cJSON *obj, const std::string &path, const char *key, Path *out) {
    if (!string_field(obj, path, key, &out->text)) return false;
    out->keys.clear();
    size_t from = 0;
    for (;;) {
      size_t dot = out->text.find('.', from);
      std::string part = out->text.substr(from, dot == std::string::npos ? dot : dot - from);
      if (part.empty()) return fail(at(path, key), "invalid property path " + quoted(out->text));
      out->keys.push_back(std::move(part));
      if (dot == std::string::npos) return true;
      from = dot + 1;
    }
  }

  bool operator_field(const cJSON *obj, const std::string &path, Type type, Op *out) {
    if (!enum_field(obj, path, "operator", "operator", out)) return false;
    bool any_op = type == Type::property;
    if (!any_op && !is_numeric_op(*out)) {
      return fail(at(path, "operator"),
                  "operator " + quoted(name_of(*out)) + " does not apply to type " + quoted(name_of(type)));
    }
    return true;
  }

  // The literal a property comparison needs, by operator.
  bool literal(const cJSON *obj, const std::string &path, Op op, const cJSON **out) {
    const cJSON *v = field(obj, "value");
    std::string vpath = at(path, "value");
    if (op == Op::exists || op == Op::not_exists) {
      if (v != nullptr) return fail(vpath, "not allowed with operator " + quoted(name_of(op)));
      *out = nullptr;
      return true;
    }
    if (v == nullptr) return fail(vpath, "missing");
    if (!literal_fits(op, v)) return fail(vpath, literal_expectation(op));
    *out = v;
    return true;
  }

  static bool scalar(const cJSON *v, bool with_bool) {
    return cJSON_IsString(v) || (cJSON_IsNumber(v) && std::isfinite(v->valuedouble)) || (with_bool && cJSON_IsBool(v));
  }

  // A non-empty array, all strings or all numbers.
  static bool homogeneous_list(const cJSON *v) {
    if (!cJSON_IsArray(v) || v->child == nullptr) return false;
    bool strings = cJSON_IsString(v->child);
    const cJSON *e = nullptr;
    cJSON_ArrayForEach(e, v) {
      if (!scalar(e, false) || (cJSON_IsString(e) != strings)) return false;
    }
    return true;
  }

  static bool literal_fits(Op op, const cJSON *v) {
    switch (op) {
      case Op::eq:
      case Op::ne:
        return scalar(v, true);
      case Op::in:
      case Op::not_in:
        return homogeneous_list(v);
      case Op::starts_with:
      case Op::ends_with:
        return cJSON_IsString(v);
      default:
        return scalar(v, false);  // gt gte lt lte contains not_contains
    }
  }

  static std::string literal_expectation(Op op) {
    std::string o = "operator " + quoted(name_of(op)) + " needs ";
    switch (op) {
      case Op::eq:
      case Op::ne:
        return o + "a string, number or boolean";
      case Op::in:
      case Op::not_in:
        return o + "a non-empty array of strings or of numbers";
      case Op::starts_with:
      case Op::ends_with:
        return o + "a string";
      default:
        return o + "a string or number";
    }
  }

  bool filter(const cJSON *j, const std::string &path, Filter *out) {
    if (!cJSON_IsObject(j)) return fail(path, "expected an object");
    if (!keys(j, path, {"property", "operator", "value"})) return false;
    return path_field(j, path, "property", &out->path) && operator_field(j, path, Type::property, &out->op) &&
           literal(j, path, out->op, &out->value);
  }

  bool where(const cJSON *obj, const std::string &path, std::vector<Filter> *out) {
    const cJSON *w = field(obj, "where");
    if (w == nullptr) return true;
    std::string wpath = at(path, "where");
    if (!cJSON_IsArray(w)) return fail(wpath, "expected an array");
    size_t i = 0;
    for (const cJSON *f = w->child; f != nullptr; f = f->next, ++i) {
      out->emplace_back();
      if (!filter(f, item(wpath, i), &out->back())) return false;
    }
    return true;
  }

  bool timed_window(const cJSON *v, const std::string &path, Scope scope, int64_t max, Window *out) {
    if (!cJSON_IsNumber(v) || !is_whole(v->valuedouble, 1, max)) {
      return fail(path, "expected a whole number from 1 to " + std::to_string(max));
    }
    *out = Window{scope, static_cast<int64_t>(v->valuedouble)};
    return true;
  }

  bool named_window(const cJSON *v, const std::string &path, Window *out) {
    if (!cJSON_IsString(v)) return fail(path, "expected a string");
    std::string_view s = v->valuestring;
    if (s == "lifetime")
      *out = Window{Scope::lifetime, 0};
    else if (s == "session")
      *out = Window{Scope::session, 0};
    else if (s == "view")
      *out = Window{Scope::view, 0};
    else
      return fail(path, "unknown window " + quoted(s));
    return true;
  }

  // At most one of window / window_days / window_hours / window_minutes; none is lifetime.
  bool window(const cJSON *obj, const std::string &path, Window *out) {
    static const char *const kKeys[] = {"window", "window_days", "window_hours", "window_minutes"};
    const char *seen = nullptr;
    for (const char *key : kKeys) {
      const cJSON *v = field(obj, key);
      if (v == nullptr) continue;
      if (seen != nullptr) return fail(at(path, key), std::string("conflicts with ") + seen);
      seen = key;
      std::string kpath = at(path, key);
      bool ok = key == kKeys[0]   ? named_window(v, kpath, out)
                : key == kKeys[1] ? timed_window(v, kpath, Scope::days, kMaxDays, out)
                : key == kKeys[2] ? timed_window(v, kpath, Scope::hours, kMaxHours, out)
                                  : timed_window(v, kpath, Scope::minutes, kMaxMinutes, out);
      if (!ok) return false;
    }
    return true;
  }

  bool metric(const cJSON *obj, const std::string &path, Type type, Metric *out) {
    if (!enum_field(obj, path, "metric", "metric", out)) return false;
    bool for_views = *out >= Metric::engaged_time;
    if (for_views != (type == Type::engagement)) {
      return fail(at(path, "metric"),
                  "metric " + quoted(name_of(*out)) + " does not apply to type " + quoted(name_of(type)));
    }
    return true;
  }

  // event_type, where and window: what every event-reading condition has.
  bool selection(const cJSON *j, const std::string &path, Condition *c) {
    if (c->type == Type::engagement && field(j, "event_type") == nullptr) {
      c->event_type = "*";  // any play event
    } else if (!string_field(j, path, "event_type", &c->event_type)) {
      return false;
    }
    return where(j, path, &c->where) && (c->type == Type::recency || window(j, path, &c->window));
  }

  bool event_condition(const cJSON *j, const std::string &path, Condition *c) {
    c->op = Op::gte;  // the contract's default: at least one
    c->number = 1;
    if (field(j, "operator") != nullptr && !operator_field(j, path, c->type, &c->op)) return false;
    return field(j, "value") == nullptr || number_field(j, path, "value", &c->number);
  }

  bool aggregate_condition(const cJSON *j, const std::string &path, Condition *c) {
    return metric(j, path, c->type, &c->metric) && path_field(j, path, "property", &c->property) &&
           operator_field(j, path, c->type, &c->op) && number_field(j, path, "value", &c->number);
  }

  bool engagement_condition(const cJSON *j, const std::string &path, Condition *c) {
    return metric(j, path, c->type, &c->metric) && operator_field(j, path, c->type, &c->op) &&
           number_field(j, path, "value", &c->number);
  }

  // recency compares days-since with window_days, which may be 0 here.
  bool recency_condition(const cJSON *j, const std::string &path, Condition *c) {
    if (!operator_field(j, path, c->type, &c->op)) return false;
    const cJSON *v = field(j, "window_days");
    if (v == nullptr) return fail(at(path, "window_days"), "missing");
    if (!cJSON_IsNumber(v) || !is_whole(v->valuedouble, 0, kMaxDays)) {
      return fail(at(path, "window_days"), "expected a whole number from 0 to " + std::to_string(kMaxDays));
    }
    c->window = Window{Scope::days, static_cast<int64_t>(v->valuedouble)};
    c->number = v->valuedouble;
    return true;
  }

  bool property_condition(const cJSON *j, const std::string &path, Condition *c) {
    return path_field(j, path, "property", &c->property) && operator_field(j, path, c->type, &c->op) &&
           literal(j, path, c->op, &c->value);
  }

  bool cohort_condition(const cJSON *j, const std::string &path, Condition *c) {
    if (!string_field(j, path, "cohort_id", &c->cohort_id)) return false;
    auto it = ids_.find(c->cohort_id);
    if (it == ids_.end()) return fail(at(path, "cohort_id"), "unknown cohort " + quoted(c->cohort_id));
    c->cohort_index = it->second;
    refs_.push_back({it->second, at(path, "cohort_id")});
    c->state = MemberState::in;
    if (field(j, "state") != nullptr && !enum_field(j, path, "state", "state", &c->state)) return false;
    if (!window(j, path, &c->window)) return false;
    bool has_window =
        field(j, "window") || field(j, "window_days") || field(j, "window_hours") || field(j, "window_minutes");
    if (c->state == MemberState::in && has_window) {
      return fail(at(path, "state"), "a window needs state \"entered\" or \"exited\"");
    }
    return true;
  }

  static std::vector<const char *> allowed_keys(Type type) {
    std::vector<const char *> k = {"type"};
    auto add = [&k](std::initializer_list<const char *> more) { k.insert(k.end(), more); };
    if (type == Type::cohort)
      add({"cohort_id", "state"});
    else
      add({"event_type", "where", "operator"});
    if (type == Type::recency)
      add({"window_days"});
    else
      add({"window", "window_days", "window_hours", "window_minutes"});
    if (type != Type::recency && type != Type::cohort) add({"value"});
    if (type == Type::aggregate || type == Type::engagement) add({"metric"});
    if (type == Type::aggregate || type == Type::property) add({"property"});
    return k;
  }

  bool condition_type(const cJSON *j, const std::string &path, Type *out) {
    std::string s;
    if (!string_field(j, path, "type", &s)) return false;
    if (s == "monetary") s = "aggregate";  // the segments API's name for it
    if (!parse_name(s, out)) return fail(at(path, "type"), "unknown type " + quoted(s));
    return true;
  }

  bool condition(const cJSON *j, const std::string &path, Condition *c) {
    if (!condition_type(j, path, &c->type) || !keys(j, path, allowed_keys(c->type))) return false;
    if (c->type == Type::cohort) return cohort_condition(j, path, c);
    if (!selection(j, path, c)) return false;
    switch (c->type) {
      case Type::event:
        return event_condition(j, path, c);
      case Type::aggregate:
        return aggregate_condition(j, path, c);
      case Type::recency:
        return recency_condition(j, path, c);
      case Type::property:
        return property_condition(j, path, c);
      default:
        return engagement_condition(j, path, c);
    }
  }

  bool node(const cJSON *j, const std::string &path, int depth, Node *out) {
    if (!cJSON_IsObject(j)) return fail(path, "expected an object");
    if (field(j, "model") != nullptr) return fail(path, "a model can only be a cohort's whole rule");
    if (field(j, "logic") != nullptr) {
      out->group = true;
      return group(j, path, depth, out);
    }
    out->group = false;
    Condition c;
    if (!condition(j, path, &c)) return false;
    out->condition = static_cast<uint32_t>(rule_->conditions.size());
    rule_->conditions.push_back(std::move(c));
    return true;
  }

  bool group(const cJSON *j, const std::string &path, int depth, Node *out) {
    if (depth > kMaxDepth) return fail(path, "groups nested deeper than " + std::to_string(kMaxDepth));
    if (!keys(j, path, {"logic", "conditions"}) || !enum_field(j, path, "logic", "logic", &out->logic)) {
      return false;
    }
    const cJSON *list = field(j, "conditions");
    std::string cpath = at(path, "conditions");
    if (list == nullptr) return fail(cpath, "missing");
    if (!cJSON_IsArray(list)) return fail(cpath, "expected an array");
    int n = cJSON_GetArraySize(list);
    if (n == 0) return fail(cpath, "must not be empty");
    if (out->logic == Logic::none && n != 1) return fail(cpath, "NOT takes exactly one condition");
    size_t i = 0;
    for (const cJSON *c = list->child; c != nullptr; c = c->next, ++i) {
      out->children.emplace_back();
      if (!node(c, item(cpath, i), depth + 1, &out->children.back())) return false;
    }
    return true;
  }

  // {"model": "logistic", "bias", "threshold", "features": [...]}
  bool model(const cJSON *j, const std::string &path, Rule *out) {
    if (!keys(j, path, {"model", "bias", "threshold", "features"})) return false;
    std::string kind;
    if (!string_field(j, path, "model", &kind)) return false;
    if (kind != "logistic") return fail(at(path, "model"), "unknown model " + quoted(kind));
    Model m;
    if (!number_field(j, path, "bias", &m.bias) || !number_field(j, path, "threshold", &m.threshold)) return false;
    if (!(m.threshold > 0 && m.threshold < 1))
      return fail(at(path, "threshold"), "expected a number between 0 and 1 (both excluded)");
    m.logit = model_logit(m.threshold);
    const cJSON *list = field(j, "features");
    std::string fpath = at(path, "features");
    if (list == nullptr) return fail(fpath, "missing");
    if (!cJSON_IsArray(list)) return fail(fpath, "expected an array");
    size_t n = static_cast<size_t>(cJSON_GetArraySize(list));
    if (n == 0) return fail(fpath, "must not be empty");
    if (n > kMaxFeatures) return fail(fpath, "more than " + std::to_string(kMaxFeatures) + " features");
    size_t i = 0;
    for (const cJSON *f = list->child; f != nullptr; f = f->next, ++i) {
      m.features.emplace_back();
      Condition c;
      if (!feature(f, item(fpath, i), fpath, m.features, &c)) return false;
      m.features.back().condition = static_cast<uint32_t>(out->conditions.size());
      out->conditions.push_back(std::move(c));
    }
    out->model = std::move(m);
    return true;
  }

  static std::vector<const char *> feature_keys(Type type) {
    std::vector<const char *> k = {"name", "type", "transform", "cap", "weight", "default", "event_type", "where"};
    auto add = [&k](std::initializer_list<const char *> more) { k.insert(k.end(), more); };
    if (type != Type::recency) add({"window", "window_days", "window_hours", "window_minutes"});
    if (type == Type::aggregate || type == Type::engagement) add({"metric"});
    if (type == Type::aggregate || type == Type::property) add({"property"});
    if (type == Type::property) add({"operator", "value"});
    return k;
  }

  // One feature: its name first, so that every later message names it
  // (rule.features["views"].metric: ...); then the measure, the way a
  // condition of the same type gives it, without a comparison (a property
  // match keeps its own: it measures 1 when it holds, else 0).
  bool feature(const cJSON *j, const std::string &ipath, const std::string &fpath, std::vector<Feature> &features,
               Condition *c) {
    if (!cJSON_IsObject(j)) return fail(ipath, "expected an object");
    Feature &f = features.back();
    if (!string_field(j, ipath, "name", &f.name)) return false;
    for (size_t k = 0; k + 1 < features.size(); ++k) {
      if (features[k].name == f.name) return fail(at(ipath, "name"), "duplicate feature name " + quoted(f.name));
    }
    std::string path = fpath + "[" + quoted(f.name) + "]";
    if (!condition_type(j, path, &c->type)) return false;
    if (c->type == Type::cohort) return fail(at(path, "type"), "type \"cohort\" cannot be a feature");
    if (!keys(j, path, feature_keys(c->type)) || !selection(j, path, c)) return false;
    bool measure = true;
    if (c->type == Type::aggregate) {
      measure = metric(j, path, c->type, &c->metric) && path_field(j, path, "property", &c->property);
    } else if (c->type == Type::engagement) {
      measure = metric(j, path, c->type, &c->metric);
    } else if (c->type == Type::property) {
      measure = path_field(j, path, "property", &c->property) && operator_field(j, path, c->type, &c->op) &&
                literal(j, path, c->op, &c->value);
    }
    if (!measure) return false;
    if (field(j, "transform") != nullptr && !enum_field(j, path, "transform", "transform", &f.transform)) return false;
    bool capped = f.transform == Transform::cap;
    if (capped && !number_field(j, path, "cap", &f.cap)) return false;
    if (capped && !(f.cap > 0)) return fail(at(path, "cap"), "expected a number above 0");
    if (!capped && field(j, "cap") != nullptr) return fail(at(path, "cap"), "needs transform \"cap\"");
    if (field(j, "default") != nullptr && !number_field(j, path, "default", &f.missing)) return false;
    return number_field(j, path, "weight", &f.weight);
  }

  std::string prefix_;
  const IdMap &ids_;
  std::string error_;
  Rule *rule_ = nullptr;
  std::vector<Reference> refs_;
};

std::string cohort_prefix(std::string_view id) {
  return "cohort " + quoted(id) + ": ";
}

// Pass 1: a cohort's own fields (not its rule). `where` is "cohorts[i]." until the id is known.
Status cohort_header(const cJSON *j, size_t i, IdMap *ids, CohortDef *out) {
  std::string where = item("cohorts", i);
  if (!cJSON_IsObject(j)) return Status::error(where + ": expected an object");
  const cJSON *id = field(j, "id");
  if (id == nullptr) return Status::error(where + ".id: missing");
  if (!cJSON_IsString(id) || id->valuestring[0] == '\0') {
    return Status::error(where + ".id: expected a non-empty string");
  }
  out->id = id->valuestring;
  std::string prefix = cohort_prefix(out->id);
  for (const cJSON *k = j->child; k != nullptr; k = k->next) {
    static const char *const kKeys[] = {"id", "name", "activations", "rule"};
    bool known = false;
    for (const char *key : kKeys) known = known || std::strcmp(key, k->string) == 0;
    if (!known) return Status::error(prefix + k->string + ": unknown key");
    if (field(j, k->string) != k) return Status::error(prefix + k->string + ": duplicate key");
  }
  if (!ids->emplace(out->id, static_cast<uint32_t>(i)).second) {
    return Status::error(prefix + "id: duplicate cohort id");
  }
  const cJSON *name = field(j, "name");
  if (name != nullptr && !cJSON_IsString(name)) return Status::error(prefix + "name: expected a string");
  if (name != nullptr) out->name = name->valuestring;
  const cJSON *acts = field(j, "activations");
  if (acts != nullptr && !cJSON_IsArray(acts)) return Status::error(prefix + "activations: expected an array");
  size_t k = 0;
  for (const cJSON *a = acts ? acts->child : nullptr; a != nullptr; a = a->next, ++k) {
    if (!cJSON_IsString(a) || a->valuestring[0] == '\0') {
      return Status::error(prefix + item("activations", k) + ": expected a non-empty string");
    }
    out->activations.emplace_back(a->valuestring);
  }
  const cJSON *rule = field(j, "rule");
  if (rule == nullptr) return Status::error(prefix + "rule: missing");
  return Status::success();
}

// Follows references among the cohorts not yet ordered until one repeats, and
// names that cycle from the cohort where it closes.
Status cycle_error(const std::vector<CohortDef> &cohorts, const std::vector<std::vector<Reference>> &refs,
                   const std::vector<bool> &placed) {
  uint32_t at_cohort = 0;
  while (placed[at_cohort]) ++at_cohort;
  std::vector<uint32_t> walk;
  std::vector<const Reference *> via;
  for (;;) {
    for (size_t i = 0; i < walk.size(); ++i) {
      if (walk[i] != at_cohort) continue;
      std::string chain;
      for (size_t k = i; k < walk.size(); ++k) chain += quoted(cohorts[walk[k]].id) + " -> ";
      chain += quoted(cohorts[at_cohort].id);
      return Status::error(cohort_prefix(cohorts[walk[i]].id) + via[i]->path + ": cycle " + chain);
    }
    walk.push_back(at_cohort);
    for (const Reference &r : refs[at_cohort]) {
      if (!placed[r.target]) {
        via.push_back(&r);
        at_cohort = r.target;
        break;
      }
    }
  }
}

// Orders cohorts so each comes after those it reads (document order otherwise);
// a cohort that can never be placed sits on a cycle.
Status dependency_order(const std::vector<CohortDef> &cohorts, const std::vector<std::vector<Reference>> &refs,
                        std::vector<uint32_t> *order) {
  std::vector<bool> placed(cohorts.size(), false);
  for (bool progress = true; progress;) {
    progress = false;
    for (uint32_t i = 0; i < cohorts.size(); ++i) {
      if (placed[i]) continue;
      bool ready = true;
      for (const Reference &r : refs[i]) ready = ready && placed[r.target];
      if (!ready) continue;
      placed[i] = true;
      order->push_back(i);
      progress = true;
    }
  }
  if (order->size() == cohorts.size()) return Status::success();
  return cycle_error(cohorts, refs, placed);
}

Document parse_json(std::string_view json) {
  return Document(cJSON_ParseWithLength(json.data(), json.size()));
}

}  // namespace

Status parse_definitions(std::string_view json, Definitions *out) {
  Definitions defs;
  defs.doc = parse_json(json);
  if (!defs.doc) return Status::error("definitions: not valid JSON");
  const cJSON *root = defs.doc.get();
  if (!cJSON_IsObject(root)) return Status::error("definitions: expected an object");
  for (const cJSON *k = root->child; k != nullptr; k = k->next) {
    if (std::strcmp(k->string, "cohorts") != 0) return Status::error(std::string(k->string) + ": unknown key");
  }
  const cJSON *list = field(root, "cohorts");
  if (list == nullptr) return Status::error("cohorts: missing");
  if (!cJSON_IsArray(list)) return Status::error("cohorts: expected an array");
  IdMap ids;
  size_t i = 0;
  for (const cJSON *c = list->child; c != nullptr; c = c->next, ++i) {
    defs.cohorts.emplace_back();
    Status s = cohort_header(c, i, &ids, &defs.cohorts.back());
    if (!s.ok()) return s;
  }
  std::vector<std::vector<Reference>> refs;
  i = 0;
  for (const cJSON *c = list->child; c != nullptr; c = c->next, ++i) {
    CohortDef &def = defs.cohorts[i];
    RuleParser parser(cohort_prefix(def.id), ids);
    if (!parser.parse(field(c, "rule"), "rule", &def.rule)) return Status::error(parser.error());
    refs.push_back(parser.references());
    def.canonical = canonical_json(def.rule);
    def.checksum = checksum_of(def.canonical);
  }
  Status s = dependency_order(defs.cohorts, refs, &defs.order);
  if (!s.ok()) return s;
  *out = std::move(defs);
  return Status::success();
}

Status parse_rule(std::string_view json, const std::vector<CohortDef> &known, Document *doc, Rule *out) {
  Document parsed = parse_json(json);
  if (!parsed) return Status::error("rule: not valid JSON");
  IdMap ids;
  for (uint32_t i = 0; i < known.size(); ++i) ids.emplace(known[i].id, i);
  RuleParser parser("", ids);
  Rule rule;
  if (!parser.parse(parsed.get(), "rule", &rule)) return Status::error(parser.error());
  *doc = std::move(parsed);
  *out = std::move(rule);
  return Status::success();
}

}  // namespace co::rules
