// The session and the identity.* handlers (user_identity.cpp: the identity itself).
#include <algorithm>
#include <cctype>
#include <cstring>

#include "agent.h"

namespace co {

Outcome Agent::load_identity() {
  Outcome st = identity_.load();
  if (!st.ok()) return st;
  std::string v;
  // The session continues across a restart only within the inactivity timeout.
  session_.id.clear();
  if (store_.get_meta("session", v)) {
    char id[64] = {0}, boot[64] = {0};
    long long mono = 0, wall = 0;
    if (sscanf(v.c_str(), "%63[^|]|%lld|%63[^|]|%lld", id, &mono, boot, &wall) == 4) {
      int64_t timeout = cfg_.session_inactivity_timeout_s * 1000;
      // Another boot: only a trusted wall clock can say how long we were off.
      bool same_boot = boot_id_ == boot;
      int64_t idle = same_boot ? clock_->mono_ms() - mono : clock_->wall_ms() - wall;
      if ((same_boot || check_clock()) && idle >= 0 && idle <= timeout) {
        session_.id = id;
        session_.last_mono = boot_id_ == boot ? mono : clock_->mono_ms() - idle;
      }
    }
  }
  if (session_.id.empty()) {
    session_.id = platform::uuid4(*entropy_);
    session_.last_mono = clock_->mono_ms();
  }
  return COHORT_OK;
}

constexpr int64_t kSessionSaveMs = 10000;

bool Agent::touch_session(int64_t now_mono) {
  std::string id = session_.id;
  if (now_mono - session_.last_mono > cfg_.session_inactivity_timeout_s * 1000) id = platform::uuid4(*entropy_);
  // The activity mark is persisted when the session changes and at most every
  // kSessionSaveMs otherwise: a page write per event saved, and a restart
  // misjudges the idle time by no more than that.
  if (id != session_.id || session_saved_mono_ < 0 || now_mono - session_saved_mono_ >= kSessionSaveMs ||
      now_mono < session_saved_mono_) {
    std::string v = id + "|" + std::to_string(now_mono) + "|" + boot_id_ + "|" + std::to_string(now_wall());
    if (!store_.set_meta("session", v)) return false;
    session_saved_mono_ = now_mono;
  }
  session_.id = id;
  session_.last_mono = now_mono;
  return true;
}

Outcome Agent::m_identity_get(const Params &, cJSON *result) {
  identity_.add_json(result);
  return COHORT_OK;
}

// An alias given without a priority ranks after every alias before it: the
// ones already set (unless replaced) and the ones before it in this call.
// The declaration (agent.cpp) has checked each alias's members, their types
// and limits, and the number of aliases; what is left is what they mean.

Outcome Agent::m_identity_set_aliases(const Params &params, cJSON *result) {
  std::vector<Alias> next;
  Outcome st = identity_.next_aliases(params, next);
  if (!st.ok()) return st;
  st = identity_.set_aliases(std::move(next));
  if (!st.ok()) return st;
  identity_.add_json(result);
  return COHORT_OK;
}

Outcome Agent::new_identity(bool drop_history) {
  std::string id = platform::uuid4(*entropy_);
  std::string session = platform::uuid4(*entropy_);
  if (id.empty() || session.empty()) return failure(COHORT_EINTERNAL, "no entropy for a new identity");
  int64_t epoch = identity_.epoch() + 1;
  int64_t now_mono = clock_->mono_ms();
  storage::Transaction<Session> tx(store_, session_);
  if (!tx.begun()) return failure(COHORT_ESTORAGE, "identity: " + store_.error());
  // Events still queued for the CCS API keep their epoch and leave under the
  // old identity; everything else of the old user goes.
  bool ok = identity_.record_next(epoch, id) &&
            (!drop_history || (delete_sent_events() && storage::forget_user_state(store_)));
  session_.id = session;
  session_.last_mono = now_mono;
  if (!ok || !touch_session(now_mono) || !tx.commit()) {
    std::string why = store_.error();
    tx.rollback();
    return failure(COHORT_ESTORAGE, "identity: " + why);
  }
  identity_.became(id, epoch);
  if (drop_history) {
    // Left: the old user's events still to send, and the agent's own events
    // among them (not queued, so not in counts_.outbox): counted, not assumed.
    // Before the new user's cohorts record anything.
    if (!storage::count_all_events(store_, counts_.history)) counts_.history = counts_.outbox;
    caches_.forget("behavioral");
    cohorts_.clear_current_view();
    (void)apply_definitions(cohorts_.doc(), true);  // a new user starts with no cohort state
  }
  if (!identity_.save_file()) CO_LOG(*log_, warn, "cannot write the identity file in %s", cfg_.data_dir.c_str());
  return COHORT_OK;
}

Outcome Agent::m_identity_reset(const Params &, cJSON *result) {
  Outcome st = new_identity(true);
  if (!st.ok()) return st;
  json_add_string(result, "user_id", identity_.user_id().c_str());
  json_add_string(result, "session_id", session_.id.c_str());
  return COHORT_OK;
}

}  // namespace co
