// The agent against the API documents: what it sends (the guide's event
// order, identities, the Contextual API's body, the key's place) and what
// each answer means (a wrong key or URL keeps the queue; only a batch the API
// calls bad is dead-lettered, with the API's own words; activations on both
// endpoints, and a source without them named).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "sync_fixture.h"
#include "unit_test.h"

using test::answer;
using test::call_ok;
using test::is_ccs;
using test::kAnswer;
using test::num;
using test::str;
using Fixture = test::SyncFixture;

namespace {

// The seed's HttpErrorResponse.
std::string api_error(int status, const std::string &message, const std::string &cause) {
  return "{\"request_id\":\"0f5c9a1e-5a4b-4b8e-9d5e-2f6c1b7a8e90\",\"error\":{\"type\":\"Error\",\"status_code\":" +
         std::to_string(status) + ",\"status\":\"Error\",\"code\":" + std::to_string(status) + ",\"message\":\"" +
         message + "\",\"docs\":\"https://docs.permutive.com\",\"cause\":\"" + cause + "\"}}";
}

void write_file(const std::string &path, const std::string &text) {
  FILE *f = fopen(path.c_str(), "w");
  assert_non_null(f);
  fputs(text.c_str(), f);
  fclose(f);
}

bool header_is(const co::platform::HttpRequest &r, const char *name, const std::string &value) {
  for (const auto &h : r.headers) {
    if (h.first == name && h.second == value) return true;
  }
  return false;
}

// Polls (real time) until pred holds; the worker runs on its own thread.
// Generous (30 s) for qemu-user on a loaded machine: it ends as soon as it holds.
template <typename P>
bool eventually(P &&pred) {
  for (int i = 0; i < 3000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// The API down (503) until opened, then 200; what it took, in order. Events
// tracked while it is down stay queued however the worker's passes fall.
struct Gate {
  std::atomic<bool> up{false};
  std::mutex mu;
  std::vector<std::string> taken;  // bodies answered 200
  void attach(Fixture &f) {
    f.transport.set_handler([this](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
      if (!up) return answer(r, 503, "{}");
      std::lock_guard<std::mutex> lock(mu);
      if (is_ccs(req)) taken.push_back(req.body);
      answer(r, 200, "{}");
    });
  }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mu);
    return taken;
  }
};

struct Lines {
  std::mutex mu;
  std::string all;
  static void sink(void *user, co::platform::LogLevel, const char *line) {
    auto *l = static_cast<Lines *>(user);
    std::lock_guard<std::mutex> lock(l->mu);
    l->all += line;
    l->all += '\n';
  }
  std::string text() {
    std::lock_guard<std::mutex> lock(mu);
    return all;
  }
};

}  // namespace

// 401, 403, 404 and 405 say the key or the URL is wrong, not the batch: the
// events stay queued (none dead-lettered), status names the fault, sync
// backs off (at most an hour), and a rotated key resumes at once.
UNIT_TEST(config_faults_keep_the_queue_until_the_configuration_changes) {
  const std::pair<int, const char *> faults[] = {
      {401, "unauthorized"}, {403, "forbidden"}, {404, "not_found"}, {405, "method_not_allowed"}};
  for (const auto &fault : faults) {
    Fixture f;
    std::string key_file = f.dir.path + "/key";
    write_file(key_file, "old-key\n");
    std::atomic<int> calls{0}, ok{0};
    int code = fault.first;
    f.transport.set_handler([&](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
      if (!is_ccs(req)) return answer(r, 200, "{\"activations\":{}}");
      ++calls;
      if (!header_is(req, "X-Api-Key", "new-key")) return answer(r, code, api_error(code, "no", "key"));
      ++ok;
      answer(r, 200, kAnswer);
    });
    f.open("\"api.key_file\":\"" + key_file + "\"");
    f.track(3);
    co::Json r = f.sync();
    assert_int_equal(num(r.get(), "pending"), 3);
    assert_int_equal(num(r.get(), "dead_letters"), 0);
    co::Json st = call_ok(f.agent, "status");
    const cJSON *ls = cJSON_GetObjectItem(st.get(), "last_sync");
    assert_string_equal(str(ls, "error").c_str(), fault.second);
    assert_int_equal(num(ls, "http_status"), code);
    assert_non_null(strstr(str(ls, "detail").c_str(), "events stay queued"));
    assert_int_equal(num(st.get(), "queue_depth"), 3);
    // Backing off: nothing while the clock stands still, even as events come.
    int after = calls.load();
    f.track(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    assert_int_equal(calls.load(), after);
    // However long it lasts, the next try is at most an hour away. Each try
    // is settled (last_sync.at moves) before the clock moves again: a try
    // settled after the move backs off from the new time, rightly, and the
    // clock would then stand still short of it.
    auto settled_at = [&] { return str(cJSON_GetObjectItem(call_ok(f.agent, "status").get(), "last_sync"), "at"); };
    for (int hour = 0; hour < 14; ++hour) {
      int before = calls.load();
      std::string at = settled_at();
      f.clock.advance_ms(3600 * 1000 + 1);
      f.track(1);  // wakes a worker that is due
      assert_true(eventually([&] { return calls.load() > before && settled_at() != at; }));
    }
    assert_int_equal(num(call_ok(f.agent, "status").get(), "dead_letters"), 0);
    // The key is rotated: config.reload reads the file again and the queue
    // leaves at once, without waiting for the back-off or a sync.now.
    write_file(key_file, "new-key\n");
    co::Json rl = call_ok(f.agent, "config.reload");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(rl.get(), "changed"), 0)->valuestring, "api.key");
    assert_true(eventually([&] { return num(call_ok(f.agent, "status").get(), "queue_depth") == 0; }));
    st = call_ok(f.agent, "status");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(st.get(), "last_sync"), "ok")));
    assert_int_equal(num(cJSON_GetObjectItem(st.get(), "last_sync"), "sent"), 18);  // 3 + 1 + 14: none lost
    assert_int_equal(num(st.get(), "dead_letters"), 0);
  }
}

// A box whose key is provisioned after its first boot: it starts, keeps
// everything local, sends nothing, says the key is missing, and takes the key
// as soon as the file appears (looked for every 30 s) or on config.reload.
UNIT_TEST(a_key_provisioned_later) {
  for (int by_reload = 0; by_reload < 2; ++by_reload) {
    Fixture f;
    std::string key_file = f.dir.path + "/api-key";
    std::atomic<int> sent{0};
    f.transport.set_handler([&](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
      ++sent;
      if (!header_is(req, "X-Api-Key", "provisioned")) return answer(r, 401, "{}");
      answer(r, 200, is_ccs(req) ? kAnswer : "{\"activations\":{}}");
    });
    f.open_with("\"consent.required\":false,\"api\":{\"key_file\":\"" + key_file +
                "\",\"ccs_url\":\"http://ccs\",\"contextual_url\":\"http://ctx\"}");
    assert_string_equal(str(call_ok(f.agent, "status").get(), "api_key").c_str(), "missing");
    f.track(3);
    co::Json r = f.sync();
    assert_int_equal(num(r.get(), "pending"), 3);
    assert_non_null(strstr(str(r.get(), "error").c_str(), "does not exist yet"));
    co::Json a = call_ok(f.agent, "activations.get", "{\"timeout_ms\":5000,\"url\":\"https://example.com/v\"}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(a.get(), "activations")), 0);
    assert_int_equal(sent.load(), 0);  // nothing left the device
    write_file(key_file, "provisioned\n");
    if (by_reload) {
      call_ok(f.agent, "config.reload");
    } else {
      f.clock.advance_ms(30001);
      f.track(1);  // the worker looks again when it is due
    }
    assert_true(eventually([&] { return num(call_ok(f.agent, "status").get(), "queue_depth") == 0; }));
    assert_string_equal(str(call_ok(f.agent, "status").get(), "api_key").c_str(), "set");
  }
}

// A reload that cannot be applied changes nothing and names the problem.
UNIT_TEST(config_reload_errors_change_nothing) {
  Fixture f;
  f.open();
  char *out = nullptr;
  assert_int_equal(cohort_call(f.agent, "config.reload", "{\"config\":{\"api\":{\"key_in\":\"cookie\"}}}", &out),
                   COHORT_ECONFIG);
  assert_non_null(strstr(cohort_last_error(f.agent), "api.key_in"));
  std::string unreadable = "{\"config\":{\"api\":{\"key_file\":\"" + f.dir.path + "\"}}}";  // a directory
  assert_int_equal(cohort_call(f.agent, "config.reload", unreadable.c_str(), &out), COHORT_ECONFIG);
  assert_non_null(strstr(cohort_last_error(f.agent), "api.key_file"));
  assert_int_equal(cohort_call(f.agent, "config.reload", "{\"cfg\":{}}", &out), COHORT_EINVAL);
  assert_non_null(strstr(cohort_last_error(f.agent), "cfg"));
  assert_int_equal(cohort_call(f.agent, "config.reload", "{\"config\":[]}", &out), COHORT_EINVAL);
  co::Json c = call_ok(f.agent, "config.get");
  assert_string_equal(str(cJSON_GetObjectItem(cJSON_GetObjectItem(c.get(), "config"), "api"), "key_in").c_str(), "header");
  // A whole document: what can change now does; the rest waits for a restart.
  std::string doc = "{\"config\":" + f.dir.config("\"api\":{\"key\":\"k2\",\"mode\":\"stateless\",\"ccs_url\":"
                                                  "\"http://ccs2\",\"contextual_url\":\"http://ctx\"},"
                                                  "\"consent\":{\"required\":false}") + "}";
  co::Json rl = call_ok(f.agent, "config.reload", doc.c_str());
  std::string changed = co::json_print(cJSON_GetObjectItem(rl.get(), "changed"));
  assert_string_equal(changed.c_str(), "[\"api.key\",\"api.ccs_url\"]");
  assert_string_equal(co::json_print(cJSON_GetObjectItem(rl.get(), "restart_required")).c_str(), "[\"api.mode\"]");
  c = call_ok(f.agent, "config.get");
  const cJSON *api = cJSON_GetObjectItem(cJSON_GetObjectItem(c.get(), "config"), "api");
  assert_string_equal(str(api, "ccs_url").c_str(), "http://ccs2");
  assert_string_equal(str(api, "mode").c_str(), "stateful");
  assert_string_equal(str(api, "key").c_str(), "[redacted]");
}

// Only 400, 413 and 422 say the batch itself is bad: dead-lettered, with the
// API's own error (message, cause, request id) to show why.
UNIT_TEST(refused_batches_keep_the_api_error) {
  for (int code : {400, 413, 422}) {
    Fixture f;
    // Down until both events are in one request: a first attempt made while
    // the second is tracked (the worker wakes on the first) is answered 503,
    // whenever it reaches the server.
    f.transport.set_handler([&](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
      co::Json body = co::json_parse(req.body);
      if (cJSON_GetArraySize(cJSON_GetObjectItem(body.get(), "events")) < 2) return answer(r, 503, "{}");
      answer(r, code, api_error(code, "event schema validation failed",
                                "events[0].properties.time_spent_seconds: expected integer, got 12.5"));
    });
    f.open();
    f.track(2);
    co::Json r = f.sync();
    assert_int_equal(num(r.get(), "pending"), 0);
    assert_int_equal(num(r.get(), "dead_letters"), 1);
    co::Json dl = call_ok(f.agent, "dead_letters.get");
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(dl.get(), "dead_letters"), 0);
    assert_int_equal(num(d, "http_status"), code);
    assert_int_equal(num(d, "events"), 2);
    assert_string_equal(str(d, "message").c_str(), "event schema validation failed");
    assert_string_equal(str(d, "cause").c_str(), "events[0].properties.time_spent_seconds: expected integer, got 12.5");
    assert_string_equal(str(d, "request_id").c_str(), "0f5c9a1e-5a4b-4b8e-9d5e-2f6c1b7a8e90");
    assert_non_null(strstr(str(d, "error").c_str(), "event schema validation failed"));
  }
}

// With api.key_in "query" the key is in the URL it is sent to, and in
// nothing the agent says: not a log line, status, config.get, a dead letter
// or an error message, even when the API echoes the URL back.
UNIT_TEST(key_in_query_appears_only_in_the_request_url) {
  Fixture f;
  Lines log;
  f.logger.set_sink(Lines::sink, &log);
  const std::string key = "sk_q/1+2", encoded = "sk_q%2F1%2B2";
  f.transport.set_handler([&](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
    std::string echo = "no endpoint " + req.url;
    if (is_ccs(req)) return answer(r, req.body.find("\"bad\"") != std::string::npos ? 400 : 401, api_error(400, echo, echo));
    answer(r, 401, api_error(401, echo, key));
  });
  f.open("\"api.key\":\"" + key + "\",\"api.key_in\":\"query\",\"log.level\":\"debug\"");
  call_ok(f.agent, "track", "{\"name\":\"bad\"}");
  f.sync();  // refused: a dead letter
  call_ok(f.agent, "view.start", "{\"url\":\"https://example.com/v\",\"properties\":{\"title\":\"t\"}}");
  f.sync();  // unauthorized: kept
  std::string said = log.text();
  for (const char *m : {"status", "config.get", "dead_letters.get", "sync.now"}) said += co::json_print(call_ok(f.agent, m).get());
  char *out = nullptr;
  std::string bad = "{\"config\":{\"api\":{\"key\":\"" + key + "\",\"key_in\":\"nowhere\"}}}";
  cohort_call(f.agent, "config.reload", bad.c_str(), &out);
  said += cohort_last_error(f.agent);
  for (const auto &req : f.transport.sent()) {
    assert_non_null(strstr(req.url.c_str(), ("k=" + encoded).c_str()));
    for (const auto &h : req.headers) assert_string_not_equal(h.first.c_str(), "X-Api-Key");
    assert_null(strstr(req.body.c_str(), "sk_q"));
  }
  f.logger.set_sink(nullptr, nullptr);
  assert_non_null(strstr(said.c_str(), "unauthorized"));  // the fault is there, the key is not
  assert_null(strstr(said.c_str(), key.c_str()));
  assert_null(strstr(said.c_str(), encoded.c_str()));
  assert_null(strstr(said.c_str(), "sk_q"));
}

// Stateless mode asks for activations too; an answer without them is named
// in activations.get instead of the behavioral side silently missing.
UNIT_TEST(stateless_mode_gets_behavioral_activations) {
  Fixture f;
  std::atomic<bool> omit{false};
  f.transport.set_handler([&](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
    std::string state = "{\"user_id\":\"2008c38f-dece-4570-976d-87593ed001c3\",\"state\":{\"internal_state\":{},"
                        "\"external_state\":{},\"cohorts\":[\"12345\"]}";
    bool asked = req.url.find("activations=true") != std::string::npos;
    answer(r, 200, state + (asked && !omit ? ",\"activations\":{\"dfp\":[\"12345\"]}}" : "}"));
  });
  f.open("\"api.mode\":\"stateless\"");
  f.track(1);
  f.sync();
  assert_string_equal(f.ccs_sent().back().url.c_str(), "http://ccs/ccs/v1/segmentation/stateless?activations=true");
  co::Json a = call_ok(f.agent, "activations.get", "{\"timeout_ms\":0}");
  assert_string_equal(co::json_print(cJSON_GetObjectItem(a.get(), "activations")).c_str(), "{\"dfp\":[\"12345\"]}");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(a.get(), "missing")), 0);
  omit = true;
  f.track(1);
  f.sync();
  a = call_ok(f.agent, "activations.get", "{\"timeout_ms\":0}");
  assert_string_equal(co::json_print(cJSON_GetObjectItem(a.get(), "missing")).c_str(), "[\"behavioral\"]");
  co::Json c = call_ok(f.agent, "cohorts.get");
  assert_string_equal(co::json_print(cJSON_GetObjectItem(c.get(), "remote")).c_str(), "[\"12345\"]");
}

// SegmentEntry / SegmentExit are the agent's own: in the history, in the
// look-back, never in the queue for the CCS API, unless asked for.
UNIT_TEST(segment_events_stay_on_the_device) {
  const char *defs = "{\"cohorts\":[{\"id\":\"c1\",\"name\":\"E-ers\",\"rule\":{\"logic\":\"AND\",\"conditions\":"
                     "[{\"type\":\"event\",\"event_type\":\"E\"}]}}]}";
  for (int send = 0; send < 2; ++send) {
    Fixture f;
    Gate api;
    api.attach(f);
    f.open(send ? "\"sync.send_segment_events\":true" : "");
    call_ok(f.agent, "definitions.put", defs);
    f.track(2);
    co::Json h = call_ok(f.agent, "history.get", "{\"name\":\"SegmentEntry\"}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")), 1);
    assert_int_equal(num(call_ok(f.agent, "status").get(), "queue_depth"), send ? 3 : 2);
    api.up = true;
    assert_int_equal(num(f.sync().get(), "pending"), 0);
    bool sent_entry = false;
    for (auto &body : api.bodies()) sent_entry |= body.find("SegmentEntry") != std::string::npos;
    assert_int_equal(sent_entry, send);
    // Restarted, the queue is counted the same way (nothing left to send).
    f.reopen();
    assert_int_equal(num(call_ok(f.agent, "status").get(), "queue_depth"), 0);
  }
}

// The history counts the segment events an identity.reset leaves behind
// (they sit among the old user's queued events, but are not queued), so it
// never drifts below the queue as evictions go on.
UNIT_TEST(segment_events_are_counted_across_reset) {
  Fixture f;
  Gate api;
  api.attach(f);
  f.open("\"history.max_events\":3");
  call_ok(f.agent, "definitions.put",
          "{\"cohorts\":[{\"id\":\"c1\",\"name\":\"E-ers\",\"rule\":{\"logic\":\"AND\",\"conditions\":"
          "[{\"type\":\"event\",\"event_type\":\"E\"}]}}]}");
  f.track(1);  // E, then SegmentEntry: both after the send cursor
  call_ok(f.agent, "identity.reset");
  co::Json st = call_ok(f.agent, "status");
  assert_int_equal(num(st.get(), "queue_depth"), 1);
  assert_int_equal(num(cJSON_GetObjectItem(st.get(), "history"), "events"), 2);
  api.up = true;
  for (int i = 0; i < 6; ++i) {
    f.track(1);
    f.sync();
    st = call_ok(f.agent, "status");
    assert_true(num(st.get(), "queue_depth") <= num(cJSON_GetObjectItem(st.get(), "history"), "events"));
  }
  f.reopen();  // the store's own count agrees
  co::Json again = call_ok(f.agent, "status");
  assert_int_equal(num(cJSON_GetObjectItem(again.get(), "history"), "events"),
                   num(cJSON_GetObjectItem(st.get(), "history"), "events"));
}

// Within a request, events are in chronological order (the guide); each
// batch leaves under the identity its events were recorded with, aliases
// included, across identity.reset.
UNIT_TEST(batches_are_chronological_and_keep_their_identity) {
  Fixture f;
  Gate api;
  api.attach(f);
  f.open();
  call_ok(f.agent, "identity.set_aliases", "{\"aliases\":[{\"tag\":\"tifa\",\"id\":\"t-1\"}]}");
  for (const char *t : {"2024-01-15T14:00:03Z", "2024-01-15T14:00:01Z", "2024-01-15T14:00:02Z"}) {
    call_ok(f.agent, "track", ("{\"name\":\"E\",\"time\":\"" + std::string(t) + "\"}").c_str());
  }
  std::string second = str(call_ok(f.agent, "identity.reset").get(), "user_id");
  f.track(1);
  call_ok(f.agent, "identity.reset");
  call_ok(f.agent, "identity.set_aliases", "{\"aliases\":[{\"tag\":\"idfa\",\"id\":\"i-3\"}]}");
  f.track(1);
  api.up = true;
  f.sync();
  auto sent = api.bodies();
  assert_int_equal(sent.size(), 3);
  co::Json b0 = co::json_parse(sent[0]), b1 = co::json_parse(sent[1]), b2 = co::json_parse(sent[2]);
  assert_string_equal(co::json_print(cJSON_GetObjectItem(b0.get(), "aliases")).c_str(),
                      "[{\"tag\":\"tifa\",\"id\":\"t-1\",\"priority\":0}]");
  const cJSON *events = cJSON_GetObjectItem(b0.get(), "events");
  for (int i = 0; i < 3; ++i) {
    std::string expect = "2024-01-15T14:00:0" + std::to_string(i + 1) + ".000Z";
    assert_string_equal(str(cJSON_GetArrayItem(events, i), "time").c_str(), expect.c_str());
  }
  assert_null(cJSON_GetObjectItem(b1.get(), "aliases"));
  assert_string_equal(str(b1.get(), "user_id").c_str(), second.c_str());
  assert_string_equal(co::json_print(cJSON_GetObjectItem(b2.get(), "aliases")).c_str(),
                      "[{\"tag\":\"idfa\",\"id\":\"i-3\",\"priority\":0}]");
}

// The guide runs the CCS and Contextual calls for a view in parallel: the
// contextual answer here waits until the CCS request has arrived, which a
// worker doing one after the other never lets happen (it would time out).
UNIT_TEST(contextual_and_ccs_go_out_together) {
  Fixture f;
  std::mutex mu;
  std::condition_variable cv;
  bool ccs_in = false, overlapped = false;
  f.transport.set_handler([&](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
    std::unique_lock<std::mutex> lock(mu);
    if (is_ccs(req)) {
      ccs_in = true;
      cv.notify_all();
      return answer(r, 200, kAnswer);
    }
    overlapped = cv.wait_for(lock, std::chrono::seconds(5), [&] { return ccs_in; });
    answer(r, 200, "{\"activations\":{\"freewheel\":[\"99999\"]}}");
  });
  f.open("\"client.type\":\"ctv\"");
  call_ok(f.agent, "view.start", "{\"url\":\"https://example.com/sport/1\",\"properties\":{\"title\":\"t\"}}");
  co::Json a = call_ok(f.agent, "activations.get", "{\"timeout_ms\":8000,\"url\":\"https://example.com/sport/1\"}");
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(a.get(), "stale")));
  {
    std::lock_guard<std::mutex> lock(mu);
    assert_true(overlapped);
  }
  assert_string_equal(co::json_print(cJSON_GetObjectItem(a.get(), "contextual")).c_str(), "{\"freewheel\":[\"99999\"]}");
  for (auto &req : f.transport.sent()) {
    if (is_ccs(req)) continue;
    co::Json body = co::json_parse(req.body);
    assert_string_equal(co::json_print(cJSON_GetObjectItem(body.get(), "page_properties")).c_str(),
                        "{\"video\":{\"title\":\"t\"},\"client\":{\"type\":\"ctv\"}}");
  }
}

// The troubleshooting switch: CCS requests validate synchronously, a warning
// says it is for testing, and schema errors show in the dead letters.
UNIT_TEST(synchronous_validation_is_for_testing) {
  Fixture f;
  Lines log;
  f.logger.set_sink(Lines::sink, &log);
  f.transport.set_handler([](const co::platform::HttpRequest &req, co::platform::HttpResponse &r) {
    if (req.url.find("synchronous-validation=true") == std::string::npos) return answer(r, 200, "{}");
    answer(r, 400, api_error(400, "event schema validation failed", "events[0].properties.i: expected string, got 0"));
  });
  f.open("\"api.synchronous_validation\":true");
  assert_non_null(strstr(log.text().c_str(), "for testing only"));
  f.logger.set_sink(nullptr, nullptr);
  f.track(1);
  f.sync();
  assert_non_null(strstr(f.ccs_sent().back().url.c_str(), "?activations=true&synchronous-validation=true"));
  co::Json dl = call_ok(f.agent, "dead_letters.get");
  const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(dl.get(), "dead_letters"), 0);
  assert_string_equal(str(d, "cause").c_str(), "events[0].properties.i: expected string, got 0");
}
