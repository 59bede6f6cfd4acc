#include <sqlite3.h>
#include <unistd.h>

#include "agent.h"
#include "test_util.h"
#include "unit_test.h"

using test::call_ok;
using test::str;

struct Fixture : test::AgentFixture {
  Fixture() : AgentFixture(3) {}
  void open(const std::string &extra_config = "\"consent\":{\"required\":false}") { open_with(extra_config); }
  int history() {
    co::Json h = call_ok(agent, "history.get", "{\"limit\":1000}");
    return cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events"));
  }
  double queue() { return test::num(call_ok(agent, "status").get(), "queue_depth"); }
};

UNIT_TEST(iso8601_parse_and_format) {
  int64_t ms = 0;
  assert_true(co::parse_iso8601("2024-01-15T14:00:00Z", ms));
  assert_int_equal(ms, 1705327200000LL);
  assert_true(co::parse_iso8601("2024-01-15T15:00:00.250+01:00", ms));
  assert_int_equal(ms, 1705327200250LL);
  assert_string_equal(co::format_iso8601(1705327200250LL).c_str(), "2024-01-15T14:00:00.250Z");
  // Past 2038, and a leap day.
  assert_true(co::parse_iso8601("2040-02-29T23:59:59.999Z", ms));
  assert_string_equal(co::format_iso8601(ms).c_str(), "2040-02-29T23:59:59.999Z");
  assert_true(ms > 2147483647LL * 1000);
  const char *bad[] = {"2024-01-15", "2024-01-15T14:00:00", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
                       "2024-01-15T24:00:00Z", "2024-01-15T14:00:00Zjunk", "yesterday", "2024-01-15T14:00:00.Z",
                       "2024-01-15T14:00:00+1:00", ""};
  for (const char *b : bad) {
    if (co::parse_iso8601(b, ms)) fail_msg("accepted %s", b);
  }
}

// Closes the agent and reads its database file: the first column of `sql`'s
// first row, as text.
static std::string closed_db_text(Fixture &f, const char *sql) {
  cohort_close(f.agent);
  f.agent = nullptr;
  sqlite3 *db = nullptr;
  assert_int_equal(sqlite3_open((f.dir.path + "/data/cohort.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt *q = nullptr;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, nullptr), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  std::string text = reinterpret_cast<const char *>(sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
  sqlite3_close(db);
  return text;
}

static void expect_invalid(Fixture &f, const char *params, const char *field) {
  char *out = nullptr;
  cohort_status st = cohort_call(f.agent, "track", params, &out);
  assert_int_not_equal(st, COHORT_OK);
  assert_null(out);
  if (!strstr(cohort_last_error(f.agent), field)) {
    fail_msg("for %s: \"%s\" does not name %s", params, cohort_last_error(f.agent), field);
  }
}

UNIT_TEST(invalid_events_rejected_and_change_nothing) {
  Fixture f;
  f.open();
  call_ok(f.agent, "track", "{\"name\":\"Videoview\"}");
  std::string big = "{\"name\":\"A\",\"properties\":{\"x\":\"" + std::string(17000, 'a') + "\"}}";
  expect_invalid(f, "{}", "name");
  expect_invalid(f, "{\"name\":5}", "name");
  expect_invalid(f, "{\"name\":\"\"}", "name");
  expect_invalid(f, "{\"name\":\"has space\"}", "name");
  expect_invalid(f, ("{\"name\":\"" + std::string(65, 'a') + "\"}").c_str(), "name");
  expect_invalid(f, "{\"name\":\"A\",\"properties\":[1]}", "properties");
  expect_invalid(f, "{\"name\":\"A\",\"properties\":\"x\"}", "properties");
  expect_invalid(f, big.c_str(), "properties");
  expect_invalid(f, "{\"name\":\"A\",\"time\":\"yesterday\"}", "time");
  expect_invalid(f, "{\"name\":\"A\",\"time\":5}", "time");
  expect_invalid(f, "{\"name\":\"A\",\"view_id\":\"nope\"}", "view_id");
  expect_invalid(f, "{\"name\":\"A\",\"colour\":\"red\"}", "colour");
  expect_invalid(f, "{\"name\":", "JSON");
  assert_int_equal(f.history(), 1);
  assert_int_equal(f.queue(), 1);
}

UNIT_TEST(accepted_event_is_normalized) {
  Fixture f;
  f.open();
  std::string view = str(call_ok(f.agent, "view.start", "{\"type\":\"video\"}").get(), "view_id");
  std::string p = "{\"name\":\"Videoview\",\"time\":\"2024-01-15T15:00:00+01:00\",\"view_id\":\"" + view +
                  "\",\"properties\":{\"title\":\"T\",\"gone\":null,\"empty\":\"\","
                  "\"nested\":{\"a\":null,\"s\":\"\",\"b\":[1,null,2,\"\"]}}}";
  co::Json r = call_ok(f.agent, "track", p.c_str());
  assert_true(co::platform::is_uuid(str(r.get(), "event_id")));
  assert_true(co::platform::is_uuid(str(r.get(), "session_id")));
  assert_true(cJSON_IsArray(cJSON_GetObjectItem(r.get(), "cohorts")));
  co::Json h = call_ok(f.agent, "history.get");
  const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(h.get(), "events"), 0);
  assert_string_equal(str(e, "time").c_str(), "2024-01-15T14:00:00.000Z");
  assert_string_equal(str(e, "view_id").c_str(), view.c_str());
  // Nulls and empty strings are omitted ("rather than sending it as null or an empty value").
  assert_string_equal(co::json_print(cJSON_GetObjectItem(e, "properties")).c_str(),
                      "{\"title\":\"T\",\"nested\":{\"b\":[1,2]}}");
}

// The guide: an event inside an engagement carries the view's id. It must
// be one of the open views; anything else is an error that stores nothing.
UNIT_TEST(track_view_id_must_name_an_open_view) {
  Fixture f;
  f.open();
  std::string view = str(call_ok(f.agent, "view.start", "{\"type\":\"video\"}").get(), "view_id");
  int64_t before = f.history();
  char *out = nullptr;
  std::string p = "{\"name\":\"AdBreak\",\"view_id\":\"a2b3c4d5-e6f7-8901-2345-6789abcdef01\"}";
  assert_int_equal(cohort_call(f.agent, "track", p.c_str(), &out), COHORT_ENOTFOUND);
  assert_non_null(strstr(cohort_last_error(f.agent), "view_id"));
  assert_int_equal(f.history(), before);
  call_ok(f.agent, "view.end", ("{\"view_id\":\"" + view + "\"}").c_str());
  p = "{\"name\":\"AdBreak\",\"view_id\":\"" + view + "\"}";
  assert_int_equal(cohort_call(f.agent, "track", p.c_str(), &out), COHORT_ENOTFOUND);  // ended: no longer open
  assert_int_equal(f.history(), before + 1);                                           // the completion only
}

UNIT_TEST(no_consent_keeps_nothing) {
  Fixture f;
  f.open("");  // consent required (the default), not granted
  co::Json r = call_ok(f.agent, "track", "{\"name\":\"Videoview\"}");
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r.get(), "stored")));
  assert_int_equal(f.history(), 0);
  assert_int_equal(f.queue(), 0);
  call_ok(f.agent, "consent.set", "{\"granted\":true}");
  call_ok(f.agent, "track", "{\"name\":\"Videoview\"}");
  assert_int_equal(f.history(), 1);
  assert_int_equal(f.queue(), 1);
  // Withdrawal purges history and queue in one go.
  co::Json c = call_ok(f.agent, "consent.set", "{\"granted\":false}");
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(c.get(), "consent")));
  assert_int_equal(f.history(), 0);
  assert_int_equal(f.queue(), 0);
  char *out = nullptr;
  assert_int_equal(cohort_call(f.agent, "consent.set", "{\"granted\":\"yes\"}", &out), COHORT_EINVAL);
  assert_non_null(strstr(cohort_last_error(f.agent), "granted"));
}

UNIT_TEST(consent_persists) {
  Fixture f;
  f.open("");
  call_ok(f.agent, "consent.set", "{\"granted\":true}");
  cohort_close(f.agent);
  f.open("");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(call_ok(f.agent, "status").get(), "consent")));
}

UNIT_TEST(bounds_evict_oldest_and_count) {
  Fixture f;
  f.open("\"consent\":{\"required\":false},\"queue\":{\"max_events\":5},\"history\":{\"max_events\":8}");
  for (int i = 0; i < 12; ++i) {
    std::string p = "{\"name\":\"E\",\"properties\":{\"i\":" + std::to_string(i) + "}}";
    call_ok(f.agent, "track", p.c_str());
  }
  co::Json st = call_ok(f.agent, "status");
  assert_int_equal(test::num(st.get(), "queue_depth"), 5);
  assert_int_equal(test::num(st.get(), "queue_dropped"), 7);
  const cJSON *hist = cJSON_GetObjectItem(st.get(), "history");
  assert_int_equal(test::num(hist, "events"), 8);
  assert_int_equal(test::num(hist, "evicted"), 4);
  co::Json h = call_ok(f.agent, "history.get", "{\"limit\":100}");
  const cJSON *events = cJSON_GetObjectItem(h.get(), "events");
  assert_int_equal(cJSON_GetArraySize(events), 8);
  // Newest first; the oldest kept is i=4.
  assert_int_equal(test::num(cJSON_GetObjectItem(cJSON_GetArrayItem(events, 7), "properties"), "i"), 4);
}

UNIT_TEST(retention_drops_old_events) {
  Fixture f;
  f.open("\"consent\":{\"required\":false},\"queue\":{\"max_events\":1},\"history\":{\"retention_days\":1}");
  call_ok(f.agent, "track", "{\"name\":\"Old\",\"time\":\"2020-01-01T00:00:00Z\"}");
  call_ok(f.agent, "track", "{\"name\":\"New\"}");
  f.clock.advance_ms(11 * 60 * 1000);
  call_ok(f.agent, "track", "{\"name\":\"New\"}");
  co::Json h = call_ok(f.agent, "history.get", "{\"name\":\"Old\"}");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")), 0);
}

// Retention by age goes a chunk of seqs per call, so that no call reads the
// whole history, and sweeps the dictionaries once its pass is over.
UNIT_TEST(retention_goes_a_chunk_per_call) {
  Fixture f;
  f.open("\"consent\":{\"required\":false},\"queue\":{\"max_events\":1},\"history\":{\"retention_days\":1}");
  const int64_t chunk = co::Agent::kRetentionChunk;
  for (int64_t i = 0; i < 2 * chunk + chunk / 2; ++i) {
    std::string old =
        "{\"name\":\"Old\",\"time\":\"2020-01-01T00:00:00Z\",\"properties\":{\"title\":"
        "\"Highlights: Premier League Week 20, Arsenal v Chelsea\",\"n\":" +
        std::to_string(i) + "}}";
    call_ok(f.agent, "track", old.c_str());
  }
  auto history = [&] {
    return static_cast<int64_t>(test::num(cJSON_GetObjectItem(call_ok(f.agent, "status").get(), "history"), "events"));
  };
  assert_int_equal(history(), 2 * chunk + chunk / 2);
  f.clock.advance_ms(co::Agent::kRetentionEveryMs + 60000);
  for (int64_t news = 1; news <= 2; ++news) {  // a chunk of old events goes with each new one
    call_ok(f.agent, "track", "{\"name\":\"New\"}");
    assert_int_equal(history(), 2 * chunk + chunk / 2 - news * chunk + news);
  }
  call_ok(f.agent, "track", "{\"name\":\"New\"}");
  assert_int_equal(history(), 3);
  co::Json h = call_ok(f.agent, "history.get", "{\"name\":\"Old\"}");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")), 0);
  // The pass is over: their dictionaries went with them.
  assert_string_equal(closed_db_text(f, "SELECT count(*) FROM props_dicts WHERE name='Old'").c_str(), "0");
}

// Sequence numbers only rise: after a purge, and across a restart with the
// history emptied, the next event is numbered past every earlier one (the send
// cursor and the cohort state count on it).
UNIT_TEST(sequence_numbers_never_go_back) {
  Fixture f;
  f.open();
  for (int i = 0; i < 3; ++i) call_ok(f.agent, "track", "{\"name\":\"E\"}");
  call_ok(f.agent, "consent.set", "{\"granted\":false}");
  call_ok(f.agent, "consent.set", "{\"granted\":true}");
  f.reopen();
  assert_int_equal(f.queue(), 0);
  call_ok(f.agent, "track", "{\"name\":\"F\"}");
  assert_int_equal(f.queue(), 1);
  f.reopen();
  assert_int_equal(f.queue(), 1);
  call_ok(f.agent, "track", "{\"name\":\"G\"}");
  assert_int_equal(f.queue(), 2);
  assert_string_equal(closed_db_text(f, "SELECT group_concat(seq) FROM (SELECT seq FROM events ORDER BY seq)").c_str(),
                      "4,5");
}

// A data_dir that cannot be used: the agent works from memory, then writes
// everything back once it can (retried every 30 s) and nothing is lost.
UNIT_TEST(storage_recovers_and_writes_back) {
  Fixture f;
  std::string data = f.dir.path + "/data";
  FILE *blocker = fopen(data.c_str(), "w");  // a file where the directory belongs
  fclose(blocker);
  f.open();
  for (int i = 0; i < 3; ++i) call_ok(f.agent, "track", "{\"name\":\"E\"}");
  assert_string_equal(str(call_ok(f.agent, "status").get(), "storage").c_str(), "degraded");
  std::string user = str(call_ok(f.agent, "identity.get").get(), "user_id");
  remove(data.c_str());
  f.clock.advance_ms(31000);
  call_ok(f.agent, "track", "{\"name\":\"E\"}");  // wakes the worker, which retries the disk
  bool recovered = false;
  for (int i = 0; i < 500 && !recovered; ++i) {
    recovered = str(call_ok(f.agent, "status").get(), "storage") == "ok";
    if (!recovered) usleep(10000);
  }
  assert_true(recovered);
  call_ok(f.agent, "track", "{\"name\":\"E\"}");
  f.reopen();
  assert_int_equal(f.history(), 5);
  assert_string_equal(str(call_ok(f.agent, "identity.get").get(), "user_id").c_str(), user.c_str());
  assert_string_equal(str(call_ok(f.agent, "status").get(), "storage").c_str(), "ok");
}

// A database that cannot be opened at start (here another connection holds
// it) is read into memory as it stands. The bound on what the agent holds in
// memory is for events accepted from then on: none of those already stored is
// evicted from the history or given up from the queue (the send cursor must
// not pass events that were never sent).
UNIT_TEST(start_in_memory_keeps_the_stored_queue) {
  Fixture f;
  f.open();
  const int stored = 2100;  // more than the 2,000 the agent accepts while degraded
  for (int i = 0; i < stored; ++i) call_ok(f.agent, "track", "{\"name\":\"E\"}");
  cohort_close(f.agent);
  f.agent = nullptr;
  sqlite3 *holder = nullptr;
  assert_int_equal(sqlite3_open((f.dir.path + "/data/cohort.db").c_str(), &holder), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(holder, "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;", nullptr, nullptr, nullptr),
      SQLITE_OK);
  f.open();
  co::Json st = call_ok(f.agent, "status");
  assert_string_equal(str(st.get(), "storage").c_str(), "degraded");
  const cJSON *hist = cJSON_GetObjectItem(st.get(), "history");
  assert_int_equal(test::num(st.get(), "queue_depth"), stored);
  assert_int_equal(test::num(st.get(), "queue_dropped"), 0);
  assert_int_equal(test::num(hist, "events"), stored);
  assert_int_equal(test::num(hist, "evicted"), 0);
  call_ok(f.agent, "track", "{\"name\":\"E\"}");  // and what comes now is taken too
  assert_int_equal(f.queue(), stored + 1);
  sqlite3_close(holder);
  f.reopen();  // the close wrote the memory back
  st = call_ok(f.agent, "status");
  assert_string_equal(str(st.get(), "storage").c_str(), "ok");
  assert_int_equal(test::num(st.get(), "queue_depth"), stored + 1);
  assert_int_equal(test::num(st.get(), "queue_dropped"), 0);
}
