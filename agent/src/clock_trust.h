// ClockTrust: whether the device's wall clock can be believed, and the best
// estimate of the wall time until it can (see clock.cpp for the policy).
// Owns the plausibility floor (this build's time), the offset at open, whether
// the clock jumped forward while we ran, and the last trusted reading. Reads
// only the clock seam it is given; guarded by the agent's lock (Agent::mu_).
#pragma once
#include <cstdint>

#include "platform/clock.h"

namespace co {

class ClockTrust {
 public:
  // Before any other call. plausible_after_ms: no wall time before it is
  // believed (-1: this build's time).
  void start(platform::Clock &clock, int64_t plausible_after_ms);

  // One look at the clock: whether its wall time would be trusted now, and
  // the reading it judged (for the caller to act on before settle()).
  // trust_system: clock.trust "system" (a plausible clock is trusted at once).
  bool assess(bool trust_system, int64_t &wall, int64_t &mono);
  // The caller acted on an assessment: a trusted reading becomes the floor
  // of later estimates.
  void settle(bool trusted, int64_t wall, int64_t mono);
  // Why a clock assessed as trusted is (for the log).
  const char *reason(bool trust_system) const;

  bool trusted() const { return trusted_; }
  // The wall time at monotonic `mono`, from the last trusted reading (or the
  // plausibility floor when there was none).
  int64_t estimate(int64_t mono) const { return wall_floor_ + (mono - mono_floor_); }

 private:
  platform::Clock *clock_ = nullptr;
  bool trusted_ = false;
  bool jumped_ = false;       // moved forward past the build time while we ran
  int64_t open_offset_ = 0;   // wall - mono when the agent opened
  int64_t plausible_ms_ = 0;  // no wall time before this is believed (the build time)
  int64_t wall_floor_ = 0;    // the wall time last trusted (or the build time)...
  int64_t mono_floor_ = 0;    // ...and the monotonic time it was read at
};

}  // namespace co
