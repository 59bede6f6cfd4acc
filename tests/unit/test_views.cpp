#include <sys/wait.h>
#include <unistd.h>

#include <cmath>

#include "test_util.h"
#include "unit_test.h"

using test::call_ok;
using test::num;
using test::str;

struct Fixture : test::AgentFixture {
  Fixture() : AgentFixture(5) {}
  void open(const std::string &extra_config = "\"consent\":{\"required\":false}") { open_with(extra_config); }
  std::string start(const char *params) { return str(call_ok(agent, "view.start", params).get(), "view_id"); }
  co::Json call(const char *method, const std::string &view, const char *extra = "") {
    std::string p = "{\"view_id\":\"" + view + "\"" + extra + "}";
    return call_ok(agent, method, p.c_str());
  }
  // The newest event of that name in the history.
  co::Json last(const char *name) {
    std::string p = std::string("{\"limit\":1,\"name\":\"") + name + "\"}";
    co::Json h = call_ok(agent, "history.get", p.c_str());
    return co::Json(cJSON_Duplicate(cJSON_GetArrayItem(cJSON_GetObjectItem(h.get(), "events"), 0), 1));
  }
  cohort_status status_of(const char *method, const std::string &params) {
    char *out = nullptr;
    cohort_status st = cohort_call(agent, method, params.c_str(), &out);
    cohort_free(out);
    return st;
  }
};

UNIT_TEST(video_play_pause_resume_end) {
  Fixture f;
  f.open();
  std::string id = f.start(
      "{\"type\":\"video\",\"duration_s\":600,\"url\":\"https://example.com/v\","
      "\"properties\":{\"video_id\":\"vid_456\",\"categories\":[\"sports\",\"football\"]}}");
  co::Json play = f.last("Videoview");
  assert_string_equal(str(play.get(), "view_id").c_str(), id.c_str());
  f.clock.advance_ms(100000);
  f.call("view.pause", id, ",\"position_s\":100");
  f.clock.advance_ms(50000);  // paused: does not count
  f.call("view.resume", id);
  f.clock.advance_ms(350000);
  f.call("view.progress", id, ",\"position_s\":450");
  co::Json r = f.call("view.end", id, ",\"position_s\":450");
  assert_true(std::fabs(num(r.get(), "time_spent_seconds") - 450) < 1e-9);
  assert_true(std::fabs(num(r.get(), "completion") - 0.75) < 1e-9);
  co::Json done = f.last("VideoCompletion");
  assert_string_equal(str(done.get(), "view_id").c_str(), id.c_str());
  assert_string_equal(str(done.get(), "session_id").c_str(), str(play.get(), "session_id").c_str());
  const cJSON *p = cJSON_GetObjectItem(done.get(), "properties");
  assert_string_equal(str(p, "video_id").c_str(), "vid_456");
  assert_true(cJSON_IsArray(cJSON_GetObjectItem(p, "categories")));
  assert_true(std::fabs(num(p, "time_spent_seconds") - 450) < 1e-9);
  assert_true(std::fabs(num(p, "percentage_watched") - 0.75) < 1e-9);
  // Ended: no longer open.
  assert_int_equal(f.status_of("view.end", "{\"view_id\":\"" + id + "\"}"), COHORT_ENOTFOUND);
}

// As in the guide's examples: both events carry duration_seconds when the
// duration is known, and the engagement is whole seconds of playing time.
UNIT_TEST(events_carry_duration_and_whole_seconds) {
  Fixture f;
  f.open();
  std::string id = f.start("{\"type\":\"video\",\"duration_s\":600.4,\"properties\":{\"video_id\":\"v\"}}");
  co::Json play = f.last("Videoview");
  const cJSON *duration = cJSON_GetObjectItem(cJSON_GetObjectItem(play.get(), "properties"), "duration_seconds");
  assert_true(cJSON_IsNumber(duration) && duration->valuedouble == 600);
  assert_string_equal(co::json_print(duration).c_str(), "600");  // an integer on the wire
  f.clock.advance_ms(450700);
  co::Json r = f.call("view.end", id, ",\"position_s\":450");
  assert_true(num(r.get(), "time_spent_seconds") == 450);
  co::Json done = f.last("VideoCompletion");
  const cJSON *p = cJSON_GetObjectItem(done.get(), "properties");
  assert_string_equal(co::json_print(cJSON_GetObjectItem(p, "duration_seconds")).c_str(), "600");
  assert_string_equal(co::json_print(cJSON_GetObjectItem(p, "time_spent_seconds")).c_str(), "450");
  assert_true(std::fabs(num(p, "percentage_watched") - 0.7495) < 1e-9);  // a fraction 0-1

  // The duration may come as the guide's own property instead.
  id = f.start("{\"type\":\"audio\",\"properties\":{\"podcast_id\":\"p\",\"duration_seconds\":1800}}");
  f.clock.advance_ms(900000);
  r = f.call("view.end", id, ",\"position_s\":900");
  assert_true(std::fabs(num(r.get(), "completion") - 0.5) < 1e-9);
  co::Json audio = f.last("AudioCompletion");
  assert_true(num(cJSON_GetObjectItem(audio.get(), "properties"), "duration_seconds") == 1800);

  // Live (no duration): no duration_seconds, no percentage.
  id = f.start("{\"type\":\"video\",\"properties\":{\"video_id\":\"live\"}}");
  co::Json live = f.last("Videoview");
  assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(live.get(), "properties"), "duration_seconds"));
  f.call("view.end", id);

  // Two durations that disagree are an error naming both; nothing is stored.
  int64_t before = num(call_ok(f.agent, "status").get(), "queue_depth");
  assert_int_equal(f.status_of("view.start", "{\"duration_s\":600,\"properties\":{\"duration_seconds\":300}}"),
                   COHORT_EINVAL);
  assert_non_null(strstr(cohort_last_error(f.agent), "duration_seconds"));
  assert_int_equal(f.status_of("view.start", "{\"properties\":{\"duration_seconds\":\"600\"}}"), COHORT_EINVAL);
  assert_int_equal(num(call_ok(f.agent, "status").get(), "queue_depth"), before);
}

UNIT_TEST(audio_uses_listened) {
  Fixture f;
  f.open();
  std::string id = f.start("{\"type\":\"audio\",\"duration_s\":1800,\"properties\":{\"podcast_id\":\"pod_789\"}}");
  f.clock.advance_ms(1350000);
  f.call("view.end", id, ",\"position_s\":1350");
  co::Json done = f.last("AudioCompletion");
  const cJSON *p = cJSON_GetObjectItem(done.get(), "properties");
  assert_true(std::fabs(num(p, "percentage_listened") - 0.75) < 1e-9);
  assert_null(cJSON_GetObjectItem(p, "percentage_watched"));
  assert_non_null(f.last("AudioPlay").get());
}

UNIT_TEST(live_and_zero_duration_have_no_completion) {
  Fixture f;
  f.open();
  for (const char *params : {"{\"type\":\"video\"}", "{\"type\":\"video\",\"duration_s\":0}"}) {
    std::string id = f.start(params);
    f.clock.advance_ms(30000);
    co::Json r = f.call("view.end", id, ",\"position_s\":30");
    assert_null(cJSON_GetObjectItem(r.get(), "completion"));
    assert_true(std::fabs(num(r.get(), "time_spent_seconds") - 30) < 1e-9);
    co::Json done = f.last("VideoCompletion");
    const cJSON *p = cJSON_GetObjectItem(done.get(), "properties");
    assert_null(cJSON_GetObjectItem(p, "percentage_watched"));  // omitted, never null
  }
}

UNIT_TEST(seeks_keep_the_furthest_point_and_cap_at_one) {
  Fixture f;
  f.open();
  std::string id = f.start("{\"duration_s\":100}");
  f.call("view.progress", id, ",\"position_s\":80");
  f.call("view.progress", id, ",\"position_s\":10");  // seek back
  co::Json r = f.call("view.end", id, ",\"position_s\":20");
  assert_true(std::fabs(num(r.get(), "completion") - 0.8) < 1e-9);
  id = f.start("{\"duration_s\":100}");
  r = f.call("view.end", id, ",\"position_s\":250");
  assert_true(std::fabs(num(r.get(), "completion") - 1.0) < 1e-9);
}

UNIT_TEST(out_of_order_calls) {
  Fixture f;
  f.open();
  std::string id = f.start("{\"duration_s\":100}");
  f.clock.advance_ms(10000);
  f.call("view.pause", id);
  f.clock.advance_ms(10000);
  f.call("view.pause", id);  // twice: still paused, nothing counted
  f.call("view.resume", id);
  f.clock.advance_ms(5000);
  f.call("view.resume", id);  // twice: the stretch goes on
  f.clock.advance_ms(5000);
  co::Json r = f.call("view.end", id);
  assert_true(std::fabs(num(r.get(), "time_spent_seconds") - 20) < 1e-9);
  assert_int_equal(f.status_of("view.pause", "{\"view_id\":\"" + id + "\"}"), COHORT_ENOTFOUND);
  assert_non_null(strstr(cohort_last_error(f.agent), "view_id"));
  std::string other = "{\"view_id\":\"00000000-0000-4000-8000-000000000000\"}";
  assert_int_equal(f.status_of("view.end", other), COHORT_ENOTFOUND);
}

UNIT_TEST(bad_view_params_change_nothing) {
  Fixture f;
  f.open();
  std::string id = f.start("{}");
  const std::string v = "\"view_id\":\"" + id + "\"";
  assert_int_equal(f.status_of("view.progress", "{" + v + "}"), COHORT_EINVAL);
  assert_non_null(strstr(cohort_last_error(f.agent), "position_s"));
  assert_int_equal(f.status_of("view.progress", "{" + v + ",\"position_s\":-1}"), COHORT_EINVAL);
  assert_int_equal(f.status_of("view.progress", "{" + v + ",\"position_s\":\"1\"}"), COHORT_EINVAL);
  assert_int_equal(f.status_of("view.pause", "{\"view_id\":5}"), COHORT_EINVAL);
  assert_int_equal(f.status_of("view.pause", "{}"), COHORT_EINVAL);
  assert_int_equal(f.status_of("view.start", "{\"duration_s\":-3}"), COHORT_EINVAL);
  assert_non_null(strstr(cohort_last_error(f.agent), "duration_s"));
  assert_int_equal(f.status_of("view.start", "{\"event\":\"bad name\"}"), COHORT_EINVAL);
  assert_int_equal(f.status_of("view.start", "{\"properties\":[1]}"), COHORT_EINVAL);
  assert_int_equal(f.status_of("view.start", "{\"bogus\":1}"), COHORT_EINVAL);
  assert_non_null(strstr(cohort_last_error(f.agent), "bogus"));
  co::Json h = call_ok(f.agent, "history.get");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")), 1);  // only the first play
}

UNIT_TEST(several_views_at_once_and_custom_names) {
  Fixture f;
  f.open();
  std::string tv = f.start("{\"type\":\"video\",\"duration_s\":100}");
  std::string radio = f.start("{\"type\":\"radio\",\"event\":\"RadioTuneIn\",\"completion_event\":\"RadioTuneOut\"}");
  f.clock.advance_ms(10000);
  f.call("view.pause", tv);
  f.clock.advance_ms(10000);
  co::Json r1 = f.call("view.end", tv);
  co::Json r2 = f.call("view.end", radio);
  assert_true(std::fabs(num(r1.get(), "time_spent_seconds") - 10) < 1e-9);
  assert_true(std::fabs(num(r2.get(), "time_spent_seconds") - 20) < 1e-9);
  assert_non_null(f.last("RadioTuneIn").get());
  assert_non_null(f.last("RadioTuneOut").get());
}

UNIT_TEST(abandoned_view_ends_on_its_own) {
  Fixture f;
  f.open("\"consent\":{\"required\":false},\"session\":{\"inactivity_timeout_s\":60}");
  std::string id = f.start("{\"duration_s\":100}");
  f.clock.advance_ms(20000);
  f.call("view.progress", id, ",\"position_s\":20");
  f.clock.advance_ms(61000);
  f.start("{}");  // any view call sweeps
  assert_int_equal(f.status_of("view.end", "{\"view_id\":\"" + id + "\"}"), COHORT_ENOTFOUND);
  co::Json done = f.last("VideoCompletion");
  assert_string_equal(str(done.get(), "view_id").c_str(), id.c_str());
  const cJSON *p = cJSON_GetObjectItem(done.get(), "properties");
  assert_true(std::fabs(num(p, "percentage_watched") - 0.2) < 1e-9);
  assert_true(std::fabs(num(p, "time_spent_seconds") - 20) < 1e-9);
}

// A real child process starts a view, pauses (persisted), and is killed with
// SIGKILL; the next start ends the view with the engagement it had.
UNIT_TEST(crashed_view_is_ended_at_next_start) {
  test::TempDir dir;
  std::string cfg = dir.config("\"consent\":{\"required\":false}");
  std::string id = test::run_and_kill(cfg, [](cohort_agent *a) {
    char view[37] = {0};
    if (cohort_view_start(a, "video", "{\"video_id\":\"v1\"}", 600, view) != COHORT_OK) return std::string();
    usleep(1100000);  // more than a whole second of playing time
    std::string p = std::string("{\"view_id\":\"") + view + "\",\"position_s\":60}";
    char *out = nullptr;
    if (cohort_call(a, "view.pause", p.c_str(), &out) != COHORT_OK) return std::string();
    return std::string(view);
  });
  assert_int_equal(id.size(), 36);
  cohort_agent *a = nullptr;
  assert_int_equal(cohort_open(cfg.c_str(), &a), COHORT_OK);
  co::Json h = call_ok(a, "history.get", "{\"name\":\"VideoCompletion\"}");
  const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(h.get(), "events"), 0);
  assert_non_null(e);
  assert_string_equal(str(e, "view_id").c_str(), id.c_str());
  const cJSON *p = cJSON_GetObjectItem(e, "properties");
  assert_true(std::fabs(num(p, "percentage_watched") - 0.1) < 1e-9);
  double spent = num(p, "time_spent_seconds");
  assert_true(spent >= 1 && spent < 30 && spent == std::floor(spent));
  assert_string_equal(str(p, "video_id").c_str(), "v1");
  cohort_close(a);
}

UNIT_TEST(c_shortcuts) {
  test::TempDir dir;
  cohort_agent *a = nullptr;
  assert_int_equal(cohort_open(dir.config("\"consent\":{\"required\":false}").c_str(), &a), COHORT_OK);
  char id[37];
  assert_int_equal(cohort_view_start(a, "audio", "{\"podcast_id\":\"p\"}", 0, id), COHORT_OK);
  assert_int_equal(strlen(id), 36);
  assert_int_equal(cohort_view_end(a, id, -1), COHORT_OK);
  assert_int_equal(cohort_view_end(a, id, -1), COHORT_ENOTFOUND);
  assert_int_equal(cohort_view_start(a, "video", "{bad", 10, id), COHORT_EJSON);
  assert_int_equal(cohort_view_end(a, nullptr, 0), COHORT_EINVAL);
  cohort_close(a);
}
