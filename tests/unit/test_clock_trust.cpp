// ClockTrust on a fake clock: a clock before the plausibility floor is never
// trusted; a plausible one is once synchronised, set forward, up ten minutes,
// or at once under clock.trust "system"; estimates run from the last trusted
// reading.
#include "clock_trust.h"
#include "test_util.h"
#include "unit_test.h"

using co::ClockTrust;
using co::platform::FakeClock;

namespace {

constexpr int64_t kFloor = 1700000000000;  // the plausibility floor of these tests

bool look(ClockTrust &t, bool system = false) {
  int64_t wall = 0, mono = 0;
  bool trusted = t.assess(system, wall, mono);
  t.settle(trusted, wall, mono);
  return trusted;
}

}  // namespace

UNIT_TEST(implausible_is_never_trusted) {
  FakeClock clock(86400000, 1000);  // 1970: a box without an RTC
  ClockTrust t;
  t.start(clock, kFloor);
  assert_false(look(t, true));
  clock.advance_ms(3600000);
  assert_false(look(t));
  // Estimates start at the floor and run with the monotonic clock.
  assert_int_equal(t.estimate(clock.mono_ms()), kFloor + 3600000);
}

UNIT_TEST(plausible_needs_a_reason) {
  FakeClock clock(kFloor + 5000, 1000);
  clock.set_synced(false);
  ClockTrust t;
  t.start(clock, kFloor);
  assert_false(look(t));
  assert_true(look(t, true));  // clock.trust system
  assert_string_equal(t.reason(true), "clock.trust system");
  ClockTrust synced;
  synced.start(clock, kFloor);
  clock.set_synced(true);
  assert_true(look(synced));
  assert_string_equal(synced.reason(false), "plausible and synchronised");
  // Up ten minutes with no sync signal: the best there is.
  clock.set_synced(false);
  ClockTrust grace;
  grace.start(clock, kFloor);
  assert_false(look(grace));
  clock.set_mono_ms(600000);
  assert_true(look(grace));
}

UNIT_TEST(a_jump_forward_is_a_setting) {
  FakeClock clock(86400000, 1000);
  clock.set_synced(false);
  ClockTrust t;
  t.start(clock, kFloor);
  assert_false(look(t));
  clock.set_wall_ms(kFloor + 7200000);  // NTP stepped it
  assert_true(look(t));
  assert_string_equal(t.reason(false), "it was set");
  // Estimates now run from that reading.
  int64_t mono = clock.mono_ms();
  assert_int_equal(t.estimate(mono + 500), kFloor + 7200000 + 500);
}

UNIT_TEST(settle_is_the_callers_decision) {
  FakeClock clock(kFloor + 5000, 1000);
  ClockTrust t;
  t.start(clock, kFloor);
  int64_t wall = 0, mono = 0;
  assert_true(t.assess(false, wall, mono));
  assert_false(t.trusted());  // not until settled (the back-fill may fail)
  t.settle(false, wall, mono);
  assert_false(t.trusted());
  assert_int_equal(t.estimate(mono), kFloor);
  t.settle(true, wall, mono);
  assert_true(t.trusted());
  assert_int_equal(t.estimate(mono), kFloor + 5000);
}
