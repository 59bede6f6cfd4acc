// State: save / restore round trips, corrupt blobs rejected, replay after a
// crash counts nothing twice, look-back equals incremental, a changed rule is
// rebuilt while its membership carries over.
#include <string>
#include <vector>

#include "rules_test.h"

using co::rules::Engine;
using co::rules::LoadReport;
using co::rules::SavedState;
using namespace rules_test;

namespace {

const std::string kDefs =
    R"({"cohorts":[)"
    R"({"id":"count","rule":)" +
    single(R"({"type":"event","event_type":"A","operator":"gte","value":3,"window_days":2})") +
    R"(},{"id":"avg","rule":)" +
    single(
        R"({"type":"aggregate","event_type":"*","property":"n","metric":"avg","operator":"gte","value":1.5,"window_hours":3})") +
    R"(},{"id":"eng","rule":)" +
    single(R"({"type":"engagement","metric":"engaged_time","operator":"gte","value":60,"window":"session"})") +
    R"(},{"id":"last","rule":)" +
    single(R"({"type":"property","event_type":"A","property":"s","operator":"starts_with","value":"foot"})") +
    R"(},{"id":"rec","rule":)" + single(R"({"type":"recency","event_type":"B","operator":"lte","window_days":1})") +
    "}]}";

void feed(History *h, Engine *live, int n, int64_t start) {
  for (int i = 0; i < n; ++i) {
    std::string props = "{\"n\":" + std::to_string(i % 4) + ",\"s\":\"" + (i % 3 ? "football" : "news") +
                        "\",\"time_spent_seconds\":" + std::to_string(i * 10) + "}";
    const char *name = i % 5 == 0 ? "B" : i % 2 ? "A" : "Videoview";
    std::string view = "v" + std::to_string(i / 3);
    const OwnedEvent &e = h->add(start + static_cast<int64_t>(i) * 7 * kMinute, name, props.c_str(), "s1", view);
    if (live) live->observe(e.view());
  }
}

std::vector<std::string> all_explained(const Engine &e, int64_t t) {
  std::vector<std::string> out;
  for (const auto &c : e.cohorts()) {
    std::string json;
    assert_true(e.explain(c.id, now_at(t), &json).ok());
    out.push_back(json);
  }
  return out;
}

void save_restore_round_trip(void **) {
  Engine live;
  History h;
  load_ok(&live, kDefs);
  feed(&h, &live, 40, kT0);
  int64_t t = kT0 + 5 * kHour;
  live.poll(now_at(t));
  std::vector<SavedState> saved = live.save();
  assert_int_equal(saved.size(), 5);
  Engine restored;
  LoadReport report;
  assert_true(restored.load(kDefs, saved, t, &report).ok());
  assert_int_equal(report.lookback.size(), 0);
  assert_true(report.discarded.empty());
  assert_int_equal(report.replay_after_seq, 40);
  assert_true(all_explained(restored, t) == all_explained(live, t));
  assert_int_equal(restored.poll(now_at(t)).entered.size(), 0);  // membership came back too
  std::vector<SavedState> again = restored.save();
  for (size_t i = 0; i < saved.size(); ++i) {
    assert_true(again[i].blob == saved[i].blob);
    assert_int_equal(again[i].seq, 40);
    assert_string_equal(again[i].checksum.c_str(), saved[i].checksum.c_str());
  }
}

void corrupt_blobs_are_rejected(void **) {
  Engine live;
  History h;
  load_ok(&live, kDefs);
  feed(&h, &live, 12, kT0);
  std::vector<SavedState> good = live.save();
  std::vector<std::string> mutants;
  const std::string &blob = good[1].blob;
  for (size_t len = 0; len < blob.size(); ++len) mutants.push_back(blob.substr(0, len));
  for (size_t i = 0; i < blob.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string m = blob;
      m[i] = static_cast<char>(m[i] ^ (1 << bit));
      mutants.push_back(m);
    }
  }
  mutants.push_back(blob + "x");
  for (const std::string &m : mutants) {
    std::vector<SavedState> saved = good;
    saved[1].blob = m;
    Engine e;
    LoadReport report;
    assert_true(e.load(kDefs, saved, kT0, &report).ok());
    assert_int_equal(report.lookback.size(), 1);
    assert_string_equal(report.lookback[0].c_str(), "avg");
    assert_int_equal(report.discarded.size(), 1);
    assert_string_equal(report.discarded[0].c_str(), "cohort \"avg\": saved state is corrupt; rebuilt from history");
  }
}

// Each cohort was saved at a different point; replaying from the oldest must
// not count what the newer ones already hold.
void replay_skips_what_each_cohort_covers(void **) {
  Engine live;
  History h;
  load_ok(&live, kDefs);
  feed(&h, &live, 10, kT0);
  std::vector<SavedState> early = live.save();
  feed(&h, &live, 10, kT0 + 2 * kHour);
  std::vector<SavedState> late = live.save();
  feed(&h, &live, 5, kT0 + 4 * kHour);
  std::vector<SavedState> mixed = late;
  mixed[0] = early[0];
  mixed[3] = early[3];
  Engine restored;
  LoadReport report;
  int64_t t = kT0 + 5 * kHour;
  assert_true(restored.load(kDefs, mixed, t, &report).ok());
  assert_int_equal(report.replay_after_seq, 10);
  for (const auto &e : h.events()) {
    if (e->seq > report.replay_after_seq) restored.observe(e->view());
  }
  assert_true(all_explained(restored, t) == all_explained(live, t));
  for (const auto &e : h.events()) restored.observe(e->view());  // a second replay changes nothing
  assert_true(all_explained(restored, t) == all_explained(live, t));
}

void lookback_equals_incremental(void **) {
  Engine live, rebuilt;
  History h;
  load_ok(&live, kDefs);
  feed(&h, &live, 60, kT0);
  int64_t t = kT0 + 7 * kHour;
  LoadReport report;
  assert_true(rebuilt.load(kDefs, {}, t, &report).ok());
  assert_int_equal(report.lookback.size(), 5);
  assert_true(rebuilt.members(now_at(t)).empty());  // still rebuilding: not read
  assert_true(rebuilt.save().empty());
  for (const auto &e : h.events()) rebuilt.observe(e->view());  // live events do not reach them
  for (const auto &e : h.events()) rebuilt.lookback(e->view());
  rebuilt.end_lookback();
  assert_true(all_explained(rebuilt, t) == all_explained(live, t));
  assert_true(rebuilt.members(now_at(t)) == live.members(now_at(t)));
}

// A changed rule starts empty and is rebuilt; the unchanged ones keep their
// state; membership carries over so only real changes are reported.
void changed_rule_rebuilds_and_keeps_membership(void **) {
  std::string v1 = one_cohort(single(R"({"type":"event","event_type":"A","value":2})"), "x");
  std::string v2 = one_cohort(single(R"({"type":"event","event_type":"A","value":1})"), "x");
  Engine e;
  History h;
  load_ok(&e, v1);
  e.observe(h.add(kT0, "A").view());
  e.observe(h.add(kT0, "A").view());
  assert_int_equal(e.poll(now_at(kT0)).entered.size(), 1);
  std::vector<SavedState> saved = e.save();

  LoadReport same;
  assert_true(e.load(v1, {}, kT0, &same).ok());
  assert_true(same.lookback.empty());

  LoadReport report;
  assert_true(e.load(v2, {}, kT0, &report).ok());
  assert_int_equal(report.lookback.size(), 1);
  for (const auto &ev : h.events()) e.lookback(ev->view());
  e.end_lookback();
  co::rules::Changes c = e.poll(now_at(kT0));
  assert_true(c.entered.empty() && c.exited.empty());

  // The same from a saved blob made for the old rule.
  Engine restarted;
  LoadReport r2;
  assert_true(restarted.load(v2, saved, kT0, &r2).ok());
  assert_int_equal(r2.lookback.size(), 1);
  assert_true(r2.discarded.empty());
  for (const auto &ev : h.events()) restarted.lookback(ev->view());
  restarted.end_lookback();
  c = restarted.poll(now_at(kT0));
  assert_true(c.entered.empty() && c.exited.empty());
}

void removed_cohort_is_dropped(void **) {
  Engine e;
  load_ok(&e, kDefs);
  load_ok(&e, one_cohort(single(R"({"type":"event","event_type":"A"})"), "count"));
  assert_int_equal(e.cohorts().size(), 1);
  assert_int_equal(e.save().size(), 1);
}

}  // namespace

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(save_restore_round_trip),
      cmocka_unit_test(corrupt_blobs_are_rejected),
      cmocka_unit_test(replay_skips_what_each_cohort_covers),
      cmocka_unit_test(lookback_equals_incremental),
      cmocka_unit_test(changed_rule_rebuilds_and_keeps_membership),
      cmocka_unit_test(removed_cohort_is_dropped),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
