// Durable track throughput through the C API, bytes written and fsyncs per
// event, for the old small event and a Direct-API-sized one (~500 bytes).
// Prints its figures; no pass/fail (performance is measured, not asserted).
#include <cohort/cohort.h>

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io_counter.h"
#include "shapes.h"

static long long file_size(const std::string &path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : 0;
}

namespace {

struct Shape {
  const char *label;
  std::vector<std::string> props;
};

// `n` tracks of one shape into `a`: µs per event, bytes per event (what the
// kernel was given, and what SQLite wrote: WAL frames and checkpoints, counted
// by the I/O-counting VFS), fsyncs per event and per second.
bool track_shape(cohort_agent *a, const Shape &shape, int n) {
  long long k0 = bench::process_write_bytes();
  bench::Io io0 = bench::io();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    if (cohort_track(a, "Videoview", shape.props[static_cast<size_t>(i) % shape.props.size()].c_str()) != COHORT_OK) {
      fprintf(stderr, "track: %s\n", cohort_last_error(a));
      return false;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  long long kernel = bench::process_write_bytes() - k0;
  bench::Io io = bench::io() - io0;
  printf(
      "track %-28s %d events: %.1f us/event; %.0f B/event written (kernel), SQLite WAL %.0f + db %.0f B/event;"
      " %.3f fsyncs/event, %.1f fsyncs/s\n",
      shape.label, n, secs * 1e6 / n, static_cast<double>(kernel) / n, static_cast<double>(io.wal_bytes) / n,
      static_cast<double>(io.db_bytes) / n, static_cast<double>(io.syncs) / n, static_cast<double>(io.syncs) / secs);
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  bench::count_io();
  char tmpl[] = "/tmp/cohort-bench-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  std::string dir = tmpl;
  // The remote API is a closed local port: this measures the device side only.
  std::string cfg = "{\"data_dir\":\"" + dir +
                    "\",\"consent\":{\"required\":false},"
                    "\"api\":{\"ccs_url\":\"http://127.0.0.1:9\",\"contextual_url\":\"http://127.0.0.1:9\"},"
                    "\"history\":{\"max_events\":1000000},\"queue\":{\"max_events\":1000000},"
                    "\"clock\":{\"trust\":\"system\"}}";
  std::vector<std::string> direct;
  for (int i = 0; i < 64; ++i) direct.push_back(bench::direct_api_props(i));
  // The old small play event, and a Direct-API-sized one (the guide's Videoview).
  const Shape shapes[] = {{"(small, ~125 B props)", {bench::small_props()}}, {"(~500 B props)", direct}};
  std::string props = bench::small_props();
  // Each shape in a store of its own; closing checkpoints the WAL, counted with it.
  auto open_in = [&](const std::string &sub, const char *extra) -> cohort_agent * {
    std::string c = cfg;
    c.replace(c.find(dir), dir.size(), dir + "/" + sub);
    c.insert(c.size() - 1, extra);
    cohort_agent *agent = nullptr;
    if (cohort_open(c.c_str(), &agent) != COHORT_OK) fprintf(stderr, "open: %s\n", cohort_last_error(nullptr));
    return agent;
  };
  cohort_agent *a = open_in("direct", "");
  if (!a || !track_shape(a, shapes[1], n)) return 1;
  cohort_close(a);
  // The small shape's agent goes on with the view cycles.
  a = open_in("small", "");
  if (!a || !track_shape(a, shapes[0], n)) return 1;
  std::string db = dir + "/small/cohort.db";
  // A viewing cycle: view.start + 10 x view.progress + view.end (2 events).
  int cycles = n / 10;
  char id[37];
  auto t2 = std::chrono::steady_clock::now();
  for (int c = 0; c < cycles; ++c) {
    if (cohort_view_start(a, "video", props.c_str(), 600, id) != COHORT_OK) return 1;
    for (int p = 1; p <= 10; ++p) {
      std::string params = std::string("{\"view_id\":\"") + id + "\",\"position_s\":" + std::to_string(p * 6) + "}";
      char *res = nullptr;
      if (cohort_call(a, "view.progress", params.c_str(), &res) != COHORT_OK) return 1;
      cohort_free(res);
    }
    if (cohort_view_end(a, id, 60) != COHORT_OK) return 1;
  }
  auto t3 = std::chrono::steady_clock::now();
  double vsecs = std::chrono::duration<double>(t3 - t2).count();
  printf("view cycles (start + 10 progress + end): %d in %.3f s = %.0f cycles/s (%.1f us/cycle)\n", cycles, vsecs,
         cycles / vsecs, vsecs * 1e6 / cycles);
  cohort_close(a);  // checkpoints the WAL into the database
  int events = n + 2 * cycles;
  printf("database size: %.0f bytes/event (small, %d events), %.0f bytes/event (~500 B, %d events)\n",
         static_cast<double>(file_size(db)) / events, events,
         static_cast<double>(file_size(dir + "/direct/cohort.db")) / n, n);

  // Every commit synced before it returns (storage.sync_interval_ms 0): what
  // a box that must lose nothing to a power cut pays per event.
  a = open_in("synced", ",\"storage\":{\"sync_interval_ms\":0}");
  if (!a) return 1;
  printf("with storage.sync_interval_ms 0 (durable against power cuts, an fsync per event):\n");
  if (!track_shape(a, shapes[1], n / 10)) return 1;
  cohort_close(a);
  std::string rm = "rm -rf '" + dir + "'";
  return system(rm.c_str()) == 0 ? 0 : 1;
}
