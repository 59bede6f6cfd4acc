#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "backoff.h"
#include "full_disk.h"
#include "io_counter.h"
#include "sync_fixture.h"
#include "unit_test.h"

using test::call_ok;
using test::num;
using test::str;

using test::answer;
using test::is_ccs;
using test::kAnswer;
using Fixture = test::SyncFixture;

UNIT_TEST(drains_in_order_in_batches_of_ten) {
  Fixture f;
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 200, kAnswer); });
  f.open();
  f.track(25);
  co::Json r = f.sync();
  assert_int_equal(num(r.get(), "pending"), 0);
  auto sent = f.ccs_sent();
  int expect_i = 0;
  for (auto &req : sent) {
    assert_string_equal(req.url.c_str(), "http://ccs/ccs/v1/segmentation?activations=true");
    bool key_header = false;
    for (auto &h : req.headers) key_header |= h.first == "X-Api-Key" && h.second == "sk_test";
    assert_true(key_header);
    assert_null(strstr(req.url.c_str(), "sk_test"));  // never in a URL
    co::Json body = co::json_parse(req.body);
    const cJSON *events = cJSON_GetObjectItem(body.get(), "events");
    assert_true(cJSON_GetArraySize(events) >= 1 && cJSON_GetArraySize(events) <= 10);
    for (const cJSON *e = events->child; e; e = e->next) {
      assert_int_equal(num(cJSON_GetObjectItem(e, "properties"), "i"), expect_i++);
      assert_non_null(cJSON_GetObjectItem(e, "session_id"));
      assert_null(cJSON_GetObjectItem(e, "event_id"));  // not in the CCS schema
    }
    assert_non_null(cJSON_GetObjectItem(body.get(), "user_id"));
  }
  assert_int_equal(expect_i, 25);
  // The server's user id is adopted.
  assert_string_equal(str(call_ok(f.agent, "identity.get").get(), "user_id").c_str(),
                      "2008c38f-dece-4570-976d-87593ed001c3");
}

UNIT_TEST(aliases_replace_user_id) {
  Fixture f;
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 200, "{}"); });
  f.open();
  call_ok(f.agent, "identity.set_aliases", "{\"aliases\":[{\"tag\":\"tifa\",\"id\":\"t-1\",\"priority\":0}]}");
  f.track(1);
  f.sync();
  co::Json body = co::json_parse(f.ccs_sent().back().body);
  assert_null(cJSON_GetObjectItem(body.get(), "user_id"));
  const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItem(body.get(), "aliases"), 0);
  assert_string_equal(str(a, "tag").c_str(), "tifa");
}

UNIT_TEST(server_errors_keep_events_and_back_off) {
  Fixture f;
  std::atomic<int> calls{0};
  f.transport.set_handler([&](const co::platform::HttpRequest &, co::platform::HttpResponse &r) {
    ++calls;
    answer(r, 503, "{\"error\":{\"message\":\"down\"}}");
  });
  f.open();
  f.track(3);
  co::Json r = f.sync();
  assert_int_equal(num(r.get(), "pending"), 3);
  int after_first = calls.load();
  // Backing off: the worker does not hammer while the clock stands still.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  assert_int_equal(calls.load(), after_first);
  co::Json st = call_ok(f.agent, "status");
  const cJSON *ls = cJSON_GetObjectItem(st.get(), "last_sync");
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(ls, "ok")));
  assert_non_null(strstr(str(ls, "error").c_str(), "503"));
  // Recovery: the same events leave, once.
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 200, "{}"); });
  f.clock.advance_ms(10 * 60 * 1000);
  r = f.sync();
  assert_int_equal(num(r.get(), "pending"), 0);
  assert_int_equal(num(r.get(), "sent"), 3);
}

UNIT_TEST(malformed_success_is_retried_not_lost) {
  Fixture f;
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) {
    answer(r, 200, "<html>oops</html>");
    r.content_type = "text/html";
  });
  f.open();
  f.track(2);
  assert_int_equal(num(f.sync().get(), "pending"), 2);
}

UNIT_TEST(client_errors_are_dead_lettered) {
  Fixture f;
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) {
    answer(r, 400, "{\"error\":{\"message\":\"events[0].time: bad\"}}");
  });
  f.open();
  f.track(12);
  co::Json r = f.sync();
  assert_int_equal(num(r.get(), "pending"), 0);
  // The worker may send while events are still arriving: batches of 1-10.
  int batches = static_cast<int>(num(r.get(), "dead_letters"));
  assert_true(batches >= 2 && batches <= 12);
  co::Json st = call_ok(f.agent, "status");
  assert_int_equal(num(st.get(), "dead_letters"), batches);
  co::Json dl = call_ok(f.agent, "dead_letters.get", "{\"limit\":100}");
  int events = 0;
  for (const cJSON *d = cJSON_GetObjectItem(dl.get(), "dead_letters")->child; d; d = d->next) {
    events += static_cast<int>(num(d, "events"));
  }
  assert_int_equal(events, 12);  // every event accounted for, none lost, none twice
  const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(dl.get(), "dead_letters"), 0);
  assert_int_equal(num(first, "http_status"), 400);
  assert_non_null(strstr(str(first, "error").c_str(), "events[0].time"));
}

// A 3xx (a proxy, a captive portal) is not a refusal: the batch is kept and
// retried; a JSON answer is recognised whatever the case of its media type.
UNIT_TEST(redirects_are_retried_and_media_types_are_case_blind) {
  Fixture f;
  std::atomic<int> calls{0};
  f.transport.set_handler([&](const co::platform::HttpRequest &, co::platform::HttpResponse &r) {
    if (++calls == 1) {
      answer(r, 302, "<html>login</html>");
      r.content_type = "text/html";
      return;
    }
    answer(r, 200, kAnswer);
    r.content_type = "Application/JSON; charset=UTF-8";
  });
  f.open();
  f.track(3);
  co::Json r = f.sync();
  assert_int_equal(num(call_ok(f.agent, "status").get(), "dead_letters"), 0);  // kept (the retry may come at once)
  f.clock.advance_ms(3600 * 1000);
  r = f.sync();
  assert_int_equal(num(r.get(), "pending"), 0);
  assert_int_equal(num(call_ok(f.agent, "status").get(), "dead_letters"), 0);
  co::Json c = call_ok(f.agent, "cohorts.get");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c.get(), "remote")), 2);  // the answer was read
}

// Dead letters are kept for inspection, but not without bound.
UNIT_TEST(dead_letters_are_bounded) {
  Fixture f;
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 400, "{}"); });
  f.open();
  for (int i = 0; i < 120; ++i) {
    f.track(1);
    f.sync();
  }
  assert_int_equal(num(call_ok(f.agent, "status").get(), "dead_letters"), 100);
  co::Json dl = call_ok(f.agent, "dead_letters.get", "{\"limit\":1000}");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(dl.get(), "dead_letters")), 100);
}

UNIT_TEST(retry_after_is_honoured_even_by_sync_now) {
  Fixture f;
  std::atomic<int> calls{0};
  f.transport.set_handler([&](const co::platform::HttpRequest &, co::platform::HttpResponse &r) {
    ++calls;
    answer(r, 429, "{}", 120);
  });
  f.open();
  f.track(1);
  f.sync();
  int n = calls.load();
  f.clock.advance_ms(60 * 1000);  // half the Retry-After
  call_ok(f.agent, "sync.now", "{\"timeout_ms\":300}");
  assert_int_equal(calls.load(), n);
  f.clock.advance_ms(61 * 1000);
  f.transport.set_handler([&](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 200, "{}"); });
  assert_int_equal(num(f.sync().get(), "pending"), 0);
}

UNIT_TEST(no_consent_no_ccs_but_contextual) {
  Fixture f;
  f.transport.set_handler([](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
    answer(r, 200, is_ccs(req) ? kAnswer : "{\"activations\":{\"freewheel\":[\"99999\"]}}");
  });
  f.open("\"consent.required\":true");
  f.track(3);
  call_ok(f.agent, "view.start", "{\"url\":\"https://example.com/sport\",\"properties\":{\"t\":\"x\"}}");
  co::Json a = call_ok(f.agent, "activations.get", "{\"url\":\"https://example.com/sport\",\"timeout_ms\":2000}");
  f.sync();
  assert_int_equal(f.ccs_sent().size(), 0);
  const cJSON *fw = cJSON_GetObjectItem(cJSON_GetObjectItem(a.get(), "activations"), "freewheel");
  assert_string_equal(cJSON_GetArrayItem(fw, 0)->valuestring, "99999");
  co::Json ctx = co::json_parse(f.transport.sent().at(0).body);
  assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(ctx.get(), "page_properties"), "video"));
  assert_null(cJSON_GetObjectItem(ctx.get(), "user_id"));
}

UNIT_TEST(activations_merge_dedupe_and_ttl) {
  Fixture f;
  f.transport.set_handler([](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
    answer(r, 200, is_ccs(req) ? kAnswer : "{\"activations\":{\"freewheel\":[\"12345\",\"99999\"]}}");
  });
  f.open("\"cache\":{\"behavioral_ttl_s\":100,\"contextual_ttl_s\":50}");
  f.track(1);
  f.sync();
  co::Json a = call_ok(f.agent, "activations.get", "{\"url\":\"u1\",\"timeout_ms\":2000}");
  const cJSON *acts = cJSON_GetObjectItem(a.get(), "activations");
  const cJSON *fw = cJSON_GetObjectItem(acts, "freewheel");
  assert_int_equal(cJSON_GetArraySize(fw), 2);  // 12345 once, then 99999
  assert_string_equal(cJSON_GetArrayItem(fw, 1)->valuestring, "99999");
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(a.get(), "stale")));
  char *csv = nullptr;
  int stale = -1;
  assert_int_equal(cohort_activations(f.agent, "dfp", 100, &csv, &stale), COHORT_OK);
  assert_string_equal(csv, "12345,67890");
  cohort_free(csv);
  // Past the TTLs nothing expired is served.
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 500, "{}"); });
  f.clock.advance_ms(101 * 1000);
  a = call_ok(f.agent, "activations.get", "{\"url\":\"u1\",\"timeout_ms\":500}");
  assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(a.get(), "activations"), "dfp"));
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a.get(), "stale")));
  co::Json c = call_ok(f.agent, "cohorts.get");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c.get(), "remote")), 0);
}

UNIT_TEST(merge_false_keeps_contextual_apart) {
  Fixture f;
  f.transport.set_handler([](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
    answer(r, 200, is_ccs(req) ? kAnswer : "{\"activations\":{\"freewheel\":[\"99999\"]}}");
  });
  f.open("\"activations\":{\"merge\":false}");
  f.track(1);
  f.sync();
  co::Json a = call_ok(f.agent, "activations.get", "{\"url\":\"u1\",\"timeout_ms\":2000}");
  const cJSON *fw = cJSON_GetObjectItem(cJSON_GetObjectItem(a.get(), "activations"), "freewheel");
  assert_int_equal(cJSON_GetArraySize(fw), 1);
  const cJSON *ctx = cJSON_GetObjectItem(cJSON_GetObjectItem(a.get(), "contextual"), "freewheel");
  assert_string_equal(cJSON_GetArrayItem(ctx, 0)->valuestring, "99999");
}

// A hung API: the caller gets its answer within its budget (stale), and
// closing the agent is bounded.
UNIT_TEST(hung_api_never_blocks_callers) {
  Fixture f;
  f.transport.set_handler([&](const co::platform::HttpRequest &, co::platform::HttpResponse &r) {
    for (int i = 0; i < 3000 && !f.transport.aborted(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    r.status = 0;
    r.error = "aborted";
  });
  f.open();
  f.track(1);
  auto t0 = std::chrono::steady_clock::now();
  co::Json a = call_ok(f.agent, "activations.get", "{\"url\":\"u\",\"timeout_ms\":100}");
  auto waited = std::chrono::steady_clock::now() - t0;
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a.get(), "stale")));
  // Generous against a 30 s hang: the budget, not the network, decided.
  assert_true(waited < std::chrono::seconds(5));
  f.track(1);  // other calls are not blocked by the hung request
  t0 = std::chrono::steady_clock::now();
  cohort_close(f.agent);
  f.agent = nullptr;
  assert_true(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  // The abandoned batch is still there for the next start.
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 200, "{}"); });
  co::Seams s;
  s.clock = &f.clock;
  s.entropy = &f.entropy;
  s.logger = &f.logger;
  co::platform::FakeTransport fresh;
  s.transport = &fresh;
  s.plausible_after_ms = 0;
  assert_int_equal(co::open_with_seams(f.dir.config("\"consent.required\":false").c_str(), s, &f.agent), COHORT_OK);
  assert_int_equal(num(call_ok(f.agent, "status").get(), "queue_depth"), 2);
  cohort_close(f.agent);  // before `fresh`, which it uses, goes away
  f.agent = nullptr;
}

// Fleet reboots: events tracked after start wait the random first-sync delay
// (here up to 30 s of the fake clock); sync.now and view.start do not.
UNIT_TEST(first_sync_waits_the_fleet_delay) {
  for (int explicit_start = 0; explicit_start < 3; ++explicit_start) {
    Fixture f;
    f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 200, "{}"); });
    std::string cfg = "{\"data_dir\":\"" + f.dir.path + "/data\",\"consent\":{\"required\":false}," +
                      "\"api\":{\"ccs_url\":\"http://ccs\",\"contextual_url\":\"http://ctx\"},\"sync\":{\"initial_delay_s\":30}}";
    assert_int_equal(co::open_with_seams(cfg.c_str(), f.seams(), &f.agent), COHORT_OK);
    f.track(3);
    if (explicit_start == 1) f.sync();
    if (explicit_start == 2) call_ok(f.agent, "view.start", "{\"duration_s\":600}");
    auto wait_sent = [&] {
      for (int i = 0; i < 500 && f.ccs_sent().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return !f.ccs_sent().empty();
    };
    if (explicit_start > 0) {
      assert_true(wait_sent());
      continue;
    }
    // Not sent while the delay runs (a real moment for the worker to act)...
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    assert_true(f.ccs_sent().empty());
    assert_int_equal(num(call_ok(f.agent, "status").get(), "queue_depth"), 3);
    // ...and sent once it is over.
    f.clock.advance_ms(30001);
    f.track(1);
    assert_true(wait_sent());
  }
}

// A box that boots at 1970 with no NTP yet: events are kept with no wall
// time, not sent; when NTP steps the clock they get their time back
// (monotonic offset) and leave in order.
UNIT_TEST(untrusted_clock_holds_events_then_backfills) {
  Fixture f;
  f.clock = co::platform::FakeClock(86400000, 1000);  // 1970-01-02
  f.clock.set_synced(false);
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 200, "{}"); });
  co::Seams seams = f.seams();
  seams.plausible_after_ms = 1600000000000;  // 2020
  std::string cfg = f.dir.config(
      "\"consent\":{\"required\":false},\"api\":{\"ccs_url\":\"http://ccs\",\"contextual_url\":\"http://ctx\"},"
      "\"clock.trust\":\"auto\"");
  assert_int_equal(co::open_with_seams(cfg.c_str(), seams, &f.agent), COHORT_OK);
  f.track(1);
  f.clock.advance_ms(2000);
  f.track(1);
  co::Json st = call_ok(f.agent, "status");
  const cJSON *clock = cJSON_GetObjectItem(st.get(), "clock");
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(clock, "trusted")));
  assert_int_equal(num(clock, "untimed_events"), 2);
  co::Json h = call_ok(f.agent, "history.get");
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(h.get(), "events"), 0), "time")));
  f.sync();
  assert_true(f.ccs_sent().empty());
  assert_int_equal(num(st.get(), "queue_depth"), 2);

  // NTP steps the clock to 2024-01-15T14:00:00Z, 3 s after the second event.
  f.clock.advance_ms(3000);
  f.clock.set_wall_ms(1705327200000);
  f.track(1);
  co::Json r = f.sync();
  assert_int_equal(num(r.get(), "pending"), 0);
  std::vector<std::string> times;
  for (auto &req : f.ccs_sent()) {
    co::Json body = co::json_parse(req.body);
    for (const cJSON *e = cJSON_GetObjectItem(body.get(), "events")->child; e; e = e->next) times.push_back(str(e, "time"));
  }
  assert_int_equal(times.size(), 3);
  assert_string_equal(times[0].c_str(), "2024-01-15T13:59:55.000Z");
  assert_string_equal(times[1].c_str(), "2024-01-15T13:59:57.000Z");
  assert_string_equal(times[2].c_str(), "2024-01-15T14:00:00.000Z");
}

// A box booted a second ago, its kernel clock plausible but not synchronised:
// "auto" holds events until it is (or ten minutes pass); "system" (an RTC, a
// container, CI) trusts it at once. An implausible clock is never trusted.
UNIT_TEST(clock_trust_system_trusts_a_plausible_clock_at_once) {
  for (int system = 0; system < 2; ++system) {
    for (int plausible = 0; plausible < 2; ++plausible) {
      Fixture f;
      f.clock = co::platform::FakeClock(plausible ? 1705327200000 : 86400000, 1000);  // 2024, or 1970
      f.clock.set_synced(false);
      f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 200, "{}"); });
      co::Seams seams = f.seams();
      seams.plausible_after_ms = 1600000000000;  // 2020
      std::string cfg = f.dir.config("\"consent\":{\"required\":false},\"api\":{\"ccs_url\":\"http://ccs\","
                                     "\"contextual_url\":\"http://ctx\"},\"clock\":{\"trust\":\"" +
                                     std::string(system ? "system" : "auto") + "\"}");
      assert_int_equal(co::open_with_seams(cfg.c_str(), seams, &f.agent), COHORT_OK);
      f.track(2);
      f.sync();
      bool expect = system && plausible;
      co::Json st = call_ok(f.agent, "status");
      assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(st.get(), "clock"), "trusted")), expect);
      assert_int_equal(num(st.get(), "queue_depth"), expect ? 0 : 2);
      assert_int_equal(f.ccs_sent().size() > 0, expect);
    }
  }
  co::Config cfg;
  std::string err;
  assert_false(co::config_parse("{\"clock\":{\"trust\":\"always\"}}", cfg, err));
  assert_non_null(strstr(err.c_str(), "clock.trust"));
}

// Events left untimed by a boot that never got a trusted clock are placed just
// before the next trusted boot started, in their order and spacing.
UNIT_TEST(earlier_boot_events_are_placed_before_this_boot) {
  Fixture f;
  f.clock = co::platform::FakeClock(86400000, 1000);
  f.clock.set_synced(false);
  co::Seams seams = f.seams();
  seams.plausible_after_ms = 1600000000000;
  std::string cfg = f.dir.config("\"consent\":{\"required\":false}");
  assert_int_equal(co::open_with_seams(cfg.c_str(), seams, &f.agent), COHORT_OK);
  f.track(1);
  f.clock.advance_ms(2000);
  f.track(1);
  cohort_close(f.agent);
  f.agent = nullptr;
  // The next boot: this boot's row is renamed, so the agent sees a new one.
  sqlite3 *db = nullptr;
  assert_int_equal(sqlite3_open((f.dir.path + "/data/cohort.db").c_str(), &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "UPDATE boots SET boot_id='an-earlier-boot'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  f.clock = co::platform::FakeClock(1705327200000, 500);  // trusted from the start
  assert_int_equal(co::open_with_seams(cfg.c_str(), seams, &f.agent), COHORT_OK);
  co::Json h = call_ok(f.agent, "history.get");
  const cJSON *events = cJSON_GetObjectItem(h.get(), "events");  // newest first
  assert_int_equal(cJSON_GetArraySize(events), 2);
  // This boot started at 14:00:00 - 0.5 s; the earlier one ended 1 ms before.
  assert_string_equal(str(cJSON_GetArrayItem(events, 0), "time").c_str(), "2024-01-15T13:59:59.499Z");
  assert_string_equal(str(cJSON_GetArrayItem(events, 1), "time").c_str(), "2024-01-15T13:59:57.499Z");
  assert_int_equal(num(cJSON_GetObjectItem(call_ok(f.agent, "status").get(), "clock"), "untimed_events"), 0);
}

// The user sets the wall clock a year forward, then two years back: the
// session goes on and the cached activations neither expire nor come back;
// only monotonic time moves them.
UNIT_TEST(wall_clock_jumps_change_nothing) {
  Fixture f;
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 200, kAnswer); });
  f.open("\"cache\":{\"behavioral_ttl_s\":100},\"session\":{\"inactivity_timeout_s\":60}");
  f.track(1);
  f.sync();
  std::string session = str(call_ok(f.agent, "status").get(), "session_id");
  auto cached = [&] {
    co::Json a = call_ok(f.agent, "activations.get", "{\"timeout_ms\":0}");
    return cJSON_GetObjectItem(cJSON_GetObjectItem(a.get(), "activations"), "dfp") != nullptr;
  };
  const int64_t year = 365LL * 86400000;
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 503, "{}"); });
  f.clock.set_wall_ms(f.clock.wall_ms() + year);
  f.track(1);
  assert_true(cached());
  f.clock.set_wall_ms(f.clock.wall_ms() - 2 * year);
  f.track(1);
  assert_true(cached());
  assert_string_equal(str(call_ok(f.agent, "status").get(), "session_id").c_str(), session.c_str());
  // Monotonic time does move them: 101 s later the cache is past its TTL and
  // the session (60 s of inactivity) is over.
  f.clock.advance_ms(101 * 1000);
  assert_false(cached());
  f.track(1);
  assert_string_not_equal(str(call_ok(f.agent, "status").get(), "session_id").c_str(), session.c_str());
}

// Across restarts a cached answer keeps the time it had left, whatever the
// wall clock says: on the same boot by the monotonic clock, after a reboot
// (monotonic clock from zero) by what was left when the last boot was seen
// alive. Before, a wall clock set back a year revived an answer for its whole
// TTL, and one set forward expired it.
UNIT_TEST(cache_time_left_survives_restarts) {
  Fixture f;
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 200, kAnswer); });
  f.open("\"cache\":{\"behavioral_ttl_s\":10000}");
  f.track(1);
  f.sync();
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 503, "{}"); });
  auto cached = [&] {
    co::Json a = call_ok(f.agent, "activations.get", "{\"timeout_ms\":0}");
    return cJSON_GetObjectItem(cJSON_GetObjectItem(a.get(), "activations"), "dfp") != nullptr;
  };
  const int64_t year = 365LL * 86400000;
  // Same boot, 4000 s later, the wall clock a year back: 6000 s left.
  f.clock.advance_ms(4000 * 1000);
  f.clock.set_wall_ms(f.clock.wall_ms() - year);
  f.reopen();
  assert_true(cached());
  f.clock.advance_ms(5000 * 1000);
  // A reboot 5000 s on (1000 s left), the wall clock two years forward.
  f.reboot("boot-2", 500);
  f.clock.set_wall_ms(f.clock.wall_ms() + 2 * year);
  f.reopen();
  assert_true(cached());
  f.clock.advance_ms(999 * 1000);
  assert_true(cached());
  // And again after another reboot with a second left: still counted down.
  f.reboot("boot-3", 7);
  assert_true(cached());
  f.clock.advance_ms(2 * 1000);
  assert_false(cached());
  f.reopen();
  assert_false(cached());
}

// A power cut: the boot never closed, so only what it last recorded (the
// cached answer itself, then hourly) tells the next boot the time left.
UNIT_TEST(cache_time_left_after_power_cut) {
  Fixture f;
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 200, kAnswer); });
  f.open("\"cache\":{\"behavioral_ttl_s\":20000}");
  f.track(1);
  f.sync();
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 503, "{}"); });
  // Two and a half hours of worker passes: seen alive at 2 h (7200 s).
  for (int i = 0; i < 5; ++i) {
    f.clock.advance_ms(1800 * 1000);
    f.track(1);
    f.sync();
  }
  std::string db = f.dir.path + "/data/cohort.db";
  std::string copy = f.dir.path + "/cut";
  // The database as the power cut leaves it (the WAL without its index).
  assert_int_equal(system(("mkdir " + copy + " && cp " + db + " " + db + "-wal " + copy + "/").c_str()), 0);
  f.reboot("boot-2", 100, [&] {
    assert_int_equal(system(("rm -f " + db + "* && cp " + copy + "/cohort.db* " + f.dir.path + "/data/").c_str()), 0);
  });
  // 20000 - 7200 = 12800 s left as far as anyone can tell.
  f.clock.advance_ms(12799 * 1000);
  co::Json a = call_ok(f.agent, "activations.get", "{\"timeout_ms\":0}");
  assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(a.get(), "activations"), "dfp"));
  f.clock.advance_ms(2 * 1000);
  a = call_ok(f.agent, "activations.get", "{\"timeout_ms\":0}");
  assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(a.get(), "activations"), "dfp"));
}

UNIT_TEST(stateless_round_trips_state) {
  Fixture f;
  std::atomic<int> n{0};
  f.transport.set_handler([&](const co::platform::HttpRequest &, co::platform::HttpResponse &r) {
    int k = ++n;
    answer(r, 200,
           // The third answer's state is malformed (no external_state): not kept.
           "{\"user_id\":\"2008c38f-dece-4570-976d-87593ed001c3\",\"state\":{\"internal_state\":{\"n\":" +
               std::to_string(k) + "}," + (k < 3 ? "\"external_state\":{}," : "") + "\"cohorts\":[\"555\"]}}");
  });
  f.open("\"api.mode\":\"stateless\"");
  f.track(1);
  f.sync();
  f.track(1);
  f.sync();
  auto sent = f.ccs_sent();
  assert_int_equal(sent.size(), 2);
  assert_non_null(strstr(sent[0].url.c_str(), "/ccs/v1/segmentation/stateless"));
  assert_null(strstr(sent[0].body.c_str(), "\"state\""));
  assert_non_null(strstr(sent[1].body.c_str(), "\"internal_state\":{\"n\":1}"));
  f.track(1);
  f.sync();
  f.track(1);
  f.sync();
  sent = f.ccs_sent();
  assert_int_equal(sent.size(), 4);
  assert_non_null(strstr(sent[3].body.c_str(), "\"internal_state\":{\"n\":2}"));
  co::Json c = call_ok(f.agent, "cohorts.get");
  assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(c.get(), "remote"), 0)->valuestring, "555");
}

// Consent withdrawn while a batch is out: the batch was built before, with
// the stateless state of then; nothing of its answer is kept (state, cohorts,
// user id), and the next batch goes without a state.
UNIT_TEST(withdrawal_while_a_batch_is_out_keeps_nothing_of_its_answer) {
  Fixture f;
  std::mutex mu;
  std::condition_variable cv;
  bool out = false, release = false;
  std::atomic<int> n{0};
  f.transport.set_handler([&](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
    if (!is_ccs(req)) return answer(r, 200, "{}");
    int k = ++n;
    if (k == 2) {
      std::unique_lock<std::mutex> lock(mu);
      out = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    }
    std::string id = std::to_string(k);
    answer(r, 200,
           "{\"user_id\":\"2008c38f-dece-4570-976d-87593ed0010" + id + "\",\"cohorts\":[\"c" + id +
               "\"],\"state\":{\"internal_state\":{\"n\":" + id + "},\"external_state\":{}}}");
  });
  f.open("\"api.mode\":\"stateless\"");
  f.track(1);
  f.sync();
  f.track(1);
  call_ok(f.agent, "sync.now", "{\"timeout_ms\":0}");
  {
    std::unique_lock<std::mutex> lock(mu);
    assert_true(cv.wait_for(lock, std::chrono::seconds(30), [&] { return out; }));
  }
  call_ok(f.agent, "consent.set", "{\"granted\":false}");
  call_ok(f.agent, "consent.set", "{\"granted\":true}");
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  f.track(1);
  assert_int_equal(num(f.sync().get(), "pending"), 0);
  auto sent = f.ccs_sent();
  assert_int_equal(sent.size(), 3);
  assert_non_null(strstr(sent[1].body.c_str(), "\"internal_state\":{\"n\":1}"));
  assert_null(strstr(sent[2].body.c_str(), "\"state\""));
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(co::json_parse(sent[2].body).get(), "events")), 1);
  // The third answer is kept: the second one never was.
  co::Json c = call_ok(f.agent, "cohorts.get");
  assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(c.get(), "remote"), 0)->valuestring, "c3");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c.get(), "remote")), 1);
  assert_string_equal(str(call_ok(f.agent, "identity.get").get(), "user_id").c_str(),
                      "2008c38f-dece-4570-976d-87593ed00103");
  f.track(1);
  f.sync();
  assert_non_null(strstr(f.ccs_sent().back().body.c_str(), "\"internal_state\":{\"n\":3}"));
}

// Runs lines as one group commit (what cohortd does with each poll round).
static std::vector<co::Json> rpc_batch(cohort_agent *a, const std::vector<std::string> &lines) {
  std::vector<const char *> texts;
  std::vector<size_t> lens;
  for (const std::string &l : lines) texts.push_back(l.data()), lens.push_back(l.size());
  std::vector<char *> answers(lines.size());
  assert_int_equal(cohort_rpc_batch(a, lines.size(), texts.data(), lens.data(), answers.data(), nullptr), COHORT_OK);
  std::vector<co::Json> out;
  for (char *answer : answers) {
    out.push_back(co::json_parse(answer));
    cohort_free(answer);
  }
  return out;
}

// The disk fills up under a group commit: the batch runs again on a copy in
// memory, and the agent that replaces the refused one starts on that copy
// before its worker runs or anything more is written. (Opened on the full
// disk and switched only afterwards, its start wrote there and failed, and
// its worker ran there meanwhile: racing the caller to switch to memory, or
// sending a batch whose cursor that disk could not record.) Every event is
// kept, sent once, and written back when the disk has room again.
UNIT_TEST(disk_full_group_commit_goes_on_in_memory) {
  Fixture f;
  std::atomic<bool> up{false};
  std::mutex delivered_mu;
  std::vector<int> delivered(10, 0);  // times each event was taken (a 2xx)
  f.transport.set_handler([&](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
    answer(r, up ? 200 : 503, "{}");
    if (!up) return;
    co::Json body = co::json_parse(req.body);
    const cJSON *events = cJSON_GetObjectItem(body.get(), "events");
    std::lock_guard<std::mutex> lock(delivered_mu);
    for (const cJSON *e = events ? events->child : nullptr; e; e = e->next) {
      delivered.at(static_cast<size_t>(num(cJSON_GetObjectItem(e, "properties"), "i"))) += 1;
    }
  });
  FullDisk disk(f.dir.path + "/data/");
  struct Warnings {
    std::mutex mu;
    std::vector<std::string> lines;
  } warnings;
  f.logger.set_sink(
      [](void *user, co::platform::LogLevel level, const char *line) {
        auto *w = static_cast<Warnings *>(user);
        std::lock_guard<std::mutex> lock(w->mu);
        if (level <= co::platform::LogLevel::warn) w->lines.push_back(line);
      },
      &warnings);
  f.open();
  auto track_lines = [](int from, int n) {
    std::vector<std::string> lines;
    for (int i = from; i < from + n; ++i) {
      lines.push_back("{\"jsonrpc\":\"2.0\",\"id\":" + std::to_string(i) +
                      ",\"method\":\"track\",\"params\":{\"name\":\"E\",\"properties\":{\"i\":" + std::to_string(i) +
                      "}}}");
    }
    return lines;
  };
  for (co::Json &a : rpc_batch(f.agent, track_lines(0, 5))) assert_non_null(cJSON_GetObjectItem(a.get(), "result"));
  FullDisk::full = true;
  for (co::Json &a : rpc_batch(f.agent, track_lines(5, 5))) {
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(a.get(), "result"), "stored")));
  }
  co::Json st = call_ok(f.agent, "status");
  assert_string_equal(str(st.get(), "storage").c_str(), "degraded");
  assert_non_null(strstr(str(st.get(), "storage_error").c_str(), "group commit failed"));
  assert_int_equal(num(st.get(), "queue_depth"), 10);
  assert_int_equal(num(cJSON_GetObjectItem(st.get(), "history"), "events"), 10);
  {
    // The failed commit and the switch to memory are all there is to say:
    // nothing else was tried on the full disk.
    std::lock_guard<std::mutex> lock(warnings.mu);
    for (const std::string &line : warnings.lines) {
      if (!strstr(line.c_str(), "group commit failed") && !strstr(line.c_str(), "keeping data in memory")) {
        fail_msg("written to the full disk after the failed commit: %s", line.c_str());
      }
    }
  }
  // The API answers again: everything leaves, once, from memory.
  up = true;
  assert_int_equal(num(f.sync().get(), "pending"), 0);
  {
    std::lock_guard<std::mutex> lock(delivered_mu);
    for (int times : delivered) assert_int_equal(times, 1);
  }
  // Room again: the retry writes it all back, the cursor with it.
  FullDisk::full = false;
  f.clock.advance_ms(31000);
  bool written_back = false;
  for (int i = 0; i < 500 && !written_back; ++i) {
    f.sync();
    written_back = str(call_ok(f.agent, "status").get(), "storage") == "ok";
  }
  assert_true(written_back);
  f.logger.set_sink(nullptr, nullptr);
  f.reopen();
  st = call_ok(f.agent, "status");
  assert_int_equal(num(cJSON_GetObjectItem(st.get(), "history"), "events"), 10);
  assert_int_equal(num(st.get(), "queue_depth"), 0);
}

// The same when the commit the disk refuses comes before a call that waits
// for the network (it commits what came before and lets go of the lock): the
// worker's pass in that wait switches the refused agent to memory, which
// clears the store's fault; whether the disk was at fault is what the failed
// commit said then, so the batch still runs again in memory (not answered
// with storage errors, the new agent left on the full disk).
UNIT_TEST(disk_full_before_a_waiting_call_still_goes_on_in_memory) {
  Fixture f;
  f.transport.set_handler(
      [](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 503, "{}"); });
  FullDisk disk(f.dir.path + "/data/");
  f.open();
  f.track(2);
  FullDisk::full = true;
  std::vector<co::Json> answers =
      rpc_batch(f.agent, {R"({"jsonrpc":"2.0","id":1,"method":"track","params":{"name":"A"}})",
                          R"({"jsonrpc":"2.0","id":2,"method":"sync.now","params":{"timeout_ms":2000}})",
                          R"({"jsonrpc":"2.0","id":3,"method":"track","params":{"name":"B"}})"});
  for (size_t i : {0u, 2u}) {
    const cJSON *result = cJSON_GetObjectItem(answers[i].get(), "result");
    if (!cJSON_IsTrue(cJSON_GetObjectItem(result, "stored")))
      fail_msg("track %zu: %s", i, co::json_print(answers[i].get()).c_str());
  }
  assert_non_null(cJSON_GetObjectItem(answers[1].get(), "result"));
  co::Json st = call_ok(f.agent, "status");
  assert_string_equal(str(st.get(), "storage").c_str(), "degraded");
  assert_int_equal(num(st.get(), "queue_depth"), 4);
}

// A read of the outbox that the disk fails (an I/O error, here on the first
// page not in SQLite's cache) leaves the queue as it is: its count is kept,
// the worker backs off, and every event is sent once afterwards. (It used to
// count a failed read as an empty outbox: the queue showed 0 and waited for
// the next event to be sent.)
UNIT_TEST(a_failed_outbox_read_keeps_the_queue) {
  Fixture f;
  std::atomic<bool> up{false};
  std::mutex mu;
  std::vector<int> delivered(1500, 0);
  f.transport.set_handler([&](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
    answer(r, up ? 200 : 503, kAnswer);
    if (!up) return;
    co::Json body = co::json_parse(req.body);
    std::lock_guard<std::mutex> lock(mu);
    for (const cJSON *e = cJSON_GetObjectItem(body.get(), "events")->child; e; e = e->next) {
      delivered.at(static_cast<size_t>(num(cJSON_GetObjectItem(e, "properties"), "i"))) += 1;
    }
  });
  FullDisk disk(f.dir.path + "/data/");
  f.open("\"storage\":{\"cache_kib\":64}");  // the oldest events' pages leave the cache
  f.track(1500);
  up = true;
  FullDisk::failing_reads = 1;
  f.sync();
  assert_int_equal(FullDisk::failing_reads.load(), 0);
  co::Json st = call_ok(f.agent, "status");
  assert_true(num(st.get(), "queue_depth") > 0);
  for (int round = 0; round < 200 && num(f.sync().get(), "pending") > 0; ++round) {
  }
  st = call_ok(f.agent, "status");
  assert_int_equal(num(st.get(), "queue_depth"), 0);
  std::lock_guard<std::mutex> lock(mu);
  for (size_t i = 0; i < delivered.size(); ++i) {
    if (delivered[i] != 1) fail_msg("event %zu delivered %d times", i, delivered[i]);
  }
}

// The disk fills while a batch is out: the server has it, but the cursor that
// says so cannot be written. It is recorded in memory (the agent goes on
// there), and the batch is not sent again.
UNIT_TEST(a_batch_delivered_as_the_disk_fills_is_not_sent_again) {
  Fixture f;
  std::mutex mu;
  std::vector<int> delivered(25, 0);
  f.transport.set_handler([&](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
    answer(r, 200, kAnswer);
    co::Json body = co::json_parse(req.body);
    std::lock_guard<std::mutex> lock(mu);
    for (const cJSON *e = cJSON_GetObjectItem(body.get(), "events")->child; e; e = e->next) {
      delivered.at(static_cast<size_t>(num(cJSON_GetObjectItem(e, "properties"), "i"))) += 1;
    }
    FullDisk::full = true;  // after the first batch, nothing more fits
  });
  FullDisk disk(f.dir.path + "/data/");
  f.open();
  f.track(25);
  for (int round = 0; round < 50 && num(f.sync().get(), "pending") > 0; ++round) {
  }
  co::Json st = call_ok(f.agent, "status");
  assert_string_equal(str(st.get(), "storage").c_str(), "degraded");
  assert_int_equal(num(st.get(), "queue_depth"), 0);
  std::lock_guard<std::mutex> lock(mu);
  for (size_t i = 0; i < delivered.size(); ++i) {
    if (delivered[i] != 1) fail_msg("event %zu delivered %d times", i, delivered[i]);
  }
}

// With storage.sync_interval_ms 0 an acknowledged event costs exactly one
// fsync: what the sender records after an answer (the send cursor, the cached
// answer) is committed without a sync of its own and rides on the next one.
UNIT_TEST(one_fsync_per_acknowledged_event) {
  bench::count_io();  // SQLite's default VFS from here on: before the store opens
  Fixture f;
  f.transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) { answer(r, 200, kAnswer); });
  f.open("\"storage\":{\"sync_interval_ms\":0}");
  f.sync();
  uint64_t before = bench::io().syncs;
  for (int i = 0; i < 20; ++i) {
    f.track(1);
    co::Json r = f.sync();  // sent and settled before the next
    assert_int_equal(test::num(r.get(), "pending"), 0);
  }
  assert_int_equal(bench::io().syncs - before, 20);
}

// What the sender writes after a delivered batch whose answer repeats the one
// cached: the send cursor's page and nothing more. The same answer is not
// stored again, and the boot's alive time waits for its hourly write; each
// was a page (a WAL frame) per batch.
UNIT_TEST(a_repeated_answer_costs_the_cursor_page_only) {
  bench::count_io();
  Fixture f;
  // The server holds each request until the test lets it answer: whatever
  // the worker sends on its own while events are tracked is settled inside
  // the window measured, and counted.
  std::mutex mu;
  std::condition_variable cv;
  bool open = true;
  int64_t answered = 0;
  f.transport.set_handler([&](const co::platform::HttpRequest &, co::platform::HttpResponse &r) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return open; });
    ++answered;
    answer(r, 200, kAnswer);
  });
  f.open();
  f.track(1);
  f.sync();  // the answer cached
  const uint64_t frame = 512 + 24;  // a page and its WAL frame header
  uint64_t wal = 0;
  int64_t batches = 0;
  for (int i = 0; i < 10; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      open = false;
    }
    f.track(10);
    bench::Io before = bench::io();
    int64_t answered_before = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      answered_before = answered;
      open = true;
    }
    cv.notify_all();
    co::Json r = f.sync();
    assert_int_equal(test::num(r.get(), "pending"), 0);
    wal += (bench::io() - before).wal_bytes;
    std::lock_guard<std::mutex> lock(mu);
    batches += answered - answered_before;
  }
  // A page per batch, and room for what a slow machine's passes may add
  // once (the session's row, a new WAL's header after a checkpoint); three
  // pages a batch, as before, is far past it.
  printf("%llu bytes to the WAL for %lld batches\n", static_cast<unsigned long long>(wal), static_cast<long long>(batches));
  assert_true(batches >= 10);
  assert_true(wal <= frame * static_cast<uint64_t>(batches) + 2 * frame);
}

// After an outage long enough to be a fleet's (the whole fleet holds a
// backlog at once), the backlog drains one batch per jittered pause; an
// explicit request (sync.now, a view) still drains it at once.
UNIT_TEST(after_a_long_outage_the_backlog_drains_paced_unless_asked) {
  Fixture f;
  std::atomic<bool> down{true};
  std::atomic<int> delivered{0};
  f.transport.set_handler([&](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
    if (!is_ccs(req) || down) return answer(r, 503, "{}");
    ++delivered;
    answer(r, 200, kAnswer);
  });
  f.open();
  f.track(25);
  f.sync();  // 503: the outage begins
  f.clock.advance_ms(10 * 60 * 1000);
  f.sync();  // still down, ten minutes on
  down = false;
  f.clock.advance_ms(co::Backoff::kCapMs);  // past the last back-off
  // A new event wakes the sender (not an explicit request): one full batch
  // goes, then the sender waits; activations.get returns once it is idle.
  f.track(1);
  call_ok(f.agent, "activations.get", "{\"timeout_ms\":5000}");
  assert_int_equal(delivered.load(), 1);
  assert_int_equal(num(call_ok(f.agent, "status").get(), "queue_depth"), 16);
  // After a whole pause the next batch goes, and the sender waits again.
  f.clock.advance_ms(co::Backoff::kRampPaceMs);
  f.track(1);
  call_ok(f.agent, "activations.get", "{\"timeout_ms\":5000}");
  assert_int_equal(delivered.load(), 2);
  // sync.now drains the rest at once.
  co::Json r = f.sync();
  assert_int_equal(num(r.get(), "pending"), 0);
  assert_int_equal(num(r.get(), "sent"), 7);
  assert_int_equal(delivered.load(), 3);
}
