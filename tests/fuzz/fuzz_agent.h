// Shared by the fuzz targets that drive a whole agent (fuzz_rpc,
// fuzz_responses): fake seams, a scratch data directory, and the agent itself,
// created once per process and kept across inputs. Opening an agent costs a
// database, a worker thread and an fsync'd identity file, more than most
// inputs; a kept one also lets an input build on the state the previous ones
// left (which is what a daemon's agent sees).
#pragma once
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "agent.h"
#include "platform/clock.h"
#include "platform/crypto.h"
#include "platform/http.h"
#include "platform/log.h"

namespace fuzz {

[[noreturn]] inline void fail(const char *what, const std::string &detail) {
  std::fprintf(stderr, "fuzz invariant broken: %s: %s\n", what, detail.c_str());
  std::abort();
}

// The clock seam, moved by the harness. Atomic: the sync worker reads it while
// an input moves it. Wall time follows the monotonic time but wraps within a
// year of fake time, so that millions of inputs never carry the wall clock
// into implausible centuries (and a device clock does jump back sometimes).
class Clock final : public co::platform::Clock {
 public:
  static constexpr int64_t kWallBase = 1704067200000;  // 2024-01-01T00:00:00Z
  static constexpr int64_t kWrap = 365LL * 86400000;
  int64_t wall_ms() override { return kWallBase + (mono_.load() - kMonoBase) % kWrap; }
  int64_t mono_ms() override { return mono_.load(); }
  bool synced() override { return synced_.load(); }
  void advance_ms(int64_t ms) { mono_.fetch_add(ms > 0 ? ms : 0); }
  void set_synced(bool s) { synced_.store(s); }

 private:
  static constexpr int64_t kMonoBase = 1000;
  std::atomic<int64_t> mono_{kMonoBase};
  std::atomic<bool> synced_{true};
};

// The transport seam: every request goes to a handler (set before the agent
// opens). Unlike platform::FakeTransport it records nothing: over millions
// of inputs the recorded requests would take gigabytes.
class Transport final : public co::platform::Transport {
 public:
  using Handler = std::function<void(const co::platform::HttpRequest &, co::platform::HttpResponse &)>;
  explicit Transport(Handler h) : handler_(std::move(h)) {}
  void post(const co::platform::HttpRequest &req, co::platform::HttpResponse &resp) override { handler_(req, resp); }

 private:
  Handler handler_;
};

// A fresh directory under $TMPDIR (point TMPDIR at a tmpfs for speed),
// removed by the destructor: at a normal exit, not after a crash.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    const char *base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/cohort-fuzz-XXXXXX";
    if (!mkdtemp(&tmpl[0])) fail("mkdtemp", tmpl);
    path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;
};

// Log lines are formatted (so a bad format argument still shows) but dropped.
inline void drop_line(void *, co::platform::LogLevel, const char *) {}

// An agent on the fakes above. Members are destroyed in reverse order: the
// agent (its worker stops, its store flushes) before the seams it uses, and
// the directory last.
struct Rig {
  ScratchDir dir;
  Clock clock;
  co::platform::FakeEntropy entropy;
  co::platform::Logger logger;
  Transport transport;
  std::unique_ptr<co::Agent> agent;
  // The earliest wall time the agent takes for plausible (Seams): 0, so that
  // the fake clock, which sits before this build's time, is trusted.
  int64_t plausible_after_ms = 0;

  Rig(Transport::Handler handler, uint64_t seed = 7) : entropy(seed), transport(std::move(handler)) {
    logger.set_sink(drop_line, nullptr);
  }

  // Opens the agent; config is a JSON document in which every "@DIR@" stands
  // for the scratch directory.
  void open(std::string config) {
    for (size_t at; (at = config.find("@DIR@")) != std::string::npos;) config.replace(at, 5, dir.path);
    co::Seams seams;
    seams.clock = &clock;
    seams.entropy = &entropy;
    seams.logger = &logger;
    seams.transport = &transport;
    seams.plausible_after_ms = plausible_after_ms;
    std::string err;
    if (co::Agent::open(config.c_str(), seams, agent, err) != COHORT_OK) fail("open", err + " in " + config);
  }

  // One method call that must succeed; returns the parsed result.
  co::Json call(const char *method, const std::string &params) {
    std::string result, err;
    cohort_status st = agent->call(method, params.c_str(), result, err);
    if (st != COHORT_OK) fail(method, std::string(cohort_status_str(st)) + ": " + err + " (params " + params + ")");
    co::Json j = co::json_parse(result);
    if (!cJSON_IsObject(j.get())) fail(method, "result is not a JSON object: " + result);
    return j;
  }
};

}  // namespace fuzz
