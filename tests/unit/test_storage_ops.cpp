// The named operations of storage/ (the only SQL in the tree), and the
// transaction that owns the counters it changes.
#include "storage/boots.h"
#include "storage/caches.h"
#include "storage/events.h"
#include "storage/transaction.h"
#include "store_fixture.h"
#include "test_util.h"
#include "unit_test.h"

using co::storage::EventRow;
using co::storage::HistoryCounts;
using co::storage::Store;

namespace {

struct Db : test::StoreFixture {
  Store &s = store;
};

bool add(Store &s, int64_t seq, const char *name, bool timed = true, int64_t boot = 1, int64_t mono = 0) {
  EventRow r;
  r.seq = seq;
  r.event_id = "00000000-0000-4000-8000-000000000000";
  r.epoch = 1;
  r.name = name;
  r.time_ms = 1000 * seq;
  r.time_known = timed;
  r.mono_ms = mono;
  r.boot = boot;
  r.session_id = "00000000-0000-4000-8000-000000000001";
  r.properties = "{}";
  return co::storage::insert_event(s, r);
}

}  // namespace

// A rollback puts back every counter the transaction holds, as it was when
// it began; a commit keeps what changed.
UNIT_TEST(transaction_owns_its_counters) {
  Db db;
  HistoryCounts counts;
  std::string session = "a";
  {
    co::storage::Transaction<HistoryCounts, std::string> tx(db.s, counts, session);
    assert_true(tx.begun());
    counts.history = 5;
    counts.next_seq = 9;
    session = "b";
    assert_true(co::storage::set_sent_seq(db.s, 4));
    tx.rollback();
  }
  assert_int_equal(counts.history, 0);
  assert_int_equal(counts.next_seq, 1);
  assert_string_equal(session.c_str(), "a");
  assert_int_equal(co::storage::counter(db.s, "sent_seq"), 0);  // the store rolled back too
  {
    co::storage::Transaction<HistoryCounts> tx(db.s, counts);
    counts.outbox = 3;
    assert_true(co::storage::set_sent_seq(db.s, 4));
    assert_true(tx.commit());
  }
  assert_int_equal(counts.outbox, 3);
  assert_int_equal(co::storage::counter(db.s, "sent_seq"), 4);
}

// Segment events are queued only when they are sent; eviction never passes
// the send cursor.
UNIT_TEST(outbox_and_eviction) {
  Db db;
  assert_true(add(db.s, 1, "A"));
  assert_true(add(db.s, 2, "SegmentEntry"));
  assert_true(add(db.s, 3, "B", false));
  co::storage::StoredCounts c;
  assert_true(co::storage::count_events(db.s, 0, false, c));
  assert_int_equal(c.history, 3);
  assert_int_equal(c.max_seq, 3);
  assert_int_equal(c.queued, 2);
  assert_int_equal(c.untimed, 1);
  assert_true(co::storage::count_events(db.s, 0, true, c));
  assert_int_equal(c.queued, 3);
  int64_t seq = 0;
  assert_true(co::storage::nth_queued(db.s, 0, 1, false, seq));
  assert_int_equal(seq, 3);
  int64_t n = 0;
  assert_true(co::storage::evict_oldest(db.s, 3, 1, n));  // only seq 1 has left
  assert_int_equal(n, 1);
  assert_true(co::storage::evict_older_than(db.s, 1000000, 0, 2, n));
  assert_int_equal(n, 1);
  int64_t left = 0;
  assert_true(co::storage::count_all_events(db.s, left));
  assert_int_equal(left, 1);
  std::vector<int64_t> seqs;
  assert_true(co::storage::read_outbox(db.s, 0, 10, false, [&](const co::storage::Stmt &q) {
    seqs.push_back(q.int64(0));
    return true;
  }));
  assert_int_equal(seqs.size(), 1);
  assert_int_equal(seqs[0], 3);
}

// Untimed events of this boot get the exact time; those of an earlier boot
// never trusted end just before it, spaced as they were.
UNIT_TEST(backfill_places_untimed_events) {
  Db db;
  int64_t old_boot = 0, boot = 0;
  assert_true(co::storage::register_boot(db.s, "old", old_boot));
  assert_true(co::storage::register_boot(db.s, "now", boot));
  int64_t again = 0;
  assert_true(co::storage::register_boot(db.s, "old", again));
  assert_int_equal(again, old_boot);  // a boot keeps its number
  assert_true(add(db.s, 1, "A", false, old_boot, 100));
  assert_true(add(db.s, 2, "A", false, old_boot, 400));
  assert_true(add(db.s, 3, "A", false, boot, 50));
  assert_true(co::storage::backfill_times(db.s, boot, 1000000));
  std::vector<int64_t> times;
  assert_true(co::storage::read_epoch_events(db.s, 1, 0, [&](const co::storage::Stmt &q) {
    times.push_back(q.int64(1));
    return true;
  }));
  assert_int_equal(times.size(), 3);
  assert_int_equal(times[2], 1000050);
  assert_int_equal(times[1], 999999);
  assert_int_equal(times[0], 999999 - 300);
}

// An answer from an earlier boot reads back with the time it had left when
// that boot was last seen alive, and moves onto the new boot's clock.
UNIT_TEST(caches_carry_their_time_left) {
  Db db;
  int64_t old_boot = 0, boot = 0;
  assert_true(co::storage::register_boot(db.s, "old", old_boot));
  assert_true(co::storage::register_boot(db.s, "now", boot));
  assert_true(co::storage::put_cache(db.s, "k", "behavioral", old_boot, 5000, "{}"));
  assert_true(co::storage::note_boot_alive(db.s, old_boot, 3000));
  int64_t left = -1;
  auto read = [&] {
    assert_true(co::storage::read_caches(db.s, [&](const co::storage::Stmt &q) {
      left = q.int64(2) == boot ? q.int64(4) : q.int64(3);
      return true;
    }));
  };
  read();
  assert_int_equal(left, 2000);
  assert_true(co::storage::rebase_cache(db.s, "k", boot, 7777));
  read();
  assert_int_equal(left, 7777);
  assert_true(co::storage::delete_cache(db.s, "k"));
  left = -1;
  read();
  assert_int_equal(left, -1);
}
