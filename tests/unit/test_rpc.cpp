#include <unistd.h>

#include <vector>

#include "test_util.h"

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
};

static void success_echoes_the_id(void **) {
  Fixture f;
  co::Json j = f.rpc("{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"status\"}");
  assert_string_equal(test::str(j.get(), "id").c_str(), "abc");
  assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j.get(), "result"), "user_id"));
  j = f.rpc("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"track\",\"params\":{\"name\":\"A\"}}");
  assert_int_equal(test::num(j.get(), "id"), 7);
}

static void error_codes(void **) {
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

static void notifications_get_no_answer(void **) {
  Fixture f;
  assert_null(f.rpc("{\"jsonrpc\":\"2.0\",\"method\":\"track\",\"params\":{\"name\":\"A\"}}").get());
  assert_null(f.rpc("{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}").get());
  co::Json h = test::call_ok(f.agent, "history.get");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")), 1);
}

static void batches(void **) {
  Fixture f;
  co::Json j = f.rpc("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"},{\"jsonrpc\":\"2.0\",\"method\":\"status\"},"
                     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"},5]");
  assert_true(cJSON_IsArray(j.get()));
  assert_int_equal(cJSON_GetArraySize(j.get()), 3);
  assert_null(f.rpc("[{\"jsonrpc\":\"2.0\",\"method\":\"status\"}]").get());
}

static void subscribe_reports_topics(void **) {
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
static void group_commit_answers_every_line(void **) {
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

static void check_config_touches_nothing(void **) {
  test::TempDir dir;
  std::string cfg = "{\"data_dir\":\"" + dir.path + "/never\"}";
  assert_int_equal(cohort_check_config(cfg.c_str()), COHORT_OK);
  assert_int_not_equal(access((dir.path + "/never").c_str(), F_OK), 0);
  assert_int_equal(cohort_check_config("{\"api\":{\"timeout_ms\":\"x\"}}"), COHORT_ECONFIG);
  assert_non_null(strstr(cohort_last_error(nullptr), "api.timeout_ms"));
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(success_echoes_the_id),  cmocka_unit_test(error_codes),
      cmocka_unit_test(notifications_get_no_answer), cmocka_unit_test(batches),
      cmocka_unit_test(subscribe_reports_topics), cmocka_unit_test(check_config_touches_nothing),
      cmocka_unit_test(group_commit_answers_every_line),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
