// The clock seam: wall time (may be wrong on a device until NTP syncs) and a
// monotonic time that never jumps. The engine reads time only through this.
#pragma once
#include <cstdint>

namespace co::platform {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (UTC), as the device believes it.
  virtual int64_t wall_ms() = 0;
  // Milliseconds since an arbitrary point (boot); never goes backwards.
  virtual int64_t mono_ms() = 0;
  // True when the system says the wall clock is synchronised (NTP); a clock
  // that cannot tell says yes.
  virtual bool synced() { return true; }
};

// The real clock: CLOCK_REALTIME and CLOCK_BOOTTIME (counts suspend too).
Clock &system_clock();

// A clock for tests: set and advanced by hand.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t wall = 1700000000000, int64_t mono = 1000) : wall_(wall), mono_(mono) {}
  int64_t wall_ms() override { return wall_; }
  int64_t mono_ms() override { return mono_; }
  bool synced() override { return synced_; }
  void set_synced(bool s) { synced_ = s; }
  void advance_ms(int64_t ms) {
    wall_ += ms;
    mono_ += ms;
  }
  void set_wall_ms(int64_t ms) { wall_ = ms; }
  void set_mono_ms(int64_t ms) { mono_ = ms; }  // a new boot

 private:
  int64_t wall_;
  int64_t mono_;
  bool synced_ = true;
};

}  // namespace co::platform
