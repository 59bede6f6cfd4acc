#include "reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "rules/model_math.h"

namespace rules_ref {
namespace {

using co::rules::Now;
using rules_test::OwnedEvent;

const cJSON *get(const cJSON *o, const char *k) {
  return cJSON_GetObjectItemCaseSensitive(o, k);
}
std::string text(const cJSON *o, const char *k) {
  return get(o, k)->valuestring;
}
double number(const cJSON *o, const char *k) {
  return get(o, k)->valuedouble;
}

int64_t floor_div(int64_t a, int64_t b) {
  if (b == 0) {
    fail_msg("reference: no bucket size");
    return 0;
  }
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// The window of a condition, as (bucket size, bucket count), or a named scope.
struct Span {
  std::string scope;  // lifetime, session, view, or "timed"
  int64_t bucket_ms = 0, buckets = 0;
};

Span span_of(const cJSON *c) {
  if (const cJSON *w = get(c, "window")) return Span{w->valuestring};
  if (const cJSON *d = get(c, "window_days")) return Span{"timed", 3600000, static_cast<int64_t>(d->valuedouble) * 24};
  if (const cJSON *h = get(c, "window_hours")) return Span{"timed", 60000, static_cast<int64_t>(h->valuedouble) * 60};
  if (const cJSON *m = get(c, "window_minutes")) return Span{"timed", 1000, static_cast<int64_t>(m->valuedouble) * 60};
  return Span{"lifetime"};
}

bool inside(const Span &s, int64_t t, const std::string &session, const std::string &view, const Now &now) {
  if (s.scope == "lifetime") return true;
  if (s.scope == "session") return session == now.session_id;
  if (s.scope == "view") return !now.view_id.empty() && view == now.view_id;
  int64_t b = floor_div(t, s.bucket_ms), nb = floor_div(now.time_ms, s.bucket_ms);
  return b <= nb && nb - b < s.buckets;
}

bool in_window(const cJSON *c, const OwnedEvent &e, const Now &now) {
  return inside(span_of(c), e.time_ms, e.session_id, e.view_id, now);
}

const cJSON *at_path(const cJSON *props, const std::string &path) {
  const cJSON *n = props;
  size_t from = 0;
  for (;;) {
    size_t dot = path.find('.', from);
    std::string key = path.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
    if (!cJSON_IsObject(n)) return nullptr;
    n = get(n, key.c_str());
    if (dot == std::string::npos) return n;
    from = dot + 1;
  }
}

int kind(const cJSON *v) {
  if (cJSON_IsNumber(v)) return 1;
  if (cJSON_IsString(v)) return 2;
  if (cJSON_IsBool(v)) return 3;
  return 0;
}

bool equal(const cJSON *a, const cJSON *b) {
  if (kind(a) == 0 || kind(a) != kind(b)) return false;
  if (kind(a) == 1) return a->valuedouble == b->valuedouble;
  if (kind(a) == 2) return std::strcmp(a->valuestring, b->valuestring) == 0;
  return cJSON_IsTrue(a) == cJSON_IsTrue(b);
}

bool any_equal(const cJSON *list, const cJSON *v) {
  for (const cJSON *e = list->child; e; e = e->next) {
    if (equal(e, v)) return true;
  }
  return false;
}

bool holds(const std::string &op, const cJSON *actual, const cJSON *lit) {
  bool present = actual != nullptr && !cJSON_IsNull(actual);
  if (op == "exists") return present;
  if (op == "not_exists") return !present;
  if (!present) return false;
  if (op == "eq") return equal(actual, lit);
  if (op == "ne") return kind(actual) != 0 && kind(actual) == kind(lit) && !equal(actual, lit);
  if (op == "gt" || op == "gte" || op == "lt" || op == "lte") {
    int cmp;
    if (kind(actual) == 1 && kind(lit) == 1)
      cmp = (actual->valuedouble > lit->valuedouble) - (actual->valuedouble < lit->valuedouble);
    else if (kind(actual) == 2 && kind(lit) == 2)
      cmp = std::strcmp(actual->valuestring, lit->valuestring);
    else
      return false;
    return op == "gt" ? cmp > 0 : op == "gte" ? cmp >= 0 : op == "lt" ? cmp < 0 : cmp <= 0;
  }
  if (op == "in") return any_equal(lit, actual);
  if (op == "not_in") return kind(actual) == kind(lit->child) && !any_equal(lit, actual);
  bool strings = kind(actual) == 2 && kind(lit) == 2;
  if (op == "contains" || op == "not_contains") {
    bool yes;
    if (cJSON_IsArray(actual))
      yes = any_equal(actual, lit);
    else if (strings)
      yes = std::strstr(actual->valuestring, lit->valuestring) != nullptr;
    else
      return false;
    return op == "contains" ? yes : !yes;
  }
  if (!strings) return false;
  std::string a = actual->valuestring, l = lit->valuestring;
  if (l.size() > a.size()) return false;
  return op == "starts_with" ? a.compare(0, l.size(), l) == 0 : a.compare(a.size() - l.size(), l.size(), l) == 0;
}

bool selected(const cJSON *c, const OwnedEvent &e) {
  std::string type = text(c, "event_type");
  if (type != "*" && type != e.name) return false;
  for (const cJSON *f = get(c, "where")->child; f; f = f->next) {
    if (!holds(text(f, "operator"), at_path(e.properties.get(), text(f, "property")), get(f, "value"))) return false;
  }
  return true;
}

bool numbers(const std::string &op, double a, double b) {
  if (op == "eq") return a == b;
  if (op == "ne") return a != b;
  if (op == "gt") return a > b;
  if (op == "gte") return a >= b;
  if (op == "lt") return a < b;
  return a <= b;
}

void push(cJSON *measured, cJSON *v) {
  if (measured)
    cJSON_AddItemToArray(measured, v);
  else
    cJSON_Delete(v);
}

}  // namespace

Reference::~Reference() {
  for (Cohort &c : cohorts_) cJSON_Delete(c.rule);
}

void Reference::load(const std::vector<co::rules::CohortInfo> &cohorts) {
  for (Cohort &c : cohorts_) cJSON_Delete(c.rule);
  cohorts_.clear();
  for (const co::rules::CohortInfo &info : cohorts) {
    cohorts_.push_back({info.id, cJSON_Parse(info.rule.c_str())});
    assert_non_null(cohorts_.back().rule);
  }
}

size_t Reference::index_of(const std::string &id) const {
  for (size_t i = 0; i < cohorts_.size(); ++i) {
    if (cohorts_[i].id == id) return i;
  }
  fail_msg("reference: unknown cohort %s", id.c_str());
  return 0;
}

bool Reference::member(size_t cohort, const Now &now) const {
  return node(cohorts_[cohort].rule, now, nullptr);
}

bool Reference::node(const cJSON *n, const Now &now, cJSON *measured) const {
  if (get(n, "model")) return model(n, now, measured);
  if (!get(n, "logic")) return condition(n, now, measured);
  std::string logic = text(n, "logic");
  bool all = true, any = false;
  for (const cJSON *c = get(n, "conditions")->child; c; c = c->next) {
    bool v = node(c, now, measured);
    all = all && v;
    any = any || v;
  }
  return logic == "AND" ? all : logic == "OR" ? any : !any;
}

bool Reference::condition(const cJSON *c, const Now &now, cJSON *measured) const {
  std::string type = text(c, "type");
  if (type == "cohort") {
    size_t target = index_of(text(c, "cohort_id"));
    std::string state = text(c, "state");
    if (state == "in") {
      bool m = member(target, now);
      push(measured, cJSON_CreateBool(m));
      return m;
    }
    auto it = reported_.find(cohorts_[target].id);
    Transition t = it == reported_.end() ? Transition{} : state == "entered" ? it->second.entered : it->second.exited;
    push(measured, t.happened ? cJSON_CreateNumber(static_cast<double>(t.time_ms)) : cJSON_CreateNull());
    return t.happened && inside(span_of(c), t.time_ms, t.session, t.view, now);
  }
  Measured m = measure(c, now);
  push(measured, cJSON_Duplicate(m.shown, 1));
  if (type == "property") return m.match;
  return (m.has || type == "recency") &&
         numbers(text(c, "operator"), m.number, number(c, type == "recency" ? "window_days" : "value"));
}

Reference::Measured::~Measured() {
  cJSON_Delete(shown);
}

// What an event-reading condition or a feature measures, from the whole history.
Reference::Measured Reference::measure(const cJSON *c, const Now &now) const {
  Measured out;
  std::string type = text(c, "type");
  if (type == "event") {
    double n = 0;
    for (const OwnedEvent *e : history_) n += selected(c, *e) && in_window(c, *e, now);
    out.set(true, n);
    return out;
  }
  if (type == "aggregate") {
    std::vector<double> values;
    for (const OwnedEvent *e : history_) {
      const cJSON *v = at_path(e->properties.get(), text(c, "property"));
      if (selected(c, *e) && in_window(c, *e, now) && cJSON_IsNumber(v)) values.push_back(v->valuedouble);
    }
    std::string metric = text(c, "metric");
    double sum = 0;
    for (double v : values) sum += v;
    bool has = !values.empty() || metric == "count" || metric == "sum";
    double m = metric == "count" ? static_cast<double>(values.size())
               : metric == "sum" ? sum
               : values.empty()  ? 0
               : metric == "avg" ? sum / static_cast<double>(values.size())
               : metric == "min" ? *std::min_element(values.begin(), values.end())
                                 : *std::max_element(values.begin(), values.end());
    out.set(has, m);
    return out;
  }
  if (type == "recency") {
    bool seen = false;
    int64_t last = 0;
    for (const OwnedEvent *e : history_) {
      if (!selected(c, *e)) continue;
      int64_t h = floor_div(e->time_ms, 3600000);
      last = seen ? std::max(last, h) : h;
      seen = true;
    }
    double days = std::numeric_limits<double>::infinity();
    if (seen) days = static_cast<double>(std::max<int64_t>(0, floor_div(now.time_ms, 3600000) - last) + 1) / 24.0;
    out.set(seen, days);
    return out;
  }
  if (type == "property") {
    const cJSON *best = nullptr;
    for (const OwnedEvent *e : history_) {
      const cJSON *v = at_path(e->properties.get(), text(c, "property"));
      if (selected(c, *e) && in_window(c, *e, now) && v && !cJSON_IsNull(v)) best = v;  // history is in seq order
    }
    std::string op = text(c, "operator");
    out.has = best != nullptr;
    out.shown = best ? cJSON_Duplicate(best, 1) : cJSON_CreateNull();
    out.match = best ? holds(op, best, get(c, "value")) : op == "not_exists";
    return out;
  }
  // engagement
  std::string metric = text(c, "metric"), view;
  bool play = false, has_completion = false;
  double views = 0, time = 0, completion = 0;
  for (const OwnedEvent *e : history_) {
    if (e->view_id.empty()) continue;
    if (e->view_id != view) {
      view = e->view_id;
      play = selected(c, *e);
      views += play && in_window(c, *e, now);
    }
    const cJSON *spent = get(e->properties.get(), "time_spent_seconds");
    if (!play || !cJSON_IsNumber(spent) || !in_window(c, *e, now)) continue;
    time += spent->valuedouble;
    for (const char *k : {"percentage_watched", "percentage_listened"}) {
      const cJSON *p = get(e->properties.get(), k);
      if (!cJSON_IsNumber(p)) continue;
      completion = has_completion ? std::max(completion, p->valuedouble) : p->valuedouble;
      has_completion = true;
    }
  }
  bool has = metric != "completion" || has_completion;
  out.set(has, metric == "views" ? views : metric == "engaged_time" ? time : completion);
  return out;
}

// bias + w1 * v1 + ..., left to right, against logit(threshold): the formula
// docs/rules.md gives, with the engine's deterministic log1p / logit / sigmoid
// (the same bits on every platform). Each feature puts its measured value,
// its value and its contribution in `measured`; then the score and probability.
bool Reference::model(const cJSON *m, const Now &now, cJSON *measured) const {
  double score = number(m, "bias");
  for (const cJSON *f = get(m, "features")->child; f; f = f->next) {
    Measured raw = measure(f, now);
    std::string type = text(f, "type");
    bool has = raw.has && !std::isinf(raw.number);
    double x = type == "property" ? (raw.match ? 1 : 0) : has ? raw.number : number(f, "default");
    std::string transform = text(f, "transform");
    double value = transform == "log1p" ? co::rules::model_log1p(x)
                   : transform == "cap" ? std::min(x, number(f, "cap"))
                                        : x;
    double contribution = number(f, "weight") * value;
    score += contribution;
    push(measured, cJSON_Duplicate(raw.shown, 1));
    push(measured, cJSON_CreateNumber(value));
    push(measured, cJSON_CreateNumber(contribution));
  }
  push(measured, cJSON_CreateNumber(score));
  push(measured, cJSON_CreateNumber(co::rules::model_sigmoid(score)));
  return score >= co::rules::model_logit(number(m, "threshold"));
}

std::vector<size_t> Reference::dependency_order() const {
  std::vector<std::vector<size_t>> reads(cohorts_.size());
  for (size_t i = 0; i < cohorts_.size(); ++i) {
    std::vector<const cJSON *> stack{cohorts_[i].rule};
    while (!stack.empty()) {
      const cJSON *n = stack.back();
      stack.pop_back();
      if (get(n, "model")) continue;  // features read no cohort
      if (get(n, "logic")) {
        for (const cJSON *c = get(n, "conditions")->child; c; c = c->next) stack.push_back(c);
      } else if (text(n, "type") == "cohort") {
        reads[i].push_back(index_of(text(n, "cohort_id")));
      }
    }
  }
  std::vector<size_t> order;
  std::vector<bool> done(cohorts_.size(), false);
  while (order.size() < cohorts_.size()) {
    for (size_t i = 0; i < cohorts_.size(); ++i) {
      bool ready = !done[i];
      for (size_t r : reads[i]) ready = ready && done[r];
      if (!ready) continue;
      done[i] = true;
      order.push_back(i);
    }
  }
  return order;
}

void Reference::poll(const Now &now, std::vector<std::string> *entered, std::vector<std::string> *exited) {
  for (size_t i : dependency_order()) {
    bool m = member(i, now);
    Reported &r = reported_[cohorts_[i].id];
    if (m == r.member) continue;
    r.member = m;
    (m ? r.entered : r.exited) = Transition{true, now.time_ms, std::string(now.session_id), std::string(now.view_id)};
    (m ? entered : exited)->push_back(cohorts_[i].id);
  }
  std::sort(entered->begin(), entered->end());
  std::sort(exited->begin(), exited->end());
}

std::vector<std::string> Reference::members(const Now &now) const {
  std::vector<std::string> out;
  for (size_t i = 0; i < cohorts_.size(); ++i) {
    if (member(i, now)) out.push_back(cohorts_[i].id);
  }
  return out;
}

std::string Reference::measured(const std::string &id, const Now &now) const {
  cJSON *list = cJSON_CreateArray();
  bool match = node(cohorts_[index_of(id)].rule, now, list);
  char *p = cJSON_PrintUnformatted(list);
  std::string out = std::string(match ? "true" : "false") + "|" + p;
  cJSON_free(p);
  cJSON_Delete(list);
  return out;
}

namespace {

void collect(const cJSON *node, cJSON *out) {
  if (const cJSON *features = get(node, "features")) {
    for (const cJSON *f = features->child; f; f = f->next) {
      for (const char *key : {"measured", "value", "contribution"})
        cJSON_AddItemToArray(out, cJSON_Duplicate(get(f, key), 1));
    }
    for (const char *key : {"score", "probability"}) cJSON_AddItemToArray(out, cJSON_Duplicate(get(node, key), 1));
    return;
  }
  const cJSON *children = get(node, "conditions");
  if (children == nullptr) {
    cJSON_AddItemToArray(out, cJSON_Duplicate(get(node, "measured"), 1));
    return;
  }
  for (const cJSON *c = children->child; c; c = c->next) collect(c, out);
}

}  // namespace

std::string engine_measured(const co::rules::Engine &engine, const std::string &id, const Now &now) {
  cJSON *j = rules_test::explain_json(engine, now, id);
  cJSON *list = cJSON_CreateArray();
  collect(get(j, "explain"), list);
  char *p = cJSON_PrintUnformatted(list);
  std::string out = std::string(cJSON_IsTrue(get(j, "match")) ? "true" : "false") + "|" + p;
  cJSON_free(p);
  cJSON_Delete(list);
  cJSON_Delete(j);
  return out;
}

}  // namespace rules_ref
