// fleet_sim: what a fleet of agents does to the CCS API, on a virtual clock.
// Each simulated device runs the agent's own sender decisions
// (agent/src/sync_plan.h: the first sync's spread after a start, the batch
// size, what an answer means, and co::Backoff's jittered back-off with
// Retry-After and its recovery ramp), with the agent's default configuration
// (sync.initial_delay_s, sync.retry_base_ms, queue.max_events), against an
// API whose answers follow a scenario:
//   reboot   the whole fleet restarts at once after a firmware push;
//   outage   the API is down (503) for an hour, then recovers;
//   storm    the API answers 429 with Retry-After for twenty minutes.
// Prints the API's requests per second over time, the peak (the busiest
// 10-second window) against the fleet's steady-state rate, and the events
// generated, delivered, still queued and lost. Devices do not interact except
// through the API's answers, which depend on time alone, so each device is
// simulated on its own and the per-second request counts are summed.
//
//   fleet_sim [--agents N] [--threads T] [--seed S] [--check [--max-peak X]] [--quiet]
// --check exits 1 when a scenario's peak exceeds X times the steady state
// (default 2, the goal) or an event is lost. The small form is a test at the
// goal, so a change to the scheduling that would stampede the API fails
// `make test`.
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "sync_plan.h"

namespace {

using co::Backoff;
namespace plan = co::sync_plan;

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
// A device's events: a TV in use makes one every minute on average (plays,
// completions, ad impressions), as a Poisson stream.
constexpr double kMeanEventGapMs = 60.0 * kSecond;
// One event in ten starts a view (a play): an explicit request, which skips
// the agent's own delays (the fleet delay, the back-off, the recovery ramp)
// but never the server's Retry-After.
constexpr uint64_t kViewStartEvery = 10;
constexpr int kWindowS = 10;  // the peak is the busiest window of this many seconds

// splitmix64: a seeded, per-device source (the agent draws from its entropy seam).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint32_t u32() { return static_cast<uint32_t>(next() >> 32); }
  double unit() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  int64_t gap_ms() { return static_cast<int64_t>(-std::log(1.0 - unit()) * kMeanEventGapMs) + 1; }
};

struct Answer {
  int status;
  int64_t retry_after_s;
};

struct Scenario {
  const char *name;
  const char *what;
  int64_t duration_ms;
  bool reboot;                   // every device starts at 0 (else each started long before)
  int64_t fault_from, fault_to;  // the API's fault, [from, to)
  Answer fault;
  int64_t steady_from, steady_to;  // where the steady state is measured
};

Answer api_at(const Scenario &s, int64_t t) {
  if (t >= s.fault_from && t < s.fault_to) return s.fault;
  return {200, -1};
}

struct Totals {
  std::vector<uint64_t> per_second;
  uint64_t generated = 0, delivered = 0, queued = 0, lost = 0, requests = 0;
};

// One device from its start to the scenario's end: events arrive; a batch
// goes when the sender's plan says so; the answer settles its back-off.
void simulate_device(const Scenario &s, const co::Config &cfg, uint64_t seed, Totals &out) {
  Rng rng{seed};
  // All at once at 0 (a fleet reboot), or each at its own time in the hour
  // before 0 (a fleet in its steady state). The device's own clock starts
  // an hour before the scenario's (a monotonic clock is never negative).
  const int64_t origin = 3600 * kSecond;
  int64_t start = s.reboot ? origin : static_cast<int64_t>(rng.unit() * 3600 * kSecond);
  Backoff backoff;
  backoff.set_base_ms(cfg.sync_retry_base_ms);
  backoff.defer_until(plan::first_attempt_at(start, rng.next(), cfg.sync_initial_delay_s));
  int64_t pending = 0;
  if (s.reboot) pending = static_cast<int64_t>(rng.next() % 4);  // queued before the reboot
  out.generated += static_cast<uint64_t>(pending);
  int64_t next_event = start + rng.gap_ms();
  int64_t t = start;
  for (;;) {
    int64_t send_at = pending > 0 ? std::max(backoff.retry_at(), t) : INT64_MAX;
    int64_t next = std::min(next_event, send_at);
    if (next >= origin + s.duration_ms) break;
    t = next;
    if (next_event <= send_at) {
      ++pending;
      ++out.generated;
      if (pending > cfg.queue_max_events) {  // the outbox's bound: the oldest goes
        --pending;
        ++out.lost;
      }
      if (rng.next() % kViewStartEvery == 0) backoff.skip_own_delay();
      next_event = t + rng.gap_ms();
      continue;
    }
    if (!plan::send_due(backoff, t, pending)) continue;
    int64_t batch = std::min<int64_t>(pending, static_cast<int64_t>(plan::kBatchEvents));
    if (t >= origin) {
      ++out.per_second[static_cast<size_t>((t - origin) / kSecond)];
      ++out.requests;
    }
    Answer a = api_at(s, t - origin);
    plan::Verdict v = plan::verdict_of(a.status, true);
    if (v == plan::Verdict::delivered) {
      pending -= batch;
      out.delivered += static_cast<uint64_t>(batch);
    }
    plan::settle(backoff, v, t, rng.u32(), a.retry_after_s, static_cast<size_t>(batch));
  }
  out.queued += static_cast<uint64_t>(pending);
}

Totals run(const Scenario &s, const co::Config &cfg, int64_t agents, int threads, uint64_t seed) {
  std::vector<Totals> parts(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  for (int k = 0; k < threads; ++k) {
    pool.emplace_back([&, k] {
      Totals &p = parts[static_cast<size_t>(k)];
      p.per_second.assign(static_cast<size_t>(s.duration_ms / kSecond) + 1, 0);
      for (int64_t d = k; d < agents; d += threads) {
        simulate_device(s, cfg, seed * 0x100000001b3ULL + static_cast<uint64_t>(d), p);
      }
    });
  }
  for (std::thread &th : pool) th.join();
  Totals all = std::move(parts[0]);
  for (size_t k = 1; k < parts.size(); ++k) {
    for (size_t i = 0; i < all.per_second.size(); ++i) all.per_second[i] += parts[k].per_second[i];
    all.generated += parts[k].generated;
    all.delivered += parts[k].delivered;
    all.queued += parts[k].queued;
    all.lost += parts[k].lost;
    all.requests += parts[k].requests;
  }
  return all;
}

double window_rate(const std::vector<uint64_t> &per_second, size_t from_s) {
  uint64_t n = 0;
  for (size_t i = from_s; i < from_s + kWindowS && i < per_second.size(); ++i) n += per_second[i];
  return static_cast<double>(n) / kWindowS;
}

double mean_rate(const std::vector<uint64_t> &per_second, int64_t from_ms, int64_t to_ms) {
  uint64_t n = 0;
  size_t a = static_cast<size_t>(from_ms / kSecond), b = static_cast<size_t>(to_ms / kSecond);
  for (size_t i = a; i < b && i < per_second.size(); ++i) n += per_second[i];
  return static_cast<double>(n) / static_cast<double>(b - a);
}

// The rate per minute as a bar chart, relative to the steady state.
void chart(const std::vector<uint64_t> &per_second, double steady) {
  size_t minutes = per_second.size() / 60;
  for (size_t m = 0; m<minutes; m += minutes> 60 ? 2 : 1) {
    double peak = 0;
    for (size_t w = m * 60; w + kWindowS <= (m + 1) * 60; w += kWindowS)
      peak = std::max(peak, window_rate(per_second, w));
    int bar = static_cast<int>(std::lround(20 * peak / steady));
    printf("    %4zu min %10.0f/s %s\n", m, peak, std::string(static_cast<size_t>(std::min(bar, 60)), '#').c_str());
  }
}

}  // namespace

int main(int argc, char **argv) {
  int64_t agents = 1000000;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  uint64_t seed = 1;
  bool check = false, quiet = false;
  double max_peak = 2.0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--agents" && i + 1 < argc) {
      agents = atoll(argv[++i]);
    } else if (a == "--threads" && i + 1 < argc) {
      threads = atoi(argv[++i]);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = strtoull(argv[++i], nullptr, 10);
    } else if (a == "--check") {
      check = true;
    } else if (a == "--max-peak" && i + 1 < argc) {
      max_peak = atof(argv[++i]);
    } else if (a == "--quiet") {
      quiet = true;
    } else {
      fprintf(stderr, "usage: fleet_sim [--agents N] [--threads T] [--seed S] [--check [--max-peak X]] [--quiet]\n");
      return 2;
    }
  }
  if (agents <= 0 || threads <= 0 || !(max_peak > 0)) {
    fprintf(stderr, "fleet_sim: --agents, --threads and --max-peak must be positive\n");
    return 2;
  }
  co::Config cfg;  // the agent's defaults: sync.initial_delay_s, sync.retry_base_ms, queue.max_events
  const Scenario scenarios[] = {
      {"reboot",
       "the whole fleet restarts at once (a firmware push)",
       40 * kMinute,
       true,
       0,
       0,
       {200, -1},
       30 * kMinute,
       40 * kMinute},
      {"outage",
       "the API answers 503 for an hour from minute 10, then recovers",
       120 * kMinute,
       false,
       10 * kMinute,
       70 * kMinute,
       {503, -1},
       0,
       10 * kMinute},
      {"storm",
       "the API answers 429 with Retry-After: 120 for 20 minutes from minute 10",
       60 * kMinute,
       false,
       10 * kMinute,
       30 * kMinute,
       {429, 120},
       0,
       10 * kMinute},
  };
  printf("fleet_sim: %" PRId64 " agents, %d threads; one event a minute per device; sync.initial_delay_s %" PRId64
         ", sync.retry_base_ms %" PRId64 ", %zu events a request\n",
         agents, threads, cfg.sync_initial_delay_s, cfg.sync_retry_base_ms, plan::kBatchEvents);
  bool ok = true;
  for (const Scenario &s : scenarios) {
    Totals t = run(s, cfg, agents, threads, seed);
    double steady = mean_rate(t.per_second, s.steady_from, s.steady_to);
    double peak = 0;
    size_t peak_at = 0;
    for (size_t w = 0; w + kWindowS <= t.per_second.size(); ++w) {
      double r = window_rate(t.per_second, w);
      if (r > peak) peak = r, peak_at = w;
    }
    double ratio = steady > 0 ? peak / steady : 0;
    bool pass = ratio <= max_peak && t.lost == 0;
    ok = ok && pass;
    printf("%s: %s\n", s.name, s.what);
    printf("  steady %.0f req/s; peak %.0f req/s (busiest %d s, at %zu s) = %.2fx steady (goal <= 2x)%s\n", steady,
           peak, kWindowS, peak_at, ratio, ratio <= 2.0 ? "" : "  <-- over the goal");
    printf("  events: %" PRIu64 " generated, %" PRIu64 " delivered, %" PRIu64 " still queued, %" PRIu64
           " lost; %" PRIu64 " requests\n",
           t.generated, t.delivered, t.queued, t.lost, t.requests);
    if (!quiet) chart(t.per_second, steady);
  }
  return check && !ok ? 1 : 0;
}
