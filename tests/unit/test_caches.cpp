// Caches: deadlines on the monotonic clock, the bound on contextual entries,
// and what a restart keeps (never more than the TTL, the time left from an
// earlier boot).
#include "caches.h"
#include "storage/boots.h"
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
