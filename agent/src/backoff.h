// Backoff: when the next CCS request may go, after consecutive failures, and
// how the backlog drains once the API answers again. Owns the attempt count,
// the time of the next attempt, the server's Retry-After and the recovery
// ramp. A value type with no I/O and no clock of its own: the caller gives
// the time (monotonic ms) and a random draw, so a fleet simulation can drive
// thousands of them on a virtual clock with a seeded source. The agent's one
// lives in its sync state, guarded by the agent's lock (Agent::mu_).
#pragma once
#include <algorithm>
#include <cstdint>

namespace co {

class Backoff {
 public:
  // The first retry comes within 2 x base (sync.retry_base_ms; this is its
  // default). Long enough that a fleet whose API fails at once does not
  // multiply its load with quick retries in the first minute (tests/fleet),
  // short enough that a blip costs seconds.
  static constexpr int64_t kBaseMs = 15 * 1000;
  static constexpr int64_t kCapMs = 5 * 60 * 1000;           // network, 5xx, 408, 429
  static constexpr int64_t kConfigFaultCapMs = 3600 * 1000;  // a wrong key or URL: about hourly
  static constexpr int64_t kRetryAfterCapS = 3600;           // the most of a Retry-After honoured
  static constexpr int64_t kMinDelayMs = 50;                 // never a hot loop
  // The recovery ramp: after failures that lasted at least kRampAfterMs, a
  // backlog drains one full batch per pause of up to kRampPaceMs (full
  // jitter: a minute on average, a device's steady rate), for as long as the
  // failures lasted and at most kRampMaxMs; then whatever is left goes at
  // once, so a device that makes more events than the ramp drains loses none.
  static constexpr int64_t kRampAfterMs = 60 * 1000;
  static constexpr int64_t kRampPaceMs = 2 * 60 * 1000;
  static constexpr int64_t kRampMaxMs = 3600 * 1000;

  // The base of the doubling (sync.retry_base_ms), at least kMinDelayMs.
  void set_base_ms(int64_t base_ms) { base_ms_ = std::max(base_ms, kMinDelayMs); }

  // One more failure at `now`: the next attempt comes after full jitter,
  // random / 2^32 of min(cap_ms, base * 2^attempts), at least kMinDelayMs,
  // and never before the server's Retry-After (seconds; < 0: none given).
  void failed(int64_t now, uint32_t random, int64_t cap_ms, int64_t retry_after_s = -1) {
    if (attempts_ == 0) failing_since_ = now;
    attempts_ = std::min(attempts_ + 1, 30);
    draining_ = false;
    pace_seed_ = pace_seed_ * 0x9e3779b97f4a7c15ULL + random;
    int64_t cap = std::min<int64_t>(cap_ms, base_ms_ << std::min(attempts_, 22));
    int64_t delay = static_cast<int64_t>(static_cast<double>(cap) * (random / 4294967296.0));
    retry_after_ = 0;
    if (retry_after_s >= 0) {
      int64_t honoured = std::min(retry_after_s, kRetryAfterCapS) * 1000;
      delay = std::max(delay, honoured);
      retry_after_ = now + honoured;
    }
    retry_at_ = now + std::max(delay, kMinDelayMs);
  }
  // A request went through at `now` carrying a full batch or not. A batch
  // that was not full emptied the queue: the next may go at once. A full one
  // after a long failure (a backlog the whole fleet may hold at once) paces
  // the next batch by a jittered pause, unless an explicit request is draining.
  void succeeded(int64_t now, bool full_batch) {
    if (attempts_ > 0 && now - failing_since_ >= kRampAfterMs) {
      ramp_until_ = now + std::min(now - failing_since_, kRampMaxMs);
    }
    attempts_ = 0;
    retry_at_ = retry_after_ = 0;
    if (!full_batch) {
      ramp_until_ = 0;
      draining_ = false;
    } else if (!draining_ && now < ramp_until_) {
      retry_at_ = now + std::max(kMinDelayMs, static_cast<int64_t>(next_pace() * kRampPaceMs));
    }
  }
  // A new configuration: our own delay ends; the server's Retry-After stands.
  void restart() {
    attempts_ = 0;
    ramp_until_ = 0;
    retry_at_ = retry_after_;
  }
  // An explicit request (sync.now, a view) skips our own delay, never the
  // server's Retry-After, and drains the backlog without the ramp's pauses.
  void skip_own_delay() {
    retry_at_ = std::min(retry_at_, retry_after_);
    draining_ = true;
  }
  // No attempt before `at` (the first sync after a start, spread over a fleet).
  void defer_until(int64_t at) { retry_at_ = at; }

  bool waiting(int64_t now) const { return now < retry_at_; }
  // When the next attempt may go (0: at once, nothing failed).
  int64_t retry_at() const { return retry_at_; }
  int attempts() const { return attempts_; }
  // Whether a backlog drains paced at `now` (after a long failure).
  bool ramping(int64_t now) const { return now < ramp_until_; }

 private:
  // The ramp's pauses, in [0, 1): drawn from the failures' random draws
  // (splitmix64), so the caller's entropy is asked only when something failed.
  double next_pace() {
    uint64_t z = (pace_seed_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0);
  }

  int64_t base_ms_ = kBaseMs;
  int attempts_ = 0;           // consecutive failures
  int64_t retry_at_ = 0;       // monotonic ms
  int64_t retry_after_ = 0;    // the server's Retry-After, monotonic ms; 0: none
  int64_t failing_since_ = 0;  // the first of the consecutive failures, monotonic ms
  int64_t ramp_until_ = 0;     // full batches are paced until then, monotonic ms
  bool draining_ = false;      // an explicit request drains the backlog unpaced
  uint64_t pace_seed_ = 0;
};

}  // namespace co
