// Backoff: when the next CCS request may go, after consecutive failures.
// Owns the attempt count, the time of the next attempt and the server's
// Retry-After. A value type with no I/O and no clock of its own: the caller
// gives the time (monotonic ms) and a random draw, so a fleet simulation can
// drive thousands of them on a virtual clock with a seeded source. The agent's
// one lives in its sync state, guarded by the agent's lock (Agent::mu_).
#pragma once
#include <algorithm>
#include <cstdint>

namespace co {

class Backoff {
 public:
  static constexpr int64_t kBaseMs = 1000;
  static constexpr int64_t kCapMs = 5 * 60 * 1000;           // network, 5xx, 408, 429
  static constexpr int64_t kConfigFaultCapMs = 3600 * 1000;  // a wrong key or URL: about hourly
  static constexpr int64_t kRetryAfterCapS = 3600;           // the most of a Retry-After honoured
  static constexpr int64_t kMinDelayMs = 50;                 // never a hot loop

  // One more failure at `now`: the next attempt comes after full jitter,
  // random / 2^32 of min(cap_ms, base * 2^attempts), at least kMinDelayMs,
  // and never before the server's Retry-After (seconds; < 0: none given).
  void failed(int64_t now, uint32_t random, int64_t cap_ms, int64_t retry_after_s = -1) {
    attempts_ = std::min(attempts_ + 1, 30);
    int64_t cap = std::min<int64_t>(cap_ms, kBaseMs << std::min(attempts_, 22));
    int64_t delay = static_cast<int64_t>(static_cast<double>(cap) * (random / 4294967296.0));
    retry_after_ = 0;
    if (retry_after_s >= 0) {
      int64_t honoured = std::min(retry_after_s, kRetryAfterCapS) * 1000;
      delay = std::max(delay, honoured);
      retry_after_ = now + honoured;
    }
    retry_at_ = now + std::max(delay, kMinDelayMs);
  }
  // A request went through: the next may go at once.
  void succeeded() {
    attempts_ = 0;
    retry_at_ = retry_after_ = 0;
  }
  // A new configuration: our own delay ends; the server's Retry-After stands.
  void restart() {
    attempts_ = 0;
    retry_at_ = retry_after_;
  }
  // An explicit request (sync.now, a view) skips our own delay, never the
  // server's Retry-After.
  void skip_own_delay() { retry_at_ = std::min(retry_at_, retry_after_); }
  // No attempt before `at` (the first sync after a start, spread over a fleet).
  void defer_until(int64_t at) { retry_at_ = at; }

  bool waiting(int64_t now) const { return now < retry_at_; }
  // When the next attempt may go (0: at once, nothing failed).
  int64_t retry_at() const { return retry_at_; }
  int attempts() const { return attempts_; }

 private:
  int attempts_ = 0;         // consecutive failures
  int64_t retry_at_ = 0;     // monotonic ms
  int64_t retry_after_ = 0;  // the server's Retry-After, monotonic ms; 0: none
};

}  // namespace co
