// Outbox: a batch is the oldest queued events of one identity epoch, at most
// ten, in time order, never past an event whose wall time is not known yet,
// and without the agent's own segment events unless they are sent.
#include "outbox.h"
#include "storage/events.h"
#include "store_fixture.h"
#include "test_util.h"
#include "unit_test.h"

using co::Outbox;
using co::OutboxBatch;

namespace {

struct Fixture : test::StoreFixture {
  Outbox outbox;
  Fixture() { outbox.start(store); }
  void add(int64_t seq, const char *name, int64_t epoch, int64_t time_ms, bool timed = true) {
    co::storage::EventRow r;
    r.seq = seq;
    r.event_id = "00000000-0000-4000-8000-000000000000";
    r.epoch = epoch;
    r.name = name;
    r.time_ms = time_ms;
    r.time_known = timed;
    r.boot = 1;
    r.session_id = "00000000-0000-4000-8000-000000000001";
    r.properties = "{\"k\":1}";
    assert_true(co::storage::insert_event(store, r));
  }
};

std::string names(const OutboxBatch &b) {
  std::string out;
  for (const cJSON *e = b.events ? b.events->child : nullptr; e; e = e->next) {
    out += cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring;
    out += ' ';
  }
  return out;
}

}  // namespace

UNIT_TEST(a_batch_is_one_epoch_in_time_order) {
  Fixture f;
  f.add(1, "B", 1, 2000);
  f.add(2, "A", 1, 1000);  // the caller's own, older time
  f.add(3, "C", 2, 3000);  // the next identity epoch: the next batch
  OutboxBatch b;
  assert_true(f.outbox.next(0, false, b));
  assert_int_equal(b.epoch, 1);
  assert_string_equal(names(b).c_str(), "A B ");
  assert_int_equal(b.seqs.size(), 2);
  assert_int_equal(b.seqs[0], 1);  // outbox order, for the cursor
  assert_int_equal(b.seqs[1], 2);
  const cJSON *first = b.events->child;
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(first, "time")->valuestring, "1970-01-01T00:00:01.000Z");
  assert_non_null(cJSON_GetObjectItemCaseSensitive(first, "properties"));
  assert_true(f.outbox.next(2, false, b));
  assert_int_equal(b.epoch, 2);
  assert_string_equal(names(b).c_str(), "C ");
}

UNIT_TEST(at_most_ten_and_never_past_an_untimed_event) {
  Fixture f;
  for (int64_t i = 1; i <= 12; ++i) f.add(i, "E", 1, i * 1000);
  OutboxBatch b;
  assert_true(f.outbox.next(0, false, b));
  assert_int_equal(b.seqs.size(), Outbox::kBatch);
  Fixture g;
  g.add(1, "E", 1, 1000);
  g.add(2, "E", 1, 0, false);
  g.add(3, "E", 1, 3000);
  assert_true(g.outbox.next(0, false, b));
  assert_int_equal(b.seqs.size(), 1);
  assert_false(b.waiting_for_clock);
  assert_true(g.outbox.next(1, false, b));
  assert_int_equal(b.seqs.size(), 0);
  assert_true(b.waiting_for_clock);  // the next one waits for a trusted clock
}

UNIT_TEST(segment_events_stay_unless_sent) {
  Fixture f;
  f.add(1, "SegmentEntry", 1, 1000);
  f.add(2, "E", 1, 2000);
  OutboxBatch b;
  assert_true(f.outbox.next(0, false, b));
  assert_string_equal(names(b).c_str(), "E ");
  assert_true(f.outbox.next(0, true, b));
  assert_string_equal(names(b).c_str(), "SegmentEntry E ");
  assert_true(f.outbox.next(2, true, b));
  assert_int_equal(b.seqs.size(), 0);
  assert_false(b.waiting_for_clock);
}
