// Local cohorts, the agent's side (local_cohorts.cpp feeds the engine and
// keeps its state): membership changes become SegmentEntry / SegmentExit
// events and cohorts.changed notifications; the definitions.* and explain
// handlers.
#include <cerrno>
#include <cstring>

#include "agent.h"
#include "platform/files.h"

namespace co {
namespace {

constexpr int kMaxSegmentRounds = 4;  // SegmentEntry events may move other cohorts

}  // namespace

rules::Now Agent::rules_now() {
  rules::Now now;
  now.time_ms = now_wall();
  now.session_id = session_.id;
  now.view_id = cohorts_.current_view();
  return now;
}

// Loads a definitions document into the engine: states kept where the rule
// is unchanged, look-back from the history for the rest, replay of what the
// saved states missed. On error nothing changes.
Outcome Agent::apply_definitions(const std::string &doc, bool fresh_state) {
  Outcome st = cohorts_.load(doc, fresh_state, identity_.epoch(), now_wall());
  if (!st.ok()) return st;
  settle_cohorts();
  save_cohort_state();
  return COHORT_OK;
}

// Reads the definitions at start: the configured file, else the last set put.
void Agent::load_definitions() {
  cohorts_.find_current_view(identity_.epoch());
  // The URL's last accepted set, verified again, before the file: at once,
  // without any network.
  if (restore_fetched_definitions()) return;
  std::string doc;
  if (!store_.get_meta("definitions", doc)) doc = LocalCohorts::kEmptyDefinitions;
  if (!cfg_.cohorts_definitions.empty()) {
    feed_.superseded("file");
    std::string file;
    if (!platform::read_file(cfg_.cohorts_definitions, file, 4 << 20)) {
      CO_LOG(*log_, error, "cannot read cohorts.definitions %s: %s; using the last definitions",
             cfg_.cohorts_definitions.c_str(), strerror(errno));
    } else {
      doc = file;
    }
  }
  Outcome applied = apply_definitions(doc, false);
  if (!applied.ok()) {
    CO_LOG(*log_, error, "cohort definitions rejected: %s; using the last good ones", applied.message.c_str());
    std::string last;
    if (!store_.get_meta("definitions", last) || !apply_definitions(last, false).ok()) {
      (void)apply_definitions(LocalCohorts::kEmptyDefinitions, false);
    }
  }
}

// Polls the engine and records what moved at once: what time alone (or a
// load) moved, and before a call reads.
void Agent::settle_cohorts() {
  if (cohorts_ahead_ && !store_.in_transaction()) rebuild_cohorts();
  note_changes(cohorts_.poll(rules_now()));
  record_pending();
}

// Keeps a poll's changes for record_pending(), stamped now, and notifies
// them at once (from the call that made them): the engine counts them as
// reported from here on.
void Agent::note_changes(rules::Changes ch) {
  if (ch.entered.empty() && ch.exited.empty()) return;
  pending_notifications_.push_back(cohorts_.change_note(ch));
  FoundChanges found;
  Event stamped;
  stamp(stamped);
  found.time_ms = stamped.time_ms;
  found.time_known = stamped.time_known;
  found.mono_ms = stamped.mono_ms;
  found.session_id = session_.id;
  found.changes = std::move(ch);
  if (unrecorded_.empty()) {
    unrecorded_since_mono_ = found.mono_ms;
    wake_cv_.notify_one();  // the worker's wait now ends kRecordDelayMs from here
  }
  unrecorded_.push_back(std::move(found));
}

// Writes what the polls found since the last time, in one transaction: a
// SegmentEntry / SegmentExit event per change (with consent; observed too, so
// that a cohort built on them follows, in bounded rounds). A track does not
// wait for it: the worker records shortly after (kRecordDelayMs), and so do
// any other call before it runs, a save of the state, a sync pass and a track
// that finds kMaxUnrecorded waiting. A crash before that loses nothing: the
// engine starts again from the rows, and its first poll finds the changes
// again (and notifies them again).
void Agent::record_pending() {
  if (cohorts_ahead_ && !store_.in_transaction()) rebuild_cohorts();
  if (unrecorded_.empty()) return;
  size_t notified = pending_notifications_.size();
  storage::Transaction<storage::HistoryCounts, Session> tx(store_, counts_, session_);
  bool ok = tx.begun();
  for (size_t i = 0; ok && i < unrecorded_.size(); ++i) ok = record_found(unrecorded_[i]);
  unrecorded_.clear();
  for (int round = 1; ok && round < kMaxSegmentRounds; ++round) {
    note_changes(cohorts_.poll(rules_now()));
    if (unrecorded_.empty()) break;
    ok = record_found(unrecorded_.back());
    unrecorded_.clear();
  }
  if (!ok || !tx.commit()) {
    CO_LOG(*log_, warn, "cannot record the cohorts' changes: %s; they are recorded at the next settling",
           store_.error().c_str());
    tx.rollback();
    pending_notifications_.resize(notified);  // a later round's: notified when found again
    // The engine took them as reported: from the disk again, it finds them
    // again (in memory, if the disk was at fault).
    degrade_after_fault();
    rebuild_cohorts();
    return;
  }
  committed();
}

// One poll's changes inside the open transaction: their events (with
// consent), observed.
bool Agent::record_found(const FoundChanges &found) {
  const rules::Changes &ch = found.changes;
  if (consent_granted()) {
    std::vector<Event> evs(ch.entered.size() + ch.exited.size());
    for (size_t i = 0; i < evs.size(); ++i) {
      bool exited = i >= ch.entered.size();
      const std::string &id = exited ? ch.exited[i - ch.entered.size()] : ch.entered[i];
      evs[i].name = exited ? "SegmentExit" : "SegmentEntry";
      evs[i].properties.reset(cJSON_CreateObject());
      json_add_string(evs[i].properties.get(), "segment_id", id.c_str());
      evs[i].time_ms = found.time_ms;
      evs[i].time_known = found.time_known;
      evs[i].mono_ms = found.mono_ms;
      evs[i].session_id = found.session_id;
      evs[i].event_id = platform::uuid4(*entropy_);
    }
    std::vector<int64_t> seqs(evs.size());
    if (!write_events(evs.data(), seqs.data(), evs.size(), false)) return false;
    for (size_t i = 0; i < evs.size(); ++i) observe_event(evs[i], seqs[i]);
  }
  return true;
}

// A transaction that holds what the engine observed has committed. A nested
// level leaves the engine ahead of the disk until the outermost commits
// (batch_commit).
void Agent::committed() {
  if (!store_.in_transaction()) cohorts_ahead_ = false;
}

// The engine saw what the disk did not keep (a commit that failed, a throw
// before it): it starts again from what the disk holds, the saved states and
// the history after them, as after a restart. Until that succeeds (it may
// run out of memory too) the flag stays and the next call tries again.
void Agent::rebuild_cohorts() {
  cohorts_ahead_ = true;
  unrecorded_.clear();  // found again by the rebuilt engine's first poll
  Outcome st = cohorts_.rebuild(identity_.epoch(), now_wall());
  if (!st.ok()) {
    CO_LOG(*log_, error, "cannot rebuild the cohorts from storage: %s", st.message.c_str());
    return;
  }
  cohorts_ahead_ = false;
}

// Feeds one stored event to the engine.
void Agent::observe_event(const Event &ev, int64_t seq) {
  rules::Event e;
  e.seq = seq;
  e.time_ms = ev.time_ms;
  e.name = ev.name;
  e.session_id = ev.session_id;
  e.view_id = ev.view_id;
  e.properties = ev.properties.get();
  cohorts_ahead_ = true;  // until the transaction that stored it commits
  cohorts_.observe(e);
}

// The saved state must not count as reported what no row records yet.
void Agent::save_cohort_state() {
  record_pending();
  cohorts_.save_state(clock_->mono_ms());
}

// From the worker, about once a minute: membership moves with time alone, and
// the state is saved now and then (a crash replays what it missed).
void Agent::tick_cohorts() {
  settle_cohorts();
  if (cohorts_.save_due(clock_->mono_ms())) save_cohort_state();
}

void Agent::add_local_cohorts(cJSON *arr) {
  for (const std::string &id : cohorts_.engine().members(rules_now())) json_append(arr, cJSON_CreateString(id.c_str()));
}

void Agent::add_local_activations(cJSON *out) {
  cohorts_.add_activations(out, cohorts_.engine().members(rules_now()));
}

// Puts new definitions in force as one unit: the definitions, the
// SegmentEntry / SegmentExit events of the changes they make and the cohort
// state are committed together, or none of them (a crash in between leaves the
// old set in force, with nothing reported for the new one).
Outcome Agent::install_definitions(const std::string &doc,
                                   const std::vector<std::pair<std::string, std::string>> &keep) {
  std::string old_doc = cohorts_.doc();
  if (!store_.begin()) return failure(COHORT_ESTORAGE, "definitions: " + store_.error());
  Outcome st = apply_definitions(doc, false);
  if (!st.ok()) {
    store_.rollback();
    return st;
  }
  bool kept = store_.set_meta("definitions", doc);
  for (const auto &k : keep) kept = kept && store_.set_meta(k.first.c_str(), k.second);  // a fetched set's signature
  if (!kept || !store_.commit()) {
    std::string why = store_.error();
    store_.rollback();
    reload_from_store();
    (void)apply_definitions(old_doc, false);
    return failure(COHORT_ESTORAGE, "definitions: not stored: " + why);
  }
  committed();
  return COHORT_OK;
}

// The params are the definitions document.
Outcome Agent::m_definitions_put(const Params &params, cJSON *result) {
  Outcome st = install_definitions(json_print_checked(params.json()));
  if (!st.ok()) return st;
  feed_.superseded("put");
  json_add_number(result, "count", static_cast<double>(cohorts_.definitions().size()));
  cJSON *sums = json_add_object(result, "checksums");
  for (const rules::CohortInfo &c : cohorts_.definitions()) json_add_string(sums, c.id.c_str(), c.checksum.c_str());
  return COHORT_OK;
}

Outcome Agent::m_definitions_get(const Params &, cJSON *result) {
  cJSON *arr = json_add_array(result, "cohorts");
  for (const rules::CohortInfo &c : cohorts_.definitions()) {
    cJSON *o = json_append(arr, cJSON_CreateObject());  // owned by arr before it is filled
    json_add_string(o, "id", c.id.c_str());
    json_add_string(o, "name", c.name.c_str());
    cJSON *acts = json_add_array(o, "activations");
    for (const std::string &a : c.activations) json_append(acts, cJSON_CreateString(a.c_str()));
    json_add(o, "rule", json_parse(c.rule).release());  // the canonical form: NULL only when out of memory
    json_add_string(o, "checksum", c.checksum.c_str());
  }
  return COHORT_OK;
}

Outcome Agent::m_definitions_reload(const Params &, cJSON *result) {
  if (feed_.enabled()) return reload_definitions_url(result);
  if (cfg_.cohorts_definitions.empty()) {
    json_add_number(result, "count", static_cast<double>(cohorts_.definitions().size()));
    json_add_string(result, "source", "none configured");
    return COHORT_OK;
  }
  std::string doc;
  if (!platform::read_file(cfg_.cohorts_definitions, doc, 4 << 20)) {
    return failure(COHORT_EIO, "cohorts.definitions: cannot read " + cfg_.cohorts_definitions + ": " + strerror(errno));
  }
  Outcome st = install_definitions(doc);
  if (!st.ok()) return st;
  feed_.superseded("file");
  json_add_number(result, "count", static_cast<double>(cohorts_.definitions().size()));
  json_add_string(result, "source", cfg_.cohorts_definitions.c_str());
  return COHORT_OK;
}

Outcome Agent::m_definitions_preview(const Params &params, cJSON *result) {
  const cJSON *rule = params.get("rule");
  std::unique_ptr<rules::Preview> preview;
  rules::Status st = rules::Preview::compile(cohorts_.engine(), json_print_checked(rule), &preview);
  if (!st.ok()) return failure(COHORT_ERULES, st.message);
  if (consent_granted() &&
      !cohorts_.for_each_event(identity_.epoch(), 0, [&](const rules::Event &e) { preview->observe(e); })) {
    return failure(COHORT_ESTORAGE, "history: " + store_.error());
  }
  Json answer = json_parse(preview->explain(rules_now()));
  for (const char *key : {"match", "explain"}) {
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(answer.get(), key);
    json_add(result, key, v ? v : cJSON_CreateNull());
  }
  return COHORT_OK;
}

Outcome Agent::m_explain(const Params &params, cJSON *result) {
  std::string id = params.string("cohort_id");
  std::string json;
  rules::Status st = cohorts_.engine().explain(id, rules_now(), &json);
  if (!st.ok()) return failure(COHORT_ENOTFOUND, "cohort_id: " + st.message);
  Json answer = json_parse(json);
  for (const char *key : {"match", "explain"}) {
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(answer.get(), key);
    json_add(result, key, v ? v : cJSON_CreateNull());
  }
  json_add_string(result, "cohort_id", id.c_str());
  return COHORT_OK;
}

}  // namespace co
