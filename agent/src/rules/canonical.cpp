#include "rules/canonical.h"

#include <algorithm>
#include <new>
#include <cstring>
#include <vector>

#include "platform/crypto.h"

namespace co::rules {
namespace {

void add_window(cJSON *o, const Window &w) {
  switch (w.scope) {
    case Scope::lifetime:
      cJSON_AddStringToObject(o, "window", "lifetime");
      break;
    case Scope::session:
      cJSON_AddStringToObject(o, "window", "session");
      break;
    case Scope::view:
      cJSON_AddStringToObject(o, "window", "view");
      break;
    case Scope::days:
      cJSON_AddNumberToObject(o, "window_days", static_cast<double>(w.count));
      break;
    case Scope::hours:
      cJSON_AddNumberToObject(o, "window_hours", static_cast<double>(w.count));
      break;
    case Scope::minutes:
      cJSON_AddNumberToObject(o, "window_minutes", static_cast<double>(w.count));
      break;
  }
}

void add_literal(cJSON *o, const cJSON *value) {
  if (value != nullptr) cJSON_AddItemToObject(o, "value", cJSON_Duplicate(value, 1));
}

cJSON *filter_json(const Filter &f) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "property", f.path.text.c_str());
  cJSON_AddStringToObject(o, "operator", name_of(f.op));
  add_literal(o, f.value);
  return o;
}

cJSON *condition_json(const Condition &c) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", name_of(c.type));
  if (c.type == Type::cohort) {
    cJSON_AddStringToObject(o, "cohort_id", c.cohort_id.c_str());
    cJSON_AddStringToObject(o, "state", name_of(c.state));
    if (c.state != MemberState::in) add_window(o, c.window);
    return o;
  }
  cJSON_AddStringToObject(o, "event_type", c.event_type.c_str());
  cJSON *where = cJSON_AddArrayToObject(o, "where");
  for (const Filter &f : c.where) cJSON_AddItemToArray(where, filter_json(f));
  cJSON_AddStringToObject(o, "operator", name_of(c.op));
  if (c.type == Type::aggregate || c.type == Type::engagement) {
    cJSON_AddStringToObject(o, "metric", name_of(c.metric));
  }
  if (c.type == Type::aggregate || c.type == Type::property) {
    cJSON_AddStringToObject(o, "property", c.property.text.c_str());
  }
  if (c.type == Type::recency) {
    cJSON_AddNumberToObject(o, "window_days", static_cast<double>(c.window.count));
    return o;
  }
  if (c.type == Type::property)
    add_literal(o, c.value);
  else
    cJSON_AddNumberToObject(o, "value", c.number);
  add_window(o, c.window);
  return o;
}

cJSON *node_json(const Rule &rule, const Node &n) {
  if (!n.group) return condition_json(rule.conditions[n.condition]);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "logic", name_of(n.logic));
  cJSON *list = cJSON_AddArrayToObject(o, "conditions");
  for (const Node &child : n.children) {
    cJSON *item = node_json(rule, child);
    if (item == nullptr || list == nullptr) {
      cJSON_Delete(item);
      cJSON_Delete(o);
      throw std::bad_alloc();
    }
    cJSON_AddItemToArray(list, item);
  }
  return o;
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
  Document doc(node_json(rule, rule.root));
  sort_keys(doc.get());
  char *text = cJSON_PrintUnformatted(doc.get());
  std::string out = text != nullptr ? text : "";
  cJSON_free(text);
  return out;
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
