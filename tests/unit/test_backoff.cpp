// Backoff on a virtual clock with chosen random draws: full jitter under a
// doubling cap, the caps, Retry-After, and what success, a new configuration
// and an explicit request each undo.
#include "backoff.h"
#include "test_util.h"
#include "unit_test.h"

using co::Backoff;

namespace {

constexpr uint32_t kTop = 0xffffffffu;  // the largest draw: the delay is (almost) the cap

int64_t delay_after(Backoff &b, int64_t now, uint32_t random, int64_t cap, int64_t retry_after_s = -1) {
  b.failed(now, random, cap, retry_after_s);
  return b.retry_at() - now;
}

}  // namespace

UNIT_TEST(cap_doubles_up_to_its_limit) {
  Backoff b;
  assert_false(b.waiting(0));
  int64_t now = 1000000;
  assert_true(delay_after(b, now, kTop, Backoff::kCapMs) >= 1999);  // 1 s << 1
  assert_true(delay_after(b, now, kTop, Backoff::kCapMs) >= 3999);
  assert_int_equal(b.attempts(), 2);
  for (int i = 0; i < 40; ++i) b.failed(now, kTop, Backoff::kCapMs);
  assert_int_equal(b.attempts(), 30);  // the count stops, the shift never overflows
  int64_t d = b.retry_at() - now;
  assert_true(d <= Backoff::kCapMs && d > Backoff::kCapMs - 10);
  // A configuration fault waits up to an hour.
  d = delay_after(b, now, kTop, Backoff::kConfigFaultCapMs);
  assert_true(d <= Backoff::kConfigFaultCapMs && d > Backoff::kConfigFaultCapMs - 10);
}

UNIT_TEST(jitter_is_the_draw_and_never_zero) {
  Backoff b;
  // Half the cap for half the range; a zero draw still waits the minimum.
  for (int i = 0; i < 5; ++i) b.failed(0, 0, Backoff::kCapMs);
  assert_int_equal(b.retry_at(), Backoff::kMinDelayMs);
  int64_t d = delay_after(b, 0, 0x80000000u, Backoff::kCapMs);  // attempt 6: cap 64 s
  assert_int_equal(d, 32000);
}

UNIT_TEST(retry_after_is_honoured_and_capped) {
  Backoff b;
  assert_int_equal(delay_after(b, 500, 0, Backoff::kCapMs, 120), 120000);
  // An explicit request does not skip the server's word...
  b.skip_own_delay();
  assert_int_equal(b.retry_at(), 500 + 120000);
  // ...nor does a new configuration.
  b.restart();
  assert_int_equal(b.attempts(), 0);
  assert_int_equal(b.retry_at(), 500 + 120000);
  // A day's Retry-After is taken as an hour.
  assert_int_equal(delay_after(b, 0, 0, Backoff::kCapMs, 86400), Backoff::kRetryAfterCapS * 1000);
}

UNIT_TEST(own_delay_is_skipped_on_request) {
  Backoff b;
  b.failed(1000, kTop, Backoff::kCapMs);
  assert_true(b.waiting(1001));
  b.skip_own_delay();  // no Retry-After: at once
  assert_false(b.waiting(1001));
  b.failed(1000, kTop, Backoff::kCapMs);
  b.restart();
  assert_false(b.waiting(1000));
  b.defer_until(5000);
  assert_true(b.waiting(4999));
  assert_false(b.waiting(5000));
  b.failed(0, kTop, Backoff::kCapMs, 10);
  b.succeeded();
  assert_int_equal(b.attempts(), 0);
  assert_int_equal(b.retry_at(), 0);
}
