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
  // Feeds one stored event (its seq) to the engine.
  void observe(const rules::Event &e);
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

  storage::Store *store_ = nullptr;
  platform::Logger *log_ = nullptr;
  rules::Engine engine_;
  std::string doc_;  // the document in force
  std::vector<rules::CohortInfo> definitions_;
  std::string current_view_;
  int64_t saved_mono_ = 0;
};

}  // namespace co
