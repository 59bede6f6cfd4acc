#include "rules/evaluator.h"
#include "json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "rules/model_math.h"
#include "rules/predicate.h"

namespace co::rules {
namespace {

const char *symbol(Op op) {
  switch (op) {
    case Op::eq:
      return "=";
    case Op::ne:
      return "≠";
    case Op::gt:
      return ">";
    case Op::gte:
      return "≥";
    case Op::lt:
      return "<";
    case Op::lte:
      return "≤";
    default:
      return name_of(op);
  }
}

std::string number_text(double v) {
  char buf[32];
  (void)std::snprintf(buf, sizeof buf, "%.6g", v);  // 32 bytes always hold %.6g
  return buf;
}

std::string plural(int64_t n, const char *unit) {
  return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
}

std::string window_text(const Window &w) {
  switch (w.scope) {
    case Scope::lifetime:
      return "lifetime";
    case Scope::session:
      return "session";
    case Scope::view:
      return "view";
    case Scope::days:
      return plural(w.count, "day");
    case Scope::hours:
      return plural(w.count, "hour");
    default:
      return plural(w.count, "minute");
  }
}

std::string json_text(const cJSON *v) {
  char *p = cJSON_PrintUnformatted(v);
  std::string s = p != nullptr ? p : "";
  cJSON_free(p);
  return s;
}

// What a condition compares with, in words: "≥3", "contains \"football\"".
std::string needed_text(const Condition &c) {
  if (c.type != Type::property) return std::string(symbol(c.op)) + number_text(c.number);
  if (c.value == nullptr) return name_of(c.op);
  return std::string(is_numeric_op(c.op) ? symbol(c.op) : name_of(c.op)) + " " + json_text(c.value);
}

std::string measured_text(const Condition &c, const Measure &m) {
  std::string in = " in " + window_text(c.window);
  std::string needed = needed_text(c);
  switch (c.type) {
    case Type::event:
      return "count " + number_text(m.number) + " of needed " + needed + in;
    case Type::aggregate:
      return std::string(name_of(c.metric)) + " of " + c.property.text + " " +
             (m.has_value ? number_text(m.number) : "no value") + " of needed " + needed + in;
    case Type::engagement:
      return std::string(name_of(c.metric)) + " " + (m.has_value ? number_text(m.number) : "no value") + " of needed " +
             needed + in;
    case Type::recency:
      return std::isinf(m.number) ? "never, needed " + needed + " days"
                                  : "last " + number_text(m.number) + " days ago, needed " + needed + " days";
    default:
      return m.has_value ? "last " + c.property.text + " " + std::string(m.text) + ", needed " + needed + in
                         : c.property.text + " never seen, needed " + needed + in;
  }
}

cJSON *measured_json(const Condition &c, const Measure &m) {
  if (!m.has_value || std::isinf(m.number)) return cJSON_CreateNull();
  if (c.type == Type::property) {
    JsonError error = JsonError::none;
    Json v = json_parse_exact(m.text, error);
    if (error == JsonError::memory) throw std::bad_alloc();
    return v != nullptr ? v.release() : cJSON_CreateNull();
  }
  return cJSON_CreateNumber(m.number);
}

void describe_selection(const Condition &c, cJSON *out) {
  json_add_string(out, "event_type", c.event_type.c_str());
  if (c.type == Type::aggregate || c.type == Type::engagement) json_add_string(out, "metric", name_of(c.metric));
  if (c.type == Type::aggregate || c.type == Type::property) {
    json_add_string(out, "property", c.property.text.c_str());
  }
}

void describe(const Condition &c, const Measure &m, bool match, cJSON *out) {
  json_add_string(out, "type", name_of(c.type));
  describe_selection(c, out);
  json_add(out, "measured", measured_json(c, m));
  json_add_string(out, "operator", name_of(c.op));
  if (c.type != Type::property)
    json_add_number(out, "value", c.number);
  else if (c.value != nullptr)
    json_add(out, "value", cJSON_Duplicate(c.value, 1));
  if (c.type != Type::recency) json_add_string(out, "window", window_text(c.window).c_str());
  json_add_bool(out, "match", match);
  json_add_string(out, "text", measured_text(c, m).c_str());
}

// "count 3 in 30 days, log1p 1.38629 × 0.8 = 1.10904"
std::string feature_text(const Feature &f, const Condition &c, const Measure &m, bool has, double value,
                         double contribution) {
  std::string in = c.type == Type::recency ? "" : " in " + window_text(c.window);
  std::string measured = has ? number_text(m.number) : "no value";
  std::string text;
  switch (c.type) {
    case Type::event:
      text = "count " + measured + in;
      break;
    case Type::aggregate:
      text = std::string(name_of(c.metric)) + " of " + c.property.text + " " + measured + in;
      break;
    case Type::engagement:
      text = std::string(name_of(c.metric)) + " " + measured + in;
      break;
    case Type::recency:
      text = has ? "last " + measured + " days ago" : "never";
      break;
    default:
      text = (m.has_value ? "last " + c.property.text + " " + std::string(m.text) : c.property.text + " never seen") +
             in + ", " + needed_text(c) + ": " + (m.match ? "yes" : "no");
      break;
  }
  if (!has && c.type != Type::property) text += ", default " + number_text(f.missing);
  text += " →";
  if (f.transform != Transform::identity) text += " " + std::string(name_of(f.transform));
  return text + " " + number_text(value) + " × " + number_text(f.weight) + " = " + number_text(contribution);
}

void describe_feature(const Feature &f, const Condition &c, const Measure &m, bool has, double value,
                      double contribution, cJSON *out) {
  json_add_string(out, "name", f.name.c_str());
  json_add_string(out, "type", name_of(c.type));
  describe_selection(c, out);
  if (c.type == Type::property) {
    json_add_string(out, "operator", name_of(c.op));
    if (c.value != nullptr) json_add(out, "compared_with", cJSON_Duplicate(c.value, 1));
  }
  if (c.type != Type::recency) json_add_string(out, "window", window_text(c.window).c_str());
  json_add(out, "measured", measured_json(c, m));
  json_add_string(out, "transform", name_of(f.transform));
  if (f.transform == Transform::cap) json_add_number(out, "cap", f.cap);
  if (c.type != Type::property) json_add_number(out, "default", f.missing);
  json_add_number(out, "value", value);
  json_add_number(out, "weight", f.weight);
  json_add_number(out, "contribution", contribution);
  json_add_string(out, "text", feature_text(f, c, m, has, value, contribution).c_str());
}

bool decide(const Condition &c, const Measure &m) {
  switch (c.type) {
    case Type::property:
      return m.match;
    case Type::recency:
      return compare_number(c.op, m.number, c.number);  // never = +inf
    default:
      return m.has_value && compare_number(c.op, m.number, c.number);
  }
}

}  // namespace

Evaluator::Evaluator(const std::vector<CohortRef> &cohorts, const Now &now)
    : cohorts_(cohorts), now_(now), memo_(cohorts.size(), -1) {}

bool Evaluator::member(uint32_t index) {
  if (memo_[index] < 0) {
    const CohortRef &c = cohorts_[index];
    memo_[index] = evaluate(c.def->rule, *c.state, nullptr) ? 1 : 0;
  }
  return memo_[index] == 1;
}

bool Evaluator::member(uint32_t index, int64_t *changes_at) {
  *changes_at = kNoChange;
  changes_at_ = changes_at;
  const CohortRef &c = cohorts_[index];
  bool member = evaluate(c.def->rule, *c.state, nullptr);
  memo_[index] = member ? 1 : 0;
  changes_at_ = nullptr;
  return member;
}

bool Evaluator::evaluate(const Rule &rule, const CohortState &state, cJSON *explain) {
  if (rule.model) return model(rule, state, explain);
  return node(rule, state, rule.root, explain);
}

double Evaluator::log1p_memo(double x) {
  uint64_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  LogMemo &m = log_memo_[(bits ^ bits >> 17 ^ bits >> 35) & 15];
  if (!m.set || m.bits != bits) m = LogMemo{true, bits, model_log1p(x)};
  return m.value;
}

const Evaluator::MeasureMemo &Evaluator::measure_memo(const Condition &c, const Accumulator *acc) {
  if (measure_memo_.empty()) measure_memo_.resize(64);
  auto p = reinterpret_cast<uintptr_t>(acc);
  MeasureMemo &m = measure_memo_[(p >> 4 ^ p >> 10 ^ static_cast<uintptr_t>(c.metric)) & 63];
  if (m.acc != acc || m.metric != c.metric) m = MeasureMemo{acc, c.metric, acc->measure(c, now_), false, kNoChange};
  if (changes_at_ != nullptr && !m.timed) {
    m.changes_at = acc->measure_changes_at(c, now_);
    m.timed = true;
  }
  return m;
}

double Evaluator::feature(const Rule &rule, const CohortState &state, uint32_t k, cJSON *explain, int64_t *due) {
  const Feature &f = rule.model->features[k];
  const Condition &c = rule.conditions[f.condition];
  const MeasureMemo &memo = measure_memo(c, state.conditions[f.condition].get());
  const Measure &m = memo.m;
  if (due != nullptr) *due = memo.changes_at;
  double x = 0;
  bool has = feature_input(c, m, &x);
  double value = f.transform == Transform::log1p ? log1p_memo(has ? x : f.missing) : feature_value(f, has, x);
  double contribution = f.weight * value;
  if (explain != nullptr) describe_feature(f, c, m, has, value, contribution, explain);
  return contribution;
}

// score = bias + w1 * v1 + w2 * v2 + ..., summed left to right in doubles;
// member when score >= logit(threshold). The probability is for people only.
bool Evaluator::model(const Rule &rule, const CohortState &state, cJSON *explain) {
  const Model &md = *rule.model;
  // Built aside and attached last, so the verdict comes first in the answer.
  Json features(explain != nullptr ? json_must(cJSON_CreateArray()) : nullptr);
  double score = md.bias;
  for (uint32_t k = 0; k < md.features.size(); ++k) {
    int64_t due = kNoChange;
    score += feature(rule, state, k, features ? json_append(features.get(), cJSON_CreateObject()) : nullptr, &due);
    if (changes_at_ != nullptr) *changes_at_ = std::min(*changes_at_, due);
  }
  bool match = score >= md.logit;
  if (explain == nullptr) return match;
  double probability = model_sigmoid(score);
  json_add_string(explain, "model", "logistic");
  json_add_bool(explain, "match", match);
  json_add_number(explain, "bias", md.bias);
  json_add_number(explain, "threshold", md.threshold);
  json_add_number(explain, "score", score);
  json_add_number(explain, "probability", probability);
  std::string text = "probability " + number_text(probability) + " (score " + number_text(score) + "), needed ≥" +
                     number_text(md.threshold) + " (score ≥" + number_text(md.logit) + ")";
  json_add_string(explain, "text", text.c_str());
  json_add(explain, "features", features.release());
  return match;
}

// Without an explanation to fill, groups stop at the first deciding child.
bool Evaluator::node(const Rule &rule, const CohortState &state, const Node &n, cJSON *explain) {
  if (!n.group) {
    return condition(rule.conditions[n.condition], state.conditions[n.condition].get(), explain);
  }
  cJSON *match = nullptr;
  cJSON *list = nullptr;
  if (explain != nullptr) {
    json_add_string(explain, "logic", name_of(n.logic));
    match = json_add_bool(explain, "match", false);
    list = json_add_array(explain, "conditions");
  }
  bool result = n.logic == Logic::all;
  for (const Node &child : n.children) {
    cJSON *out = nullptr;
    if (list != nullptr) json_append(list, out = cJSON_CreateObject());
    bool v = node(rule, state, child, out);
    result = n.logic == Logic::all ? result && v : n.logic == Logic::any ? result || v : !v;
    if (list == nullptr && result == (n.logic == Logic::any)) break;
  }
  if (match != nullptr) match->type = result ? cJSON_True : cJSON_False;
  return result;
}

bool Evaluator::condition(const Condition &c, const Accumulator *acc, cJSON *explain) {
  if (c.type == Type::cohort) return cohort_condition(c, explain);
  Measure m = acc->measure(c, now_);
  bool match = decide(c, m);
  if (changes_at_ != nullptr) *changes_at_ = std::min(*changes_at_, acc->changes_at(c, now_));
  if (explain != nullptr) describe(c, m, match, explain);
  return match;
}

bool Evaluator::transition_in_window(const Transition &t, const Window &w) const {
  if (!t.happened) return false;
  switch (w.scope) {
    case Scope::lifetime:
      return true;
    case Scope::session:
      return t.session_id == now_.session_id;
    case Scope::view:
      return !now_.view_id.empty() && t.view_id == now_.view_id;
    default: {
      int64_t ms = w.bucket_ms();
      return bucket_in_window(bucket_of(t.time_ms, ms), bucket_of(now_.time_ms, ms), w.buckets());
    }
  }
}

bool Evaluator::cohort_condition(const Condition &c, cJSON *explain) {
  const Membership &m = cohorts_[c.cohort_index].state->membership;
  const Transition &t = c.state == MemberState::entered ? m.entered : m.exited;
  bool in_state = c.state == MemberState::in;
  bool match = in_state ? member(c.cohort_index) : transition_in_window(t, c.window);
  // "in" follows the other cohort (its transitions re-read this one); a timed
  // "entered"/"exited" window moves with every bucket.
  if (changes_at_ != nullptr && !in_state && c.window.timed()) {
    *changes_at_ = std::min(*changes_at_, next_bucket_ms(now_.time_ms, c.window.bucket_ms()));
  }
  if (explain == nullptr) return match;
  std::string quoted = "\"" + c.cohort_id + "\"";
  json_add_string(explain, "type", "cohort");
  json_add_string(explain, "cohort_id", c.cohort_id.c_str());
  json_add_string(explain, "state", name_of(c.state));
  if (in_state) {
    json_add_bool(explain, "measured", match);
  } else {
    json_add(explain, "measured", t.happened ? cJSON_CreateNumber(static_cast<double>(t.time_ms)) : cJSON_CreateNull());
    json_add_string(explain, "window", window_text(c.window).c_str());
  }
  json_add_bool(explain, "match", match);
  std::string verb = in_state ? (match ? "in" : "not in") : std::string(match ? "" : "not ") + name_of(c.state);
  std::string text = verb + " cohort " + quoted + (in_state ? "" : " in " + window_text(c.window));
  json_add_string(explain, "text", text.c_str());
  return match;
}

}  // namespace co::rules
