// The API requests as built, read against the documents (the CCS OpenAPI
// and the Direct API guide): endpoints, query parameters, where the key
// travels, and what the Contextual API is (never) told.
#include "requests.h"
#include "test_util.h"
#include "unit_test.h"

using test::str;

namespace {

co::Config config(const std::string &json = "") {
  co::Config cfg;
  std::string err;
  if (!co::config_parse(json.empty() ? nullptr : json.c_str(), cfg, err)) fail_msg("config: %s", err.c_str());
  return cfg;
}

bool has_header(const co::platform::HttpRequest &r, const char *name) {
  for (const auto &h : r.headers) {
    if (h.first == name) return true;
  }
  return false;
}

co::Json ccs_body() {
  return co::json_parse(
      "{\"user_id\":\"2008c38f-dece-4570-976d-87593ed001c3\",\"events\":[{\"name\":\"Videoview\","
      "\"time\":\"2024-01-15T14:00:00.000Z\",\"properties\":{}}]}");
}

}  // namespace

// The defaults are the hosts the documents use: the CCS reference's
// `servers` entry and examples (.app), the Contextual API example (.com).
UNIT_TEST(default_endpoints_are_the_documented_ones) {
  co::Config cfg = config();
  assert_string_equal(cfg.api_ccs_url.c_str(), "https://api.permutive.app");
  assert_string_equal(cfg.api_contextual_url.c_str(), "https://api.permutive.com");
  co::Json body = ccs_body();
  assert_string_equal(co::ccs_request(cfg, body.get()).url.c_str(),
                      "https://api.permutive.app/ccs/v1/segmentation?activations=true");
  assert_string_equal(co::contextual_request(cfg, "https://example.com/v", nullptr, {}).url.c_str(),
                      "https://api.permutive.com/ctx/v1/segment");
}

// Both endpoints ask for activations; a trailing slash in the base URL does
// not double; the troubleshooting switch adds synchronous-validation.
UNIT_TEST(ccs_query_parameters) {
  co::Json body = ccs_body();
  co::Config cfg = config("{\"api\":{\"mode\":\"stateless\",\"ccs_url\":\"https://gw.example/\"}}");
  co::platform::HttpRequest r = co::ccs_request(cfg, body.get());
  assert_string_equal(r.url.c_str(), "https://gw.example/ccs/v1/segmentation/stateless?activations=true");
  assert_string_equal(r.body.c_str(), co::json_print(body.get()).c_str());
  cfg = config("{\"api\":{\"synchronous_validation\":true}}");
  r = co::ccs_request(cfg, body.get());
  assert_string_equal(r.url.c_str(),
                      "https://api.permutive.app/ccs/v1/segmentation?activations=true&synchronous-validation=true");
}

// The key goes in X-Api-Key by default; with api.key_in "query" it is the
// `k` parameter (percent-encoded) and nowhere else.
UNIT_TEST(key_in_header_or_query) {
  co::Json body = ccs_body();
  co::Config cfg = config("{\"api\":{\"key\":\"sk_a/b+c=\"}}");
  co::platform::HttpRequest r = co::ccs_request(cfg, body.get());
  assert_true(has_header(r, "X-Api-Key"));
  assert_null(strstr(r.url.c_str(), "k="));
  cfg = config("{\"api\":{\"key\":\"sk_a/b+c=\",\"key_in\":\"query\"}}");
  r = co::ccs_request(cfg, body.get());
  assert_false(has_header(r, "X-Api-Key"));
  assert_string_equal(r.url.c_str(), "https://api.permutive.app/ccs/v1/segmentation?activations=true&k=sk_a%2Fb%2Bc%3D");
  assert_null(strstr(r.body.c_str(), "sk_a"));
  r = co::contextual_request(cfg, "https://example.com/v", nullptr, {});
  assert_string_equal(r.url.c_str(), "https://api.permutive.com/ctx/v1/segment?k=sk_a%2Fb%2Bc%3D");
  assert_false(has_header(r, "X-Api-Key"));
  // No key configured: neither.
  r = co::ccs_request(config("{\"api\":{\"key_in\":\"query\"}}"), body.get());
  assert_null(strstr(r.url.c_str(), "k="));
}

// The guide's Contextual request: url, and page_properties with the content
// sections and a `client` section; nothing user-related, at any depth.
UNIT_TEST(contextual_client_section_and_no_user_data) {
  co::Config cfg = config("{\"client\":{\"type\":\"ctv\",\"app\":\"com.example.tv\",\"platform\":\"tizen\"}}");
  co::Json pp = co::json_parse(
      "{\"video\":{\"video_id\":\"vid_456\",\"title\":\"Highlights\",\"categories\":[\"sports\"],"
      "\"user_id\":\"u\",\"viewer\":{\"email\":\"x\",\"note\":\"tifa-123\"},\"cast\":[\"tifa-123\",\"A\"]},"
      "\"client\":{\"type\":\"web\",\"user_agent\":\"TV/1.0\"},\"aliases\":[1],\"Session_ID\":\"s\"}");
  co::platform::HttpRequest r = co::contextual_request(cfg, "https://example.com/shows/pl/", pp.get(), {"tifa-123"});
  co::Json body = co::json_parse(r.body);
  assert_string_equal(str(body.get(), "url").c_str(), "https://example.com/shows/pl/");
  assert_string_equal(co::json_print(cJSON_GetObjectItem(body.get(), "page_properties")).c_str(),
                      "{\"video\":{\"video_id\":\"vid_456\",\"title\":\"Highlights\",\"categories\":[\"sports\"],"
                      "\"viewer\":{},\"cast\":[\"A\"]},"
                      "\"client\":{\"user_agent\":\"TV/1.0\",\"type\":\"ctv\",\"app\":\"com.example.tv\","
                      "\"platform\":\"tizen\"}}");
  // Without client keys and page properties: an empty object, no client section.
  r = co::contextual_request(config(), "app://v/1", nullptr, {});
  assert_string_equal(r.body.c_str(), "{\"url\":\"app://v/1\",\"page_properties\":{}}");
}

UNIT_TEST(config_checks_the_new_keys) {
  co::Config cfg;
  std::string err;
  assert_false(co::config_parse("{\"api\":{\"key_in\":\"cookie\"}}", cfg, err));
  assert_non_null(strstr(err.c_str(), "api.key_in"));
  assert_false(co::config_parse("{\"api\":{\"key\":\"a b\"}}", cfg, err));
  assert_non_null(strstr(err.c_str(), "api.key"));
  assert_false(co::config_parse("{\"api\":{\"key\":\"a\\nX-Evil: 1\"}}", cfg, err));
  assert_false(co::config_parse("{\"api\":{\"synchronous_validation\":\"yes\"}}", cfg, err));
  assert_non_null(strstr(err.c_str(), "api.synchronous_validation"));
  assert_false(co::config_parse("{\"sync\":{\"send_segment_events\":1}}", cfg, err));
  assert_non_null(strstr(err.c_str(), "sync.send_segment_events"));
  assert_false(co::config_parse("{\"client\":{\"type\":7}}", cfg, err));
  assert_non_null(strstr(err.c_str(), "client.type"));
  assert_false(co::config_parse("{\"client\":{\"user\":\"x\"}}", cfg, err));
  assert_non_null(strstr(err.c_str(), "client.user"));
  assert_true(co::config_parse("{\"client.app\":\"a\",\"api.key_in\":\"query\",\"sync\":{\"send_segment_events\":true}}",
                               cfg, err));
  assert_string_equal(cfg.client_app.c_str(), "a");
  assert_true(cfg.sync_send_segment_events);
}

// config.reload: what changes now, what needs a restart.
UNIT_TEST(reloadable_keys) {
  co::Config a = config(), b = config("{\"api\":{\"key\":\"k2\",\"mode\":\"stateless\"},\"data_dir\":\"/x\"}");
  std::vector<std::string> changed = co::config_changed_keys(a, b);
  assert_int_equal(changed.size(), 3);
  assert_true(co::config_key_reloadable("api.key"));
  assert_false(co::config_key_reloadable("api.mode"));
  assert_false(co::config_key_reloadable("data_dir"));
  co::config_keep_restart_keys(b, a);
  assert_string_equal(b.api_key.c_str(), "k2");
  assert_string_equal(b.api_mode.c_str(), "stateful");
  assert_string_equal(b.data_dir.c_str(), a.data_dir.c_str());
}
