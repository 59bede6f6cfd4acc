#include "config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "test_util.h"
#include "unit_test.h"

using co::Config;
using co::config_parse;

UNIT_TEST(defaults_when_empty) {
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

UNIT_TEST(nested_and_flat_spellings) {
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

UNIT_TEST(errors_name_the_key) {
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

UNIT_TEST(effective_config_redacts_the_key) {
  Config c;
  std::string err;
  assert_true(config_parse("{\"api\":{\"key\":\"sk_secret\"}}", c, err));
  co::Json j(co::config_to_json(c));
  std::string text = co::json_print(j.get());
  assert_null(strstr(text.c_str(), "sk_secret"));
  assert_non_null(strstr(text.c_str(), "\"timeout_ms\":300"));
  assert_non_null(strstr(text.c_str(), "\"mode\":\"0660\""));
}

// A syntax error says where: line and column (of the bad token's start).
UNIT_TEST(syntax_errors_have_a_line_and_column) {
  expect_error("{\n  \"api\": {\n    \"timeout_ms\": tru\n  }\n}", "line 3, column 19");
  expect_error("{\n  \"api\": {\n    \"timeout_ms\": tru\n  }\n}", "near \"tru\"");
  expect_error("{\"a\": 1 \"b\": 2}", "line 1, column 9");
  expect_error("{\"data_dir\":", "ends early, at line 1, column 13");
  expect_error("{\n\"log.level\": \"warn", "ends early, at line 2");
  // Columns count characters: the é before the error is one.
  expect_error("{\"client.app\": \"caf\u00e9\", x}", "line 1, column 24");  // 25 in bytes
  // Strict JSON: what cJSON would let through is refused too.
  expect_error("{\"api.timeout_ms\": 01}", "line 1, column 20");
  expect_error("{\"client.app\": \"a\tb\"}", "not valid JSON");
  expect_error("{\"api.timeout_ms\": 300,}", "not valid JSON");
  expect_error("   ", "ends early");
}

UNIT_TEST(trailing_content_is_an_error) {
  expect_error("{\"api.timeout_ms\": 300}\n{\"api.mode\": \"stateless\"}", "content after its JSON document");
  expect_error("{\"api.timeout_ms\": 300}\n{\"api.mode\": \"stateless\"}", "line 2, column 1");
  expect_error("{} x", "content after its JSON document, at line 1, column 4");
  expect_error("{}}", "content after");
  Config c;
  std::string err;
  assert_true(config_parse(" \n{\"api.timeout_ms\": 250}\n\n ", c, err));  // whitespace around it is fine
  assert_int_equal(c.api_timeout_ms, 250);
}

UNIT_TEST(a_key_given_twice_is_an_error) {
  expect_error("{\"api.timeout_ms\": 5, \"api\": {\"timeout_ms\": 6}}", "\"api.timeout_ms\" is given twice");
  expect_error("{\"api\": {\"timeout_ms\": 6}, \"api.timeout_ms\": 5}", "\"api.timeout_ms\" is given twice");
  expect_error("{\"api\": {\"timeout_ms\": 6, \"timeout_ms\": 7}}", "\"api.timeout_ms\" is given twice");
  expect_error("{\"data_dir\": \"/a\", \"data_dir\": \"/b\"}", "\"data_dir\" is given twice");
  // Two objects for one section: other tools would keep only the last.
  expect_error("{\"api\": {\"mode\": \"stateless\"}, \"api\": {\"timeout_ms\": 6}}", "section \"api\" is given twice");
  // Different keys of one section, flat and nested, are fine.
  Config c;
  std::string err;
  assert_true(config_parse("{\"api.mode\": \"stateless\", \"api\": {\"timeout_ms\": 6}}", c, err));
  assert_string_equal(c.api_mode.c_str(), "stateless");
  assert_int_equal(c.api_timeout_ms, 6);
}

UNIT_TEST(an_unknown_key_suggests_the_nearest) {
  expect_error("{\"api\": {\"timout_ms\": 1}}",
               "unknown configuration key \"api.timout_ms\"; did you mean \"api.timeout_ms\"?");
  expect_error("{\"api.timeout_sm\": 1}", "did you mean \"api.timeout_ms\"?");
  expect_error("{\"API.TIMEOUT_MS\": 1}", "did you mean \"api.timeout_ms\"?");
  expect_error("{\"timeout_ms\": 1}", "did you mean \"api.timeout_ms\"?");  // outside its section
  expect_error("{\"apii\": {\"timeout_ms\": 1}}", "did you mean \"api\"?");
  expect_error("{\"datadir\": \"/x\"}", "did you mean \"data_dir\"?");
  expect_error("{\"log\": {\"levle\": \"info\"}}", "did you mean \"log.level\"?");
  // Nothing near: no guess.
  Config c;
  std::string err;
  assert_false(config_parse("{\"colour\": \"red\"}", c, err));
  assert_string_equal(err.c_str(), "unknown configuration key \"colour\"");
  assert_string_equal(co::config_nearest_key("zzzzzzzzzz").c_str(), "");
  assert_string_equal(co::config_nearest_key("cohorts.definition").c_str(), "cohorts.definitions");
  assert_string_equal(co::config_nearest_key("history.max_event").c_str(), "history.max_events");
  assert_string_equal(co::config_nearest_key("key_file").c_str(), "api.key_file");
  assert_string_equal(co::config_nearest_key("mode").c_str(), "");  // socket.mode or api.mode: no guess
}

UNIT_TEST(allowed_values_are_named) {
  expect_error("{\"api.key_in\": \"body\"}", "\"api.key_in\" must be \"header\" or \"query\"");
  expect_error("{\"log.level\": \"loud\"}", "must be one of \"error\", \"warn\", \"info\", \"debug\"");
  expect_error("{\"clock\": {\"trust\": \"ntp\"}}", "\"clock.trust\" must be \"auto\" or \"system\"");
}

// The reference the manual page and the README are generated from.
UNIT_TEST(the_reference_is_the_table) {
  std::vector<co::ConfigKeyInfo> keys = co::config_reference();
  assert_true(keys.size() > 20);
  Config defaults;
  co::Json effective(co::config_to_json(defaults));
  for (const co::ConfigKeyInfo &k : keys) {
    // Every key of the reference is a key of the effective configuration.
    const cJSON *at = effective.get();
    std::string name = k.name;
    for (size_t start = 0;;) {
      size_t dot = name.find('.', start);
      at = cJSON_GetObjectItemCaseSensitive(at, name.substr(start, dot - start).c_str());
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (!at) fail_msg("%s is not in the effective configuration", k.name.c_str());
    // The library carries no descriptions (only the generator does).
    assert_string_equal(k.help.c_str(), "");
  }
  auto find = [&](const char *name) -> const co::ConfigKeyInfo & {
    for (const co::ConfigKeyInfo &k : keys) {
      if (k.name == name) return k;
    }
    fail_msg("%s is missing", name);
    return keys[0];
  };
  assert_string_equal(find("api.timeout_ms").kind.c_str(), "integer");
  assert_string_equal(find("api.timeout_ms").default_json.c_str(), "300");
  assert_int_equal(find("api.timeout_ms").min, 1);
  assert_int_equal(find("api.timeout_ms").max, 600000);
  assert_true(find("api.timeout_ms").reloadable);
  assert_false(find("data_dir").reloadable);
  assert_string_equal(find("data_dir").default_json.c_str(), "\"/var/lib/cohort\"");
  assert_string_equal(find("api.key_file").default_json.c_str(), "");  // unset
  assert_string_equal(find("api.mode").choices.c_str(), "stateful|stateless");
  assert_string_equal(find("socket.mode").default_json.c_str(), "\"0660\"");
  assert_string_equal(find("consent.required").default_json.c_str(), "true");
}

// ---- --check-config's file checks (cohort_check_config)

static std::string write_file(const std::string &path, const std::string &text, int mode = 0644) {
  FILE *f = fopen(path.c_str(), "w");
  assert_non_null(f);
  fputs(text.c_str(), f);
  fclose(f);
  chmod(path.c_str(), static_cast<mode_t>(mode));
  return path;
}

static bool check_files(const std::string &doc, std::string &err, std::vector<std::string> &notes) {
  Config c;
  if (!config_parse(doc.c_str(), c, err)) fail_msg("%s: %s", doc.c_str(), err.c_str());
  return co::config_check_files(c, err, notes);
}

static void expect_file_error(const std::string &doc, const std::vector<std::string> &needles) {
  std::string err;
  std::vector<std::string> notes;
  if (check_files(doc, err, notes)) fail_msg("%s: accepted", doc.c_str());
  for (const std::string &n : needles) {
    if (!strstr(err.c_str(), n.c_str())) fail_msg("error \"%s\" does not name \"%s\"", err.c_str(), n.c_str());
  }
}

UNIT_TEST(check_config_checks_the_files_it_names) {
  test::TempDir dir;
  std::string defs = write_file(dir.path + "/cohorts.json", "{\"cohorts\": []}");
  std::string ca = write_file(dir.path + "/ca.pem", "-----BEGIN CERTIFICATE-----\n");
  std::string key = write_file(dir.path + "/api-key", "sk_test_123\n", 0400);
  std::string missing = dir.path + "/missing";
  std::string err;
  std::vector<std::string> notes;
  assert_true(check_files(
      "{\"cohorts.definitions\": \"" + defs + "\", \"api.ca_file\": \"" + ca + "\", \"api.key_file\": \"" + key + "\"}",
      err, notes));
  assert_true(notes.empty());
  assert_true(check_files("{}", err, notes));  // nothing named, nothing to check

  expect_file_error("{\"cohorts.definitions\": \"" + missing + "\"}",
                    {"\"cohorts.definitions\"", missing, "No such file or directory"});
  expect_file_error("{\"cohorts\": {\"definitions\": \"" + dir.path + "\"}}",
                    {"\"cohorts.definitions\"", dir.path, "Is a directory"});
  expect_file_error("{\"api.ca_file\": \"" + missing + "\"}", {"\"api.ca_file\"", missing, "No such file"});
  expect_file_error("{\"api.ca_file\": \"" + defs + "/x\"}", {"\"api.ca_file\"", "Not a directory"});
  // A key file that exists must be readable and hold a key.
  expect_file_error("{\"api.key_file\": \"" + dir.path + "\"}", {"\"api.key_file\"", dir.path, "Is a directory"});
  std::string bad = write_file(dir.path + "/bad-key", "two words\n");
  expect_file_error("{\"api.key_file\": \"" + bad + "\"}", {"\"api.key_file\"", bad});
  if (geteuid() != 0) {  // root reads any file
    std::string locked = write_file(dir.path + "/locked-key", "sk_test\n", 0);
    expect_file_error("{\"api.key_file\": \"" + locked + "\"}", {"\"api.key_file\"", locked, "Permission denied"});
  }
  // One that does not exist yet is fine (provisioned after the first boot): a note.
  notes.clear();
  assert_true(check_files("{\"api\": {\"key_file\": \"" + missing + "\"}}", err, notes));
  assert_int_equal(notes.size(), 1);
  assert_non_null(strstr(notes[0].c_str(), "\"api.key_file\""));
  assert_non_null(strstr(notes[0].c_str(), missing.c_str()));
  assert_non_null(strstr(notes[0].c_str(), "does not exist yet"));
}

// cohort_check_config: the same, and nothing created or changed.
UNIT_TEST(cohort_check_config_reads_only) {
  test::TempDir dir;
  std::string missing = dir.path + "/no-key";
  std::string doc = "{\"data_dir\": \"" + dir.path + "/data\", \"api.key_file\": \"" + missing + "\"}";
  assert_int_equal(cohort_check_config(doc.c_str()), COHORT_OK);
  assert_non_null(strstr(cohort_last_error(nullptr), "does not exist yet"));  // the note
  assert_int_equal(access((dir.path + "/data").c_str(), F_OK), -1);
  assert_int_equal(access(missing.c_str(), F_OK), -1);
  assert_int_equal(cohort_check_config("{}"), COHORT_OK);
  assert_string_equal(cohort_last_error(nullptr), "");  // no notes
  std::string defs = "{\"cohorts.definitions\": \"" + dir.path + "/none.json\"}";
  assert_int_equal(cohort_check_config(defs.c_str()), COHORT_ECONFIG);
  assert_non_null(strstr(cohort_last_error(nullptr), "cohorts.definitions"));
  assert_int_equal(cohort_check_config("{\"api\":{\"timout_ms\":1}}"), COHORT_ECONFIG);
  assert_non_null(strstr(cohort_last_error(nullptr), "did you mean \"api.timeout_ms\"?"));
  assert_int_equal(cohort_check_config("{}\n{}"), COHORT_ECONFIG);
  assert_non_null(strstr(cohort_last_error(nullptr), "line 2, column 1"));
  // cohort_open checks the document the same way.
  cohort_agent *a = nullptr;
  assert_int_equal(cohort_open("{\"api.timeout_ms\": 5, \"api\": {\"timeout_ms\": 6}}", &a), COHORT_ECONFIG);
  assert_null(a);
  assert_non_null(strstr(cohort_last_error(nullptr), "given twice"));
}

// The signed definitions' keys: a URL needs the keys that may sign; the keys
// are an array of paths, each a P-256 public key (--check-config reads them).
UNIT_TEST(definitions_url_needs_its_public_keys) {
  Config c;
  std::string err;
  assert_true(config_parse("{}", c, err));
  assert_true(c.cohorts_definitions_url.empty());
  assert_true(c.cohorts_public_keys.empty());
  assert_int_equal(c.cohorts_refresh_s, 3600);
  assert_false(config_parse("{\"cohorts\":{\"definitions_url\":\"https://cdn.example.com/d.json\"}}", c, err));
  assert_non_null(strstr(err.c_str(), "\"cohorts.definitions_url\" needs \"cohorts.public_keys\""));
  assert_false(config_parse("{\"cohorts.definitions_url\":\"ftp://x/d.json\",\"cohorts.public_keys\":[\"/k.pem\"]}",
                            c, err));
  assert_non_null(strstr(err.c_str(), "must be an http:// or https:// URL"));
  for (const char *bad : {"\"/k.pem\"", "[1]", "[\"\"]", "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]"}) {
    Config d;
    assert_false(config_parse((std::string("{\"cohorts.public_keys\":") + bad + "}").c_str(), d, err));
    assert_non_null(strstr(err.c_str(), "\"cohorts.public_keys\" must be an array of at most 8 file paths"));
  }
  assert_false(config_parse("{\"cohorts.refresh_s\":59}", c, err));
  assert_true(config_parse("{\"cohorts\":{\"definitions_url\":\"https://cdn.example.com/d.json\","
                           "\"public_keys\":[\"/etc/cohort/a.pem\",\"/etc/cohort/b.pem\"],\"refresh_s\":600}}",
                           c, err));
  assert_int_equal(static_cast<int>(c.cohorts_public_keys.size()), 2);
  assert_string_equal(c.cohorts_public_keys[1].c_str(), "/etc/cohort/b.pem");
  assert_int_equal(c.cohorts_refresh_s, 600);
  co::Json eff(co::config_to_json(c));
  const cJSON *keys = cJSON_GetObjectItem(cJSON_GetObjectItem(eff.get(), "cohorts"), "public_keys");
  assert_int_equal(cJSON_GetArraySize(keys), 2);

  test::TempDir dir;
  std::string pub = dir.path + "/pub.pem";
  std::string rsa = write_file(dir.path + "/rsa.pem", "not a key\n");
  expect_file_error("{\"cohorts.definitions_url\":\"https://x/d.json\",\"cohorts.public_keys\":[\"" + pub + "\"]}",
                    {"\"cohorts.public_keys\"", pub});
  expect_file_error("{\"cohorts.definitions_url\":\"https://x/d.json\",\"cohorts.public_keys\":[\"" + rsa + "\"]}",
                    {"\"cohorts.public_keys\"", rsa});
}
