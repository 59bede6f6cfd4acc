// The wall clock on a device: wrong until NTP syncs (boxes boot at 1970 or at
// a stale RTC time), and set by hand at any moment.
//
// It is trusted once plausible: not before this build, and either the kernel
// says it is synchronised (adjtimex), or it jumped forward while we ran (NTP
// stepped it), or the box has been up ten minutes without either (no NTP at
// all: a plausible clock is the best there is). With clock.trust "system" a
// plausible clock is trusted at once (a battery-backed RTC, a container). Until then an event is stored
// with its monotonic time and boot and no wall time; it is not sent, and the
// rule engine sees an estimate (the last trusted time plus the monotonic time
// since). When the clock becomes trusted, the waiting events get their wall
// time back: exactly for this boot (wall - mono), and for earlier boots placed
// just before this one started, in their order and spacing.
#include "clock_trust.h"

#include "build_info.h"
namespace co {
namespace {

constexpr int64_t kBuildMs = COHORT_BUILD_EPOCH_S * 1000;
constexpr int64_t kJumpMs = 3600000;          // a step this big forward is NTP (or a user) setting it
constexpr int64_t kUnsyncedGraceMs = 600000;  // up this long with no sync signal: trust a plausible clock

}  // namespace

void ClockTrust::start(platform::Clock &clock, int64_t plausible_after_ms) {
  clock_ = &clock;
  int64_t mono = clock.mono_ms();
  plausible_ms_ = plausible_after_ms >= 0 ? plausible_after_ms : kBuildMs;
  open_offset_ = clock.wall_ms() - mono;
  wall_floor_ = plausible_ms_;
  mono_floor_ = mono;
}

bool ClockTrust::assess(bool trust_system, int64_t &wall, int64_t &mono) {
  wall = clock_->wall_ms();
  mono = clock_->mono_ms();
  bool plausible = wall >= plausible_ms_;
  if (plausible && wall - mono > open_offset_ + kJumpMs) jumped_ = true;
  return plausible && (trust_system || jumped_ || mono >= kUnsyncedGraceMs || clock_->synced());
}

void ClockTrust::settle(bool trusted, int64_t wall, int64_t mono) {
  if (trusted) {
    wall_floor_ = wall;
    mono_floor_ = mono;
  }
  trusted_ = trusted;
}

const char *ClockTrust::reason(bool trust_system) const {
  return trust_system ? "clock.trust system" : jumped_ ? "it was set" : "plausible and synchronised";
}

}  // namespace co
