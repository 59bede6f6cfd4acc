// bench_definitions: the fleet's signed definitions as a device takes them,
// through the C API against the API emulator (which signs what it publishes
// with the demo key): a 500-cohort document fetched, verified (ECDSA P-256)
// and put in force with look-back over 50,000 events of history, from
// definitions.reload until status says it settled; beside it the same
// cohorts put with definitions.put (look-back, no fetch or signature).
// Figures only; no pass/fail.
//
//   bench_definitions [COHORTS] [EVENTS]        (default 500 50000)
#include <cohort/cohort.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "emulator_process.h"
#include "shapes.h"

#ifndef COHORT_DEMO_PUBLIC_KEY
#define COHORT_DEMO_PUBLIC_KEY "samples/definitions/keys/demo-pub.pem"
#endif

namespace {

using bench::die;
using Clock = std::chrono::steady_clock;
constexpr const char *kKey = "bench-definitions-key";

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

std::string call(cohort_agent *a, const char *method, const char *params) {
  char *out = nullptr;
  if (cohort_call(a, method, params, &out) != COHORT_OK) die(std::string(method) + ": " + cohort_last_error(a));
  std::string r = out;
  cohort_free(out);
  return r;
}

double set_field(cohort_agent *a, const char *name) {
  cJSON *st = cJSON_Parse(call(a, "status", nullptr).c_str());
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "definitions_set"), name);
  double n = cJSON_IsNumber(v) ? v->valuedouble : -1;
  cJSON_Delete(st);
  return n;
}

cohort_agent *open_agent(const std::string &dir, const std::string &url) {
  std::string cfg = "{\"data_dir\":\"" + dir +
                    "\",\"consent\":{\"required\":false},\"log\":{\"level\":\"error\"},"
                    "\"clock\":{\"trust\":\"system\"},\"sync\":{\"initial_delay_s\":0},"
                    "\"history\":{\"max_events\":1000000},\"queue\":{\"max_events\":1000000},"
                    "\"api\":{\"ccs_url\":\"http://127.0.0.1:9\",\"contextual_url\":\"http://127.0.0.1:9\",\"key\":\"" +
                    std::string(kKey) + "\"}" +
                    (url.empty() ? std::string()
                                 : ",\"cohorts\":{\"definitions_url\":\"" + url + "\",\"public_keys\":[\"" +
                                       COHORT_DEMO_PUBLIC_KEY + "\"],\"refresh_s\":86400}") +
                    "}";
  cohort_agent *a = nullptr;
  if (cohort_open(cfg.c_str(), &a) != COHORT_OK) die(std::string("cohort_open: ") + cohort_last_error(nullptr));
  return a;
}

void fill_history(cohort_agent *a, int events) {
  for (const bench::StreamEvent &e : bench::tv_stream(events, 11)) {
    if (cohort_track(a, e.name.c_str(), e.props.c_str()) != COHORT_OK) die(std::string("track: ") + cohort_last_error(a));
  }
}

}  // namespace

int main(int argc, char **argv) {
  int cohorts = argc > 1 ? atoi(argv[1]) : 500;
  int events = argc > 2 ? atoi(argv[2]) : 50000;
  if (cohorts <= 0 || events <= 0 || argc > 3) die("usage: bench_definitions [COHORTS] [EVENTS]");
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  char tmpl[] = "/tmp/cohort-bench-defs-XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp");
  std::string root = tmpl;
  bench::Emulator e = bench::start_emulator(root, kKey);
  std::string cohorts_doc = bench::realistic_cohorts(cohorts);
  std::string signed_doc = "{\"version\":2," + cohorts_doc.substr(1);
  std::string url = e.url + "/definitions/v1/cohorts.json";

  cohort_agent *a = open_agent(bench::make_dir(root, "put"), "");
  fill_history(a, events);
  auto p0 = Clock::now();
  call(a, "definitions.put", cohorts_doc.c_str());
  double put_ms = ms_since(p0);
  cohort_close(a);

  // Fetch, verify, apply with look-back: a device that had the history first.
  std::string dir = bench::make_dir(root, "timed");
  a = open_agent(dir, "");
  fill_history(a, events);
  cohort_close(a);
  bench::control(e, "/_control/definitions", signed_doc.c_str());
  auto f0 = Clock::now();
  a = open_agent(dir, url);  // the first fetch goes at once (no fleet delay here)
  while (set_field(a, "version") != 2) {
    if (ms_since(f0) > 120000) die("the signed document was not taken in 2 minutes");
  }
  double fetch_ms = ms_since(f0);
  double count = set_field(a, "count");
  cohort_close(a);
  printf("signed definitions: %d cohorts (%zu bytes), %d events of history\n", cohorts, signed_doc.size(), events);
  printf("  open + fetch + verify + apply with look-back (until status has it): %.1f ms (%.0f cohorts in force)\n",
         fetch_ms, count);
  printf("  definitions.put of the same cohorts (apply with look-back only):    %.1f ms\n", put_ms);
  bench::stop_emulator(e);
  bench::remove_tree(root);
  curl_global_cleanup();
  return 0;
}
