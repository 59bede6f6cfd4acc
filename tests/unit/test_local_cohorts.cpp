// LocalCohorts: definitions loaded with look-back over the stored history,
// events observed, the state saved and taken up again at the next load, the
// activations of the members, the current view, and the membership kept
// between polls.
#include "local_cohorts.h"
#include "storage/events.h"
#include "store_fixture.h"
#include "test_util.h"
#include "unit_test.h"

using co::LocalCohorts;

namespace {

const char *kDefs =
    "{\"cohorts\":[{\"id\":\"1001\",\"name\":\"Football fans\",\"activations\":[\"dfp\"],\"rule\":{\"logic\":\"AND\","
    "\"conditions\":[{\"type\":\"event\",\"event_type\":\"Videoview\",\"operator\":\"gte\",\"value\":2,"
    "\"window_days\":30}]}}]}";

constexpr int64_t kNow = 1700000000000;

struct Fixture : test::StoreFixture {
  LocalCohorts cohorts;
  Fixture() { cohorts.start(store, log); }
  void add(int64_t seq, int64_t epoch, const char *view_id = "") {
    co::storage::EventRow r;
    r.seq = seq;
    r.event_id = "00000000-0000-4000-8000-000000000000";
    r.epoch = epoch;
    r.name = "Videoview";
    r.time_ms = kNow - 1000 + seq;
    r.boot = 1;
    r.session_id = "00000000-0000-4000-8000-000000000001";
    r.view_id = view_id;
    r.properties = "{}";
    assert_true(co::storage::insert_event(store, r));
  }
  std::vector<std::string> members() {
    co::rules::Now now;
    now.time_ms = kNow;
    return cohorts.engine().members(now);
  }
};

}  // namespace

UNIT_TEST(definitions_look_back_over_the_epochs_history) {
  Fixture f;
  f.add(1, 1);
  f.add(2, 2);  // another identity's: not counted
  assert_true(f.cohorts.load(kDefs, false, 1, kNow).ok());
  assert_int_equal(f.cohorts.definitions().size(), 1);
  assert_string_equal(f.cohorts.doc().c_str(), kDefs);
  assert_int_equal(f.members().size(), 0);
  f.add(3, 1);
  int n = 0;
  assert_true(f.cohorts.for_each_event(1, 2, [&](const co::rules::Event &e) {
    f.cohorts.observe(e);
    ++n;
  }));
  assert_int_equal(n, 1);
  assert_int_equal(f.members().size(), 1);
  co::Json out(cJSON_CreateObject());
  f.cohorts.add_activations(out.get(), f.members());
  assert_string_equal(co::json_print_checked(out.get()).c_str(), "{\"dfp\":[\"1001\"]}");
}

UNIT_TEST(saved_state_is_taken_up_again) {
  Fixture f;
  f.add(1, 1);
  f.add(2, 1);
  assert_true(f.cohorts.load(kDefs, false, 1, kNow).ok());
  assert_int_equal(f.members().size(), 1);
  assert_false(f.cohorts.save_due(0));
  assert_true(f.cohorts.save_state(5));
  assert_true(f.cohorts.save_due(5 + LocalCohorts::kSaveEveryMs));
  // The history is gone but the state covers it; a fresh start does not.
  assert_true(f.store.exec("DELETE FROM events"));
  LocalCohorts again;
  again.start(f.store, f.log);
  assert_true(again.load(kDefs, false, 1, kNow).ok());
  co::rules::Now now;
  now.time_ms = kNow;
  assert_int_equal(again.engine().members(now).size(), 1);
  assert_true(again.load(kDefs, true, 1, kNow).ok());
  assert_int_equal(again.engine().members(now).size(), 0);
}

UNIT_TEST(bad_definitions_change_nothing) {
  Fixture f;
  assert_true(f.cohorts.load(kDefs, false, 1, kNow).ok());
  co::Outcome bad = f.cohorts.load("{\"cohorts\":[{\"id\":\"x\"}]}", false, 1, kNow);
  assert_int_equal(bad.status, COHORT_ERULES);
  assert_string_equal(f.cohorts.doc().c_str(), kDefs);
  assert_int_equal(f.cohorts.definitions().size(), 1);
}

UNIT_TEST(the_current_view_is_the_newest_events) {
  Fixture f;
  f.add(1, 1, "00000000-0000-4000-8000-00000000000a");
  f.add(2, 1);
  f.cohorts.find_current_view(1);
  assert_string_equal(f.cohorts.current_view().c_str(), "00000000-0000-4000-8000-00000000000a");
  co::rules::Event e;
  e.seq = 3;
  e.time_ms = kNow;
  e.name = "Videoview";
  e.view_id = "00000000-0000-4000-8000-00000000000b";
  f.cohorts.observe(e);
  assert_string_equal(f.cohorts.current_view().c_str(), "00000000-0000-4000-8000-00000000000b");
  f.cohorts.clear_current_view();
  assert_string_equal(f.cohorts.current_view().c_str(), "");
}

UNIT_TEST(a_poll_keeps_the_membership_without_reading_every_cohort_again) {
  Fixture f;
  assert_true(f.cohorts.load(kDefs, false, 1, kNow).ok());
  assert_false(f.cohorts.settled());
  co::rules::Now now;
  now.time_ms = kNow;
  f.cohorts.poll(now);
  assert_true(f.cohorts.settled());
  assert_int_equal(f.cohorts.membership_readings(), 1);
  assert_int_equal(f.cohorts.settled_members().size(), 0);
  assert_string_equal(f.cohorts.settled_members_json().c_str(), "[]");
  co::rules::Event e;
  e.time_ms = kNow;
  e.name = "Videoview";
  for (int seq = 1; seq <= 3; ++seq) {
    e.seq = seq;
    f.cohorts.observe(e);
    assert_false(f.cohorts.settled());  // until the next poll
    now.time_ms = kNow + seq;
    co::rules::Changes ch = f.cohorts.poll(now);
    assert_true(f.cohorts.settled());
    assert_int_equal(ch.entered.size(), seq == 2 ? 1 : 0);
    // What a full reading says, without one: the changes moved it.
    assert_true(f.cohorts.settled_members() == f.cohorts.engine().members(now));
  }
  assert_string_equal(f.cohorts.settled_members_json().c_str(), "[\"1001\"]");
  assert_int_equal(f.cohorts.membership_readings(), 1);
  // A load may move the recorded membership: the next poll reads it again.
  assert_true(f.cohorts.load(kDefs, false, 1, kNow).ok());
  assert_false(f.cohorts.settled());
  f.cohorts.poll(now);
  assert_int_equal(f.cohorts.membership_readings(), 2);
  assert_string_equal(f.cohorts.settled_members_json().c_str(), "[\"1001\"]");
}

UNIT_TEST(a_poll_at_the_same_moment_with_nothing_new_is_not_repeated) {
  Fixture f;
  assert_true(f.cohorts.load(kDefs, false, 1, kNow).ok());
  co::rules::Now now;
  now.time_ms = kNow;
  now.session_id = "s1";
  f.cohorts.poll(now);
  f.cohorts.poll(now);
  assert_int_equal(f.cohorts.engine_polls(), 1);
  now.session_id = "s2";  // another session: `session` windows move
  f.cohorts.poll(now);
  assert_int_equal(f.cohorts.engine_polls(), 2);
  now.view_id = "v";
  f.cohorts.poll(now);
  assert_int_equal(f.cohorts.engine_polls(), 3);
  co::rules::Event e;
  e.seq = 1;
  e.time_ms = kNow;
  e.name = "Videoview";
  f.cohorts.observe(e);
  f.cohorts.poll(now);
  assert_int_equal(f.cohorts.engine_polls(), 4);
  now.time_ms += 1;  // time alone moves windows
  f.cohorts.poll(now);
  assert_int_equal(f.cohorts.engine_polls(), 5);
  f.cohorts.poll(now);
  assert_int_equal(f.cohorts.engine_polls(), 5);
}
