// Backoff on a virtual clock with chosen random draws: full jitter under a
// doubling cap, the caps, Retry-After, and what success, a new configuration
// and an explicit request each undo.
#include "backoff.h"
#include "config.h"
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
  assert_true(delay_after(b, now, kTop, Backoff::kCapMs) >= 2 * Backoff::kBaseMs - 1);  // base << 1
  assert_true(delay_after(b, now, kTop, Backoff::kCapMs) >= 4 * Backoff::kBaseMs - 1);
  assert_int_equal(b.attempts(), 2);
  for (int i = 0; i < 40; ++i) b.failed(now, kTop, Backoff::kCapMs);
  assert_int_equal(b.attempts(), 30);  // the count stops, the shift never overflows
  int64_t d = b.retry_at() - now;
  assert_true(d <= Backoff::kCapMs && d > Backoff::kCapMs - 10);
  // A configuration fault waits up to an hour.
  d = delay_after(b, now, kTop, Backoff::kConfigFaultCapMs);
  assert_true(d <= Backoff::kConfigFaultCapMs && d > Backoff::kConfigFaultCapMs - 10);
}

UNIT_TEST(the_base_is_the_configured_one) {
  // sync.retry_base_ms: its default is this base.
  assert_int_equal(co::Config().sync_retry_base_ms, Backoff::kBaseMs);
  Backoff b;
  b.set_base_ms(1000);
  int64_t d = delay_after(b, 0, kTop, Backoff::kCapMs);  // 1 s << 1
  assert_true(d >= 1999 && d <= 2000);
  d = delay_after(b, 0, kTop, Backoff::kCapMs);
  assert_true(d >= 3999 && d <= 4000);
  b.set_base_ms(0);  // never a hot loop
  assert_true(delay_after(b, 0, kTop, Backoff::kCapMs) >= Backoff::kMinDelayMs);
}

UNIT_TEST(jitter_is_the_draw_and_never_zero) {
  Backoff b;
  // Half the cap for half the range; a zero draw still waits the minimum.
  for (int i = 0; i < 2; ++i) b.failed(0, 0, Backoff::kCapMs);
  assert_int_equal(b.retry_at(), Backoff::kMinDelayMs);
  int64_t d = delay_after(b, 0, 0x80000000u, Backoff::kCapMs);  // attempt 3: cap base << 3
  assert_int_equal(d, 4 * Backoff::kBaseMs);
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
  b.succeeded(0, false);
  assert_int_equal(b.attempts(), 0);
  assert_int_equal(b.retry_at(), 0);
}

namespace {

// Failures from `from` until `to` (one a minute), then the first success at `to`.
void fail_then_deliver(Backoff &b, int64_t from, int64_t to, bool full) {
  for (int64_t t = from; t < to; t += 60 * 1000) b.failed(t, kTop, Backoff::kCapMs);
  b.succeeded(to, full);
}

}  // namespace

UNIT_TEST(a_blip_drains_the_backlog_at_once) {
  Backoff b;
  b.failed(0, kTop, Backoff::kCapMs);
  b.succeeded(Backoff::kRampAfterMs - 1, true);  // shorter than a ramp's worth of failure
  assert_false(b.ramping(Backoff::kRampAfterMs));
  assert_false(b.waiting(Backoff::kRampAfterMs));
  assert_int_equal(b.retry_at(), 0);
}

UNIT_TEST(after_a_long_failure_full_batches_are_paced_until_the_queue_is_empty) {
  Backoff b;
  const int64_t hour = 3600 * 1000;
  fail_then_deliver(b, 0, hour, true);
  assert_true(b.ramping(hour));
  assert_true(b.waiting(hour + Backoff::kMinDelayMs - 1));  // the next full batch waits a pause
  int64_t now = b.retry_at();
  assert_true(now - hour <= Backoff::kRampPaceMs);
  b.succeeded(now, true);
  assert_true(b.waiting(now + Backoff::kMinDelayMs - 1));
  assert_true(b.retry_at() - now <= Backoff::kRampPaceMs);
  // A batch that was not full emptied the queue: the ramp is over, and a
  // later full batch (a burst of events) goes at once.
  now = b.retry_at();
  b.succeeded(now, false);
  assert_false(b.ramping(now));
  assert_int_equal(b.retry_at(), 0);
  b.succeeded(now + 1, true);
  assert_int_equal(b.retry_at(), 0);
}

UNIT_TEST(the_ramp_lasts_as_long_as_the_failure_at_most_an_hour) {
  Backoff b;
  const int64_t minutes10 = 10 * 60 * 1000;
  fail_then_deliver(b, 0, minutes10, true);
  assert_true(b.ramping(2 * minutes10 - 1));
  assert_false(b.ramping(2 * minutes10));
  b.succeeded(2 * minutes10, true);  // past it: whatever is left goes at once
  assert_int_equal(b.retry_at(), 0);
  // A day's failure ramps for an hour only.
  Backoff day;
  const int64_t d = 86400 * 1000LL;
  fail_then_deliver(day, 0, d, true);
  assert_true(day.ramping(d + Backoff::kRampMaxMs - 1));
  assert_false(day.ramping(d + Backoff::kRampMaxMs));
}

UNIT_TEST(the_ramp_pauses_are_jittered_over_the_whole_pace) {
  // A fleet recovering together spreads its batches only if each device's
  // pauses differ: over many devices they cover [0, kRampPaceMs).
  int64_t lo = Backoff::kRampPaceMs, hi = 0;
  for (uint32_t device = 1; device <= 200; ++device) {
    Backoff b;
    for (int64_t t = 0; t < 3600 * 1000; t += 60 * 1000) b.failed(t, device * 2654435761u, Backoff::kCapMs);
    b.succeeded(3600 * 1000, true);
    int64_t pause = b.retry_at() - 3600 * 1000;
    assert_true(pause >= Backoff::kMinDelayMs && pause <= Backoff::kRampPaceMs);
    lo = std::min(lo, pause);
    hi = std::max(hi, pause);
  }
  assert_true(lo < Backoff::kRampPaceMs / 10);
  assert_true(hi > Backoff::kRampPaceMs * 9 / 10);
}

UNIT_TEST(an_explicit_request_drains_without_the_ramp) {
  Backoff b;
  const int64_t hour = 3600 * 1000;
  fail_then_deliver(b, 0, hour, true);
  assert_true(b.waiting(hour + 1));
  b.skip_own_delay();  // sync.now, a view: the backlog goes now, batch after batch
  assert_false(b.waiting(hour + 1));
  b.succeeded(hour + 1, true);
  b.succeeded(hour + 2, true);
  assert_int_equal(b.retry_at(), 0);
  // A failure ends the explicit drain; a later recovery paces again.
  b.failed(hour + 3, kTop, Backoff::kCapMs);
  fail_then_deliver(b, hour + 4, 2 * hour, true);
  assert_true(b.waiting(2 * hour + Backoff::kMinDelayMs - 1));
}
