#include "platform/clock.h"

#include <sys/timex.h>

#include <atomic>
#include <ctime>

namespace co::platform {
namespace {

int64_t read_ms(clockid_t id) {
  struct timespec ts {};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

class SystemClock final : public Clock {
 public:
  int64_t wall_ms() override { return read_ms(CLOCK_REALTIME); }
  int64_t mono_ms() override { return read_ms(CLOCK_BOOTTIME); }
  // adjtimex with no modes only reads: allowed to anyone. It is a system
  // call (one that also feeds the kernel's entropy pool), asked several times
  // per event; the kernel's sync state moves on NTP's schedule, so the answer
  // is kept for a second.
  bool synced() override {
    int64_t now = mono_ms();
    if (now < next_read_ms_.load(std::memory_order_relaxed)) return synced_.load(std::memory_order_relaxed);
    struct timex tx {};
    int state = adjtimex(&tx);
    bool synced = state >= 0 && state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
    synced_.store(synced, std::memory_order_relaxed);
    next_read_ms_.store(now + kSyncedCacheMs, std::memory_order_relaxed);
    return synced;
  }

 private:
  static constexpr int64_t kSyncedCacheMs = 1000;
  std::atomic<int64_t> next_read_ms_{0};
  std::atomic<bool> synced_{false};
};

}  // namespace

Clock &system_clock() {
  static SystemClock clock;
  return clock;
}

}  // namespace co::platform
