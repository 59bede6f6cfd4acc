// bench_device: what the device pays per event, measured the way an app calls
// the agent (cohort_track, the public C API), with the event shapes an app
// really sends. Prints, for the small and the ~500-byte Direct API shape,
// queued (the API absent) and live (the API emulator taking every batch):
//   * µs per cohort_track (median, p99, mean; each call timed on its own);
//   * bytes per event: the process's write_bytes (/proc/self/io: what the
//     kernel was given, in pages) and what SQLite wrote (WAL frames,
//     checkpoints into the database), counted by a VFS around the default one;
//   * fsyncs per event and per second, counted by the same VFS;
// with storage.sync_interval_ms 0 (a sync per acknowledged event) too; and
// what local cohorts cost the caller: two agents, the same stream, 0 and 200
// cohorts, calls interleaved, the difference of their medians and p99s.
// Figures only; no pass/fail.
//
//   bench_device [EVENTS]        (default 5000)
#include <cohort/cohort.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "emulator_process.h"
#include "io_counter.h"
#include "shapes.h"

namespace {

using bench::die;
using Clock = std::chrono::steady_clock;
constexpr const char *kKey = "bench-device-key";
// The Snowplow C++ tracker's rate with a live local collector, ~520-byte
// events, one thread, measured beside ours for issue #25 (it is not built
// here): the reference for "10x Snowplow live".
constexpr double kSnowplowLiveUs = 516;

double us_since(Clock::time_point t0) { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); }

struct Options {
  std::string api_url = "http://127.0.0.1:9";  // a closed port: everything stays queued
  int sync_interval_ms = -1;                   // -1: the default
  std::string definitions;                     // a definitions document to put, or none
};

cohort_agent *open_agent(const std::string &dir, const Options &o) {
  std::string cfg = "{\"data_dir\":\"" + dir +
                    "\",\"consent\":{\"required\":false},\"log\":{\"level\":\"error\"},"
                    "\"clock\":{\"trust\":\"system\"},\"sync\":{\"initial_delay_s\":0},"
                    "\"history\":{\"max_events\":1000000},\"queue\":{\"max_events\":1000000},"
                    "\"api\":{\"ccs_url\":\"" +
                    o.api_url + "\",\"contextual_url\":\"" + o.api_url + "\",\"key\":\"" + kKey + "\"}";
  if (o.sync_interval_ms >= 0) cfg += ",\"storage\":{\"sync_interval_ms\":" + std::to_string(o.sync_interval_ms) + "}";
  cfg += "}";
  cohort_agent *a = nullptr;
  if (cohort_open(cfg.c_str(), &a) != COHORT_OK) die(std::string("cohort_open: ") + cohort_last_error(nullptr));
  if (!o.definitions.empty()) {
    char *out = nullptr;  // the params are the definitions document
    if (cohort_call(a, "definitions.put", o.definitions.c_str(), &out) != COHORT_OK) {
      die(std::string("definitions.put: ") + cohort_last_error(a));
    }
    cohort_free(out);
  }
  return a;
}

double pending(cohort_agent *a) {
  char *out = nullptr;
  if (cohort_call(a, "sync.now", "{\"timeout_ms\":30000}", &out) != COHORT_OK) {
    die(std::string("sync.now: ") + cohort_last_error(a));
  }
  cJSON *r = cJSON_Parse(out);
  cohort_free(out);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "pending");
  double v = cJSON_IsNumber(p) ? p->valuedouble : -1;
  cJSON_Delete(r);
  return v;
}

void track(cohort_agent *a, const std::string &name, const std::string &props) {
  if (cohort_track(a, name.c_str(), props.c_str()) != COHORT_OK) die(std::string("track: ") + cohort_last_error(a));
}

struct Run {
  std::vector<double> us;  // each call
  double secs = 0;
  long long kernel_bytes = 0;
  bench::Io io;
};

// `n` events of one shape into a fresh agent; live: drained before closing.
// Closing checkpoints the WAL: its writes are part of the figure.
Run run_track(const std::string &dir, const Options &o, int n, bool small, bool live) {
  cohort_agent *a = open_agent(dir, o);
  std::vector<std::string> props;
  for (int i = 0; i < 64; ++i) props.push_back(small ? bench::small_props() : bench::direct_api_props(i));
  Run r;
  r.us.reserve(static_cast<size_t>(n));
  long long k0 = bench::process_write_bytes();
  bench::Io io0 = bench::io();
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto c0 = Clock::now();
    track(a, "Videoview", props[static_cast<size_t>(i) % props.size()]);
    r.us.push_back(us_since(c0));
  }
  r.secs = us_since(t0) / 1e6;
  if (live) {
    for (auto w0 = Clock::now(); pending(a) != 0;) {
      if (us_since(w0) > 300e6) die("the outbox did not drain in 5 minutes");
    }
  }
  cohort_close(a);
  r.kernel_bytes = bench::process_write_bytes() - k0;
  r.io = bench::io() - io0;
  return r;
}

void print_run(const char *label, const Run &r, int n) {
  double mean = 0;
  for (double v : r.us) mean += v;
  mean /= static_cast<double>(r.us.size());
  printf("  %-44s p50 %6.1f us  p99 %6.1f us  mean %6.1f us  (%5.1fx Snowplow live)\n", label,
         bench::percentile(r.us, 0.5), bench::percentile(r.us, 0.99), mean, kSnowplowLiveUs / mean);
  printf("  %-44s %6.0f B/event written (kernel), SQLite: WAL %5.0f + db %5.0f B/event; %.3f fsyncs/event,"
         " %.1f fsyncs/s\n",
         "", static_cast<double>(r.kernel_bytes) / n, static_cast<double>(r.io.wal_bytes) / n,
         static_cast<double>(r.io.db_bytes) / n, static_cast<double>(r.io.syncs) / n,
         static_cast<double>(r.io.syncs) / r.secs);
}

// Local cohorts as the caller pays them: the same stream into two agents, one
// with none and one with `cohorts`, calls interleaved so that the machine's
// noise falls on both alike.
void cohort_cost(const std::string &root, int n, int cohorts) {
  Options none, some;
  some.definitions = bench::realistic_cohorts(cohorts);
  cohort_agent *a0 = open_agent(bench::make_dir(root, "cost0"), none);
  cohort_agent *a1 = open_agent(bench::make_dir(root, "cost1"), some);
  std::vector<bench::StreamEvent> stream = bench::tv_stream(n, 7);
  std::vector<double> t0s, t1s;
  for (const bench::StreamEvent &e : stream) {
    auto c0 = Clock::now();
    track(a0, e.name, e.props);
    t0s.push_back(us_since(c0));
    auto c1 = Clock::now();
    track(a1, e.name, e.props);
    t1s.push_back(us_since(c1));
  }
  cohort_close(a0);
  cohort_close(a1);
  double p50_0 = bench::percentile(t0s, 0.5), p50_1 = bench::percentile(t1s, 0.5);
  double p99_0 = bench::percentile(t0s, 0.99), p99_1 = bench::percentile(t1s, 0.99);
  printf("  no cohorts:  p50 %6.1f us  p99 %6.1f us\n", p50_0, p99_0);
  printf("  %d cohorts: p50 %6.1f us  p99 %6.1f us\n", cohorts, p50_1, p99_1);
  printf("  what %d cohorts cost the caller: %+.1f us at the median, %+.1f us at p99 (goal <= 5 / <= 10)\n", cohorts,
         p50_1 - p50_0, p99_1 - p99_0);
}

}  // namespace

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 5000;
  if (n <= 0 || argc > 2) die("usage: bench_device [EVENTS]");
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  bench::count_io();
  char tmpl[] = "/tmp/cohort-bench-device-XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp");
  std::string root = tmpl;
  bench::Emulator e = bench::start_emulator(root, kKey);
  Options queued, live;
  live.api_url = e.url;
  printf("props: small %zu bytes, Direct API shape ~%zu bytes; %d events a run\n", bench::small_props().size(),
         bench::direct_api_props(0).size(), n);
  int k = 0;
  auto dir = [&] { return bench::make_dir(root, ("run" + std::to_string(k++)).c_str()); };
  printf("cohort_track, default durability (storage.sync_interval_ms default):\n");
  print_run("small, queued (API absent)", run_track(dir(), queued, n, true, false), n);
  print_run("~500 B, queued (API absent)", run_track(dir(), queued, n, false, false), n);
  print_run("small, live (API emulator)", run_track(dir(), live, n, true, true), n);
  print_run("~500 B, live (API emulator)", run_track(dir(), live, n, false, true), n);
  printf("cohort_track, storage.sync_interval_ms 0 (a sync per acknowledged event; goal: 1 fsync/event):\n");
  Options q0 = queued, l0 = live;
  q0.sync_interval_ms = l0.sync_interval_ms = 0;
  int m = std::max(n / 5, 1);
  print_run("~500 B, queued, sync each", run_track(dir(), q0, m, false, false), m);
  print_run("~500 B, live, sync each", run_track(dir(), l0, m, false, true), m);
  printf("local cohorts, through cohort_track (queued, a TV day's stream of %d events):\n", n);
  cohort_cost(root, n, 200);
  bench::stop_emulator(e);
  bench::remove_tree(root);
  curl_global_cleanup();
  return 0;
}
