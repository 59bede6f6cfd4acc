// The agent's side of the wall clock (clock_trust.cpp has the policy): events
// stamped with the best time there is, and back-filled once it is trusted.
#include "agent.h"

namespace co {

bool Agent::check_clock() {
  int64_t wall = 0, mono = 0;
  bool system = cfg_.clock_trust == "system";
  bool trusted = clock_trust_.assess(system, wall, mono);
  if (trusted && !clock_trust_.trusted()) CO_LOG(*log_, info, "wall clock trusted (%s)", clock_trust_.reason(system));
  if (trusted && counts_.untimed > 0 && !backfill_times(wall, mono)) {
    CO_LOG(*log_, warn, "cannot back-fill event times: %s", store_.error().c_str());
    return false;  // tried again at the next check
  }
  clock_trust_.settle(trusted, wall, mono);
  return trusted;
}

int64_t Agent::now_wall() {
  if (check_clock()) return clock_->wall_ms();
  return clock_trust_.estimate(clock_->mono_ms());
}

void Agent::stamp(Event &ev) {
  ev.mono_ms = clock_->mono_ms();
  ev.time_known = check_clock();
  ev.time_ms = ev.time_known ? clock_->wall_ms() : clock_trust_.estimate(ev.mono_ms);
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
