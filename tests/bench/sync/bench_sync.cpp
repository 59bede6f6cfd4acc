// bench_sync: the remote sync as an app sees it, through the C API, against
// the API emulator (tests/emulator/emulator.py, started here on a free port).
// Prints:
//   * activations.get latency p50/p99/max over 200 calls (timeout_ms 100, a new
//     URL each call so the Contextual API is asked every time; one repeated URL
//     for the cached path) with a healthy emulator, one answering after 2 s,
//     and one that accepts and never answers (goal: p99 <= timeout + 5 ms);
//   * drain rate: 5,000 events queued while the CCS API is down, then the time
//     until sync.now reports pending 0 (and the same with events tracked while
//     the API is up, the worker sending as they arrive);
//   * bytes on the wire per event: request bodies (Content-Length) of the
//     delivered CCS requests from /_control/requests, divided by the events,
//     and the same with the request line and headers.
// Figures only; no pass/fail.
//
//   bench_sync [--stock-emulator] [EVENTS] [CALLS]        (default 5000 200)
#include <cohort/cohort.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "emulator_process.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char *kKey = "bench-sync-key";
constexpr int kApiTimeoutMs = 300;   // the agent's api.timeout_ms (the default)
constexpr int kBudgetMs = 100;       // activations.get timeout_ms
bool g_stock_emulator = false;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

using bench::control;
using bench::die;
using bench::Emulator;
using bench::make_dir;
using bench::percentile;

void reset(const Emulator &e) { control(e, "/_control/reset", "{}"); }
void fault(const Emulator &e, const char *json) { control(e, "/_control/fault", json); }

// ---------------------------------------------------------------- agent

struct Agent {
  cohort_agent *a = nullptr;
};

Agent open_agent(const std::string &data_dir, const Emulator &e) {
  char config[1024];
  snprintf(config, sizeof config,
           "{\"data_dir\":\"%s\",\"consent\":{\"required\":false},\"log\":{\"level\":\"error\"},"
           "\"sync\":{\"initial_delay_s\":0},\"clock\":{\"trust\":\"system\"},"
           "\"api\":{\"ccs_url\":\"%s\",\"contextual_url\":\"%s\",\"key\":\"%s\",\"timeout_ms\":%d}}",
           data_dir.c_str(), e.url.c_str(), e.url.c_str(), kKey, kApiTimeoutMs);
  Agent g;
  if (cohort_open(config, &g.a) != COHORT_OK) die(std::string("cohort_open: ") + cohort_last_error(nullptr));
  return g;
}

// A method's result, parsed (the caller deletes it).
cJSON *call(Agent &g, const char *method, const std::string &params) {
  char *out = nullptr;
  cohort_status st = cohort_call(g.a, method, params.c_str(), &out);
  if (st != COHORT_OK) die(std::string(method) + ": " + cohort_last_error(g.a));
  cJSON *r = cJSON_Parse(out);
  cohort_free(out);
  if (!r) die(std::string(method) + ": unparsable result");
  return r;
}

double number(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

// Calls sync.now until the outbox is empty; the last result's `sent` summed.
void drain(Agent &g) {
  auto t0 = Clock::now();
  for (;;) {
    cJSON *r = call(g, "sync.now", "{\"timeout_ms\":30000}");
    double pending = number(r, "pending");
    cJSON_Delete(r);
    if (pending == 0) return;
    if (ms_since(t0) > 300000) die("the outbox did not drain in 5 minutes");
  }
}

// ---------------------------------------------------------------- benchmarks

void bench_activations(const Emulator &e, const std::string &root, const char *label, const char *fault_json,
                       int calls, bool same_url) {
  reset(e);
  if (fault_json) fault(e, fault_json);
  static int n = 0;
  std::string dir = make_dir(root, ("act" + std::to_string(n++)).c_str());
  Agent g = open_agent(dir, e);
  std::vector<double> lat;
  int stale = 0;
  for (int i = 0; i < calls; ++i) {
    char params[512];
    snprintf(params, sizeof params,
             "{\"timeout_ms\":%d,\"url\":\"https://example.com/sport/clip-%d\","
             "\"page_properties\":{\"video\":{\"title\":\"Highlights %d\",\"keywords\":[\"football\"]}}}",
             kBudgetMs, same_url ? 0 : i, i);
    auto t0 = Clock::now();
    cJSON *r = call(g, "activations.get", params);
    lat.push_back(ms_since(t0));
    stale += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "stale")) ? 1 : 0;
    cJSON_Delete(r);
  }
  auto t0 = Clock::now();
  cohort_close(g.a);
  double close_ms = ms_since(t0);
  printf("  %-34s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  stale %3d/%d  (close %.0f ms)\n", label,
         percentile(lat, 0.50), percentile(lat, 0.99), percentile(lat, 1.0), stale, calls, close_ms);
}

struct Wire {
  long requests = 0;
  long events = 0;
  long body_bytes = 0;
  long head_bytes = 0;
  double server_ms = 0;  // the emulator's own time on them (duration_ms)
};

// Bytes of the delivered (200, no fault) CCS requests in the emulator's log.
Wire wire(const Emulator &e) {
  std::string text = control(e, "/_control/requests?path_prefix=/ccs/");
  cJSON *doc = cJSON_Parse(text.c_str());
  if (!doc) die("/_control/requests: unparsable");
  Wire w;
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "requests");
  for (const cJSON *r = list ? list->child : nullptr; r; r = r->next) {
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(r, "status");
    if (!cJSON_IsNumber(status) || status->valueint != 200) continue;
    if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "fault"))) continue;
    w.requests += 1;
    w.server_ms += number(r, "duration_ms");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(r, "body");
    w.events += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(body, "events"));
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive(r, "headers");
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(r, "target");
    // "POST <target> HTTP/1.1\r\n", each "name: value\r\n", then "\r\n".
    w.head_bytes += 5 + static_cast<long>(strlen(target->valuestring)) + 11 + 2;
    for (const cJSON *h = headers ? headers->child : nullptr; h; h = h->next) {
      w.head_bytes += static_cast<long>(strlen(h->string) + 2 + strlen(h->valuestring) + 2);
      if (strcmp(h->string, "content-length") == 0) w.body_bytes += atol(h->valuestring);
    }
  }
  cJSON_Delete(doc);
  return w;
}

void print_wire(const Wire &w, long tracked) {
  printf("    %ld requests, %.2f events/request, %ld of %ld events delivered; %.0f ms of it in the emulator\n",
         w.requests, w.requests ? static_cast<double>(w.events) / static_cast<double>(w.requests) : 0.0, w.events,
         tracked, w.server_ms);
  if (w.events) {
    printf("    bytes on the wire per event: %.1f (bodies), %.1f (with request line and headers)\n",
           static_cast<double>(w.body_bytes) / static_cast<double>(w.events),
           static_cast<double>(w.body_bytes + w.head_bytes) / static_cast<double>(w.events));
  }
}

void track(Agent &g, long i) {
  char props[256];
  snprintf(props, sizeof props,
           "{\"video_id\":\"vid_%ld\",\"title\":\"Match of the day\",\"categories\":[\"sport\",\"football\"],\"n\":%ld}",
           i % 97, i);
  if (cohort_track(g.a, "Videoview", props) != COHORT_OK) die(std::string("track: ") + cohort_last_error(g.a));
}

void bench_drain(const Emulator &e, const std::string &root, long events) {
  reset(e);
  fault(e, "{\"mode\":\"status\",\"code\":503,\"path\":\"ccs\"}");  // the API is down while they queue
  Agent g = open_agent(make_dir(root, "drain"), e);
  auto t0 = Clock::now();
  for (long i = 0; i < events; ++i) track(g, i);
  double track_ms = ms_since(t0);
  fault(e, "{\"mode\":\"none\",\"path\":\"ccs\"}");
  control(e, "/_control/reset", "{}");  // and forget the failed attempts
  t0 = Clock::now();
  drain(g);
  double drain_ms = ms_since(t0);
  cohort_close(g.a);
  printf("  backlog of %ld events (tracked at %.0f events/s while the API was down)\n", events,
         static_cast<double>(events) / track_ms * 1000);
  printf("    drained in %.0f ms: %.0f events/s\n", drain_ms, static_cast<double>(events) / drain_ms * 1000);
  print_wire(wire(e), events);
}

void bench_live(const Emulator &e, const std::string &root, long events) {
  reset(e);
  Agent g = open_agent(make_dir(root, "live"), e);
  auto t0 = Clock::now();
  for (long i = 0; i < events; ++i) track(g, i);
  double track_ms = ms_since(t0);
  drain(g);
  double total_ms = ms_since(t0);
  cohort_close(g.a);
  printf("  live: %ld events tracked in %.0f ms while the worker sends; all out after %.0f ms: %.0f events/s\n",
         events, track_ms, total_ms, static_cast<double>(events) / total_ms * 1000);
  print_wire(wire(e), events);
}

}  // namespace

int main(int argc, char **argv) {
  std::vector<const char *> args;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--stock-emulator") == 0) {
      g_stock_emulator = true;
    } else {
      args.push_back(argv[i]);
    }
  }
  long events = args.size() > 0 ? atol(args[0]) : 5000;
  int calls = args.size() > 1 ? atoi(args[1]) : 200;
  if (events <= 0 || calls <= 0 || args.size() > 2) die("usage: bench_sync [--stock-emulator] [EVENTS] [CALLS]");
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  char tmpl[] = "/tmp/cohort-bench-sync-XXXXXX";
  if (!mkdtemp(tmpl)) die(std::string("mkdtemp: ") + strerror(errno));
  std::string root = tmpl;
  Emulator e = bench::start_emulator(root, kKey, g_stock_emulator);
  printf("emulator: %s\n", g_stock_emulator ? "as is" : "with TCP_NODELAY");

  printf("activations.get, timeout_ms %d, api.timeout_ms %d, %d calls each:\n", kBudgetMs, kApiTimeoutMs, calls);
  bench_activations(e, root, "healthy, cached URL", nullptr, calls, true);
  bench_activations(e, root, "healthy, new URL each call", nullptr, calls, false);
  bench_activations(e, root, "2 s latency, new URL each call", "{\"mode\":\"latency\",\"delay_ms\":2000}", calls,
                    false);
  bench_activations(e, root, "hanging API, new URL each call", "{\"mode\":\"hang\",\"max_s\":30}", calls, false);
  printf("  (goal: p99 <= %d ms)\n", kBudgetMs + 5);

  printf("CCS sync, %ld events:\n", events);
  bench_drain(e, root, events);
  bench_live(e, root, events);

  bench::stop_emulator(e);
  bench::remove_tree(root);
  curl_global_cleanup();
  return 0;
}
