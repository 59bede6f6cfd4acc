// LocalCohorts: the agent's side of the rule engine (agent/src/rules). Owns
// the engine, the definitions document in force, the current view (the
// view_id of the newest event that had one) and the engine's saved state in
// the store (cohort_state): it feeds the engine the stored history (look-back
// and crash replay) and every accepted event. Turning membership changes
// into SegmentEntry / SegmentExit events and notifications is the agent's
// (cohorts.cpp). Guarded by the agent's lock (Agent::mu_).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "json.h"
#include "params.h"
#include "platform/log.h"
#include "rules/engine.h"
#include "storage/store.h"

namespace co {

class LocalCohorts {
 public:
  static constexpr int64_t kSaveEveryMs = 60 * 1000;  // the state is saved about once a minute
  static const char *const kEmptyDefinitions;

  void start(storage::Store &store, platform::Logger &log) {
    store_ = &store;
    log_ = &log;
  }
  // Puts a definitions document in the engine for identity epoch `epoch`:
  // saved states kept where the rule is unchanged (fresh_state: none kept),
  // look-back from the history for the rest, replay of what the saved
  // states missed, the last reported memberships restored. On error nothing
  // changes.
  Outcome load(const std::string &doc, bool fresh_state, int64_t epoch, int64_t now_ms);
  // The engine again from what the store holds (the saved states, then the
  // history after them), as after a restart: for when it observed events a
  // failed commit did not keep.
  Outcome rebuild(int64_t epoch, int64_t now_ms);
  // Feeds one stored event (its seq) to the engine.
  void observe(const rules::Event &e);
  // Engine::poll, keeping the membership it records: an answer given right
  // after (a track's) reads it from here instead of evaluating every cohort
  // again, which costs more than the event itself did.
  rules::Changes poll(const rules::Now &now);
  // True when the membership kept by poll() is current: nothing was loaded
  // or observed since that poll.
  bool settled() const { return members_known_ && !observed_since_poll_; }
  // The membership as of the last poll(), in definitions order: the ids, and
  // the same as a JSON array (made once per change, not once per answer).
  const std::vector<std::string> &settled_members() const { return members_; }
  const std::string &settled_members_json() const { return members_json_; }
  // The cohorts.changed notification of a poll's changes (right after it):
  // {"cohorts": the membership after them, "entered": [...], "exited": [...]}.
  std::string change_note(const rules::Changes &ch) const;
  // How many times poll() evaluated every cohort to learn the membership: once
  // after each load, never again (the changes it reports keep it).
  int64_t membership_readings() const { return readings_; }
  // How many times poll() asked the engine.
  int64_t engine_polls() const { return polls_; }
  // Calls fn for every stored event of `epoch` after seq `after`, oldest
  // first, as an engine event; false when the history could not be read.
  bool for_each_event(int64_t epoch, int64_t after, const std::function<void(const rules::Event &)> &fn);
  // Writes the engine's state (the time it was saved, for save_due()).
  bool save_state(int64_t now_mono);
  bool save_due(int64_t now_mono) const { return now_mono - saved_mono_ >= kSaveEveryMs; }
  // The platforms' ids of the cohorts `members` holds, into out (merged).
  void add_activations(cJSON *out, const std::vector<std::string> &members) const;

  rules::Engine &engine() { return engine_; }
  const std::string &doc() const { return doc_; }
  const std::vector<rules::CohortInfo> &definitions() const { return definitions_; }
  const std::string &current_view() const { return current_view_; }
  // The current view as the epoch's history has it (at start), or none.
  void find_current_view(int64_t epoch);
  void clear_current_view() { current_view_.clear(); }

 private:
  void restore_reported(int64_t epoch, const std::vector<rules::SavedState> &saved);
  void keep_members();

  storage::Store *store_ = nullptr;
  platform::Logger *log_ = nullptr;
  rules::Engine engine_;
  std::string doc_;  // the document in force
  std::vector<rules::CohortInfo> definitions_;
  std::string current_view_;
  int64_t saved_mono_ = 0;
  // The membership as the engine last recorded it, by definitions index.
  std::unordered_map<std::string, size_t> index_;  // cohort id -> definitions index
  std::vector<std::string> quoted_ids_;            // each id as JSON text, by definitions index
  std::vector<bool> member_;
  std::vector<std::string> members_;
  std::string members_json_ = "[]";
  bool members_known_ = false;  // false from a load until the next poll
  bool observed_since_poll_ = false;
  int64_t readings_ = 0;
  int64_t polls_ = 0;
  int64_t polled_ms_ = 0;  // the last poll's moment
  std::string polled_session_, polled_view_;
};

}  // namespace co
