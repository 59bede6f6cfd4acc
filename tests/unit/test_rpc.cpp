#include <unistd.h>

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
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
