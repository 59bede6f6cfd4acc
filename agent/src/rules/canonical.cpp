#include "rules/canonical.h"
#include "json.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "platform/sha256.h"

namespace co::rules {
namespace {

void add_window(cJSON *o, const Window &w) {
  switch (w.scope) {
    case Scope::lifetime:
      json_add_string(o, "window", "lifetime");
      break;
    case Scope::session:
      json_add_string(o, "window", "session");
      break;
    case Scope::view:
      json_add_string(o, "window", "view");
      break;
    case Scope::days:
      json_add_number(o, "window_days", static_cast<double>(w.count));
      break;
    case Scope::hours:
      json_add_number(o, "window_hours", static_cast<double>(w.count));
      break;
    case Scope::minutes:
      json_add_number(o, "window_minutes", static_cast<double>(w.count));
      break;
  }
}

// Each fills an object its parent (or the caller's holder) already owns, with
// the checked builders: out of memory throws and leaves nothing behind.
void add_literal(cJSON *o, const cJSON *value) {
  if (value != nullptr) json_add(o, "value", cJSON_Duplicate(value, 1));
}

void fill_filter(cJSON *o, const Filter &f) {
  json_add_string(o, "property", f.path.text.c_str());
  json_add_string(o, "operator", name_of(f.op));
  add_literal(o, f.value);
}

// What an event-reading condition selects and measures: type, event_type,
// where, metric, property (shared by conditions and features).
void fill_measure(cJSON *o, const Condition &c) {
  json_add_string(o, "type", name_of(c.type));
  json_add_string(o, "event_type", c.event_type.c_str());
  cJSON *where = json_add_array(o, "where");
  for (const Filter &f : c.where) fill_filter(json_append(where, cJSON_CreateObject()), f);
  if (c.type == Type::aggregate || c.type == Type::engagement) {
    json_add_string(o, "metric", name_of(c.metric));
  }
  if (c.type == Type::aggregate || c.type == Type::property) {
    json_add_string(o, "property", c.property.text.c_str());
  }
}

void fill_condition(cJSON *o, const Condition &c) {
  if (c.type == Type::cohort) {
    json_add_string(o, "type", name_of(c.type));
    json_add_string(o, "cohort_id", c.cohort_id.c_str());
    json_add_string(o, "state", name_of(c.state));
    if (c.state != MemberState::in) add_window(o, c.window);
    return;
  }
  fill_measure(o, c);
  json_add_string(o, "operator", name_of(c.op));
  if (c.type == Type::recency) {
    json_add_number(o, "window_days", static_cast<double>(c.window.count));
    return;
  }
  if (c.type == Type::property)
    add_literal(o, c.value);
  else
    json_add_number(o, "value", c.number);
  add_window(o, c.window);
}

// A feature: its measure (a property match with its comparison; recency
// without a window), then name, transform, cap, weight and default.
void fill_feature(cJSON *o, const Feature &f, const Condition &c) {
  fill_measure(o, c);
  if (c.type == Type::property) {
    json_add_string(o, "operator", name_of(c.op));
    add_literal(o, c.value);
  }
  if (c.type != Type::recency) add_window(o, c.window);
  json_add_string(o, "name", f.name.c_str());
  json_add_string(o, "transform", name_of(f.transform));
  if (f.transform == Transform::cap) json_add_number(o, "cap", f.cap);
  json_add_number(o, "weight", f.weight);
  json_add_number(o, "default", f.missing);
}

void fill_model(cJSON *o, const Rule &rule) {
  const Model &m = *rule.model;
  json_add_string(o, "model", "logistic");
  json_add_number(o, "bias", m.bias);
  json_add_number(o, "threshold", m.threshold);
  cJSON *list = json_add_array(o, "features");
  for (const Feature &f : m.features) {
    fill_feature(json_append(list, cJSON_CreateObject()), f, rule.conditions[f.condition]);
  }
}

void fill_node(cJSON *o, const Rule &rule, const Node &n) {
  if (!n.group) return fill_condition(o, rule.conditions[n.condition]);
  json_add_string(o, "logic", name_of(n.logic));
  cJSON *list = json_add_array(o, "conditions");
  for (const Node &child : n.children) fill_node(json_append(list, cJSON_CreateObject()), rule, child);
}

// Orders every object's keys bytewise, recursively, so the printed form does not
// depend on the order the builder (or the author) wrote them in.
void sort_keys(cJSON *node) {
  std::vector<cJSON *> items;
  for (cJSON *c = node->child; c != nullptr; c = c->next) {
    sort_keys(c);
    items.push_back(c);
  }
  if (!cJSON_IsObject(node) || items.empty()) return;
  std::stable_sort(items.begin(), items.end(),
                   [](const cJSON *a, const cJSON *b) { return std::strcmp(a->string, b->string) < 0; });
  node->child = items.front();
  for (size_t i = 0; i < items.size(); ++i) {
    items[i]->prev = i == 0 ? items.back() : items[i - 1];  // cJSON: head->prev is the tail
    items[i]->next = i + 1 < items.size() ? items[i + 1] : nullptr;
  }
}

}  // namespace

std::string canonical_json(const Rule &rule) {
  Document doc(json_must(cJSON_CreateObject()));
  if (rule.model)
    fill_model(doc.get(), rule);
  else
    fill_node(doc.get(), rule, rule.root);
  sort_keys(doc.get());
  return json_print_checked(doc.get());
}

std::string literal_text(const cJSON *value) {
  if (value == nullptr) return "";
  char *text = cJSON_PrintUnformatted(value);
  if (text == nullptr) throw std::bad_alloc();
  std::string out = text;
  cJSON_free(text);
  return out;
}

std::string gathering_key(const Condition &c) {
  std::string key;
  auto field = [&key](std::string_view s) { key.append(std::to_string(s.size())).append(1, ':').append(s); };
  field(name_of(c.type));
  field(c.event_type);
  for (const Filter &f : c.where) {
    field(f.path.text);
    field(name_of(f.op));
    field(literal_text(f.value));
  }
  field(c.property.text);
  field(std::to_string(static_cast<int>(c.window.scope)) + "/" + std::to_string(c.window.count));
  if (c.type == Type::property) {  // its accumulator records the comparison
    field(name_of(c.op));
    field(literal_text(c.value));
  }
  return key;
}

std::string checksum_of(const std::string &canonical) {
  return platform::sha256_hex(canonical);
}

}  // namespace co::rules
