// Views: playing time across pauses, completion, how often progress is
// persisted, which views are abandoned, and what a crash leaves to recover.
#include <cmath>

#include "open_views.h"
#include "store_fixture.h"
#include "test_util.h"
#include "unit_test.h"

using co::View;
using co::Views;

namespace {

struct Fixture : test::StoreFixture {
  Views views;
  Fixture() { views.start(store); }
};

View a_view(const char *id, double duration_s, int64_t now) {
  View v;
  v.view_id = id;
  v.play_name = "Videoview";
  v.completion_name = "VideoCompletion";
  v.percent_key = "percentage_watched";
  v.session_id = "s";
  v.properties = co::json_parse("{\"title\":\"t\"}");
  v.duration_s = duration_s;
  v.tick_mono = v.active_mono = v.persisted_mono = now;
  return v;
}

}  // namespace

UNIT_TEST(playing_time_counts_only_while_playing) {
  Fixture f;
  View v = a_view("v1", 100, 1000);
  assert_true(f.views.save(v, 1000, true, true));
  assert_true(f.views.set_playing(v, false, 10, 11500, true));  // 10.5 s played
  assert_true(f.views.set_playing(v, true, -1, 60000, true));   // paused 48.5 s
  co::Engagement e = co::engagement_of(v, 62000);
  assert_true(e.spent_s == 12);  // 12.5 s: whole seconds only
  assert_true(std::fabs(e.completion - 0.1) < 1e-9);
  v.move_to(250);  // past the end: capped at 1
  v.move_to(5);    // a seek back keeps the furthest point
  e = co::engagement_of(v, 62000);
  assert_true(e.completion == 1);
  assert_true(v.position_s == 5);
  View live = a_view("live", 0, 0);
  assert_true(std::isnan(co::engagement_of(live, 5000).completion));
}

UNIT_TEST(progress_is_persisted_at_most_every_few_seconds) {
  Fixture f;
  View v = a_view("v1", 100, 0);
  assert_true(f.views.save(v, 0, true, true));
  assert_true(f.views.progress(v, 3, Views::kPersistEveryMs - 1, true));
  assert_int_equal(v.persisted_mono, 0);
  assert_int_equal(v.active_mono, Views::kPersistEveryMs - 1);
  assert_true(f.views.progress(v, 6, Views::kPersistEveryMs, true));
  assert_int_equal(v.persisted_mono, Views::kPersistEveryMs);
  // What a crash leaves: the view as last persisted, paused.
  std::vector<View> left = f.views.read_left_open();
  assert_int_equal(left.size(), 1);
  assert_string_equal(left[0].view_id.c_str(), "v1");
  assert_false(left[0].playing);
  assert_true(left[0].furthest_s == 6);
  assert_int_equal(left[0].spent_ms, Views::kPersistEveryMs);
  assert_true(left[0].duration_s == 100);
  assert_true(f.views.delete_row("v1"));
  assert_int_equal(f.views.read_left_open().size(), 0);
}

UNIT_TEST(without_consent_nothing_is_kept) {
  Fixture f;
  View v = a_view("v1", 100, 0);
  assert_true(f.views.save(v, 0, true, false));
  assert_true(f.views.set_playing(v, false, 1, 1000, false));
  assert_int_equal(f.views.read_left_open().size(), 0);
}

UNIT_TEST(abandoned_views_are_those_idle_past_the_timeout) {
  Fixture f;
  f.views.add(a_view("old", 10, 0));
  f.views.add(a_view("new", 10, 5000));
  std::vector<std::string> ids = f.views.abandoned(6001, 1500);
  assert_int_equal(ids.size(), 1);
  assert_string_equal(ids[0].c_str(), "old");
  assert_non_null(f.views.find("new"));
  f.views.remove("old");
  assert_null(f.views.find("old"));
}

UNIT_TEST(a_refused_pause_changes_nothing) {
  Fixture f;
  View v = a_view("v1", 100, 0);
  assert_true(f.views.save(v, 0, true, true));
  f.store.close();  // every write now fails
  assert_false(f.views.set_playing(v, false, 50, 9000, true));
  assert_true(v.playing);
  assert_int_equal(v.spent_ms, 0);
  assert_int_equal(v.tick_mono, 0);
  assert_true(v.furthest_s == 0);
}
