#include <unistd.h>

#include <vector>

#include "test_util.h"
#include "unit_test.h"

struct Fixture {
  test::TempDir dir;
  cohort_agent *agent = nullptr;
  Fixture() { assert_int_equal(cohort_open(dir.config("\"consent\":{\"required\":false}").c_str(), &agent), COHORT_OK); }
  ~Fixture() { cohort_close(agent); }
  // The parsed answer to one line (NULL for no answer).
  co::Json rpc(const std::string &line, unsigned *topics = nullptr) {
    char *out = nullptr;
    assert_int_equal(cohort_rpc(agent, line.data(), line.size(), &out, topics), COHORT_OK);
    co::Json j = out ? co::json_parse(out) : nullptr;
    cohort_free(out);
    return j;
  }
  int code(const std::string &line) {
    co::Json j = rpc(line);
    const cJSON *err = cJSON_GetObjectItem(j.get(), "error");
    assert_non_null(err);
    return static_cast<int>(test::num(err, "code"));
  }
  std::string message(const std::string &line) {
    co::Json j = rpc(line);
    return test::str(cJSON_GetObjectItem(j.get(), "error"), "message");
  }
  // The answer to one line as printed ("" for no answer).
  std::string raw(const std::string &line, unsigned *topics = nullptr) {
    char *out = nullptr;
    assert_int_equal(cohort_rpc(agent, line.data(), line.size(), &out, topics), COHORT_OK);
    std::string s = out ? out : "";
    if (out && s.empty()) fail_msg("%s\n  answered an empty line", line.c_str());
    cohort_free(out);
    return s;
  }
  // The answer to line is `expected` (JSON; "" for no answer at all): the
  // same members with the same values, arrays in order. Each "result" must be
  // an object and is compared as {} (its contents are other tests' business).
  // The answer is RFC 8259 JSON, not only something cJSON reads.
  std::string expect(const std::string &line, const std::string &expected, unsigned *topics = nullptr) {
    std::string answer = raw(line, topics);
    if (expected.empty()) {
      if (!answer.empty()) fail_msg("%s\n  answered %s\n  expected no answer", line.c_str(), answer.c_str());
      return answer;
    }
    co::Json want = co::json_parse(expected);
    if (!want) fail_msg("the test's expected answer is not JSON: %s", expected.c_str());
    if (answer.empty()) fail_msg("%s\n  not answered\n  expected %s", line.c_str(), expected.c_str());
    if (!co::json_valid(answer)) fail_msg("%s\n  answered with what is not JSON: %s", line.c_str(), answer.c_str());
    co::Json got = co::json_parse(answer);
    auto blank_result = [&](cJSON *r) {
      const cJSON *result = cJSON_GetObjectItemCaseSensitive(r, "result");
      if (!result) return;
      if (!cJSON_IsObject(result)) fail_msg("%s\n  result not an object: %s", line.c_str(), answer.c_str());
      cJSON_ReplaceItemInObjectCaseSensitive(r, "result", cJSON_CreateObject());
    };
    if (cJSON_IsArray(got.get())) {
      for (cJSON *r = got->child; r; r = r->next) blank_result(r);
    } else {
      blank_result(got.get());
    }
    if (!cJSON_Compare(want.get(), got.get(), true)) {
      fail_msg("%s\n  answered %s\n  expected %s", line.c_str(), answer.c_str(), expected.c_str());
    }
    return answer;
  }
  size_t history() {
    co::Json h = test::call_ok(agent, "history.get", "{\"limit\":1000}");
    return static_cast<size_t>(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")));
  }
};

// The answer text has this exact member text (e.g. the id as it was written).
static void assert_has(const std::string &answer, const std::string &part) {
  if (answer.find(part) == std::string::npos) fail_msg("%s\n  has no %s", answer.c_str(), part.c_str());
}

UNIT_TEST(success_echoes_the_id) {
  Fixture f;
  co::Json j = f.rpc("{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"status\"}");
  assert_string_equal(test::str(j.get(), "id").c_str(), "abc");
  assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j.get(), "result"), "user_id"));
  j = f.rpc("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"track\",\"params\":{\"name\":\"A\"}}");
  assert_int_equal(test::num(j.get(), "id"), 7);
}

UNIT_TEST(error_codes) {
  Fixture f;
  assert_int_equal(f.code("{bad"), -32700);
  assert_int_equal(f.code(""), -32700);
  assert_int_equal(f.code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"} trailing"), -32700);
  assert_int_equal(f.code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}{}"), -32700);
  assert_null(cJSON_GetObjectItem(f.rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}  ").get(), "error"));
  assert_int_equal(f.code("42"), -32600);
  assert_int_equal(f.code("[]"), -32600);
  assert_int_equal(f.code("{\"id\":1,\"method\":\"status\"}"), -32600);  // no jsonrpc
  assert_int_equal(f.code("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"status\"}"), -32600);
  assert_int_equal(f.code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}"), -32600);
  assert_int_equal(f.code("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"status\"}"), -32600);
  assert_int_equal(f.code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}"), -32601);
  assert_int_equal(f.code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"track\",\"params\":[1]}"), -32602);
  assert_int_equal(f.code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"track\",\"params\":{\"name\":1}}"), -32602);
  assert_non_null(strstr(f.message("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"track\",\"params\":{}}").c_str(), "name"));
  std::string view = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"view.end\",\"params\":{\"view_id\":\"x\"}}";
  assert_int_equal(f.code(view), -32000 - COHORT_ENOTFOUND);
}

UNIT_TEST(notifications_get_no_answer) {
  Fixture f;
  assert_null(f.rpc("{\"jsonrpc\":\"2.0\",\"method\":\"track\",\"params\":{\"name\":\"A\"}}").get());
  assert_null(f.rpc("{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}").get());
  co::Json h = test::call_ok(f.agent, "history.get");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")), 1);
}

UNIT_TEST(batches) {
  Fixture f;
  co::Json j = f.rpc("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"},{\"jsonrpc\":\"2.0\",\"method\":\"status\"},"
                     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"},5]");
  assert_true(cJSON_IsArray(j.get()));
  assert_int_equal(cJSON_GetArraySize(j.get()), 3);
  assert_null(f.rpc("[{\"jsonrpc\":\"2.0\",\"method\":\"status\"}]").get());
}

UNIT_TEST(subscribe_reports_topics) {
  Fixture f;
  unsigned topics = 99;
  f.rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}", &topics);
  assert_int_equal(topics, 0);
  co::Json j = f.rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\",\"params\":{\"topics\":[\"cohorts\"]}}",
                     &topics);
  assert_int_equal(topics, COHORT_TOPIC_COHORTS);
  assert_int_equal(f.code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\",\"params\":{\"topics\":[\"x\"]}}"),
                   -32602);
}

// Group commit: several lines, one commit; answers in order, one per line
// (none for a notification); a method that waits for the network in the middle
// commits what came before and does not deadlock; everything is stored.
UNIT_TEST(group_commit_answers_every_line) {
  Fixture f;
  std::vector<std::string> lines = {
      R"({"jsonrpc":"2.0","id":1,"method":"track","params":{"name":"A"}})",
      R"({"jsonrpc":"2.0","id":2,"method":"track","params":{"name":)",
      R"({"jsonrpc":"2.0","method":"track","params":{"name":"B"}})",
      R"({"jsonrpc":"2.0","id":"s","method":"sync.now","params":{"timeout_ms":50}})",
      R"({"jsonrpc":"2.0","id":4,"method":"track","params":{"name":"C"}})",
      R"({"jsonrpc":"2.0","id":5,"method":"subscribe","params":{"topics":["cohorts"]}})",
  };
  std::vector<const char *> texts;
  std::vector<size_t> lens;
  for (const std::string &l : lines) texts.push_back(l.data()), lens.push_back(l.size());
  std::vector<char *> answers(lines.size());
  std::vector<unsigned> topics(lines.size());
  assert_int_equal(cohort_rpc_batch(f.agent, lines.size(), texts.data(), lens.data(), answers.data(), topics.data()),
                   COHORT_OK);
  auto parsed = [&](size_t i) { return co::json_parse(answers[i]); };
  assert_non_null(cJSON_GetObjectItem(parsed(0).get(), "result"));
  assert_int_equal(static_cast<int>(test::num(cJSON_GetObjectItem(parsed(1).get(), "error"), "code")), -32700);
  assert_null(answers[2]);
  assert_string_equal(test::str(parsed(3).get(), "id").c_str(), "s");
  assert_int_equal(test::num(parsed(4).get(), "id"), 4);
  assert_int_equal(topics[5], COHORT_TOPIC_COHORTS);
  for (char *a : answers) cohort_free(a);
  co::Json h = test::call_ok(f.agent, "history.get");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")), 3);
  assert_int_equal(cohort_rpc_batch(nullptr, 0, nullptr, nullptr, nullptr, nullptr), COHORT_EINVAL);
  assert_int_equal(cohort_rpc_batch(f.agent, 0, nullptr, nullptr, nullptr, nullptr), COHORT_OK);
}

// ---------------------------------------------------------------------------
// The JSON-RPC 2.0 specification (https://www.jsonrpc.org/specification),
// section by section, with its own examples (section 7) adapted to our
// methods: "subtract" becomes track with named params, "update" and
// "notify_*" are track, "sum" / "get_data" status / identity.get; "foobar"
// and "foo.get" stay unknown. Answers are compared whole, results as {}.

namespace spec {

const char kParse[] = "parse error: the line is not valid JSON";
const char kNotObject[] = "request must be an object";
const char kBadId[] = "id: must be a string, number or null";
const char kBadVersion[] = "jsonrpc: must be \"2.0\"";
const char kBadMethod[] = "method: must be a string";
const char kBadParams[] = "params: must be an object when present";
const char kPositional[] = "params: this method takes named params (an object)";

// An error response; id is JSON text, status the data.status (NULL: no data).
std::string error(int code, const std::string &message, const char *status, const char *id) {
  co::Json r(cJSON_CreateObject());
  cJSON_AddStringToObject(r.get(), "jsonrpc", "2.0");
  cJSON *e = cJSON_AddObjectToObject(r.get(), "error");
  cJSON_AddNumberToObject(e, "code", code);
  cJSON_AddStringToObject(e, "message", message.c_str());
  if (status) cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "data"), "status", status);
  cJSON_AddItemToObject(r.get(), "id", cJSON_Parse(id));
  return co::json_print(r.get());
}
std::string ok(const char *id) { return std::string(R"({"jsonrpc":"2.0","result":{},"id":)") + id + "}"; }
std::string parse_error() { return error(-32700, kParse, nullptr, "null"); }
std::string invalid(const char *message, const char *id = "null") { return error(-32600, message, nullptr, id); }
std::string not_found(const char *method, const char *id) {
  return error(-32601, std::string("unknown method \"") + method + "\"", "COHORT_ENOMETHOD", id);
}
std::string positional(const char *id) { return error(-32602, kPositional, "COHORT_EINVAL", id); }
std::string batch(std::initializer_list<std::string> answers) {
  std::string s;
  for (const std::string &a : answers) s += (s.empty() ? "[" : ",") + a;
  return s + "]";
}

}  // namespace spec

// 4. Request object: jsonrpc exactly "2.0", method a String, params an
// optional Structured value, id an optional String, Number or Null. Member
// names are case-sensitive (section 2).
UNIT_TEST(spec_4_request_object) {
  using namespace spec;
  Fixture f;
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": {"name": "Subtract"}, "id": 3})", ok("3"));
  f.expect(R"({"id": 4, "params": {"name": "Subtract"}, "method": "track", "jsonrpc": "2.0"})", ok("4"));
  f.expect(R"({"jsonrpc": "2.0", "method": "status", "id": 5, "extra": [1]})", ok("5"));  // other members: ignored
  // jsonrpc: "MUST be exactly "2.0"". An id that is there is echoed.
  for (const char *v : {"", R"("jsonrpc": "1.0", )", R"("jsonrpc": 2.0, )", R"("jsonrpc": "2.0 ", )",
                        R"("jsonrpc": null, )", R"("JSONRPC": "2.0", )"}) {
    f.expect(std::string("{") + v + R"("method": "status", "id": 6})", invalid(kBadVersion, "6"));
  }
  // method: "A String containing the name of the method to be invoked".
  for (const char *m : {"", R"(, "method": 1)", R"(, "method": null)", R"(, "method": ["status"])",
                        R"(, "method": {"name": "status"})", R"(, "Method": "status")"}) {
    f.expect(std::string(R"({"jsonrpc": "2.0", "id": "m")") + m + "}", invalid(kBadMethod, "\"m\""));
  }
  // Names are case-sensitive; names beginning "rpc." are reserved (we have none).
  f.expect(R"({"jsonrpc": "2.0", "method": "STATUS", "id": 7})", not_found("STATUS", "7"));
  f.expect(R"({"jsonrpc": "2.0", "method": "rpc.discover", "id": 8})", not_found("rpc.discover", "8"));
  f.expect(R"({"jsonrpc": "2.0", "method": "", "id": 9})", not_found("", "9"));
  // id: "MUST contain a String, Number, or NULL value if included"; any
  // other cannot be echoed: null.
  for (const char *id : {"{}", "[]", "[1]", "true", "false", R"({"id": 1})"}) {
    f.expect(std::string(R"({"jsonrpc": "2.0", "method": "status", "id": )") + id + "}", invalid(kBadId));
  }
  f.expect(R"({"jsonrpc": "2.0", "method": "status", "id": "s"})", ok("\"s\""));
  f.expect(R"({"jsonrpc": "2.0", "method": "status", "id": null})", ok("null"));
  // Not an object at all.
  for (const char *line : {"1", "\"status\"", "null", "true"}) f.expect(line, invalid(kNotObject));
}

// 4.1 Notification: a Request object without an "id" member. "The Server
// MUST NOT reply to a Notification, including those that are within a batch
// request", nor with an error. It is still run.
UNIT_TEST(spec_4_1_notifications) {
  using namespace spec;
  Fixture f;
  // The spec's examples.
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": [1,2,3,4,5]})", "");
  f.expect(R"({"jsonrpc": "2.0", "method": "foobar"})", "");
  // Whatever the method makes of it: invalid params, not found, reserved name.
  for (const char *line : {R"({"jsonrpc": "2.0", "method": "track", "params": {}})",
                           R"({"jsonrpc": "2.0", "method": "track", "params": {"name": 1}})",
                           R"({"jsonrpc": "2.0", "method": "track", "params": []})",
                           R"({"jsonrpc": "2.0", "method": "foobar", "params": [1]})",
                           R"({"jsonrpc": "2.0", "method": "foobar", "params": {"a": 1}})",
                           R"({"jsonrpc": "2.0", "method": "rpc.x"})",
                           R"({"jsonrpc": "2.0", "method": "view.end", "params": {"view_id": "x"}})",
                           R"({"jsonrpc": "2.0", "method": "subscribe", "params": {"topics": ["x"]}})"}) {
    f.expect(line, "");
  }
  assert_int_equal(f.history(), 0);
  // It runs: the event is stored, a subscription takes.
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": {"name": "Noted"}})", "");
  assert_int_equal(f.history(), 1);
  unsigned topics = 0;
  f.expect(R"({"jsonrpc": "2.0", "method": "subscribe", "params": {"topics": ["cohorts"]}})", "", &topics);
  assert_int_equal(topics, COHORT_TOPIC_COHORTS);
  // "id": null is an id, not a notification: answered, id null.
  f.expect(R"({"jsonrpc": "2.0", "method": "status", "id": null})", ok("null"));
  f.expect(R"({"jsonrpc": "2.0", "method": "foobar", "id": null})", not_found("foobar", "null"));
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": [1], "id": null})", positional("null"));
  // What is not a valid Request object is no Notification, id or no id:
  // answered -32600 with id null (the spec's example of an invalid Request).
  f.expect(R"({"jsonrpc": "2.0", "method": 1, "params": "bar"})", invalid(kBadMethod));
  f.expect(R"({"method": "status"})", invalid(kBadVersion));
  f.expect(R"({"jsonrpc": "2.0"})", invalid(kBadMethod));
  f.expect(R"({"jsonrpc": "2.0", "method": "status", "params": "bar"})", invalid(kBadParams));
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": null})", invalid(kBadParams));
  f.expect("{}", invalid(kBadVersion));
  assert_int_equal(f.history(), 1);
}

// 4.2 Parameter structures: "If present, parameters for the rpc call MUST be
// provided as a Structured value": by-position (Array) or by-name (Object).
// Ours are by-name only; params "MAY be omitted".
UNIT_TEST(spec_4_2_parameter_structures) {
  using namespace spec;
  Fixture f;
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": {"name": "Named"}, "id": 1})", ok("1"));
  f.expect(R"({"jsonrpc": "2.0", "method": "status", "id": 2})", ok("2"));
  f.expect(R"({"jsonrpc": "2.0", "method": "status", "params": {}, "id": 3})", ok("3"));
  // By-position: a valid Request, but not what our methods take: -32602.
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": [42, 23], "id": 4})", positional("4"));
  f.expect(R"({"jsonrpc": "2.0", "method": "status", "params": [], "id": 5})", positional("5"));
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": [{"name": "X"}], "id": "p"})", positional("\"p\""));
  // Not a Structured value: not a valid Request object, -32600 (id echoed).
  for (const char *params : {"\"bar\"", "5", "true", "null"}) {
    f.expect(std::string(R"({"jsonrpc": "2.0", "method": "status", "params": )") + params + R"(, "id": 6})",
             invalid(kBadParams, "6"));
  }
  assert_int_equal(f.history(), 1);
}

// 5. Response object: exactly "jsonrpc", "result" or "error", and "id",
// which "MUST be the same as the value of the id member in the Request
// Object": same type, same value, as written (cJSON alone would print
// 12345678901234567890 as 1.2345678901234567e+19 and 1.0 as 1).
UNIT_TEST(spec_5_response_object) {
  using namespace spec;
  Fixture f;
  std::string a = f.expect(R"({"jsonrpc":"2.0","method":"status","id":1})", ok("1"));
  assert_has(a, "\"id\":1}");
  a = f.expect(R"({"jsonrpc":"2.0","method":"foobar","id":1})", not_found("foobar", "1"));
  assert_has(a, "\"id\":1}");
  for (const char *id : {"0", "-7", "1.5", "12345678901234567890", "9007199254740993", "-12345678901234567890123",
                         "1.0", "-0", "1e2", "2.5E-3", "0.1", "\"abc\"", "\"\"", "\"a\\u0000b\"",
                         "\"\\u00e9\\n\\\"\"", "\"\xc3\xa9\"", "\"}\"", "null"}) {
    std::string tail = std::string(",\"id\":") + id + "}";
    a = f.expect(std::string(R"({"jsonrpc":"2.0","method":"status")") + tail, ok(id));
    assert_has(a, tail);
    a = f.expect(std::string(R"({"jsonrpc":"2.0","method":"foobar")") + tail, not_found("foobar", id));
    assert_has(a, tail);
    a = f.expect(std::string(R"({"jsonrpc":"1.0","method":"status")") + tail, invalid(kBadVersion, id));
    assert_has(a, tail);
  }
  // Past a double's range (cJSON would print null).
  assert_has(f.raw(R"({"jsonrpc":"2.0","method":"status","id":1e400})"), "\"id\":1e400}");
  // The top-level id, however it is written and wherever it stands.
  a = f.expect(R"({"jsonrpc":"2.0","method":"status","\u0069d":12345678901234567890})", ok("12345678901234567890"));
  assert_has(a, "\"id\":12345678901234567890}");
  a = f.expect(R"({"jsonrpc":"2.0","method":"track","params":{"name":"A","properties":{"s":"}\"{[","id":5}},)"
               R"("id":12345678901234567890})",
               ok("12345678901234567890"));
  assert_has(a, "\"id\":12345678901234567890}");
  a = f.expect(" \t{ \"id\" : 1.50 , \"jsonrpc\":\"2.0\",\"method\":\"status\"} ", ok("1.5"));
  assert_has(a, "\"id\":1.50}");
  // Two ids: the first is the one (as cJSON reads it), and is echoed as written.
  a = f.expect(R"({"jsonrpc":"2.0","method":"status","id":10000000000000000001,"id":2})", ok("1e19"));
  assert_has(a, "\"id\":10000000000000000001}");
  // Ids cJSON takes and RFC 8259 does not (a leading zero, a raw control
  // character) are not echoed as written: the answer stays JSON.
  for (const char *line : {R"({"jsonrpc":"2.0","method":"status","id":01})",
                           R"({"jsonrpc":"2.0","method":"x","id":-01.})",
                           "{\"jsonrpc\":\"2.0\",\"method\":\"status\",\"id\":\"a\tb\"}"}) {
    std::string answer = f.raw(line);
    if (!co::json_valid(answer)) fail_msg("%s\n  answered with what is not JSON: %s", line, answer.c_str());
  }
  // Exactly three members, result or error, never both.
  for (const char *line : {R"({"jsonrpc":"2.0","method":"status","id":1})", R"({"jsonrpc":"2.0","method":"x","id":1})",
                           "[1]", "{"}) {
    co::Json j = co::json_parse(f.raw(line));
    const cJSON *r = cJSON_IsArray(j.get()) ? j->child : j.get();
    assert_int_equal(cJSON_GetArraySize(r), 3);
    assert_string_equal(test::str(r, "jsonrpc").c_str(), "2.0");
    assert_true(!cJSON_GetObjectItem(r, "result") != !cJSON_GetObjectItem(r, "error"));
    assert_non_null(cJSON_GetObjectItem(r, "id"));
  }
}

// 5.1 Error object: code (an integer), message (a String), data (optional:
// ours is {"status": "COHORT_..."}); -32700, -32600, -32601, -32602, and
// -32000 to -32099 for server errors. When several errors apply: -32700
// first, then -32600, then -32601, then -32602.
UNIT_TEST(spec_5_1_error_object) {
  using namespace spec;
  Fixture f;
  const char view_end[] = R"({"jsonrpc":"2.0","method":"view.end","params":{"view_id":"x"},"id":1})";
  f.expect(view_end, error(-32000 - COHORT_ENOTFOUND, f.message(view_end), "COHORT_ENOTFOUND", "1"));
  std::string m = f.message(R"({"jsonrpc":"2.0","method":"track","params":{"name":1},"id":2})");
  assert_non_null(strstr(m.c_str(), "name"));
  f.expect(R"({"jsonrpc":"2.0","method":"track","params":{"name":1},"id":2})", error(-32602, m, "COHORT_EINVAL", "2"));
  // Codes are integers, printed as such.
  assert_has(f.raw("{"), R"({"code":-32700,)");
  assert_has(f.raw("[]"), R"({"code":-32600,)");
  assert_has(f.raw(R"({"jsonrpc":"2.0","method":"foobar","id":1})"), R"({"code":-32601,)");
  assert_has(f.raw(R"({"jsonrpc":"2.0","method":"track","params":[],"id":1})"), R"({"code":-32602,)");
  // -32700 before anything: an invalid request, unknown method and bad
  // params in a line that is not JSON.
  f.expect(R"({"jsonrpc":"1.0","method":1,"params":"bar","id":{})", parse_error());
  f.expect(R"({"jsonrpc":"2.0","method":"foobar","params":[1],"id":1} x)", parse_error());
  f.expect(R"([{"jsonrpc":"2.0","method":"status","id":1}, {"jsonrpc":"1.0"])", parse_error());
  f.expect("{\"jsonrpc\":\"2.0\",\"method\":\"status\",\"id\":\"\xff\"}",
           error(-32700, "parse error: the line is not valid UTF-8", nullptr, "null"));
  // -32600 before -32601 and -32602; among its causes the id's type first
  // (then nothing can be echoed), then jsonrpc, method, params.
  f.expect(R"({"jsonrpc":"1.0","method":1,"params":"bar","id":{}})", invalid(kBadId));
  f.expect(R"({"jsonrpc":"1.0","method":1,"params":"bar","id":1})", invalid(kBadVersion, "1"));
  f.expect(R"({"jsonrpc":"2.0","method":1,"params":"bar","id":1})", invalid(kBadMethod, "1"));
  f.expect(R"({"jsonrpc":"1.0","method":"foobar","id":1})", invalid(kBadVersion, "1"));
  f.expect(R"({"jsonrpc":"2.0","method":"foobar","params":"bar","id":1})", invalid(kBadParams, "1"));
  f.expect(R"({"jsonrpc":"2.0","method":"track","params":5,"id":1})", invalid(kBadParams, "1"));
  f.expect(R"({"jsonrpc":"1.0","method":"track","params":[1],"id":1})", invalid(kBadVersion, "1"));
  // -32601 before -32602.
  f.expect(R"({"jsonrpc":"2.0","method":"foobar","params":[1],"id":1})", not_found("foobar", "1"));
  f.expect(R"({"jsonrpc":"2.0","method":"foobar","params":{"name":1},"id":1})", not_found("foobar", "1"));
  // -32602: by position, or named params the method refuses.
  f.expect(R"({"jsonrpc":"2.0","method":"track","params":[1],"id":1})", positional("1"));
  const char colour[] = R"({"jsonrpc":"2.0","method":"track","params":{"name":"A","colour":"red"},"id":1})";
  f.expect(colour, error(-32602, f.message(colour), "COHORT_EINVAL", "1"));
  assert_int_equal(f.history(), 0);
}

// 6. Batch: an Array of Request objects, answered with an Array of the
// Response objects (none for Notifications; ours in request order), or a
// single Response object when the batch is not valid JSON or not "an Array
// with at least one value"; nothing at all when every element is a
// Notification.
UNIT_TEST(spec_6_batch) {
  using namespace spec;
  Fixture f;
  f.expect(R"([{"jsonrpc": "2.0", "method": "status", "id": "1"},{"jsonrpc": "2.0", "method")", parse_error());
  f.expect("[]", invalid("empty batch"));
  f.expect(" [ ] ", invalid("empty batch"));
  f.expect("[1]", batch({invalid(kNotObject)}));
  f.expect("[1,2,3]", batch({invalid(kNotObject), invalid(kNotObject), invalid(kNotObject)}));
  f.expect(R"([[], [{"jsonrpc":"2.0","method":"status","id":1}], {}, null, "status"])",
           batch({invalid(kNotObject), invalid(kNotObject), invalid(kBadVersion), invalid(kNotObject),
                  invalid(kNotObject)}));
  f.expect(R"([{"jsonrpc":"2.0","method":"status","id":1}])", batch({ok("1")}));
  // Mixed (the spec's example): notifications are not answered, not even
  // one with by-position params; the rest in request order.
  f.expect(R"([
        {"jsonrpc": "2.0", "method": "track", "params": {"name": "Sum"}, "id": "1"},
        {"jsonrpc": "2.0", "method": "track", "params": [7]},
        {"jsonrpc": "2.0", "method": "track", "params": {"name": "Subtract"}, "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "identity.get", "id": "9"}
    ])",
           batch({ok("\"1\""), ok("\"2\""), invalid(kBadVersion), not_found("foo.get", "\"5\""), ok("\"9\"")}));
  assert_int_equal(f.history(), 2);
  // Every kind of answer in one batch, and every kind of notification.
  f.expect(R"([{"jsonrpc":"2.0","method":"status","id":12345678901234567890},
        {"jsonrpc":"2.0","method":"foobar"},
        {"jsonrpc":"2.0","method":"track","params":[1]},
        {"jsonrpc":"2.0","method":"track","params":{}},
        {"jsonrpc":"2.0","method":"track","params":"bar"},
        {"jsonrpc":"2.0","method":"track","params":[1],"id":1.5},
        {"jsonrpc":"2.0","method":"foobar","params":[1],"id":null},
        {"jsonrpc":"2.0","method":"status","id":{}},
        {"jsonrpc":"2.0","method":"track","params":{"name":"InBatch"}}])",
           batch({ok("12345678901234567890"), invalid(kBadParams), positional("1.5"), not_found("foobar", "null"),
                  invalid(kBadId)}));
  assert_int_equal(f.history(), 3);
  // The answers' ids are the requests' own, as written.
  std::string a = f.raw(R"([{"jsonrpc":"2.0","method":"status","id":12345678901234567890},)"
                        R"({"jsonrpc":"2.0","method":"status","\u0069d":1.0},{"id":-0,"jsonrpc":"2.0","method":"x"}])");
  assert_has(a, "\"id\":12345678901234567890}");
  assert_has(a, "\"id\":1.0}");
  assert_has(a, "\"id\":-0}");
  // Only notifications: nothing at all (not "[]"), and they ran.
  f.expect(R"([{"jsonrpc": "2.0", "method": "track", "params": {"name": "A"}},
        {"jsonrpc": "2.0", "method": "track", "params": [7]}, {"jsonrpc": "2.0", "method": "foobar"}])",
           "");
  assert_int_equal(f.history(), 4);
  // Order: the requests'.
  std::string many = "[";
  std::string want = "[";
  for (int i = 0; i < 20; ++i) {
    std::string id = std::to_string(i * 7 % 20);
    many += (i ? "," : "") + std::string(R"({"jsonrpc":"2.0","method":"status","id":)") + id + "}";
    want += (i ? "," : "") + ok(id.c_str());
  }
  f.expect(many + "]", want + "]");
}

// A batch whose answers pass 1 MiB: what follows is not run, every element
// that is not a Notification still gets its answer (a valid request a server
// error, an invalid one -32600), in order.
UNIT_TEST(batch_answer_bound) {
  using namespace spec;
  Fixture f;
  std::string big(15000, 'x');
  for (int i = 0; i < 80; ++i) {
    f.expect(R"({"jsonrpc":"2.0","method":"track","params":{"name":"Big","properties":{"p":")" + big + "\"}}}", "");
  }
  auto refused = [](const char *id) {
    return error(-32000 - COHORT_ENOMEM, "batch answer over 1 MiB: request not run", "COHORT_ENOMEM", id);
  };
  f.expect(R"([{"jsonrpc":"2.0","method":"history.get","params":{"limit":1000},"id":1},)"
           R"({"jsonrpc":"2.0","method":"status","id":2},)"
           R"({"jsonrpc":"2.0","method":"track","params":{"name":"Late"}},)"
           R"(5,{"jsonrpc":"2.0","method":"track","params":{"name":"Late"},"id":"3"}])",
           batch({ok("1"), refused("2"), invalid(kNotObject), refused("\"3\"")}));
  assert_int_equal(f.history(), 80);
}

// 7. Examples: the specification's, in its order.
UNIT_TEST(spec_7_examples) {
  using namespace spec;
  Fixture f;
  // rpc call with positional parameters (ours take named ones).
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": [42, 23], "id": 1})", positional("1"));
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": [23, 42], "id": 2})", positional("2"));
  // rpc call with named parameters.
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": {"name": "Subtract", "properties": )"
           R"({"subtrahend": 23, "minuend": 42}}, "id": 3})",
           ok("3"));
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": {"properties": {"minuend": 42, "subtrahend": 23}, )"
           R"("name": "Subtract"}, "id": 4})",
           ok("4"));
  // a Notification.
  f.expect(R"({"jsonrpc": "2.0", "method": "track", "params": [1,2,3,4,5]})", "");
  f.expect(R"({"jsonrpc": "2.0", "method": "foobar"})", "");
  // rpc call of non-existent method.
  f.expect(R"({"jsonrpc": "2.0", "method": "foobar", "id": "1"})", not_found("foobar", "\"1\""));
  // rpc call with invalid JSON.
  f.expect(R"({"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz])", parse_error());
  // rpc call with invalid Request object.
  f.expect(R"({"jsonrpc": "2.0", "method": 1, "params": "bar"})", invalid(kBadMethod));
  // rpc call Batch, invalid JSON.
  f.expect(R"([
  {"jsonrpc": "2.0", "method": "status", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
])",
           parse_error());
  // rpc call with an empty Array.
  f.expect("[]", invalid("empty batch"));
  // rpc call with an invalid Batch (but not empty).
  f.expect("[1]", batch({invalid(kNotObject)}));
  // rpc call with invalid Batch.
  f.expect("[1,2,3]", batch({invalid(kNotObject), invalid(kNotObject), invalid(kNotObject)}));
  // rpc call Batch.
  f.expect(R"([
        {"jsonrpc": "2.0", "method": "status", "id": "1"},
        {"jsonrpc": "2.0", "method": "track", "params": [7]},
        {"jsonrpc": "2.0", "method": "track", "params": {"name": "Subtract"}, "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "identity.get", "id": "9"}
    ])",
           batch({ok("\"1\""), ok("\"2\""), invalid(kBadVersion), not_found("foo.get", "\"5\""), ok("\"9\"")}));
  // rpc call Batch (all notifications): nothing is returned.
  f.expect(R"([
        {"jsonrpc": "2.0", "method": "track", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "track", "params": [7]}
    ])",
           "");
  assert_int_equal(f.history(), 3);
}

// Methods without params refuse any; params are checked before anything runs.
UNIT_TEST(params_are_checked_for_every_method) {
  using namespace spec;
  Fixture f;
  f.expect(R"({"jsonrpc":"2.0","method":"status","params":{"anything":1},"id":1})",
           error(-32602, "anything: unknown field", "COHORT_EINVAL", "1"));
  f.expect(R"({"jsonrpc":"2.0","method":"sync.now","params":{"timeout":1},"id":2})",
           error(-32602, "timeout: unknown field", "COHORT_EINVAL", "2"));
  f.expect(R"({"jsonrpc":"2.0","method":"history.get","params":{"limit":"5"},"id":3})",
           error(-32602, "limit: must be an integer from 1 to 1000", "COHORT_EINVAL", "3"));
  f.expect(R"({"jsonrpc":"2.0","method":"consent.set","params":{},"id":4})",
           error(-32602, "granted: missing", "COHORT_EINVAL", "4"));
  f.expect(R"({"jsonrpc":"2.0","method":"status","params":{},"id":5})", ok("5"));
  // A notification with bad params is still not answered, and did nothing.
  f.expect(R"({"jsonrpc":"2.0","method":"track","params":{"name":"A","colour":"red"}})", "");
  assert_int_equal(f.history(), 0);
}

// Each status's name, as the table spells it: what data.status carries.
UNIT_TEST(status_names) {
#define COHORT_X_NAME_CHECK(name, value, message) assert_string_equal(cohort_status_name(name), #name);
  COHORT_STATUS_TABLE(COHORT_X_NAME_CHECK)
#undef COHORT_X_NAME_CHECK
  assert_string_equal(cohort_status_name(static_cast<cohort_status>(999)), "COHORT_UNKNOWN");
  Fixture f;
  co::Json j = f.rpc(R"({"jsonrpc":"2.0","method":"view.end","params":{"view_id":"x"},"id":1})");
  assert_string_equal(test::str(cJSON_GetObjectItem(cJSON_GetObjectItem(j.get(), "error"), "data"), "status").c_str(),
                      cohort_status_name(COHORT_ENOTFOUND));
}

// What a service answers for a line the library could not handle at all
// (cohortd, while the agent closes): the same error objects as cohort_rpc's.
UNIT_TEST(rpc_error_answers_a_line) {
  using namespace spec;
  auto answer = [](const std::string &line, cohort_status st, const char *message) {
    char *out = reinterpret_cast<char *>(1);
    assert_int_equal(cohort_rpc_error(line.data(), line.size(), st, message, &out), COHORT_OK);
    std::string s = out ? out : "";
    cohort_free(out);
    return s;
  };
  auto same = [](const std::string &got, const std::string &want) {
    co::Json g = co::json_parse(got), w = co::json_parse(want);
    if (!cJSON_Compare(g.get(), w.get(), true)) fail_msg("answered %s\n  expected %s", got.c_str(), want.c_str());
  };
  same(answer(R"({"jsonrpc":"2.0","id":7,"method":"sync.now"})", COHORT_ECLOSED, nullptr),
       error(-32015, "shutting down", "COHORT_ECLOSED", "7"));
  same(answer(R"({"jsonrpc":"2.0","id":"a","method":"status"})", COHORT_ENOMEM, nullptr),
       error(-32004, cohort_status_str(COHORT_ENOMEM), "COHORT_ENOMEM", "\"a\""));
  same(answer(R"({"jsonrpc":"2.0","id":null,"method":"status"})", COHORT_ESTORAGE, "storage: try again"),
       error(-32008, "storage: try again", "COHORT_ESTORAGE", "null"));
  // The id as written, as every answer has it.
  assert_has(answer(R"({"jsonrpc":"2.0","id":12345678901234567890,"method":"status"})", COHORT_ECLOSED, nullptr),
             "\"id\":12345678901234567890}");
  // A notification gets nothing; a batch an array of the requests' errors.
  assert_string_equal(answer(R"({"jsonrpc":"2.0","method":"track","params":{"name":"A"}})", COHORT_ECLOSED, nullptr).c_str(),
                      "");
  same(answer(R"([{"jsonrpc":"2.0","id":1,"method":"status"},{"jsonrpc":"2.0","method":"status"},)"
              R"({"jsonrpc":"2.0","id":"b","method":"sync.now"},5])",
              COHORT_ECLOSED, nullptr),
       batch({error(-32015, "shutting down", "COHORT_ECLOSED", "1"), error(-32015, "shutting down", "COHORT_ECLOSED", "\"b\""),
              error(-32015, "shutting down", "COHORT_ECLOSED", "null")}));
  assert_string_equal(answer(R"([{"jsonrpc":"2.0","method":"status"}])", COHORT_ECLOSED, nullptr).c_str(), "");
  // What cannot be read is answered once, id null; an id of the wrong type is not echoed.
  same(answer("{not json", COHORT_ECLOSED, nullptr), error(-32015, "shutting down", "COHORT_ECLOSED", "null"));
  same(answer("{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"status\"}", COHORT_ECLOSED, nullptr),
       error(-32015, "shutting down", "COHORT_ECLOSED", "null"));
  same(answer(R"({"jsonrpc":"2.0","id":{},"method":"status"})", COHORT_ECLOSED, nullptr),
       error(-32015, "shutting down", "COHORT_ECLOSED", "null"));
  char *out = nullptr;
  assert_int_equal(cohort_rpc_error(nullptr, 0, COHORT_ECLOSED, nullptr, &out), COHORT_EINVAL);
  assert_int_equal(cohort_rpc_error("{}", 2, COHORT_ECLOSED, nullptr, nullptr), COHORT_EINVAL);
  assert_int_equal(cohort_rpc_error("{}", 2, COHORT_OK, nullptr, &out), COHORT_EINVAL);
  assert_null(out);
}

UNIT_TEST(check_config_touches_nothing) {
  test::TempDir dir;
  std::string cfg = "{\"data_dir\":\"" + dir.path + "/never\"}";
  assert_int_equal(cohort_check_config(cfg.c_str()), COHORT_OK);
  assert_int_not_equal(access((dir.path + "/never").c_str(), F_OK), 0);
  assert_int_equal(cohort_check_config("{\"api\":{\"timeout_ms\":\"x\"}}"), COHORT_ECONFIG);
  assert_non_null(strstr(cohort_last_error(nullptr), "api.timeout_ms"));
}

// What a service runs on a thread of its own: a request, or a batch with a
// request, to a method that waits on the network; nothing else.
UNIT_TEST(rpc_waits_names_the_waiting_calls) {
  auto waits = [](const char *line) { return cohort_rpc_waits(line, strlen(line)); };
  assert_int_equal(waits("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sync.now\"}"), 1);
  assert_int_equal(waits("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"activations.get\",\"params\":{}}"), 1);
  assert_int_equal(waits("[{\"jsonrpc\":\"2.0\",\"method\":\"track\",\"params\":{\"name\":\"E\"}},"
                         "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"sync.now\"}]"), 1);
  assert_int_equal(waits("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"track\",\"params\":{\"name\":\"E\","
                         "\"properties\":{\"title\":\"sync.now and activations.get\"}}}"), 0);
  assert_int_equal(waits("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}"), 0);
  assert_int_equal(waits("{not json sync.now"), 0);
  assert_int_equal(cohort_rpc_waits(nullptr, 0), 0);
}
