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
  if (trusted && untimed_events_ > 0 && !backfill_times(wall, mono)) {
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
  int64_t offset = wall - mono;
  if (!store_.begin()) return false;
  storage::Stmt boot(store_, "UPDATE boots SET offset_ms=? WHERE n=?");
  boot.bind(1, offset).bind(2, boot_n_);
  boot.step();
  // This boot, and earlier boots whose offset is known: exact.
  storage::Stmt known(store_,
                      "UPDATE events SET time_ms = mono_ms + (SELECT offset_ms FROM boots WHERE n = events.boot)"
                      " WHERE time_ms IS NULL AND boot IN (SELECT n FROM boots WHERE offset_ms IS NOT NULL)");
  known.step();
  // Earlier boots never trusted: just before this boot started (at wall time
  // `offset`), the latest boot last, each spaced as it was.
  struct Span {
    int64_t boot, first, last;
  };
  std::vector<Span> spans;
  storage::Stmt q(store_,
                  "SELECT boot, min(mono_ms), max(mono_ms) FROM events WHERE time_ms IS NULL"
                  " GROUP BY boot ORDER BY boot DESC");
  while (q.step()) spans.push_back({q.int64(0), q.int64(1), q.int64(2)});
  bool ok = boot.done() && known.done() && q.done();
  int64_t end = offset - 1;
  storage::Stmt place(store_, "UPDATE events SET time_ms = ?1 - (?2 - mono_ms) WHERE boot = ?3 AND time_ms IS NULL");
  for (const Span &span : spans) {
    if (!ok) break;
    place.reset();
    place.bind(1, end).bind(2, span.last).bind(3, span.boot);
    place.step();
    ok = place.done();
    end -= span.last - span.first + 1;
  }
  if (!ok || !store_.commit()) {
    store_.rollback();
    return false;
  }
  CO_LOG(*log_, info, "back-filled the wall time of %lld events", static_cast<long long>(untimed_events_));
  untimed_events_ = 0;
  waiting_for_clock_ = false;
  wake_worker(false);
  return true;
}

}  // namespace co
