// Durable track throughput through the C API, and database growth per event.
// Prints its figures; no pass/fail (performance is measured, not asserted).
#include <cohort/cohort.h>

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io_counter.h"

static long long file_size(const std::string &path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : 0;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  char tmpl[] = "/tmp/cohort-bench-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  std::string dir = tmpl;
  // The remote API is a closed local port: this measures the device side only.
  std::string cfg = "{\"data_dir\":\"" + dir + "\",\"consent\":{\"required\":false},"
                    "\"api\":{\"ccs_url\":\"http://127.0.0.1:9\",\"contextual_url\":\"http://127.0.0.1:9\"},"
                    "\"history\":{\"max_events\":1000000},\"queue\":{\"max_events\":1000000},"
                    "\"clock\":{\"trust\":\"system\"}}";
  cohort_agent *a = nullptr;
  if (cohort_open(cfg.c_str(), &a) != COHORT_OK) {
    fprintf(stderr, "open: %s\n", cohort_last_error(nullptr));
    return 1;
  }
  // A Direct-API-sized play event (the guide's Videoview).
  const char *props =
      "{\"video_id\":\"vid_456\",\"title\":\"Highlights: Premier League Week 20\","
      "\"categories\":[\"sports\",\"football\"],\"duration_seconds\":600}";
  std::string db = dir + "/cohort.db";
  char *out = nullptr;
  cohort_call(a, "status", nullptr, &out);
  cohort_free(out);
  long long before = file_size(db) + file_size(db + "-wal");
  long long io_before = bench::process_write_bytes();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    if (cohort_track(a, "Videoview", props) != COHORT_OK) {
      fprintf(stderr, "track: %s\n", cohort_last_error(a));
      return 1;
    }
  }
  auto t1 = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(t1 - t0).count();
  long long io_after = bench::process_write_bytes();
  if (io_before >= 0 && io_after >= 0) {
    printf("storage writes: %.2f MB per 1,000 tracked events (write_bytes, WAL included)\n",
           static_cast<double>(io_after - io_before) / n * 1000 / 1e6);
  }
  printf("track (durable, C API): %d events in %.3f s = %.0f events/s (%.1f us/event)\n", n, secs, n / secs,
         secs * 1e6 / n);

  // A viewing cycle: view.start + 10 x view.progress + view.end (2 events).
  int cycles = n / 10;
  char id[37];
  auto t2 = std::chrono::steady_clock::now();
  for (int c = 0; c < cycles; ++c) {
    if (cohort_view_start(a, "video", props, 600, id) != COHORT_OK) return 1;
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
  long long after = file_size(db) + file_size(db + "-wal");
  int events = n + 2 * cycles;
  printf("database growth: %.0f bytes/event over %d events (history + outbox, Direct-API-sized properties)\n",
         static_cast<double>(after - before) / events, events);

  // Every commit synced before it returns (storage.sync_interval_ms 0): what
  // a box that must lose nothing to a power cut pays per event.
  std::string synced_dir = dir + "/synced";
  std::string synced_cfg = cfg;
  synced_cfg.replace(synced_cfg.find(dir), dir.size(), synced_dir);
  synced_cfg.insert(synced_cfg.size() - 1, ",\"storage\":{\"sync_interval_ms\":0}");
  if (cohort_open(synced_cfg.c_str(), &a) != COHORT_OK) {
    fprintf(stderr, "open: %s\n", cohort_last_error(nullptr));
    return 1;
  }
  int m = n / 10;
  io_before = bench::process_write_bytes();
  auto t4 = std::chrono::steady_clock::now();
  for (int i = 0; i < m; ++i) {
    if (cohort_track(a, "Videoview", props) != COHORT_OK) return 1;
  }
  double ssecs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t4).count();
  io_after = bench::process_write_bytes();
  printf("track (durable against power cuts: storage.sync_interval_ms 0, an fsync each, C API): %d events in %.3f s"
         " = %.0f events/s (%.1f us/event), %.2f MB written per 1,000\n",
         m, ssecs, m / ssecs, ssecs * 1e6 / m, static_cast<double>(io_after - io_before) / m * 1000 / 1e6);
  cohort_close(a);
  std::string rm = "rm -rf '" + dir + "'";
  return system(rm.c_str()) == 0 ? 0 : 1;
}
