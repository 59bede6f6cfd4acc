// Caches: deadlines on the monotonic clock, the bound on contextual entries,
// and what a restart keeps (never more than the TTL, the time left from an
// earlier boot).
#include "caches.h"
#include "storage/boots.h"
#include "storage/caches.h"
#include "store_fixture.h"
#include "test_util.h"
#include "unit_test.h"

using co::Caches;

namespace {

struct Fixture : test::StoreFixture {
  int64_t boot = 0;
  Fixture() { assert_true(co::storage::register_boot(store, "first", boot)); }
};

co::Json body(const char *text) {
  return co::json_parse(text);
}

}  // namespace

UNIT_TEST(entries_expire_on_the_monotonic_clock) {
  Fixture f;
  Caches c;
  c.start(f.store, f.log, f.boot);
  c.put("behavioral", "behavioral", body("{\"cohorts\":[]}"), 60, 1000);
  assert_non_null(c.get("behavioral", 1000));
  assert_non_null(c.get("behavioral", 60999));
  assert_null(c.get("behavioral", 61000));
  assert_null(c.get("ctx:x", 1000));
  c.forget("behavioral");
  assert_null(c.get("behavioral", 1000));
}

UNIT_TEST(prune_drops_expired_and_bounds_contextual) {
  Fixture f;
  Caches c;
  c.start(f.store, f.log, f.boot);
  c.put("behavioral", "behavioral", body("{}"), 1, 0);
  for (size_t i = 0; i < Caches::kMaxContextual + 2; ++i) {
    c.put("ctx:" + std::to_string(i), "contextual", body("{}"), 100 + static_cast<int64_t>(i), 0);
  }
  c.prune(5000);
  assert_null(c.get("behavioral", 0));  // expired: gone
  assert_null(c.get("ctx:0", 5000));    // the two soonest to expire went
  assert_null(c.get("ctx:1", 5000));
  assert_non_null(c.get("ctx:2", 5000));
  // The store agrees: a restart on the same boot reads what is left.
  Caches again;
  again.start(f.store, f.log, f.boot);
  again.load(5000, 3600, 3600);
  assert_null(again.get("ctx:1", 5000));
  assert_non_null(again.get("ctx:2", 5000));
}

UNIT_TEST(a_later_boot_gets_the_time_left) {
  Fixture f;
  {
    Caches c;
    c.start(f.store, f.log, f.boot);
    c.put("behavioral", "behavioral", body("{}"), 600, 1000);  // until 601000
    c.put("ctx:a", "contextual", body("{}"), 60, 1000);        // until 61000
  }
  assert_true(co::storage::note_boot_alive(f.store, f.boot, 101000));  // last seen then
  int64_t next = 0;
  assert_true(co::storage::register_boot(f.store, "second", next));
  Caches c;
  c.start(f.store, f.log, next);
  c.load(50, 600, 600);
  // 500 s were left of the behavioral answer; the contextual one had expired.
  assert_non_null(c.get("behavioral", 50 + 499999));
  assert_null(c.get("behavioral", 50 + 500000));
  assert_null(c.get("ctx:a", 50));
  // Never more than the TTL, whatever is stored.
  Caches shorter;
  shorter.start(f.store, f.log, next);
  shorter.load(50, 10, 10);
  assert_null(shorter.get("behavioral", 50 + 10000));
}

namespace {

// The deadline the store holds for `key` (-1: no row).
int64_t stored_deadline(co::storage::Store &store, const std::string &key) {
  int64_t at = -1;
  co::storage::read_caches(store, [&](const co::storage::Stmt &q) {
    if (q.text(0) == key) at = q.int64(4);
    return true;
  });
  return at;
}

}  // namespace

// A server that confirms the same cohorts with every batch: the answer's
// deadline moves in memory, and the store is written again only once its
// deadline is an hour behind (half the TTL when that is shorter). A changed
// answer is written at once.
UNIT_TEST(the_same_answer_again_is_not_written_each_time) {
  Fixture f;
  Caches c;
  c.start(f.store, f.log, f.boot);
  const int64_t ttl_s = 30 * 86400;
  c.put("behavioral", "behavioral", body("{\"cohorts\":[\"1\"]}"), ttl_s, 1000);
  assert_int_equal(stored_deadline(f.store, "behavioral"), 1000 + ttl_s * 1000);
  c.put("behavioral", "behavioral", body("{\"cohorts\":[\"1\"]}"), ttl_s, 61000);
  assert_int_equal(stored_deadline(f.store, "behavioral"), 1000 + ttl_s * 1000);  // not written
  assert_non_null(c.get("behavioral", 61000 + ttl_s * 1000 - 1));                // memory moved on
  c.put("behavioral", "behavioral", body("{\"cohorts\":[\"1\"]}"), ttl_s, 1000 + Caches::kRestoreAfterMs);
  assert_int_equal(stored_deadline(f.store, "behavioral"), 1000 + Caches::kRestoreAfterMs + ttl_s * 1000);
  c.put("behavioral", "behavioral", body("{\"cohorts\":[\"2\"]}"), ttl_s, 2000 + Caches::kRestoreAfterMs);
  assert_int_equal(stored_deadline(f.store, "behavioral"), 2000 + Caches::kRestoreAfterMs + ttl_s * 1000);
  // A short TTL: half of it.
  c.put("ctx:a", "contextual", body("{}"), 60, 0);
  c.put("ctx:a", "contextual", body("{}"), 60, 29000);
  assert_int_equal(stored_deadline(f.store, "ctx:a"), 60000);
  c.put("ctx:a", "contextual", body("{}"), 60, 30000);
  assert_int_equal(stored_deadline(f.store, "ctx:a"), 90000);
  // What a restart reads is what was stored: never a later deadline.
  Caches again;
  again.start(f.store, f.log, f.boot);
  again.load(40000, ttl_s, 60);
  assert_null(again.get("ctx:a", 90000));
  again.put("ctx:a", "contextual", body("{}"), 60, 40000);  // as stored, 50 s ago: not written
  assert_int_equal(stored_deadline(f.store, "ctx:a"), 90000);
}
