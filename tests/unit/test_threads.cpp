// Several threads on one agent at once, with its sync worker busy: the
// header's promise that any thread may call any function at any time. The
// `tsan` preset runs this under ThreadSanitizer (make test-tsan).
//
// The worker is kept busy on purpose: consent is granted, so every track
// queues an event for the CCS API, and activations.get with a URL queues a
// Contextual API request; both APIs point at a closed local port, so each
// pass fails fast and backs off while the callers go on.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "unit_test.h"

using test::call_ok;

namespace {

constexpr int kThreads = 4;

// Rounds per thread: light by default (TSan and qemu-user are slow), the full
// load under `make soak` (at most 1000 events in all: one history.get).
int rounds() {
  return getenv("COHORT_SOAK") ? 250 : 40;
}

const char kDefinitions[] =
    "{\"cohorts\":[{\"id\":\"2001\",\"name\":\"Hammerers\",\"activations\":[\"dfp\"],"
    "\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"event\",\"event_type\":\"Hammer\","
    "\"operator\":\"gte\",\"value\":3}]}},"
    "{\"id\":\"2002\",\"name\":\"Viewers\",\"activations\":[\"dfp\",\"freewheel\"],"
    "\"rule\":{\"logic\":\"OR\",\"conditions\":[{\"type\":\"event\",\"event_type\":\"Videoview\"}]}}]}";

std::atomic<int> g_notifications{0};

void on_cohorts_changed(void *user, const char *cohorts_json) {
  auto *agent = static_cast<cohort_agent *>(user);
  if (cohorts_json && cohorts_json[0] == '{') ++g_notifications;
  // A subscriber may call back into the agent (it runs outside the lock).
  char *out = nullptr;
  if (cohort_call(agent, "cohorts.get", nullptr, &out) == COHORT_OK) cohort_free(out);
}

// One thread's share: track, then one of the readers, a view now and then,
// an invalid call whose message must be this thread's own.
void hammer(cohort_agent *a, int t, std::atomic<int> &failures) {
  auto check = [&](cohort_status st, cohort_status want = COHORT_OK) {
    if (st != want) ++failures;
  };
  auto call = [&](const char *method, const std::string &params) {
    char *out = nullptr;
    check(cohort_call(a, method, params.empty() ? nullptr : params.c_str(), &out));
    if (!out || out[0] != '{') ++failures;
    cohort_free(out);
  };
  for (int i = 0; i < rounds(); ++i) {
    std::string props = "{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}";
    check(cohort_track(a, "Hammer", props.c_str()));
    switch ((i + t) % 4) {
      case 0:
        call("activations.get", "{\"timeout_ms\":5,\"url\":\"https://example.com/t" + std::to_string(t) + "/" +
                                    std::to_string(i % 3) + "\"}");
        break;
      case 1:
        call("cohorts.get", "");
        break;
      case 2:
        call("status", "");
        break;
      default: {
        char *csv = nullptr;
        int stale = -1;
        check(cohort_activations(a, "dfp", 5, &csv, &stale));
        if (!csv || (stale != 0 && stale != 1)) ++failures;
        cohort_free(csv);
      }
    }
    if (i % 10 == t) {
      char view[37];
      check(cohort_view_start(a, "video", "{\"video_id\":\"v\"}", 60, view));
      call("view.progress", std::string("{\"view_id\":\"") + view + "\",\"position_s\":20}");
      check(cohort_view_end(a, view, 30));
      call("sync.now", "{\"timeout_ms\":10}");
    }
    std::string bad = "bad name " + std::to_string(t);
    check(cohort_track(a, bad.c_str(), nullptr), COHORT_EINVAL);
    if (!strstr(cohort_last_error(a), "name")) ++failures;
  }
}

UNIT_TEST(threads_share_one_agent) {
  test::TempDir dir;
  cohort_agent *a = nullptr;
  assert_int_equal(cohort_open(dir.config("\"api.timeout_ms\":50").c_str(), &a), COHORT_OK);
  call_ok(a, "consent.set", "{\"granted\":true}");
  call_ok(a, "definitions.put", kDefinitions);
  assert_int_equal(cohort_subscribe(a, on_cohorts_changed, a), COHORT_OK);

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(hammer, a, t, std::ref(failures));
  for (auto &th : threads) th.join();
  assert_int_equal(failures.load(), 0);

  // Every accepted event landed exactly once; the worker tried to send them.
  co::Json h = call_ok(a, "history.get", "{\"name\":\"Hammer\",\"limit\":1000}");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")), kThreads * rounds());
  co::Json st = call_ok(a, "status");
  assert_true(test::num(st.get(), "queue_depth") > 0);
  assert_true(g_notifications.load() > 0);
  // Closing with the worker mid-flight: bounded, and nothing left running.
  call_ok(a, "sync.now", "{\"timeout_ms\":0}");
  cohort_close(a);
}

// Two agents on two data directories, each hammered by its own threads: no
// state is shared between handles (the per-thread error map is, by design).
UNIT_TEST(two_agents_side_by_side) {
  test::TempDir d1, d2;
  cohort_agent *a = nullptr, *b = nullptr;
  assert_int_equal(cohort_open(d1.config("\"consent.required\":false").c_str(), &a), COHORT_OK);
  assert_int_equal(cohort_open(d2.config("\"consent.required\":false").c_str(), &b), COHORT_OK);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back(hammer, a, t, std::ref(failures));
    threads.emplace_back(hammer, b, t, std::ref(failures));
  }
  for (auto &th : threads) th.join();
  assert_int_equal(failures.load(), 0);
  cohort_close(a);
  cohort_close(b);
}

// cohort_close while the worker is mid-pass (a request in flight, contextual
// jobs queued) and callers have just returned: bounded, and nothing races.
UNIT_TEST(close_while_the_worker_is_busy) {
  for (int i = 0; i < 10; ++i) {
    test::TempDir dir;
    cohort_agent *a = nullptr;
    assert_int_equal(cohort_open(dir.config("\"api.timeout_ms\":200").c_str(), &a), COHORT_OK);
    call_ok(a, "consent.set", "{\"granted\":true}");
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([a, t] {
        for (int k = 0; k < 5; ++k) {
          cohort_track(a, "Busy", nullptr);
          std::string params = "{\"timeout_ms\":0,\"url\":\"https://example.com/" + std::to_string(t * 10 + k) + "\"}";
          char *out = nullptr;
          if (cohort_call(a, "activations.get", params.c_str(), &out) == COHORT_OK) cohort_free(out);
        }
      });
    }
    for (auto &th : threads) th.join();
    call_ok(a, "sync.now", "{\"timeout_ms\":0}");
    cohort_close(a);
  }
}

// Subscribing and unsubscribing from one thread while others cause
// notifications on theirs and the worker delivers its own.
UNIT_TEST(subscribe_while_others_call) {
  test::TempDir dir;
  cohort_agent *a = nullptr;
  assert_int_equal(cohort_open(dir.config("\"consent.required\":false").c_str(), &a), COHORT_OK);
  call_ok(a, "definitions.put", kDefinitions);
  std::atomic<bool> done{false};
  std::thread toggler([&] {
    while (!done) {
      cohort_subscribe(a, on_cohorts_changed, a);
      cohort_subscribe(a, nullptr, nullptr);
    }
  });
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back(hammer, a, t, std::ref(failures));
  for (auto &th : threads) th.join();
  done = true;
  toggler.join();
  assert_int_equal(failures.load(), 0);
  cohort_close(a);
}

// A request that hangs until the transport is aborted (or 20 s pass): what a
// dead network does to a call waiting for it.
struct Hanging {
  test::AgentFixture f{3};
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  std::atomic<bool> saw_abort{false};
  explicit Hanging(const char *path) {
    f.transport.set_handler([this, path](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
      if (req.url.find(path) == std::string::npos) {
        r.status = 503;
        return;
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        entered = true;
        cv.notify_all();
      }
      for (int i = 0; i < 2000 && !f.transport.aborted(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      saw_abort = f.transport.aborted();
      r.status = 0;
      r.error = "aborted";
    });
    // The fleet delay keeps the worker from sending on its own: the request
    // goes out only for the waiting call (sync.now skips the delay).
    f.open_with("\"consent.required\":false,\"sync.initial_delay_s\":3600,\"api\":{\"ccs_url\":\"http://ccs\","
                "\"contextual_url\":\"http://ctx\",\"timeout_ms\":600000}",
                true);
  }
  void wait_in_flight() {
    std::unique_lock<std::mutex> lock(mu);
    assert_true(cv.wait_for(lock, std::chrono::seconds(20), [&] { return entered; }));
  }
};

// cohort_close while another thread waits on the network: the waiting call
// is answered at once with COHORT_ECLOSED, "shutting down" (not after its
// timeout_ms, ten minutes here), the request in flight is abandoned, and
// the queued event is still there at the next start.
UNIT_TEST(close_answers_waiting_calls_at_once) {
  const struct {
    const char *method, *params, *path;
  } waits[] = {
      {"sync.now", "{\"timeout_ms\":600000}", "/ccs/"},
      {"activations.get", "{\"timeout_ms\":60000,\"url\":\"https://example.com/v\"}", "/ctx/"},
  };
  for (const auto &w : waits) {
    Hanging h(w.path);
    call_ok(h.f.agent, "track", "{\"name\":\"Kept\"}");
    cohort_status st = COHORT_OK;
    std::string error;
    cohort_agent *agent = h.f.agent;  // the caller's own copy: h.f.agent is reset below
    std::thread caller([&, agent] {
      char *out = nullptr;
      st = cohort_call(agent, w.method, w.params, &out);
      error = cohort_last_error(agent);  // a lookup by pointer: safe after close
      cohort_free(out);
    });
    h.wait_in_flight();
    auto t0 = std::chrono::steady_clock::now();
    cohort_close(h.f.agent);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    h.f.agent = nullptr;
    caller.join();
    printf("cohort_close while %s waits: %.1f ms\n", w.method, ms);
    assert_int_equal(st, COHORT_ECLOSED);
    assert_string_equal(error.c_str(), "shutting down");
    assert_true(h.saw_abort.load());
    h.f.transport.set_handler(nullptr);  // answers 200 {}
    h.f.reopen();
    assert_int_equal(test::num(call_ok(h.f.agent, "status").get(), "queue_depth"), 1);
  }
}

// cohort_shutdown from another thread (what cohortd does on SIGTERM): the
// same for the waiting call, and every later call is refused, until close.
UNIT_TEST(shutdown_refuses_later_calls) {
  Hanging h("/ccs/");
  call_ok(h.f.agent, "track", "{\"name\":\"Kept\"}");
  cohort_status st = COHORT_OK;
  std::thread caller([&] {
    char *out = nullptr;
    st = cohort_call(h.f.agent, "sync.now", "{\"timeout_ms\":600000}", &out);
    cohort_free(out);
  });
  h.wait_in_flight();
  cohort_shutdown(h.f.agent);
  caller.join();
  assert_int_equal(st, COHORT_ECLOSED);
  assert_int_equal(cohort_track(h.f.agent, "Late", nullptr), COHORT_ECLOSED);
  assert_non_null(strstr(cohort_last_error(h.f.agent), "shutting down"));
  cohort_shutdown(h.f.agent);  // again: harmless
  cohort_shutdown(nullptr);
}

}  // namespace
