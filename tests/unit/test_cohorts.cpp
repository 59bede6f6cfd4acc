#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "full_disk.h"
#include "test_util.h"
#include "unit_test.h"

using test::call_ok;
using test::str;

namespace {

const char *kDefs =
    "{\"cohorts\":["
    "{\"id\":\"1001\",\"name\":\"Football fans\",\"activations\":[\"dfp\",\"freewheel\"],\"rule\":{\"logic\":\"AND\","
    "\"conditions\":[{\"type\":\"event\",\"event_type\":\"Videoview\",\"where\":[{\"property\":\"categories\","
    "\"operator\":\"contains\",\"value\":\"football\"}],\"operator\":\"gte\",\"value\":2,\"window_days\":30}]}},"
    "{\"id\":\"2002\",\"name\":\"Lapsed\",\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"recency\","
    "\"event_type\":\"Videoview\",\"operator\":\"gt\",\"window_days\":2}]}}]}";

struct Fixture : test::AgentFixture {
  std::vector<std::string> notes;
  Fixture() : AgentFixture(11) {
    transport.set_handler(nullptr);  // the API answers 200 {}
  }
  void open(const std::string &extra_config = "\"consent\":{\"required\":false}") {
    open_with(extra_config);
    cohort_subscribe(agent, [](void *u, const char *json) { static_cast<Fixture *>(u)->notes.push_back(json); }, this);
  }
  void reopen() {
    cohort_close(agent);
    open(extra);
  }
  void watch(const char *cats) {
    std::string p = std::string("{\"name\":\"Videoview\",\"properties\":{\"categories\":") + cats + "}}";
    call_ok(agent, "track", p.c_str());
  }
  std::vector<std::string> local() {
    co::Json c = call_ok(agent, "cohorts.get");
    std::vector<std::string> out;
    for (const cJSON *id = cJSON_GetObjectItem(c.get(), "local")->child; id; id = id->next) out.push_back(id->valuestring);
    return out;
  }
  int count(const char *name) {
    std::string p = std::string("{\"limit\":1000,\"name\":\"") + name + "\"}";
    co::Json h = call_ok(agent, "history.get", p.c_str());
    return cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events"));
  }
};

// Commits in a WAL file as it stands: the frames of the current generation
// (the header's salts) whose "database size after commit" is set.
int wal_commits(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::string w((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<uint8_t>(w[at + i]);
    return v;
  };
  if (w.size() < 32) return 0;
  int n = 0;
  uint32_t page = be32(8);
  for (size_t at = 32; at + 24 + page <= w.size(); at += 24 + page) {
    if (be32(at + 8) != be32(16) || be32(at + 12) != be32(20)) break;
    if (be32(at + 4) != 0) ++n;
  }
  return n;
}

bool has(const std::vector<std::string> &v, const char *id) {
  for (const auto &x : v) {
    if (x == id) return true;
  }
  return false;
}

}  // namespace

UNIT_TEST(lookback_makes_a_new_cohort_right_at_once) {
  Fixture f;
  f.open();
  f.watch("[\"football\"]");
  f.watch("[\"sports\",\"football\"]");
  f.watch("[\"news\"]");
  co::Json r = call_ok(f.agent, "definitions.put", kDefs);
  assert_int_equal(test::num(r.get(), "count"), 2);
  assert_int_equal(str(cJSON_GetObjectItem(r.get(), "checksums"), "1001").size(), 64);
  assert_true(has(f.local(), "1001"));
  assert_false(has(f.local(), "2002"));
  assert_int_equal(f.count("SegmentEntry"), 1);
  assert_false(f.notes.empty());
  assert_non_null(strstr(f.notes.back().c_str(), "\"1001\""));
}

UNIT_TEST(track_returns_membership_after_the_event) {
  Fixture f;
  f.open();
  call_ok(f.agent, "definitions.put", kDefs);
  co::Json a = call_ok(f.agent, "track", "{\"name\":\"Videoview\",\"properties\":{\"categories\":[\"football\"]}}");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(a.get(), "cohorts")), 0);
  co::Json b = call_ok(f.agent, "track", "{\"name\":\"Videoview\",\"properties\":{\"categories\":[\"football\"]}}");
  assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(b.get(), "cohorts"), 0)->valuestring, "1001");
  // Local activations for the ad break.
  co::Json act = call_ok(f.agent, "activations.get", "{\"timeout_ms\":0}");
  const cJSON *dfp = cJSON_GetObjectItem(cJSON_GetObjectItem(act.get(), "activations"), "dfp");
  assert_string_equal(cJSON_GetArrayItem(dfp, 0)->valuestring, "1001");
}

UNIT_TEST(recency_changes_with_time_alone) {
  Fixture f;
  f.open();
  call_ok(f.agent, "definitions.put", kDefs);
  assert_true(has(f.local(), "2002"));  // never watched: lapsed
  f.watch("[\"news\"]");
  assert_false(has(f.local(), "2002"));
  f.clock.advance_ms(3LL * 86400000);
  assert_true(has(f.local(), "2002"));
  assert_int_equal(f.count("SegmentEntry"), 2);
  assert_int_equal(f.count("SegmentExit"), 1);
}

UNIT_TEST(state_survives_restart_and_unchanged_rules_keep_it) {
  Fixture f;
  f.open();
  call_ok(f.agent, "definitions.put", kDefs);
  f.watch("[\"football\"]");
  f.reopen();
  co::Json st = call_ok(f.agent, "status");
  assert_int_equal(test::num(st.get(), "definitions"), 2);
  f.watch("[\"football\"]");
  assert_true(has(f.local(), "1001"));
  // Putting the same rules again (other key order) keeps the checksums.
  co::Json g = call_ok(f.agent, "definitions.get");
  const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(g.get(), "cohorts"), 0);
  std::string sum = str(c0, "checksum");
  int entries = f.count("SegmentEntry");
  co::Json r = call_ok(f.agent, "definitions.put", kDefs);
  assert_string_equal(str(cJSON_GetObjectItem(r.get(), "checksums"), "1001").c_str(), sum.c_str());
  assert_int_equal(f.count("SegmentEntry"), entries);  // no re-entry
}

UNIT_TEST(rejected_definitions_keep_the_previous_ones) {
  Fixture f;
  f.open();
  call_ok(f.agent, "definitions.put", kDefs);
  char *out = nullptr;
  const char *bad = "{\"cohorts\":[{\"id\":\"9\",\"rule\":{\"logic\":\"XOR\",\"conditions\":[]}}]}";
  assert_int_equal(cohort_call(f.agent, "definitions.put", bad, &out), COHORT_ERULES);
  assert_non_null(strstr(cohort_last_error(f.agent), "\"9\""));
  assert_non_null(strstr(cohort_last_error(f.agent), "logic"));
  assert_int_equal(cohort_call(f.agent, "definitions.put", "{}", &out), COHORT_EINVAL);
  co::Json g = call_ok(f.agent, "definitions.get");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g.get(), "cohorts")), 2);
}

UNIT_TEST(explain_and_preview) {
  Fixture f;
  f.open();
  call_ok(f.agent, "definitions.put", kDefs);
  f.watch("[\"football\"]");
  co::Json e = call_ok(f.agent, "explain", "{\"cohort_id\":\"1001\"}");
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(e.get(), "match")));
  const cJSON *cond = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(e.get(), "explain"), "conditions"), 0);
  assert_int_equal(test::num(cond, "measured"), 1);
  char *out = nullptr;
  assert_int_equal(cohort_call(f.agent, "explain", "{\"cohort_id\":\"nope\"}", &out), COHORT_ENOTFOUND);
  co::Json p = call_ok(f.agent, "definitions.preview",
                       "{\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"event\",\"event_type\":\"Videoview\"}]}}");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p.get(), "match")));
  assert_int_equal(cohort_call(f.agent, "definitions.preview", "{\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"nope\"}]}}", &out),
                   COHORT_ERULES);
}

UNIT_TEST(reset_and_consent_withdrawal_clear_cohort_state) {
  Fixture f;
  f.open("");
  call_ok(f.agent, "consent.set", "{\"granted\":true}");
  call_ok(f.agent, "definitions.put", kDefs);
  f.watch("[\"football\"]");
  f.watch("[\"football\"]");
  assert_true(has(f.local(), "1001"));
  call_ok(f.agent, "identity.reset");
  assert_false(has(f.local(), "1001"));
  f.watch("[\"football\"]");
  f.watch("[\"football\"]");
  assert_true(has(f.local(), "1001"));
  call_ok(f.agent, "consent.set", "{\"granted\":false}");
  assert_false(has(f.local(), "1001"));
  f.watch("[\"football\"]");
  f.watch("[\"football\"]");
  assert_false(has(f.local(), "1001"));  // nothing kept without consent
}

UNIT_TEST(definitions_file_and_reload) {
  Fixture f;
  std::string path = f.dir.path + "/defs.json";
  {
    std::ofstream out(path);
    out << kDefs;
  }
  f.open("\"consent\":{\"required\":false},\"cohorts\":{\"definitions\":\"" + path + "\"}");
  assert_int_equal(test::num(call_ok(f.agent, "status").get(), "definitions"), 2);
  {
    std::ofstream out(path);
    out << "{\"cohorts\":[]}";
  }
  co::Json r = call_ok(f.agent, "definitions.reload");
  assert_int_equal(test::num(r.get(), "count"), 0);
  {
    std::ofstream out(path);
    out << "{\"cohorts\":[{\"id\":1}]}";
  }
  char *res = nullptr;
  assert_int_equal(cohort_call(f.agent, "definitions.reload", nullptr, &res), COHORT_ERULES);
  assert_int_equal(test::num(call_ok(f.agent, "status").get(), "definitions"), 0);
}

UNIT_TEST(track_answers_the_membership_its_changes_recorded) {
  Fixture f;
  f.open();
  call_ok(f.agent, "definitions.put", kDefs);
  std::vector<std::string> before;
  for (const char *cats : {"[\"news\"]", "[\"football\"]", "[\"football\"]", "[\"news\"]"}) {
    std::string p = std::string("{\"name\":\"Videoview\",\"properties\":{\"categories\":") + cats + "}}";
    co::Json r = call_ok(f.agent, "track", p.c_str());
    std::vector<std::string> answered;
    for (const cJSON *id = cJSON_GetObjectItem(r.get(), "cohorts")->child; id; id = id->next)
      answered.push_back(id->valuestring);
    assert_true(answered == f.local());  // what a full reading says
    before = answered;
  }
  assert_true(before == std::vector<std::string>{"1001"});
  // The notification lists the membership after its changes.
  assert_non_null(strstr(f.notes.back().c_str(), "\"cohorts\":[\"1001\"]"));
}

UNIT_TEST(a_track_leaves_the_segment_events_of_its_change_to_after_the_call) {
  // Three cohorts entered by the same event: three SegmentEntry events.
  const char *defs =
      "{\"cohorts\":[{\"id\":\"a\",\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"event\",\"event_type\":"
      "\"Videoview\"}]}},{\"id\":\"b\",\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"event\",\"event_type\":"
      "\"Videoview\",\"window_days\":7}]}},{\"id\":\"c\",\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":"
      "\"cohort\","
      "\"cohort_id\":\"a\"}]}}]}";
  test::AgentFixture f;
  f.open_with("\"consent\":{\"required\":false}", true);  // the worker's first sync held back: its commits too
  call_ok(f.agent, "definitions.put", defs);
  std::string wal = f.dir.path + "/data/cohort.db-wal";
  int commits = wal_commits(wal);
  co::Json r = call_ok(f.agent, "track", "{\"name\":\"Videoview\"}");
  // The answer has the membership the event made...
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.get(), "cohorts")), 3);
  // ...and the call committed the event alone.
  assert_int_equal(wal_commits(wal) - commits, 1);
  // Any other call records them first (here a read of them): one commit.
  co::Json h = call_ok(f.agent, "history.get", "{\"limit\":10,\"name\":\"SegmentEntry\"}");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")), 3);
  assert_int_equal(wal_commits(wal) - commits, 2);
}

// With no call after the track, the worker records its changes once
// kRecordDelayMs have passed, and the subscriber hears of them.
UNIT_TEST(the_worker_records_a_tracks_changes_shortly_after) {
  const char *defs =
      "{\"cohorts\":[{\"id\":\"a\",\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"event\",\"event_type\":"
      "\"Videoview\"}]}}]}";
  test::AgentFixture f;
  f.open_with("\"consent\":{\"required\":false}", true);
  std::atomic<int> notes{0};
  cohort_subscribe(
      f.agent, [](void *u, const char *) { static_cast<std::atomic<int> *>(u)->fetch_add(1); }, &notes);
  call_ok(f.agent, "definitions.put", defs);
  std::string wal = f.dir.path + "/data/cohort.db-wal";
  int commits = wal_commits(wal);
  call_ok(f.agent, "track", "{\"name\":\"Videoview\"}");
  assert_int_equal(wal_commits(wal) - commits, 1);
  f.clock.advance_ms(co::Agent::kRecordDelayMs);
  for (int i = 0; i < 500 && (wal_commits(wal) - commits < 2 || notes.load() < 1); ++i) usleep(10000);
  assert_int_equal(wal_commits(wal) - commits, 2);
  assert_int_equal(notes.load(), 1);
  co::Json h = call_ok(f.agent, "history.get", "{\"limit\":10,\"name\":\"SegmentEntry\"}");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")), 1);
  assert_int_equal(wal_commits(wal) - commits, 2);  // nothing left for the read to record
  cohort_subscribe(f.agent, nullptr, nullptr);
}

// The engine observes an event (and polls) before its transaction commits.
// When the disk refuses that commit, the engine is rebuilt from what the disk
// holds before the event is stored again in memory: counted once, not twice,
// and its SegmentEntry recorded once.
UNIT_TEST(a_refused_commit_leaves_the_engine_as_the_disk_has_it) {
  const char *defs =
      "{\"cohorts\":[{\"id\":\"two\",\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"event\","
      "\"event_type\":\"Videoview\",\"operator\":\"gte\",\"value\":2}]}},{\"id\":\"three\",\"rule\":{\"logic\":"
      "\"AND\",\"conditions\":[{\"type\":\"event\",\"event_type\":\"Videoview\",\"operator\":\"gte\",\"value\":3}]}}]}";
  Fixture f;
  FullDisk disk(f.dir.path + "/data/");
  f.open();
  call_ok(f.agent, "definitions.put", defs);
  f.watch("[]");
  FullDisk::full = true;
  co::Json r = call_ok(f.agent, "track", "{\"name\":\"Videoview\"}");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.get(), "stored")));
  assert_string_equal(str(call_ok(f.agent, "status").get(), "storage").c_str(), "degraded");
  assert_true(f.local() == std::vector<std::string>{"two"});
  assert_int_equal(f.count("Videoview"), 2);
  assert_int_equal(f.count("SegmentEntry"), 1);
  assert_int_equal(f.notes.size(), 1);
  assert_non_null(strstr(f.notes.back().c_str(), "\"entered\":[\"two\"]"));
}
