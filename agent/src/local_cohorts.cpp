#include "local_cohorts.h"

#include <map>
#include <string_view>
#include <unordered_set>

#include "agent.h"
#include "storage/cohort_state.h"
#include "storage/events.h"

namespace co {

const char *const LocalCohorts::kEmptyDefinitions = "{\"cohorts\":[]}";

bool LocalCohorts::for_each_event(int64_t epoch, int64_t after, const std::function<void(const rules::Event &)> &fn) {
  return storage::read_epoch_events(*store_, epoch, after, [&](const storage::Stmt &q) {
    std::string name = q.text(2), session = q.uuid(3), view = q.is_null(4) ? std::string() : q.uuid(4);
    Json props = json_parse(q.text(5));
    rules::Event e;
    e.seq = q.int64(0);
    e.time_ms = q.int64(1);
    e.name = name;
    e.session_id = session;
    e.view_id = view;
    e.properties = props.get();
    fn(e);
    return true;
  });
}

Outcome LocalCohorts::load(const std::string &doc, bool fresh_state, int64_t epoch, int64_t now_ms) {
  // Whatever happens below may change the engine's recorded membership: the
  // next poll learns it again.
  members_known_ = false;
  std::vector<rules::SavedState> saved;
  if (fresh_state) {
    // The engine keeps in-memory state for unchanged rules: empty it first.
    rules::LoadReport none;
    engine_.load(kEmptyDefinitions, {}, now_ms, &none);
  } else {
    storage::read_cohort_state(*store_, [&](const storage::Stmt &q) {
      saved.push_back({q.text(0), q.text(1), q.int64(2), q.text(3)});
      return true;
    });
  }
  rules::LoadReport report;
  rules::Status st = engine_.load(doc, saved, now_ms, &report);
  if (!st.ok()) return Outcome(COHORT_ERULES, st.message);
  for (const std::string &why : report.discarded) CO_LOG(*log_, warn, "%s; rebuilding it from history", why.c_str());
  bool ok = true;
  if (!report.lookback.empty()) {
    ok = for_each_event(epoch, 0, [&](const rules::Event &e) { engine_.lookback(e); });
    engine_.end_lookback();
  }
  if (ok && report.replay_after_seq != INT64_MAX) {
    ok = for_each_event(epoch, report.replay_after_seq, [&](const rules::Event &e) { engine_.observe(e); });
  }
  if (!ok) CO_LOG(*log_, error, "cannot read the history for the cohorts: %s", store_->error().c_str());
  if (!fresh_state) restore_reported(epoch, saved);
  // Made aside and swapped in whole: running out of memory half way must not
  // leave the lists of different lengths.
  std::vector<rules::CohortInfo> definitions = engine_.cohorts();
  std::unordered_map<std::string, size_t> index;
  std::vector<std::string> quoted;
  for (size_t i = 0; i < definitions.size(); ++i) {
    index[definitions[i].id] = i;
    Json id(json_must(cJSON_CreateString(definitions[i].id.c_str())));
    quoted.push_back(json_print_checked(id.get()));
  }
  definitions_.swap(definitions);
  index_.swap(index);
  quoted_ids_.swap(quoted);
  doc_ = doc;
  return COHORT_OK;
}

Outcome LocalCohorts::rebuild(int64_t epoch, int64_t now_ms) {
  // Emptied first: a load keeps the in-memory state of an unchanged rule.
  members_known_ = false;
  rules::LoadReport none;
  engine_.load(kEmptyDefinitions, {}, now_ms, &none);
  std::string doc = doc_;
  Outcome st = load(doc, false, epoch, now_ms);
  find_current_view(epoch);
  return st;
}

// The SegmentEntry / SegmentExit events are the durable record of what was
// reported; the saved state is written only now and then. Each cohort takes
// the last transition recorded after its saved state (a crash in between
// would otherwise report it again, or miss the change back).
void LocalCohorts::restore_reported(int64_t epoch, const std::vector<rules::SavedState> &saved) {
  std::map<std::string, int64_t> covered;
  int64_t after = INT64_MAX;
  for (const rules::SavedState &s : saved) covered[s.cohort_id] = s.seq;
  for (const rules::CohortInfo &c : engine_.cohorts()) {
    auto it = covered.find(c.id);
    after = std::min(after, it == covered.end() ? 0 : it->second);
  }
  if (after == INT64_MAX) return;
  storage::read_segment_events(*store_, epoch, after, [&](const storage::Stmt &q) {
    Json props = json_parse(q.text(5));
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(props.get(), "segment_id");
    if (!cJSON_IsString(id)) return true;
    auto it = covered.find(id->valuestring);
    if (it != covered.end() && q.int64(0) <= it->second) return true;
    std::string session = q.uuid(3), view = q.is_null(4) ? std::string() : q.uuid(4);
    engine_.reported(id->valuestring, q.text(1) == "SegmentEntry", rules::Now{q.int64(2), session, view});
    return true;
  });
}

void LocalCohorts::observe(const rules::Event &e) {
  if (!e.view_id.empty()) current_view_ = std::string(e.view_id);
  observed_since_poll_ = true;
  engine_.observe(e);
}

// Right after a poll the recorded membership is what a full reading would
// say (the poll read every cohort that could have moved), and only the
// changes it reports move it: one reading after a load, then the changes.
rules::Changes LocalCohorts::poll(const rules::Now &now) {
  // Nothing observed or loaded, the same millisecond, session and view: the
  // engine would read the same state at the same moment and find what it
  // recorded (the second settling of a track, a tick right after one).
  if (settled() && now.time_ms == polled_ms_ && now.session_id == polled_session_ && now.view_id == polled_view_) {
    return {};
  }
  rules::Changes ch = engine_.poll(now);
  ++polls_;
  polled_ms_ = now.time_ms;
  polled_session_.assign(now.session_id);
  polled_view_.assign(now.view_id);
  observed_since_poll_ = false;
  if (!members_known_) {
    member_.assign(definitions_.size(), false);
    for (const std::string &id : engine_.members(now)) member_[index_.at(id)] = true;
    ++readings_;
  } else if (ch.entered.empty() && ch.exited.empty()) {
    return ch;
  }
  members_known_ = false;  // until the lists below are whole (they allocate)
  for (const std::string &id : ch.entered) member_[index_.at(id)] = true;
  for (const std::string &id : ch.exited) member_[index_.at(id)] = false;
  keep_members();
  members_known_ = true;
  return ch;
}

// Joined from each id's JSON text, made once per load: building the array
// node by node cost a membership change more than the engine's poll did.
void LocalCohorts::keep_members() {
  members_.clear();
  std::string json = "[";
  for (size_t i = 0; i < definitions_.size(); ++i) {
    if (!member_[i]) continue;
    members_.push_back(definitions_[i].id);
    if (json.size() > 1) json += ',';
    json += quoted_ids_[i];
  }
  json += ']';
  members_json_.swap(json);
}

std::string LocalCohorts::change_note(const rules::Changes &ch) const {
  std::string note = "{\"cohorts\":" + members_json_;
  const char *key = ",\"entered\":[";
  for (const std::vector<std::string> *ids : {&ch.entered, &ch.exited}) {
    note += key;
    for (size_t i = 0; i < ids->size(); ++i) {
      if (i > 0) note += ',';
      note += quoted_ids_[index_.at((*ids)[i])];
    }
    note += ']';
    key = ",\"exited\":[";
  }
  return note + "}";
}

void LocalCohorts::find_current_view(int64_t epoch) {
  std::string newest = storage::newest_view_id(*store_, epoch);
  if (!newest.empty()) current_view_ = newest;
}

bool LocalCohorts::save_state(int64_t now_mono) {
  std::vector<rules::SavedState> states = engine_.save();
  bool ok = store_->begin();
  if (ok) {
    storage::CohortStateWriter writer(*store_);
    for (const rules::SavedState &s : states) writer.add(s.cohort_id, s.checksum, s.seq, s.blob);
    ok = writer.ok();
  }
  if (!ok || !store_->commit()) {
    store_->rollback();
    CO_LOG(*log_, warn, "cannot save the cohort state: %s", store_->error().c_str());
    return false;
  }
  saved_mono_ = now_mono;
  return true;
}

void LocalCohorts::add_activations(cJSON *out, const std::vector<std::string> &list) const {
  Json acts(cJSON_CreateObject());
  std::unordered_set<std::string_view> members(list.begin(), list.end());
  for (const rules::CohortInfo &c : definitions_) {
    if (!members.count(c.id)) continue;
    for (const std::string &platform : c.activations) {
      cJSON *ids = cJSON_GetObjectItemCaseSensitive(acts.get(), platform.c_str());
      if (!ids) ids = json_add_array(acts.get(), platform.c_str());
      json_append(ids, cJSON_CreateString(c.id.c_str()));
    }
  }
  merge_activations(out, acts.get());
}

}  // namespace co
