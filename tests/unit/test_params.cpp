// Every method's declared params (agent.cpp, params.h) are enforced, before
// the handler runs, through cohort_call and the socket alike: for each method
// of the table, an unknown member is refused naming it; for each param (and
// each member of an array's objects), a wrong type names the field and the
// type, a missing required one is named, and a value out of its limits names
// the field and the limit. The cases are made from the declarations, so a
// param added to the table is tested with the rest.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent.h"
#include "test_util.h"
#include "unit_test.h"

namespace {

using co::Param;
using co::ParamList;
using co::ParamType;

const char kUuid[] = "00000000-0000-4000-8000-000000000000";

bool starts_with(const std::string &s, const std::string &prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

const char *type_word(ParamType t) {
  switch (t) {
    case ParamType::string: return "string";
    case ParamType::integer: return "integer";
    case ParamType::number: return "number";
    case ParamType::boolean: return "boolean";
    case ParamType::object: return "object";
    case ParamType::array: return "array";
    case ParamType::uuid: return "UUID";
  }
  return "?";
}

cJSON *valid_object(const ParamList &list);

// A value the declaration accepts: the smallest within the limits.
cJSON *valid_value(const Param &p) {
  switch (p.type) {
    case ParamType::string: {
      size_t n = p.has_min && p.min > 1 ? static_cast<size_t>(p.min) : 1;
      return cJSON_CreateString(std::string(n, 'x').c_str());
    }
    case ParamType::uuid: return cJSON_CreateString(kUuid);
    case ParamType::integer:
    case ParamType::number: return cJSON_CreateNumber(p.has_min ? p.min : 0);
    case ParamType::boolean: return cJSON_CreateTrue();
    case ParamType::object: return p.fields ? valid_object(*p.fields) : cJSON_CreateObject();
    case ParamType::array: {
      cJSON *a = cJSON_CreateArray();
      int n = p.has_min ? static_cast<int>(p.min) : 0;
      if (p.fields) n = std::max(n, 1);  // an element whose members the cases can change
      for (int i = 0; i < n; ++i) {
        cJSON_AddItemToArray(a, p.items == ParamType::object ? valid_object(*p.fields)
                                : p.items == ParamType::string ? cJSON_CreateString("x")
                                                               : cJSON_CreateNumber(i));
      }
      return a;
    }
  }
  return cJSON_CreateNull();
}

// The required members, each with a valid value.
cJSON *valid_object(const ParamList &list) {
  cJSON *o = cJSON_CreateObject();
  for (const Param &p : list) {
    if (p.required || (p.type == ParamType::array && p.fields)) cJSON_AddItemToObject(o, p.name, valid_value(p));
  }
  return o;
}

// A value of another type.
cJSON *wrong_type(const Param &p) {
  switch (p.type) {
    case ParamType::string:
    case ParamType::uuid: return cJSON_CreateNumber(5);
    case ParamType::integer:
    case ParamType::number:
    case ParamType::boolean: return cJSON_CreateString("5");
    case ParamType::object: return cJSON_Parse("[1]");
    case ParamType::array: return cJSON_CreateObject();
  }
  return cJSON_CreateNull();
}

struct Target {
  std::string path;         // as messages name it: "limit", "aliases[0].tag"
  const Param *param;
  const Param *parent;      // the array of objects it is a member of, or NULL
};

std::vector<Target> targets(const ParamList &list) {
  std::vector<Target> out;
  for (const Param &p : list) {
    out.push_back({p.name, &p, nullptr});
    if (p.fields) {
      for (const Param &m : *p.fields) out.push_back({std::string(p.name) + "[0]." + m.name, &m, &p});
    }
  }
  return out;
}

// The method's valid params with the target set to value (NULL: removed).
co::Json params_with(const ParamList &list, const Target &t, cJSON *value) {
  co::Json params(valid_object(list));
  cJSON *into = params.get();
  if (t.parent) into = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(params.get(), t.parent->name), 0);
  cJSON_DeleteItemFromObjectCaseSensitive(into, t.param->name);
  if (value) cJSON_AddItemToObject(into, t.param->name, value);
  return params;
}

struct Fixture : test::AgentFixture {
  Fixture() { open_with("\"consent\":{\"required\":false}"); }
  // The call fails with COHORT_EINVAL; its message.
  std::string refused(const std::string &method, const cJSON *params) {
    std::string text = co::json_print(params);
    char *out = nullptr;
    cohort_status st = cohort_call(agent, method.c_str(), text.c_str(), &out);
    cohort_free(out);
    if (st != COHORT_EINVAL) {
      fail_msg("%s %s: %s, expected COHORT_EINVAL (%s)", method.c_str(), text.c_str(), cohort_status_str(st),
               cohort_last_error(agent));
    }
    return cohort_last_error(agent);
  }
};

std::vector<std::string> methods() { return co::Agent::method_names(); }

const ParamList &params_of(const std::string &m) {
  const ParamList *list = co::Agent::method_params(m.c_str());
  assert_non_null(list);
  return *list;
}

void expect_message(const std::string &method, const std::string &message, const std::string &path,
                    const std::string &word) {
  if (!starts_with(message, path + ": ") || message.find(word) == std::string::npos) {
    fail_msg("%s: \"%s\" does not name %s and %s", method.c_str(), message.c_str(), path.c_str(), word.c_str());
  }
}

// The valid params made from each declaration pass it (so the failures
// below are each the one thing changed).
UNIT_TEST(declarations_accept_their_valid_params) {
  for (const std::string &m : methods()) {
    const ParamList &list = params_of(m);
    co::Json params(valid_object(list));
    co::Outcome o = co::check_params(list, params.get());
    if (!o.ok()) fail_msg("%s: %s", m.c_str(), o.message.c_str());
    for (const Target &t : targets(list)) {
      if (!t.param->nullable) continue;
      co::Json with_null = params_with(list, t, cJSON_CreateNull());  // null counts as absent
      co::Outcome n = co::check_params(list, with_null.get());
      if (!n.ok()) fail_msg("%s: %s null: %s", m.c_str(), t.path.c_str(), n.message.c_str());
    }
  }
}

UNIT_TEST(unknown_fields_are_refused_by_every_method) {
  Fixture f;
  for (const std::string &m : methods()) {
    const ParamList &list = params_of(m);
    co::Json params(valid_object(list));
    cJSON_AddNumberToObject(params.get(), "zz_unknown", 1);
    std::string msg = f.refused(m, params.get());
    if (msg != "zz_unknown: unknown field") fail_msg("%s: \"%s\"", m.c_str(), msg.c_str());
    // Inside an array's objects too, named with their place.
    for (const Param &p : list) {
      if (!p.fields) continue;
      co::Json nested(valid_object(list));
      cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(nested.get(), p.name), 0);
      cJSON_AddNumberToObject(first, "colour", 1);
      msg = f.refused(m, nested.get());
      std::string want = std::string(p.name) + "[0].colour: unknown field";
      if (msg != want) fail_msg("%s: \"%s\", expected \"%s\"", m.c_str(), msg.c_str(), want.c_str());
    }
  }
}

// Methods that take no params refuse any, and say so on the socket as -32602.
UNIT_TEST(methods_without_params_refuse_any) {
  Fixture f;
  int without = 0;
  for (const std::string &m : methods()) {
    std::string line = R"({"jsonrpc":"2.0","id":1,"method":")" + m + R"(","params":{"anything":1}})";
    char *out = nullptr;
    assert_int_equal(cohort_rpc(f.agent, line.data(), line.size(), &out, nullptr), COHORT_OK);
    co::Json answer = co::json_parse(out ? out : "");
    cohort_free(out);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(answer.get(), "error");
    if (!err) fail_msg("%s accepted an unknown param", m.c_str());
    if (test::num(err, "code") != -32602) fail_msg("%s: %s", m.c_str(), co::json_print(answer.get()).c_str());
    assert_string_equal(test::str(err, "message").c_str(), "anything: unknown field");
    assert_string_equal(test::str(cJSON_GetObjectItemCaseSensitive(err, "data"), "status").c_str(), "COHORT_EINVAL");
    if (params_of(m).size == 0) ++without;
  }
  assert_true(without >= 7);  // status, identity.get, identity.reset, config.get, cohorts.get, definitions.get/reload
}

UNIT_TEST(wrong_types_name_the_field_and_the_type) {
  Fixture f;
  for (const std::string &m : methods()) {
    const ParamList &list = params_of(m);
    for (const Target &t : targets(list)) {
      co::Json params = params_with(list, t, wrong_type(*t.param));
      expect_message(m, f.refused(m, params.get()), t.path, type_word(t.param->type));
      if (t.param->type == ParamType::integer) {  // a number that is not whole
        co::Json fraction = params_with(list, t, cJSON_CreateNumber(1.5));
        expect_message(m, f.refused(m, fraction.get()), t.path, "integer");
      }
      if (!t.param->nullable) {  // null is a type too
        co::Json null = params_with(list, t, cJSON_CreateNull());
        expect_message(m, f.refused(m, null.get()), t.path, type_word(t.param->type));
      }
      if (t.param->type == ParamType::array && t.param->items != ParamType::array) {  // an element of another type
        co::Json element(cJSON_CreateArray());
        cJSON_AddItemToArray(element.get(), cJSON_CreateNumber(7));
        co::Json params2 = params_with(list, t, cJSON_Duplicate(element.get(), 1));
        expect_message(m, f.refused(m, params2.get()), t.path + "[0]", type_word(t.param->items));
      }
    }
  }
}

UNIT_TEST(missing_required_params_are_named) {
  Fixture f;
  int required = 0;
  for (const std::string &m : methods()) {
    const ParamList &list = params_of(m);
    for (const Target &t : targets(list)) {
      if (!t.param->required) continue;
      ++required;
      co::Json params = params_with(list, t, nullptr);
      std::string msg = f.refused(m, params.get());
      if (msg != t.path + ": missing") fail_msg("%s: \"%s\", expected \"%s: missing\"", m.c_str(), msg.c_str(), t.path.c_str());
    }
    // No params at all: the first required one (in the declaration's order) is named.
    for (const Param &p : list) {
      if (!p.required) continue;
      std::string none = f.refused(m, nullptr);
      if (none != std::string(p.name) + ": missing") fail_msg("%s without params: \"%s\"", m.c_str(), none.c_str());
      break;
    }
  }
  assert_true(required >= 10);
}

UNIT_TEST(values_out_of_limits_name_the_limits) {
  Fixture f;
  int checked = 0;
  for (const std::string &m : methods()) {
    const ParamList &list = params_of(m);
    for (const Target &t : targets(list)) {
      const Param &p = *t.param;
      std::vector<std::pair<cJSON *, std::string>> bad;  // the value, the limit the message must name
      switch (p.type) {
        case ParamType::integer:
        case ParamType::number: {
          double step = p.type == ParamType::integer ? 1 : 0.5;
          if (p.has_min) bad.emplace_back(cJSON_CreateNumber(p.min - step), co::limit_text(p.min));
          if (p.has_max) bad.emplace_back(cJSON_CreateNumber(p.max + step), co::limit_text(p.max));
          break;
        }
        case ParamType::string:
          if (p.format == co::ParamFormat::name) {
            bad.emplace_back(cJSON_CreateString(""), "64");
            bad.emplace_back(cJSON_CreateString(std::string(65, 'a').c_str()), "64");
            bad.emplace_back(cJSON_CreateString("has space"), "A-Z");
          }
          if (p.has_min && p.min >= 1) {
            bad.emplace_back(cJSON_CreateString(std::string(static_cast<size_t>(p.min) - 1, 'x').c_str()),
                             p.has_max ? co::limit_text(p.max) : co::limit_text(p.min));
          }
          if (p.has_max) {
            bad.emplace_back(cJSON_CreateString(std::string(static_cast<size_t>(p.max) + 1, 'x').c_str()),
                             co::limit_text(p.max));
          }
          break;
        case ParamType::array: {
          if (p.has_min && p.min >= 1) bad.emplace_back(cJSON_CreateArray(), "non-empty");
          if (p.has_max) {
            cJSON *a = cJSON_CreateArray();
            for (int i = 0; i <= static_cast<int>(p.max); ++i) {
              cJSON_AddItemToArray(a, p.items == ParamType::object ? valid_object(*p.fields) : cJSON_CreateString("x"));
            }
            bad.emplace_back(a, co::limit_text(p.max));
          }
          break;
        }
        default:
          break;
      }
      for (auto &b : bad) {
        co::Json params = params_with(list, t, b.first);
        expect_message(m, f.refused(m, params.get()), t.path, b.second);
        ++checked;
      }
      // The limits themselves are within.
      if ((p.type == ParamType::integer || p.type == ParamType::number) && p.has_max) {
        co::Json at_max = params_with(list, t, cJSON_CreateNumber(p.max));
        co::Outcome o = co::check_params(list, at_max.get());
        if (!o.ok()) fail_msg("%s: %s at its maximum: %s", m.c_str(), t.path.c_str(), o.message.c_str());
      }
    }
  }
  assert_true(checked >= 20);
}

// The examples the protocol page gives keep their words.
UNIT_TEST(messages_as_documented) {
  Fixture f;
  co::Json p(cJSON_Parse(R"({"limit":0})"));
  assert_string_equal(f.refused("history.get", p.get()).c_str(), "limit: must be an integer from 1 to 1000");
  p.reset(cJSON_Parse(R"({"name":"Song Played"})"));
  assert_string_equal(f.refused("track", p.get()).c_str(), "name: must be 1-64 characters of A-Z, a-z, 0-9 or _");
  p.reset(cJSON_Parse(R"({"aliases":[{"tag":"t","id":"1"},{"tag":"a b","id":"2"}]})"));
  assert_string_equal(f.refused("identity.set_aliases", p.get()).c_str(),
                      "aliases[1].tag: must be 1-64 characters of A-Z, a-z, 0-9 or _");
  p.reset(cJSON_Parse(R"({"url":""})"));
  assert_string_equal(f.refused("activations.get", p.get()).c_str(),
                      "url: must be a non-empty string of at most 2048 bytes");
  p.reset(cJSON_Parse(R"({"timeout_ms":600001})"));
  assert_string_equal(f.refused("sync.now", p.get()).c_str(), "timeout_ms: must be an integer from 0 to 600000");
  p.reset(cJSON_Parse(R"({"duration_s":2e9})"));
  assert_string_equal(f.refused("view.start", p.get()).c_str(), "duration_s: must be a number from 0 to 1e9");
  // Semantic checks stay the handler's: an e-mail address as an id, a view that is not open.
  p.reset(cJSON_Parse(R"({"aliases":[{"tag":"internal_id","id":"bob@example.com"}]})"));
  assert_non_null(strstr(f.refused("identity.set_aliases", p.get()).c_str(), "aliases[0].id: looks like"));
  char *out = nullptr;
  std::string view = std::string(R"({"view_id":")") + kUuid + "\"}";
  assert_int_equal(cohort_call(f.agent, "view.end", view.c_str(), &out), COHORT_ENOTFOUND);
  assert_int_equal(cohort_call(f.agent, "track", (R"({"name":"A",)" + view.substr(1)).c_str(), &out), COHORT_ENOTFOUND);
  // An unknown member is named before a missing one (the likelier cause).
  p.reset(cJSON_Parse(R"({"nmae":"A"})"));
  assert_string_equal(f.refused("track", p.get()).c_str(), "nmae: unknown field");
}

// The handlers' view: defaults for what is absent, null where allowed as
// absent, and an undeclared name or another type is the handler's bug.
UNIT_TEST(params_accessor) {
  const ParamList &list = params_of("view.start");
  co::Json given(cJSON_Parse(R"({"duration_s":12.5,"properties":null})"));
  co::Params p(list, given.get());
  assert_string_equal(p.string("type").c_str(), "video");  // the declared default
  assert_true(std::fabs(p.number("duration_s") - 12.5) < 1e-9);
  assert_false(p.has("properties"));  // null: absent
  assert_null(p.get("properties"));
  assert_false(p.has("url"));
  assert_string_equal(p.string("url").c_str(), "");
  bool threw = false;
  try {
    (void)p.string("colour");
  } catch (const std::logic_error &) {
    threw = true;
  }
  assert_true(threw);
  threw = false;
  try {
    (void)p.integer("type");
  } catch (const std::logic_error &) {
    threw = true;
  }
  assert_true(threw);
  co::Params history(params_of("history.get"), nullptr);
  assert_int_equal(history.integer("limit"), 20);
  assert_int_equal(history.integer("before"), 0);
  co::Params sync(params_of("sync.now"), nullptr);
  assert_int_equal(sync.integer("timeout_ms"), 5000);
  co::Json tree(cJSON_Parse(R"({"aliases":[{"tag":"a","id":"1"},{"tag":"b","id":"2","priority":7}]})"));
  co::Params a(params_of("identity.set_aliases"), tree.get());
  assert_false(a.boolean("replace"));
  std::vector<co::Params> items = a.objects("aliases");
  assert_int_equal(items.size(), 2);
  assert_string_equal(items[1].string("tag").c_str(), "b");
  assert_true(items[1].has("priority"));
  assert_int_equal(items[1].integer("priority"), 7);
  assert_false(items[0].has("priority"));
  assert_string_equal(co::limit_text(1e9).c_str(), "1e9");
  assert_string_equal(co::limit_text(600000).c_str(), "600000");
}

}  // namespace
