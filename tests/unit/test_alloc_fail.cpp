// Allocation-failure sweeps of the C API.
//
// A counting allocator (malloc, calloc, realloc, free and operator new/delete
// interposed in this executable) counts the allocations made by the test's
// thread while it is "armed", and can make the Nth one fail (operator new then
// throws std::bad_alloc). A scenario drives one agent through the public C API
// (cohort_open, cohort_call, cohort_rpc, the typed shortcuts, cohort_close).
// It is first run unarmed to count its allocations (T), then once for every N
// from 1 to T with allocation N failing, each run in a forked child so that a
// crash is observed rather than suffered. Every run must:
//   - answer every call with a known status: success, or an error;
//   - answer every success with a complete result (a JSON object with the
//     method's keys; for cohort_rpc a JSON-RPC answer with the request's id);
//   - leave the agent usable: later calls succeed, and an event accepted
//     after the failure is still there when the directory is opened again;
//   - free after cohort_close everything that was allocated while armed.
// Two smaller sweeps follow: the libcurl transport alone (its post() runs on
// the sync worker thread, where nothing may throw), and one pass of the sync
// worker itself.
//
// Determinism. Only the test's own thread is counted (a thread_local flag):
// the sync worker allocates on its own thread, at times the scheduler picks.
// The scenario also keeps the worker's passes at fixed points: the calls that
// wake it (the first track, view.start) are followed by sync.now, which
// returns once a pass is over, and the pass's back-off (at least 50 ms) keeps
// it asleep until the next sync point. What is left (SQLite's statement cache
// and page cache are shared with the worker) moves the count by a few
// allocations between runs, which is why failures are told apart by step and
// kind below, not by N. The worker sweep counts the other threads instead,
// while the test's thread waits in sync.now.
//
// One-time global allocations (SQLite's and libcurl's initialisation, glibc's
// cached thread stack and its TLS, the thread_local error map of api.cpp and
// its destructor registration, libgcc's unwinder for backtrace()) are made by
// a warm-up run in the parent before anything is armed; the children inherit
// them. The one block the library keeps on purpose after cohort_close, the
// message of the last cohort_open failure (cohort_last_error(NULL)), is not
// counted as a leak.
//
// Every kind of failure fails the test (the list of known ones is gone: all
// fixed). Under a sanitizer (which owns malloc) only the unarmed scenario runs.
//
// Knobs (environment): ALLOC_FAIL_N=n runs allocation n only and prints what
// happened; ALLOC_FAIL_TRACE=k (with ALLOC_FAIL_N) prints where allocation k
// was made (e.g. a leaked one); ALLOC_FAIL_STRIDE=k sweeps every kth N (the
// cross builds, run under qemu-user, default to a stride: see CMakeLists.txt);
// ALLOC_FAIL_VERBOSE=1 prints every failing N with its stack; ALLOC_FAIL_JOBS=j
// runs j children side by side (default: the processors, at most 4).
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <new>
#include <vector>

#include "platform/files.h"
#include "test_util.h"
#include "unit_test.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ALLOC_FAIL_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define ALLOC_FAIL_SANITIZED 1
#endif
#endif

#ifndef COHORT_ALLOC_FAIL_STRIDE
#define COHORT_ALLOC_FAIL_STRIDE 1
#endif

namespace {

// ---- What a run reports (shared with the parent) ----------------------------

// The scenario's steps, in order; a failure is attributed to the step during
// which the failing allocation was made.
// clang-format off
#define STEPS(X)                                                                                  \
  X(open) X(consent_on) X(identity_get) X(set_aliases) X(definitions_put) X(track) X(track_call) \
  X(sync_1) X(view_start) X(sync_2) X(view_progress) X(view_end) X(cohorts_get) X(explain)       \
  X(consent_off) X(consent_on_again) X(recover) X(close)                                          \
  X(transport)  /* the second sweep: the libcurl transport alone */                              \
  X(worker)     /* the third: the sync worker thread's own allocations */
// clang-format on
enum Step : int {
#define STEP_ENUM(s) s_##s,
  STEPS(STEP_ENUM)
#undef STEP_ENUM
      kSteps
};
const char *const kStepNames[] = {
#define STEP_NAME(s) #s,
    STEPS(STEP_NAME)
#undef STEP_NAME
};

// What went wrong in a run.
enum Kind : int {
  k_crash,       // killed by a signal (segfault, abort from std::terminate, ...)
  k_hang,        // did not finish in time
  k_bad_result,  // unknown status, or a success with a missing or incomplete result
  k_unusable,    // the agent did not recover: a later call fails, or what it accepted is lost
  k_leak,        // allocations made while armed still live after cohort_close
  k_degraded,    // storage went to memory for the failure: what was accepted is gone after close
  kKinds
};
const char *const kKindNames[] = {
    "crash",      "hang",
    "bad result", "broken after the failure (a later call fails, or accepted events are lost)",
    "leak",       "storage degraded by the failure (accepted events lost at close)",
};

constexpr int kFrames = 24;

struct Report {
  long total;        // allocations counted while armed
  int fail_step;     // step of the failing allocation, -1 when none failed
  int bad_step;      // first step with a bad result / unusable agent
  char detail[256];  // what was bad
  long leaked;       // blocks still live
  uint32_t leaked_ord[8];
  int fail_nframes;
  void *fail_frames[kFrames];  // where allocation N was made
  int trace_nframes;
  void *trace_frames[kFrames];  // where allocation ALLOC_FAIL_TRACE was made
  int crash_nframes;
  void *crash_frames[kFrames];
  int current_step;
};

[[maybe_unused]] Report *g_report = nullptr;  // the current run's, in shared memory

}  // namespace

// ---- The counting allocator -------------------------------------------------

#ifndef ALLOC_FAIL_SANITIZED

// glibc lets a program replace malloc, calloc, realloc and free (its own
// functions and every library call these); the aligned ones (posix_memalign,
// aligned new) stay glibc's, neither counted nor tracked: nothing in the agent
// or its libraries makes them.
extern "C" {
// glibc's own allocator, under the names it keeps for those who replace malloc.
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void __libc_free(void *);
}

namespace af {

// Blocks allocated while armed: an open-addressing set of pointers (with the
// ordinal of their allocation), which allocates nothing itself.
struct Slot {
  void *p;
  uint32_t ordinal;
};
constexpr size_t kSlots = size_t(1) << 18;
void *const kTomb = reinterpret_cast<void *>(uintptr_t(1));
Slot g_slots[kSlots];
std::atomic<long> g_live{0};
std::atomic_flag g_lock = ATOMIC_FLAG_INIT;

thread_local bool t_armed = false;        // count (and fail) this thread's allocations
thread_local bool t_inside = false;       // inside the allocator's own bookkeeping
thread_local bool t_test_thread = false;  // the test's own thread (set in the group setup)
std::atomic<bool> g_others_armed{false};  // count every other thread's instead
std::atomic<long> g_count{0};             // allocations counted so far
long g_fail_at = 0;                       // the allocation that fails (0: none)
long g_trace_at = 0;                      // the allocation whose stack is recorded (0: none)

struct Locked {
  Locked() {
    while (g_lock.test_and_set(std::memory_order_acquire)) {
    }
  }
  ~Locked() { g_lock.clear(std::memory_order_release); }
};

size_t slot_of(const void *p) {
  return static_cast<size_t>((reinterpret_cast<uintptr_t>(p) >> 4) * 0x9E3779B97F4A7C15ull) & (kSlots - 1);
}

void track(void *p, uint32_t ordinal) {
  Locked lock;
  for (size_t i = slot_of(p), n = 0; n < kSlots; i = (i + 1) & (kSlots - 1), ++n) {
    if (g_slots[i].p == nullptr || g_slots[i].p == kTomb) {
      g_slots[i] = {p, ordinal};
      g_live.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  static const char msg[] = "test_alloc_fail: allocation table full\n";
  if (write(2, msg, sizeof msg - 1) < 0) {
  }
  abort();
}

// Removes p; true (and its ordinal) when it was tracked.
bool untrack(void *p, uint32_t *ordinal = nullptr) {
  if (g_live.load(std::memory_order_relaxed) == 0) return false;
  Locked lock;
  for (size_t i = slot_of(p), n = 0; n < kSlots && g_slots[i].p; i = (i + 1) & (kSlots - 1), ++n) {
    if (g_slots[i].p == p) {
      if (ordinal) *ordinal = g_slots[i].ordinal;
      g_slots[i].p = kTomb;
      g_live.fetch_sub(1, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

void record_stack(void **frames, int *n) {
  t_inside = true;
  *n = backtrace(frames, kFrames);
  t_inside = false;
}

// Counts one allocation of this thread; true when it must fail. ordinal gets
// its number (0: not counted).
bool next(uint32_t &ordinal) {
  ordinal = 0;
  if (t_inside || !(t_armed || (!t_test_thread && g_others_armed.load(std::memory_order_relaxed)))) return false;
  long count = ++g_count;
  ordinal = static_cast<uint32_t>(count);
  if (g_report) {
    if (count == g_trace_at) record_stack(g_report->trace_frames, &g_report->trace_nframes);
    if (count == g_fail_at) {
      g_report->fail_step = g_report->current_step;
      record_stack(g_report->fail_frames, &g_report->fail_nframes);
    }
  }
  if (count != g_fail_at) return false;
  errno = ENOMEM;
  return true;
}

// Forgets every tracked block (a child starts from a clean table).
void forget_all() {
  if (g_live.load() == 0) return;
  Locked lock;
  for (Slot &s : g_slots) {
    if (s.p) s = {nullptr, 0};
  }
  g_live = 0;
}

// The blocks still live, with their ordinals (first `max`).
long live_blocks(uint32_t *ordinals, int max) {
  Locked lock;
  long n = 0;
  for (const Slot &s : g_slots) {
    if (s.p == nullptr || s.p == kTomb) continue;
    if (n < max) ordinals[n] = s.ordinal;
    ++n;
  }
  return n;
}

}  // namespace af

extern "C" {

__attribute__((visibility("default"))) void *malloc(size_t n) noexcept {
  uint32_t ordinal;
  if (af::next(ordinal)) return nullptr;
  void *p = __libc_malloc(n);
  if (p && ordinal) af::track(p, ordinal);
  return p;
}

__attribute__((visibility("default"))) void *calloc(size_t n, size_t size) noexcept {
  uint32_t ordinal;
  if (af::next(ordinal)) return nullptr;
  void *p = __libc_calloc(n, size);
  if (p && ordinal) af::track(p, ordinal);
  return p;
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t n) noexcept {
  if (!p) return malloc(n);
  if (n == 0) {
    af::untrack(p);
    return __libc_realloc(p, 0);
  }
  uint32_t ordinal;
  if (af::next(ordinal)) return nullptr;
  // A block keeps the ordinal of its first allocation. Growing a block that
  // was allocated before arming is counted (it may fail) but not tracked: the
  // block is not the scenario's.
  uint32_t first = 0;
  bool tracked = af::untrack(p, &first);
  void *q = __libc_realloc(p, n);
  if (tracked) af::track(q ? q : p, first);
  return q;
}

__attribute__((visibility("default"))) void free(void *p) noexcept {
  if (!p) return;
  af::untrack(p);
  __libc_free(p);
}

}  // extern "C"

// operator new on top of the counted malloc; it throws when malloc fails.
__attribute__((visibility("default"))) void *operator new(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
__attribute__((visibility("default"))) void *operator new[](size_t n) {
  return operator new(n);
}
__attribute__((visibility("default"))) void *operator new(size_t n, const std::nothrow_t &) noexcept {
  return malloc(n ? n : 1);
}
__attribute__((visibility("default"))) void *operator new[](size_t n, const std::nothrow_t &) noexcept {
  return malloc(n ? n : 1);
}
__attribute__((visibility("default"))) void operator delete(void *p) noexcept {
  free(p);
}
__attribute__((visibility("default"))) void operator delete[](void *p) noexcept {
  free(p);
}
__attribute__((visibility("default"))) void operator delete(void *p, size_t) noexcept {
  free(p);
}
__attribute__((visibility("default"))) void operator delete[](void *p, size_t) noexcept {
  free(p);
}

#endif  // !ALLOC_FAIL_SANITIZED

namespace {

#ifndef ALLOC_FAIL_SANITIZED
void arm(bool on) {
  af::t_armed = on;
}
bool armed() {
  return af::t_armed;
}
#else
void arm(bool) {}
bool armed() {
  return false;
}
#endif

// Counting off for the test's own checks.
struct Disarmed {
  bool was = armed();
  Disarmed() { arm(false); }
  ~Disarmed() { arm(was); }
  Disarmed(const Disarmed &) = delete;
  Disarmed &operator=(const Disarmed &) = delete;
};

// ---- The scenario -----------------------------------------------------------

const char kDefinitions[] =
    "{\"cohorts\":["
    "{\"id\":\"1001\",\"name\":\"Football fans\",\"activations\":[\"dfp\"],\"rule\":{\"logic\":\"AND\","
    "\"conditions\":[{\"type\":\"event\",\"event_type\":\"Videoview\",\"where\":[{\"property\":\"categories\","
    "\"operator\":\"contains\",\"value\":\"football\"}],\"window_days\":30},"
    "{\"type\":\"aggregate\",\"event_type\":\"VideoCompletion\",\"property\":\"percentage_watched\","
    "\"metric\":\"max\",\"operator\":\"gte\",\"value\":0.5,\"window\":\"session\"}]}},"
    "{\"id\":\"1002\",\"name\":\"Readers\",\"rule\":{\"logic\":\"OR\",\"conditions\":["
    "{\"type\":\"event\",\"event_type\":\"Pageview\",\"operator\":\"gte\",\"value\":2},"
    "{\"type\":\"recency\",\"event_type\":\"Pageview\",\"operator\":\"lt\",\"window_days\":7}]}}]}";

class Scenario {
 public:
  Scenario(std::string config, Report *report) : config_(std::move(config)), r_(report) {}

  // Runs every step (armed when `armed_run`); true when every call succeeded.
  bool run(bool armed_run) {
    all_ok_ = true;
    arm(armed_run);
    step(s_open);
    cohort_status st = cohort_open(config_.c_str(), &agent_);
    {
      Disarmed d;
      if (!known_status(st)) bad("cohort_open: status %d", static_cast<int>(st));
      if (st != COHORT_OK) {
        all_ok_ = false;
        if (agent_) bad("cohort_open: failed with %s but returned an agent", cohort_status_str(st));
        agent_ = nullptr;
      } else if (!agent_) {
        bad("cohort_open: success without an agent");
      }
    }
    if (agent_) {
      step(s_consent_on);
      call("consent.set", "{\"granted\":true}", {"consent"});
      step(s_identity_get);
      call("identity.get", nullptr, {"user_id", "aliases"});
      step(s_set_aliases);
      rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"identity.set_aliases\",\"params\":{\"aliases\":["
          "{\"tag\":\"tifa\",\"id\":\"tifa-0001\",\"priority\":1},"
          "{\"tag\":\"email_sha256\",\"id\":\" Someone@Example.com \",\"hash\":\"sha256\",\"priority\":0}]}}",
          {"user_id", "aliases"});
      step(s_definitions_put);
      call("definitions.put", kDefinitions, {"count", "checksums"});
      step(s_track);
      status(cohort_track(agent_, "Pageview", "{\"url\":\"https://example.com/a\",\"tags\":[\"news\",null]}"),
             "cohort_track");
      step(s_track_call);
      call("track", "{\"name\":\"Pageview\",\"time\":\"2024-01-15T14:00:00Z\",\"properties\":{\"n\":2}}",
           {"event_id", "session_id", "view_id", "cohorts", "stored"});
      step(s_sync_1);
      call("sync.now", "{\"timeout_ms\":5000}", {"sent", "pending", "dead_letters"});
      step(s_view_start);
      char view_id[37] = "";
      if (status(
              cohort_view_start(agent_, "video", "{\"video_id\":\"v1\",\"categories\":[\"football\"]}", 600, view_id),
              "cohort_view_start")) {
        Disarmed d;
        if (!co::platform::is_uuid(view_id)) bad("cohort_view_start: view_id \"%.40s\"", view_id);
      }
      step(s_sync_2);
      call("sync.now", "{\"timeout_ms\":5000}", {"sent", "pending", "dead_letters"});
      std::string params;
      {
        Disarmed d;
        params = std::string("{\"view_id\":\"") + view_id + "\",\"position_s\":30}";
      }
      if (view_id[0]) {
        step(s_view_progress);
        call("view.progress", params.c_str(), {"view_id"});
        step(s_view_end);
        status(cohort_view_end(agent_, view_id, 450), "cohort_view_end");
      }
      step(s_cohorts_get);
      rpc("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"cohorts.get\"}", {"cohorts", "local", "remote", "cached"});
      step(s_explain);
      call("explain", "{\"cohort_id\":\"1001\"}", {"match", "explain", "cohort_id"});
      step(s_consent_off);
      call("consent.set", "{\"granted\":false}", {"consent"});
      step(s_consent_on_again);
      rpc("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"consent.set\",\"params\":{\"granted\":true}}", {"consent"});
      // One failed allocation must not break the agent: what comes next works.
      // (Consent again, in case the failure was in the last consent.set.)
      step(s_recover);
      bool failed_before = failed_earlier();
      co::Json status_json;
      bool ok = call("status", nullptr, {"user_id", "consent", "queue_depth", "storage"}, &status_json);
      bool degraded = false;
      {
        Disarmed d;
        degraded = test::str(status_json.get(), "storage") != "ok";
        status_json.reset();
      }
      ok = call("consent.set", "{\"granted\":true}", {"consent"}) && ok;
      co::Json tracked;
      ok = call("track", "{\"name\":\"Recovered\"}", {"event_id", "stored"}, &tracked) && ok;
      if (!ok && failed_before) unusable("a call failed after the failure");
      bool stored = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tracked.get(), "stored"));
      {
        Disarmed d;
        tracked.reset();
      }
      step(s_close);
      cohort_close(agent_);
      agent_ = nullptr;
      // What was accepted is on disk: the failure left no transaction open
      // that would swallow it.
      if (stored) {
        Disarmed d;
        if (!durable("Recovered")) {
          if (degraded) {
            degraded_ = true;
          } else {
            unusable("the event accepted after the failure is lost after cohort_close");
          }
        }
      }
    }
    arm(false);
    return all_ok_;
  }

 private:
  void step(Step s) {
    if (r_) r_->current_step = s;
  }

  static bool known_status(cohort_status st) { return st >= COHORT_OK && st <= COHORT_EINTERNAL; }

  // True when the failing allocation came before the current step.
  bool failed_earlier() const { return r_ && r_->fail_step >= 0 && r_->fail_step < r_->current_step; }

  void bad(const char *fmt, ...) __attribute__((format(printf, 2, 3))) {
    all_ok_ = false;
    if (!r_ || r_->bad_step >= 0) return;
    r_->bad_step = r_->current_step;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r_->detail, sizeof r_->detail, fmt, ap);
    va_end(ap);
  }

  void unusable(const char *why) {
    unusable_ = true;
    if (r_ && r_->bad_step < 0) snprintf(r_->detail, sizeof r_->detail, "%s", why);
  }

  // Reopens the data directory: one event named `name` in the history.
  bool durable(const char *name) {
    cohort_agent *again = nullptr;
    if (cohort_open(config_.c_str(), &again) != COHORT_OK) return false;
    std::string params = std::string("{\"name\":\"") + name + "\",\"limit\":10}";
    char *out = nullptr;
    bool found = false;
    if (cohort_call(again, "history.get", params.c_str(), &out) == COHORT_OK) {
      co::Json j = co::json_parse(out);
      found = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j.get(), "events")) == 1;
    }
    cohort_free(out);
    cohort_close(again);
    return found;
  }

  // A status from a call without a result: known, and an error when not OK.
  bool status(cohort_status st, const char *what) {
    Disarmed d;
    if (!known_status(st)) bad("%s: status %d", what, static_cast<int>(st));
    if (st != COHORT_OK) all_ok_ = false;
    return st == COHORT_OK;
  }

  // Checks that a success answer is a JSON object with every key.
  bool complete(const cJSON *obj, std::initializer_list<const char *> keys, const char *what) {
    if (!cJSON_IsObject(obj)) {
      bad("%s: success, but the result is not a JSON object", what);
      return false;
    }
    for (const char *k : keys) {
      if (!cJSON_GetObjectItemCaseSensitive(obj, k)) {
        bad("%s: success, but the result has no \"%s\"", what, k);
        return false;
      }
    }
    return true;
  }

  bool call(const char *method, const char *params, std::initializer_list<const char *> keys,
            co::Json *result = nullptr) {
    char *out = nullptr;
    cohort_status st = cohort_call(agent_, method, params, &out);
    Disarmed d;
    if (!known_status(st)) bad("cohort_call %s: status %d", method, static_cast<int>(st));
    if (st != COHORT_OK) {
      all_ok_ = false;
      if (out) bad("cohort_call %s: failed with %s but returned a result", method, cohort_status_str(st));
      cohort_free(out);
      return false;
    }
    if (!out) {
      bad("cohort_call %s: success without a result", method);
      return false;
    }
    co::Json j = co::json_parse(out);
    cohort_free(out);
    bool ok = complete(j.get(), keys, method);
    if (result) *result = std::move(j);
    return ok;
  }

  // A JSON-RPC request (with an id): the answer is a result or an error.
  bool rpc(const char *line, std::initializer_list<const char *> keys) {
    char *out = nullptr;
    unsigned topics = 0;
    cohort_status st = cohort_rpc(agent_, line, strlen(line), &out, &topics);
    Disarmed d;
    if (!known_status(st)) bad("cohort_rpc: status %d", static_cast<int>(st));
    if (st != COHORT_OK) {
      all_ok_ = false;
      if (out) bad("cohort_rpc: failed with %s but returned an answer", cohort_status_str(st));
      cohort_free(out);
      return false;
    }
    if (!out) {
      bad("cohort_rpc: success without an answer to a request with an id: %.80s", line);
      return false;
    }
    co::Json j = co::json_parse(out);
    std::string text = out;
    cohort_free(out);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(j.get(), "jsonrpc");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j.get(), "id");
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(j.get(), "result");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(j.get(), "error");
    if (!cJSON_IsString(version) || strcmp(version->valuestring, "2.0") != 0 || !cJSON_IsNumber(id) ||
        (!result == !error)) {
      bad("cohort_rpc: not a JSON-RPC answer: %.120s", text.c_str());
      return false;
    }
    if (error) {
      all_ok_ = false;
      if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(error, "code")) ||
          !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(error, "message"))) {
        bad("cohort_rpc: incomplete error: %.120s", text.c_str());
      }
      return false;
    }
    return complete(result, keys, "cohort_rpc");
  }

  std::string config_;
  Report *r_;
  cohort_agent *agent_ = nullptr;
  bool all_ok_ = true;

 public:
  bool unusable_ = false;
  bool degraded_ = false;
};

// ---- Runs in child processes ------------------------------------------------

std::string g_base;  // the scratch directory of this test

std::string config_for(const std::string &dir) {
  static const char kRest[] =
      "\"api.ccs_url\":\"http://127.0.0.1:9\",\"api.contextual_url\":\"http://127.0.0.1:9\",\"log.level\":\"error\","
      "\"clock.trust\":\"system\"}";
  return "{\"data_dir\":\"" + dir + "/data\"," + kRest;
}

int remove_entry(const char *path, const struct stat *, int, struct FTW *) {
  return ::remove(path);
}
void remove_tree(const std::string &path) {
  nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#ifndef ALLOC_FAIL_SANITIZED
void on_crash(int sig) {
  if (g_report) g_report->crash_nframes = backtrace(g_report->crash_frames, kFrames);
  signal(sig, SIG_DFL);
  raise(sig);
}

// Child exit codes.
constexpr int kExitBad = 1, kExitUnusable = 2, kExitLeak = 4, kExitDegraded = 8;

// What went wrong in one run.
struct Outcome {
  bool kinds[kKinds] = {};
  bool any() const {
    for (bool k : kinds)
      if (k) return true;
    return false;
  }
};

// What a child runs, armed: returns kExitBad / kExitUnusable / kExitDegraded bits.
using Body = int (*)(const std::string &dir, Report *r);

int scenario_body(const std::string &dir, Report *r) {
  Scenario s(config_for(dir), r);
  s.run(true);
  return (r->bad_step >= 0 ? kExitBad : 0) | (s.unusable_ ? kExitUnusable : 0) | (s.degraded_ ? kExitDegraded : 0);
}

// The libcurl transport alone (platform/http_curl.cpp): it runs on the sync
// worker thread, where an exception would end the process, so post() must
// never throw. Made, used once (a closed local port answers at once), freed.
int transport_body(const std::string &, Report *r) {
  r->current_step = s_transport;
  co::platform::Logger log;
  co::platform::HttpRequest req;
  req.url = "http://127.0.0.1:9/ccs/v1/segmentation?activations=true";
  req.body = "{\"user_id\":\"00000000-0000-4000-8000-000000000000\",\"events\":[]}";
  req.headers.emplace_back("X-Api-Key", "a-key-long-enough-to-be-on-the-heap");
  req.timeout_ms = 2000;
  co::platform::HttpResponse resp;
  std::string err;
  int code = 0;
  arm(true);
  try {
    std::unique_ptr<co::platform::Transport> t = co::platform::make_curl_transport({}, log, err);
    if (t) {
      t->post(req, resp);  // an exception here ends the child: a crash
      Disarmed d;
      if (resp.status != 0 || resp.error.empty()) {
        snprintf(r->detail, sizeof r->detail, "post: status %d, error \"%s\"", resp.status, resp.error.c_str());
        r->bad_step = s_transport;
        code = kExitBad;
      }
    }
  } catch (const std::bad_alloc &) {
    // Making the transport may throw: cohort_open turns that into ENOMEM.
  }
  arm(false);
  return code;
}

// The sync worker thread's own allocations (a pass: the outbox read, the
// request, the back-off, the cohorts' tick): the test's thread waits in
// sync.now while only the other threads are counted. A throw on the worker
// has no C boundary to stop it: it ends the process.
int worker_body(const std::string &dir, Report *r) {
  r->current_step = s_worker;
  cohort_agent *a = nullptr;
  if (cohort_open(config_for(dir).c_str(), &a) != COHORT_OK) return kExitBad;
  auto call = [&](const char *method, const char *params) {
    char *out = nullptr;
    cohort_status st = cohort_call(a, method, params, &out);
    cohort_free(out);
    return st == COHORT_OK;
  };
  int code = 0;
  // Unarmed: events queued, and a first pass over them (it backs off).
  bool ok = call("consent.set", "{\"granted\":true}") && call("definitions.put", kDefinitions);
  for (int i = 0; i < 3; ++i) ok = ok && cohort_track(a, "Pageview", "{\"n\":1}") == COHORT_OK;
  ok = ok && call("sync.now", "{\"timeout_ms\":5000}");
  // Armed: the pass sync.now asks for.
  af::g_others_armed = true;
  ok = call("sync.now", "{\"timeout_ms\":5000}") && ok;
  af::g_others_armed = false;
  if (!ok) {
    snprintf(r->detail, sizeof r->detail, "a call failed: %s", cohort_last_error(a));
    r->bad_step = s_worker;
    code = kExitBad;
  }
  cohort_close(a);
  return code;
}

// One run in a child process: body with allocation fail_at failing (0:
// none). Runs go on side by side in slots, each with its own directory and
// report (in shared memory).
struct Run {
  pid_t pid = -1;
  long n = 0;
  std::string dir;
};

void start_run(Run &run, Report *r, Body body, long fail_at, long trace_at, int timeout_s) {
  memset(r, 0, sizeof *r);
  r->fail_step = r->bad_step = -1;
  remove_tree(run.dir);
  mkdir(run.dir.c_str(), 0700);
  std::string err_path = run.dir + "/stderr.log";
  run.n = fail_at;
  fflush(stdout);
  fflush(stderr);
  run.pid = fork();
  assert_true(run.pid >= 0);
  if (run.pid > 0) return;
  int fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) dup2(fd, 2);
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) signal(sig, on_crash);
  alarm(static_cast<unsigned>(timeout_s));
  g_report = r;
  af::forget_all();
  af::g_count = 0;
  af::g_fail_at = fail_at;
  af::g_trace_at = trace_at;
  int code = body(run.dir, r);
  r->total = af::g_count;
  // By design the library keeps the message of the last cohort_open failure
  // per thread (cohort_last_error(NULL)) after the agent is gone: not a leak.
  af::untrack(const_cast<char *>(cohort_last_error(nullptr)));
  r->leaked = af::live_blocks(r->leaked_ord, 8);
  if (r->leaked > 0) code |= kExitLeak;
  _exit(code);
}

// What a child's wait status says.
Outcome outcome_of(int status) {
  Outcome o;
  if (WIFSIGNALED(status)) {
    o.kinds[WTERMSIG(status) == SIGALRM ? k_hang : k_crash] = true;
  } else if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    o.kinds[k_bad_result] = code & kExitBad;
    o.kinds[k_unusable] = code & kExitUnusable;
    o.kinds[k_leak] = code & kExitLeak;
    o.kinds[k_degraded] = code & kExitDegraded;
    if (code & ~(kExitBad | kExitUnusable | kExitLeak | kExitDegraded)) o.kinds[k_crash] = true;
  }
  return o;
}

std::string stderr_of(const Run &run) {
  std::string text;
  co::platform::read_file(run.dir + "/stderr.log", text, 1 << 16);
  return text;
}

// One run, waited for.
Outcome run_one(Body body, long fail_at, long trace_at, Report *r, std::string *stderr_text, int timeout_s) {
  Run run;
  run.dir = g_base + "/run0";
  start_run(run, r, body, fail_at, trace_at, timeout_s);
  int status = 0;
  while (waitpid(run.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (stderr_text) *stderr_text = stderr_of(run);
  return outcome_of(status);
}

// "module+0xoffset" per frame: feed the offsets to addr2line -Cfpi -e module.
std::string frames_text(void *const *frames, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    Dl_info info{};
    char line[512];
    if (dladdr(frames[i], &info) && info.dli_fname) {
      const char *base = strrchr(info.dli_fname, '/');
      snprintf(line, sizeof line, "    #%-2d %s+0x%lx%s%s\n", i, base ? base + 1 : info.dli_fname,
               static_cast<unsigned long>(reinterpret_cast<uintptr_t>(frames[i]) -
                                          reinterpret_cast<uintptr_t>(info.dli_fbase)),
               info.dli_sname ? " " : "", info.dli_sname ? info.dli_sname : "");
    } else {
      snprintf(line, sizeof line, "    #%-2d %p\n", i, frames[i]);
    }
    out += line;
  }
  return out;
}

long env_long(const char *name, long dflt) {
  const char *v = getenv(name);
  return v && *v ? strtol(v, nullptr, 10) : dflt;
}
#endif

// ---- Tests ------------------------------------------------------------------

// The scenario itself, unarmed: every call succeeds. This is also the warm-up
// that makes the one-time global allocations before anything is counted.
void warm_up() {
  void *frames[4];
  backtrace(frames, 4);  // loads the unwinder
  cohort_agent *a = nullptr;
  assert_int_equal(cohort_open("{\"nope\":1}", &a), COHORT_ECONFIG);  // the open-error slot
  std::string dir = g_base + "/warm";
  mkdir(dir.c_str(), 0700);
  Report report;
  memset(&report, 0, sizeof report);
  report.fail_step = report.bad_step = -1;
  Scenario s(config_for(dir), &report);
  if (!s.run(false) || report.bad_step >= 0 || s.unusable_ || s.degraded_) {
    fail_msg("the scenario fails on its own in step %s: %s", kStepNames[report.current_step], report.detail);
  }
  remove_tree(dir);
}

UNIT_TEST(scenario_succeeds_unarmed) {
  warm_up();
}

#ifndef ALLOC_FAIL_SANITIZED
// Runs body with allocation 1, 2, ... failing (every stride-th), each in a
// child; fails the test on a kind of failure that is not known.
void sweep(Body body, const char *what) {
  // Side by side: as many runs as there are processors, at most 4
  // (ALLOC_FAIL_JOBS overrides).
  int jobs = static_cast<int>(env_long("ALLOC_FAIL_JOBS", std::min(4L, std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)))));
  jobs = std::max(1, std::min(jobs, 64));
  size_t mem_size = sizeof(Report) * static_cast<size_t>(jobs);
  void *mem = mmap(nullptr, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(mem != MAP_FAILED);
  Report *reports = static_cast<Report *>(mem);
  Report *r = &reports[0];
  const int timeout_s = COHORT_ALLOC_FAIL_STRIDE > 1 ? 300 : 60;

  // One N only, verbosely.
  long only = env_long("ALLOC_FAIL_N", 0);
  if (only > 0) {
    std::string err;
    Outcome o = run_one(body, only, env_long("ALLOC_FAIL_TRACE", 0), r, &err, timeout_s);
    printf("%s: N=%ld of %ld, in step %s\n", what, only, r->total,
           r->fail_step >= 0 ? kStepNames[r->fail_step] : "(none)");
    printf("  failing allocation made at:\n%s", frames_text(r->fail_frames, r->fail_nframes).c_str());
    for (int k = 0; k < kKinds; ++k) {
      if (o.kinds[k]) printf("  %s\n", kKindNames[k]);
    }
    if (r->detail[0]) printf("  %s: %s\n", r->bad_step >= 0 ? kStepNames[r->bad_step] : "", r->detail);
    if (r->leaked) {
      printf("  %ld blocks leaked, allocations:", r->leaked);
      for (long i = 0; i < r->leaked && i < 8; ++i) printf(" %u", r->leaked_ord[i]);
      printf("\n");
    }
    if (r->trace_nframes) {
      printf("  allocation %ld made at:\n%s", env_long("ALLOC_FAIL_TRACE", 0),
             frames_text(r->trace_frames, r->trace_nframes).c_str());
    }
    if (r->crash_nframes) printf("  crashed at:\n%s", frames_text(r->crash_frames, r->crash_nframes).c_str());
    if (!err.empty()) printf("  stderr:\n%s\n", err.c_str());
    munmap(mem, mem_size);
    return;
  }

  // The count: twice, nothing failing; both runs clean.
  long total = 0;
  for (int i = 0; i < 2; ++i) {
    std::string err;
    Outcome o = run_one(body, 0, 0, r, &err, timeout_s);
    if (o.any()) {
      fail_msg("%s is not clean without failures: %s%s%s%s (%s, %ld leaked)\n%s", what,
               o.kinds[k_crash] ? "crash " : "", o.kinds[k_hang] ? "hang " : "", o.kinds[k_bad_result] ? "bad " : "",
               o.kinds[k_leak] ? "leak" : "", r->detail, r->leaked, err.c_str());
    }
    if (total && total != r->total) {
      printf("note: %s counted %ld then %ld allocations (the worker's timing moved some)\n", what, total, r->total);
    }
    total = std::max(total, r->total);
  }
  long stride = env_long("ALLOC_FAIL_STRIDE", COHORT_ALLOC_FAIL_STRIDE);
  bool verbose = env_long("ALLOC_FAIL_VERBOSE", 0) != 0;
  if (stride < 1) stride = 1;
  printf("%s: %ld allocations; sweeping N = 1..%ld, every %ld, %d at a time\n", what, total, total, stride, jobs);

  // The sweep. Per (step, kind): how many N, the first N and its details.
  struct Seen {
    long count = 0;
    long first_n = 0;
    std::string first_detail;
  };
  std::map<std::pair<int, int>, Seen> seen;
  long runs = 0;
  auto record = [&](long n, const Outcome &o, const Report *rep, const std::string &err) {
    ++runs;
    if (verbose && o.any()) {
      printf("N=%ld step=%s kinds=", n, rep->fail_step >= 0 ? kStepNames[rep->fail_step] : "(none)");
      for (int k = 0; k < kKinds; ++k) {
        if (o.kinds[k]) printf("%s;", kKindNames[k]);
      }
      printf(" detail=%s\n%s", rep->detail, frames_text(rep->fail_frames, rep->fail_nframes).c_str());
      if (rep->crash_nframes) {
        printf("  crashed at:\n%s", frames_text(rep->crash_frames, rep->crash_nframes).c_str());
      }
    }
    for (int k = 0; k < kKinds; ++k) {
      if (!o.kinds[k]) continue;
      int step = rep->fail_step >= 0 ? rep->fail_step : (rep->bad_step >= 0 ? rep->bad_step : rep->current_step);
      Seen &s = seen[{step, k}];
      if (s.count++ > 0 && s.first_n < n) continue;
      s.first_n = n;
      char head[512];
      snprintf(head, sizeof head, "  N=%ld (failing allocation in step %s)%s%s\n", n,
               rep->fail_step >= 0 ? kStepNames[rep->fail_step] : "(none)", rep->detail[0] ? ": " : "", rep->detail);
      s.first_detail = head;
      if (k == k_leak) {
        char line[160];
        snprintf(line, sizeof line, "  %ld blocks leaked; rerun with ALLOC_FAIL_N=%ld ALLOC_FAIL_TRACE=%u\n",
                 rep->leaked, n, rep->leaked_ord[0]);
        s.first_detail += line;
      }
      s.first_detail += "  failing allocation made at:\n" + frames_text(rep->fail_frames, rep->fail_nframes);
      if (rep->crash_nframes) {
        s.first_detail += "  crashed at:\n" + frames_text(rep->crash_frames, rep->crash_nframes);
      }
      if (!err.empty()) s.first_detail += "  stderr: " + err.substr(0, 600) + "\n";
    }
  };
  // Runs side by side, one per slot, each N handed to the next free slot.
  std::vector<Run> slots(static_cast<size_t>(jobs));
  for (int i = 0; i < jobs; ++i) slots[static_cast<size_t>(i)].dir = g_base + "/run" + std::to_string(i);
  auto start = std::chrono::steady_clock::now();
  long next = 1;
  int busy = 0;
  for (;;) {
    for (int i = 0; i < jobs && next <= total; ++i) {
      if (slots[static_cast<size_t>(i)].pid > 0) continue;
      start_run(slots[static_cast<size_t>(i)], &reports[i], body, next, 0, timeout_s);
      next += stride;
      ++busy;
    }
    if (busy == 0) break;
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      assert_int_equal(errno, EINTR);
      continue;
    }
    for (int i = 0; i < jobs; ++i) {
      Run &run = slots[static_cast<size_t>(i)];
      if (run.pid != pid) continue;
      Outcome o = outcome_of(status);
      record(run.n, o, &reports[i], o.any() ? stderr_of(run) : std::string());
      run.pid = -1;
      --busy;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  printf("%s: %ld runs in %.1f s\n", what, runs, secs);

  int unexpected = 0;
  for (const auto &entry : seen) {
    ++unexpected;
    printf("UNEXPECTED: %s when an allocation in step %s fails: %ld of %ld runs, first N=%ld\n%s",
           kKindNames[entry.first.second], kStepNames[entry.first.first], entry.second.count, runs,
           entry.second.first_n, entry.second.first_detail.c_str());
  }
  munmap(mem, mem_size);
  if (unexpected) fail_msg("%s: %d kinds of failure (see above)", what, unexpected);
}
#endif

UNIT_TEST(every_allocation_failure_is_survived) {
#ifdef ALLOC_FAIL_SANITIZED
  skip();  // the sanitizers own malloc; the scenario above still runs under them
#else
  warm_up();
  sweep(scenario_body, "scenario");
#endif
}

UNIT_TEST(worker_survives_allocation_failures) {
#ifdef ALLOC_FAIL_SANITIZED
  skip();
#else
  warm_up();
  sweep(worker_body, "worker");
#endif
}

UNIT_TEST(transport_never_throws) {
#ifdef ALLOC_FAIL_SANITIZED
  skip();
#else
  warm_up();
  sweep(transport_body, "transport");
#endif
}

// json.h: a parse that fails for lack of memory says so, and the checked
// builders throw std::bad_alloc without leaking what they were given.
UNIT_TEST(json_tells_memory_from_syntax) {
#ifdef ALLOC_FAIL_SANITIZED
  skip();
#else
  const char text[] = " {\"a\":[1,\"x\",{\"b\":null}],\"c\":\"\\u00e9\"} ";
  long failures = 0;
  for (long n = 1;; ++n) {
    af::g_count = 0;
    af::g_fail_at = n;
    co::JsonError error = co::JsonError::none;
    arm(true);
    co::Json j = co::json_parse_exact(text, error);
    arm(false);
    if (af::g_count < n) {  // nothing failed: parsed
      assert_non_null(j.get());
      break;
    }
    assert_null(j.get());
    assert_int_equal(static_cast<int>(error), static_cast<int>(co::JsonError::memory));
    ++failures;
  }
  assert_true(failures > 3);
  for (const char *bad : {"{\"a\":}", "[1,]", "{\"a\":1} x", "\"\\ud800\"", ""}) {
    af::g_count = 0;
    af::g_fail_at = 1;
    co::JsonError error = co::JsonError::none;
    arm(true);
    co::Json j = co::json_parse_exact(bad, error);
    arm(false);
    assert_null(j.get());
    assert_int_equal(static_cast<int>(error), static_cast<int>(co::JsonError::syntax));
  }
  // Builders and printing: a failure anywhere throws (or, json_print, answers
  // ""), and after the tree is gone nothing allocated while armed is left.
  for (long n = 1;; ++n) {
    af::g_count = 0;
    af::g_fail_at = n;
    bool threw = false;
    std::string printed = "unset";
    arm(true);
    try {
      co::Json o(co::json_must(cJSON_CreateObject()));
      co::json_add_string(o.get(), "user_id", "00000000-0000-4000-8000-000000000000");
      co::json_add_number(o.get(), "n", 3);
      co::json_add_bool(o.get(), "ok", true);
      co::json_add_null(o.get(), "none");
      cJSON *arr = co::json_add_array(o.get(), "list");
      co::json_append(arr, cJSON_CreateString("an element long enough to be copied"));
      cJSON *nested = co::json_add_object(o.get(), "nested");
      co::json_add(nested, "deep", cJSON_CreateArray());
      printed = co::json_print(o.get());
    } catch (const std::bad_alloc &) {
      threw = true;
    }
    arm(false);
    bool complete = strstr(printed.c_str(), "\"deep\":[]") != nullptr;
    bool empty = printed.empty();
    std::string().swap(printed);  // the text was allocated while armed too
    assert_int_equal(af::live_blocks(nullptr, 0), 0);
    if (af::g_count < n) {
      assert_false(threw);
      assert_true(complete);
      break;
    }
    assert_true(threw || empty);
  }
  af::g_fail_at = 0;
#endif
}

// The scratch directory: $TMPDIR when set, else /dev/shm where it exists
// (every run creates a database and fsyncs it: on tmpfs that costs nothing).
int setup(void **) {
#ifndef ALLOC_FAIL_SANITIZED
  af::t_test_thread = true;
#endif
  const char *tmp = getenv("TMPDIR");
  std::string parent = tmp && *tmp ? tmp : access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
  std::string tmpl = parent + "/cohort-alloc-XXXXXX";
  if (!mkdtemp(&tmpl[0])) return -1;
  g_base = tmpl;
  return 0;
}

int teardown(void **) {
  remove_tree(g_base);
  return 0;
}

}  // namespace

// The group's scratch directory; allocation failures are armed on this
// (the main) thread only.
static const test::GroupFixture kFixture(setup, teardown);
