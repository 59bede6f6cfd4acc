// DefinitionsFeed: what a fetch of the signed definitions comes to (taken,
// unchanged by bytes or by a 304, refused with the reason while the set in
// force stays), when the next fetch is due (refresh, Cache-Control, a failed
// server sooner), a stored set restored at start, and what status says.
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>


#include "definitions_feed.h"
#include "test_util.h"
#include "unit_test.h"

#ifndef COHORT_TEST_DATA
#error "COHORT_TEST_DATA must be the path of tests/unit/data"
#endif

namespace {

using co::DefinitionsFeed;
using co::DefinitionsVerdict;
using co::platform::HttpResponse;

constexpr int64_t kWall = 1767225600000;  // 2026-01-01

using test::slurp;
std::string doc(const std::string &name) { return slurp(std::string(COHORT_TEST_DATA) + "/definitions/" + name); }

co::Config config() {
  co::Config cfg;
  cfg.cohorts_definitions_url = "https://cdn.example.com/defs/cohorts.json";
  cfg.cohorts_public_keys = {std::string(COHORT_TEST_DATA) + "/signature/pub1.pem"};
  cfg.cohorts_refresh_s = 3600;
  return cfg;
}

DefinitionsFeed configured() {
  DefinitionsFeed feed;
  std::string err;
  assert_true(feed.configure(config(), err));
  return feed;
}

HttpResponse answer(int status, const std::string &body, const char *etag = "") {
  HttpResponse r;
  r.status = status;
  r.body = body;
  r.etag = etag;
  return r;
}

// The document `name` and its signature as the server answers them.
DefinitionsFeed::Result fetched(const DefinitionsFeed &feed, const std::string &name, const char *etag = "\"e\"") {
  return feed.judge(answer(200, doc(name), etag), answer(200, doc(name + ".sig")));
}

co::Json status_of(const DefinitionsFeed &feed) {
  co::Json out(cJSON_CreateObject());
  feed.describe(out.get(), 1);
  return out;
}

std::string field(const co::Json &o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o.get(), name);
  if (cJSON_IsString(v)) return v->valuestring;
  if (cJSON_IsNumber(v)) return std::to_string(static_cast<int64_t>(v->valuedouble));
  return cJSON_IsNull(v) ? "null" : "?";
}

}  // namespace

// Taken once; the same again is "unchanged", whether the server says 304 or
// sends the same bytes; the next fetch follows a shorter max-age.
UNIT_TEST(taken_then_unchanged) {
  DefinitionsFeed feed = configured();
  assert_true(feed.due(0));
  assert_string_equal(feed.begin_fetch().c_str(), "");
  assert_false(feed.due(0));  // one fetch at a time
  DefinitionsFeed::Result r = fetched(feed, "v1.json", "\"e1\"");
  assert_int_equal(static_cast<int>(r.verdict), static_cast<int>(DefinitionsVerdict::accept));
  assert_int_equal(r.check.version, 1);
  assert_string_equal(r.body.c_str(), doc("v1.json").c_str());
  feed.settle(r, true, "", 0, kWall, "public, max-age=600");
  co::Json st = status_of(feed);
  assert_string_equal(field(st, "version").c_str(), "1");
  assert_string_equal(field(st, "source").c_str(), "url");
  assert_string_equal(field(st, "fetched_at").c_str(), "2026-01-01T00:00:00.000Z");
  assert_string_equal(field(st, "error").c_str(), "null");
  assert_false(feed.due(599 * 1000));
  assert_true(feed.due(600 * 1000));
  assert_string_equal(feed.begin_fetch().c_str(), "\"e1\"");  // If-None-Match
  r = feed.judge(answer(304, "", "\"e1\""), answer(200, doc("v1.json.sig")));
  assert_int_equal(static_cast<int>(r.verdict), static_cast<int>(DefinitionsVerdict::unchanged));
  r = fetched(feed, "v1.json");
  assert_int_equal(static_cast<int>(r.verdict), static_cast<int>(DefinitionsVerdict::unchanged));
  feed.settle(r, false, "", 600 * 1000, kWall, "");
  assert_false(feed.due(600 * 1000 + 3599 * 1000));
  assert_true(feed.due(600 * 1000 + 3600 * 1000));
}

// An older version, the same version with other bytes, a bad document: each
// refused with its reason, and the set in force stays.
UNIT_TEST(refusals_keep_the_set_in_force) {
  DefinitionsFeed feed = configured();
  feed.begin_fetch();
  feed.settle(fetched(feed, "v2.json"), true, "", 0, kWall, "");
  const std::pair<const char *, const char *> refused[] = {
      {"v1.json", "version 1 is older than version 2 in force"},
      {"v2-other.json", "version 2 already in force with other content"},
  };
  for (const auto &c : refused) {
    DefinitionsFeed::Result r = fetched(feed, c.first);
    assert_int_equal(static_cast<int>(r.verdict), static_cast<int>(DefinitionsVerdict::refuse));
    assert_string_equal(r.reason.c_str(), c.second);
    assert_false(r.failed);
    feed.settle(r, false, "", 0, kWall, "");
    co::Json st = status_of(feed);
    assert_string_equal(field(st, "version").c_str(), "2");
    assert_string_equal(field(st, "error").c_str(), c.second);
  }
  // A signature from a key not configured.
  DefinitionsFeed::Result r = feed.judge(answer(200, doc("v3-bad-rule.json")), answer(200, doc("v2.json.sig")));
  assert_int_equal(static_cast<int>(r.verdict), static_cast<int>(DefinitionsVerdict::refuse));
  assert_non_null(strstr(r.reason.c_str(), "does not verify"));
  // Taken again once a good one comes: the error clears.
  feed.settle(fetched(feed, "v2.json"), false, "", 0, kWall, "");
  assert_string_equal(field(status_of(feed), "error").c_str(), "null");
}

// A server that fails, or answers too much, is named; a failure is asked
// again within 15 minutes, not an hour.
UNIT_TEST(failing_servers_are_named_and_asked_again_sooner) {
  DefinitionsFeed feed = configured();
  HttpResponse down = answer(503, "");
  DefinitionsFeed::Result r = feed.judge(down, answer(200, "x"));
  assert_true(r.failed);
  assert_string_equal(r.reason.c_str(), "document: HTTP 503");
  HttpResponse slow;
  slow.timed_out = true;
  r = feed.judge(answer(200, doc("v1.json")), slow);
  assert_string_equal(r.reason.c_str(), "signature (.sig): no answer in time");
  feed.begin_fetch();
  feed.settle(r, false, "", 0, kWall, "");
  assert_true(feed.due(15 * 60 * 1000));
  HttpResponse huge;
  huge.too_large = true;
  huge.error = "answer over 4194305 bytes";
  r = feed.judge(huge, answer(200, "x"));
  assert_false(r.failed);
  assert_string_equal(r.reason.c_str(), "document over 4194304 bytes (4 MiB)");
}

// At start: the stored set is verified again with the keys configured now.
UNIT_TEST(a_stored_set_is_verified_again) {
  DefinitionsFeed feed = configured();
  co::DefinitionsCheck c = feed.restore(doc("v2.json"), doc("v1.json.sig"), "\"e2\"", kWall);
  assert_int_equal(static_cast<int>(c.verdict), static_cast<int>(DefinitionsVerdict::refuse));
  assert_string_equal(field(status_of(feed), "version").c_str(), "null");
  c = feed.restore(doc("v2.json"), doc("v2.json.sig"), "\"e2\"", kWall);
  assert_int_equal(static_cast<int>(c.verdict), static_cast<int>(DefinitionsVerdict::accept));
  assert_string_equal(field(status_of(feed), "version").c_str(), "2");
  assert_string_equal(feed.begin_fetch().c_str(), "\"e2\"");
  // Another source put its set in force: status says so.
  feed.superseded("put");
  assert_string_equal(field(status_of(feed), "source").c_str(), "put");
}

// Keys that cannot be used leave the feed as it was; another URL starts over.
UNIT_TEST(configuration_errors_change_nothing) {
  DefinitionsFeed feed = configured();
  feed.begin_fetch();
  feed.settle(fetched(feed, "v2.json"), true, "", 0, kWall, "");
  co::Config bad = config();
  bad.cohorts_public_keys = {std::string(COHORT_TEST_DATA) + "/signature/rsa-pub.pem"};
  std::string err;
  assert_false(feed.configure(bad, err));
  assert_non_null(strstr(err.c_str(), "cohorts.public_keys: "));
  assert_string_equal(field(status_of(feed), "version").c_str(), "2");
  co::Config other = config();
  other.cohorts_definitions_url = "https://cdn.example.com/other.json";
  assert_true(feed.configure(other, err));
  assert_string_equal(field(status_of(feed), "url").c_str(), "https://cdn.example.com/other.json");
  assert_true(feed.due(0));
  DefinitionsFeed::Result r = fetched(feed, "v1.json");  // version 1 is new on another URL
  assert_int_equal(static_cast<int>(r.verdict), static_cast<int>(DefinitionsVerdict::accept));
}
