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
#include "agent.h"
#include "build_info.h"

#include <vector>

namespace co {
namespace {

constexpr int64_t kBuildMs = COHORT_BUILD_EPOCH_S * 1000;
constexpr int64_t kJumpMs = 3600000;          // a step this big forward is NTP (or a user) setting it
constexpr int64_t kUnsyncedGraceMs = 600000;  // up this long with no sync signal: trust a plausible clock

}  // namespace

void Agent::init_clock(int64_t plausible_after_ms) {
  int64_t mono = clock_->mono_ms();
  plausible_ms_ = plausible_after_ms >= 0 ? plausible_after_ms : kBuildMs;
  open_offset_ = clock_->wall_ms() - mono;
  wall_floor_ = plausible_ms_;
  mono_floor_ = mono;
}

bool Agent::check_clock() {
  int64_t wall = clock_->wall_ms(), mono = clock_->mono_ms();
  bool plausible = wall >= plausible_ms_;
  if (plausible && wall - mono > open_offset_ + kJumpMs) clock_jumped_ = true;
  bool trusted = plausible && (cfg_.clock_trust == "system" || clock_jumped_ || mono >= kUnsyncedGraceMs ||
                               clock_->synced());
  if (trusted && !clock_trusted_) {
    CO_LOG(*log_, info, "wall clock trusted (%s)",
           cfg_.clock_trust == "system" ? "clock.trust system"
           : clock_jumped_             ? "it was set"
                                       : "plausible and synchronised");
  }
  if (trusted && counts_.untimed > 0 && !backfill_times(wall, mono)) {
    CO_LOG(*log_, warn, "cannot back-fill event times: %s", store_.error().c_str());
    return false;  // tried again at the next check
  }
  if (trusted) {
    wall_floor_ = wall;
    mono_floor_ = mono;
  }
  clock_trusted_ = trusted;
  return trusted;
}

int64_t Agent::now_wall() {
  if (check_clock()) return clock_->wall_ms();
  return wall_floor_ + (clock_->mono_ms() - mono_floor_);
}

void Agent::stamp(Event &ev) {
  ev.mono_ms = clock_->mono_ms();
  ev.time_known = check_clock();
  ev.time_ms = ev.time_known ? clock_->wall_ms() : wall_floor_ + (ev.mono_ms - mono_floor_);
}

bool Agent::backfill_times(int64_t wall, int64_t mono) {
  if (!storage::backfill_times(store_, boot_n_, wall - mono)) return false;
  CO_LOG(*log_, info, "back-filled the wall time of %lld events", static_cast<long long>(counts_.untimed));
  counts_.untimed = 0;
  waiting_for_clock_ = false;
  wake_worker(false);
  return true;
}

}  // namespace co
