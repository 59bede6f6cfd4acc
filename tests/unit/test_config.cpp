#include "config.h"
#include "test_util.h"

using co::Config;
using co::config_parse;

static void defaults_when_empty(void **) {
  Config c;
  std::string err;
  assert_true(config_parse(nullptr, c, err));
  assert_int_equal(c.api_timeout_ms, 300);
  assert_int_equal(c.session_inactivity_timeout_s, 1800);
  assert_int_equal(c.cache_behavioral_ttl_s, 30 * 86400);
  assert_int_equal(c.cache_contextual_ttl_s, 86400);
  assert_int_equal(c.socket_mode, 0660);
  assert_true(c.consent_required);
  assert_true(c.activations_merge);
  assert_true(config_parse("{}", c, err));
}

static void nested_and_flat_spellings(void **) {
  Config c;
  std::string err;
  assert_true(config_parse("{\"api\":{\"timeout_ms\":150,\"mode\":\"stateless\"},\"consent.required\":false,"
                           "\"socket\":{\"mode\":\"0600\"}}",
                           c, err));
  assert_int_equal(c.api_timeout_ms, 150);
  assert_string_equal(c.api_mode.c_str(), "stateless");
  assert_false(c.consent_required);
  assert_int_equal(c.socket_mode, 0600);
  assert_true(config_parse("{\"api.timeout_ms\":200}", c, err));
  assert_int_equal(c.api_timeout_ms, 200);
}

static void expect_error(const char *doc, const char *needle) {
  Config c;
  std::string err;
  assert_false(config_parse(doc, c, err));
  if (!strstr(err.c_str(), needle)) fail_msg("error \"%s\" does not name \"%s\"", err.c_str(), needle);
}

static void errors_name_the_key(void **) {
  expect_error("{\"api\":{\"timeot_ms\":1}}", "api.timeot_ms");
  expect_error("{\"bogus\":1}", "bogus");
  expect_error("{\"api.timeout_ms\":\"300\"}", "api.timeout_ms");
  expect_error("{\"api.timeout_ms\":0}", "api.timeout_ms");
  expect_error("{\"api.timeout_ms\":1.5}", "api.timeout_ms");
  expect_error("{\"consent\":{\"required\":1}}", "consent.required");
  expect_error("{\"api\":5}", "api");
  expect_error("{\"api.mode\":\"sometimes\"}", "api.mode");
  expect_error("{\"log.level\":\"loud\"}", "log.level");
  expect_error("{\"log\":{\"target\":\"file\"}}", "log.target");
  expect_error("{\"socket.mode\":660}", "socket.mode");
  expect_error("{\"socket.mode\":\"0999\"}", "socket.mode");
  expect_error("{\"api.ccs_url\":\"ftp://x\"}", "api.ccs_url");
  expect_error("{\"data_dir\":\"\"}", "data_dir");
  expect_error("{\"data_dir\":", "not valid JSON");
  expect_error("[1]", "object");
}

static void effective_config_redacts_the_key(void **) {
  Config c;
  std::string err;
  assert_true(config_parse("{\"api\":{\"key\":\"sk_secret\"}}", c, err));
  co::Json j(co::config_to_json(c));
  std::string text = co::json_print(j.get());
  assert_null(strstr(text.c_str(), "sk_secret"));
  assert_non_null(strstr(text.c_str(), "\"timeout_ms\":300"));
  assert_non_null(strstr(text.c_str(), "\"mode\":\"0660\""));
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults_when_empty),
      cmocka_unit_test(nested_and_flat_spellings),
      cmocka_unit_test(errors_name_the_key),
      cmocka_unit_test(effective_config_redacts_the_key),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
