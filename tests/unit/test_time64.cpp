// Time past 2038 on every target, above all on 32-bit armhf (run under
// qemu-arm by CTest): the build defines _TIME_BITS=64, the agent keeps times as
// int64 milliseconds, and the ISO 8601 code, the store, history.get and the
// rule engine's windows must all hold for dates after 2038-01-19T03:14:07Z.
#include <ctime>
#include <string>
#include <sys/types.h>

#include "agent.h"
#include "test_util.h"
#include "unit_test.h"

using test::call_ok;
using test::str;

static_assert(sizeof(time_t) == 8, "time_t must be 64-bit (_TIME_BITS=64 on 32-bit targets)");
static_assert(sizeof(off_t) == 8, "off_t must be 64-bit (_FILE_OFFSET_BITS=64 on 32-bit targets)");

namespace {

constexpr int64_t kS = 1000;
// 2039-03-15T12:00:00Z: "now" for the cohort tests.
constexpr int64_t k2039 = 2183803200LL * kS;

struct Fixture {
  test::TempDir dir;
  co::platform::FakeClock clock;
  co::platform::FakeEntropy entropy{2039};
  co::platform::Logger logger;
  co::platform::FakeTransport transport;
  cohort_agent *agent = nullptr;
  explicit Fixture(int64_t wall_ms) : clock(wall_ms, 5000) {
    co::Seams s;
    s.clock = &clock;
    s.entropy = &entropy;
    s.logger = &logger;
    s.transport = &transport;
    std::string cfg = dir.config("\"consent\":{\"required\":false}");
    assert_int_equal(co::open_with_seams(cfg.c_str(), s, &agent), COHORT_OK);
  }
  ~Fixture() { cohort_close(agent); }
  void track(const char *name, const char *time) {
    std::string p = std::string("{\"name\":\"") + name + "\",\"time\":\"" + time +
                    "\",\"properties\":{\"categories\":[\"football\"]}}";
    call_ok(agent, "track", p.c_str());
  }
  bool in(const char *id) {
    co::Json c = call_ok(agent, "cohorts.get");
    for (const cJSON *x = cJSON_GetObjectItem(c.get(), "local")->child; x; x = x->next) {
      if (std::string(x->valuestring) == id) return true;
    }
    return false;
  }
};

}  // namespace

UNIT_TEST(time_t_is_64_bit) {
  assert_int_equal(sizeof(time_t), 8);
#if defined(__arm__) || defined(__i386__)
  // A 32-bit target gets it only from the build's _TIME_BITS=64.
  assert_int_equal(_TIME_BITS, 64);
#endif
  // The C library agrees: 2^31 s and 2^32 s are ordinary dates.
  time_t t = static_cast<time_t>(2147483648LL);
  struct tm tm {};
  assert_non_null(gmtime_r(&t, &tm));
  assert_int_equal(tm.tm_year + 1900, 2038);
  assert_int_equal(tm.tm_mon + 1, 1);
  assert_int_equal(tm.tm_mday, 19);
  assert_int_equal(tm.tm_hour, 3);
  assert_int_equal(tm.tm_sec, 8);
  t = static_cast<time_t>(4294967296LL);
  assert_non_null(gmtime_r(&t, &tm));
  assert_int_equal(tm.tm_year + 1900, 2106);
  assert_true(timegm(&tm) == t);
}

UNIT_TEST(iso8601_round_trips_past_2038) {
  struct Case {
    const char *iso;
    int64_t ms;
  };
  const Case cases[] = {
      {"2038-01-19T03:14:07.000Z", 2147483647LL * kS},
      {"2038-01-19T03:14:08.000Z", 2147483648LL * kS},
      {"2039-03-15T12:00:00.000Z", k2039},
      {"2040-02-29T23:59:59.999Z", 2214172799LL * kS + 999},
      {"2040-06-01T12:00:00.000Z", 2222164800LL * kS},
      {"2106-02-07T06:28:16.000Z", 4294967296LL * kS},
      {"2262-04-11T23:47:16.854Z", 9223372036854LL},
  };
  for (const Case &c : cases) {
    int64_t ms = 0;
    assert_true(co::parse_iso8601(c.iso, ms));
    assert_true(ms == c.ms);
    assert_string_equal(co::format_iso8601(c.ms).c_str(), c.iso);
    // And the C library's 64-bit time agrees with ours.
    time_t t = static_cast<time_t>(c.ms / kS);
    struct tm tm {};
    assert_non_null(gmtime_r(&t, &tm));
    char buf[32];
    assert_true(strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) > 0);
    assert_int_equal(strncmp(buf, c.iso, 19), 0);
  }
  int64_t ms = 0;
  assert_true(co::parse_iso8601("2040-06-01T14:00:00+02:00", ms));
  assert_true(ms == 2222164800LL * kS);
  assert_true(co::parse_iso8601("2040-06-01T12:00:00Z", ms));
  assert_string_equal(co::format_iso8601(ms).c_str(), "2040-06-01T12:00:00.000Z");
}

UNIT_TEST(history_keeps_a_2040_event_time) {
  Fixture f(2222164800LL * kS + 3600 * kS);  // 2040-06-01T13:00:00Z
  f.track("Videoview", "2040-06-01T12:00:00Z");
  call_ok(f.agent, "track", "{\"name\":\"Pageview\"}");  // the clock's own time
  co::Json h = call_ok(f.agent, "history.get", "{\"limit\":10}");
  const cJSON *events = cJSON_GetObjectItem(h.get(), "events");
  assert_int_equal(cJSON_GetArraySize(events), 2);
  assert_string_equal(str(cJSON_GetArrayItem(events, 0), "name").c_str(), "Pageview");
  assert_string_equal(str(cJSON_GetArrayItem(events, 0), "time").c_str(), "2040-06-01T13:00:00.000Z");
  assert_string_equal(str(cJSON_GetArrayItem(events, 1), "name").c_str(), "Videoview");
  assert_string_equal(str(cJSON_GetArrayItem(events, 1), "time").c_str(), "2040-06-01T12:00:00.000Z");
  int64_t ms = 0;
  assert_true(co::parse_iso8601(str(cJSON_GetArrayItem(events, 1), "time"), ms));
  assert_true(ms == 2222164800LL * kS);
}

static const char *kDefs =
    "{\"cohorts\":["
    // Two football views in the last 7 days.
    "{\"id\":\"week2\",\"name\":\"w2\",\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"event\","
    "\"event_type\":\"Videoview\",\"where\":[{\"property\":\"categories\",\"operator\":\"contains\","
    "\"value\":\"football\"}],\"operator\":\"gte\",\"value\":2,\"window_days\":7}]}},"
    // Three in 7 days: the February one is outside.
    "{\"id\":\"week3\",\"name\":\"w3\",\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"event\","
    "\"event_type\":\"Videoview\",\"operator\":\"gte\",\"value\":3,\"window_days\":7}]}},"
    // Three in 60 days: all of them.
    "{\"id\":\"season\",\"name\":\"s\",\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"event\","
    "\"event_type\":\"Videoview\",\"operator\":\"gte\",\"value\":3,\"window_days\":60}]}},"
    // Not watched in the last 3 days.
    "{\"id\":\"lapsed\",\"name\":\"l\",\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"recency\","
    "\"event_type\":\"Videoview\",\"operator\":\"gt\",\"window_days\":3}]}}"
    "]}";

UNIT_TEST(window_days_in_2039) {
  Fixture f(k2039);  // 2039-03-15T12:00:00Z
  // Before the definitions: look-back must place them in their hour buckets.
  f.track("Videoview", "2039-02-01T08:00:00Z");  // 42 days ago
  f.track("Videoview", "2039-03-10T09:00:00Z");  // 5 days ago
  co::Json r = call_ok(f.agent, "definitions.put", kDefs);
  assert_int_equal(test::num(r.get(), "count"), 4);
  assert_false(f.in("week2"));
  assert_false(f.in("season"));
  assert_true(f.in("lapsed"));  // the last view was 5 days ago
  // After: the incremental path.
  f.track("Videoview", "2039-03-14T20:30:00Z");  // 15.5 hours ago
  assert_true(f.in("week2"));
  assert_false(f.in("week3"));
  assert_true(f.in("season"));
  assert_false(f.in("lapsed"));
  co::Json e = call_ok(f.agent, "explain", "{\"cohort_id\":\"week2\"}");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e.get(), "match")));
  // Six days later the 10 March view has left the 7-day window (11 days ago):
  // week2 is decided by the clock alone, as is lapsed (the last view was 6.6 days ago).
  f.clock.advance_ms(6 * 86400 * kS);
  assert_false(f.in("week2"));
  assert_true(f.in("season"));
  assert_true(f.in("lapsed"));
  // 10 more days: 1 February is 58 days back, still in the season window...
  f.clock.advance_ms(10 * 86400 * kS);
  assert_true(f.in("season"));
  // ...but not 3 days later, when it is 61 days back.
  f.clock.advance_ms(3 * 86400 * kS);
  assert_false(f.in("season"));
  // The membership changes are events of their own, with 2039 times.
  co::Json h = call_ok(f.agent, "history.get", "{\"limit\":1,\"name\":\"SegmentExit\"}");
  const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItem(h.get(), "events"), 0);
  assert_non_null(ev);
  assert_int_equal(strncmp(str(ev, "time").c_str(), "2039-", 5), 0);
}
