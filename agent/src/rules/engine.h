// The local cohort rule engine (docs/rules.md has the language).
//
// Pure: no I/O, no clock, no globals. Time and the session / view context come
// in with each reading (`Now`); events come in as borrowed views (`Event`).
// Not thread-safe: the agent calls it under its own lock.
//
// How the agent drives it:
//   1. load(definitions, saved rows, now)  -> LoadReport
//   2. for every stored event, oldest first: lookback(e); then end_lookback()
//      (only when report.lookback is not empty)
//   3. for every stored event with seq > report.replay_after_seq: observe(e)
//   4. poll(now) -> entered / exited: emit SegmentEntry / SegmentExit, notify
//   then per accepted event: observe(e), poll(now); per ad request: members(now);
//   from a timer (e.g. once a minute) poll(now), since membership moves with time
//   alone; periodically and at shutdown: save() into SQLite.
#pragma once
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rules/event.h"
#include "rules/status.h"

namespace co::rules {

// One cohort's persisted state, as save() returns it and load() takes it back.
struct SavedState {
  std::string cohort_id;
  std::string checksum;  // the rule it was built for (informative: the blob carries it)
  int64_t seq = 0;       // covers every event up to this seq (informative: the blob carries it)
  std::string blob;      // versioned, CRC-sealed; a garbled blob is rejected, never trusted
};

struct LoadReport {
  // Cohorts whose state starts empty (new, changed rule, missing or unusable
  // saved state): feed the whole history through lookback(), then end_lookback().
  std::vector<std::string> lookback;
  // Restored states lag the history: feed events with seq > this through observe().
  // INT64_MAX when nothing needs replaying.
  int64_t replay_after_seq = std::numeric_limits<int64_t>::max();
  // One message per saved state that could not be used ("cohort "x": saved state ...").
  std::vector<std::string> discarded;
};

// Membership changes since the previous poll, dependencies first.
struct Changes {
  std::vector<std::string> entered;
  std::vector<std::string> exited;
};

// A loaded cohort, for definitions.get and activations.
struct CohortInfo {
  std::string id;
  std::string name;
  std::vector<std::string> activations;
  std::string checksum;  // lowercase hex SHA-256 of `rule`
  std::string rule;      // canonical JSON of the rule
};

class Engine {
 public:
  Engine();
  ~Engine();
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;

  // Replaces the definitions with `definitions_json` ({"cohorts": [...]}).
  // A cohort whose rule checksum is unchanged keeps its state: the in-memory one,
  // else a matching `saved` blob. Every other cohort starts empty and is listed in
  // report->lookback; its reported membership (and transition times) carry over
  // from the old state or the saved blob, so a rule edit reports only real changes.
  // `now_ms` is the agent's clock: old buckets are pruned against it.
  // On error nothing changes (the previous definitions stay in force) and the
  // message names the cohort and the field.
  Status load(std::string_view definitions_json, const std::vector<SavedState> &saved, int64_t now_ms,
              LoadReport *report);

  // A live event. Costs work for the conditions that read its name (or "*", or
  // any view event for `engagement`), not for the history or the other cohorts.
  // Cohorts skip events they already cover (seq <= their covered seq), so
  // replaying after a crash never counts an event twice.
  void observe(const Event &e);

  // Look-back: `e` goes only to cohorts listed in the last LoadReport::lookback.
  // Feed the stored history oldest first, up to the newest stored event, before
  // observing new live events; then call end_lookback() to make them live.
  void lookback(const Event &e);
  void end_lookback();

  // Re-reads the cohorts whose membership may have moved (touched by events,
  // reading a changed cohort, a window or recency bucket boundary crossed, the
  // session or view changed) and records transitions at `now`. The first poll
  // after load() reads every cohort. Cohorts still in look-back are skipped.
  Changes poll(const Now &now);

  // Restores a transition the agent reported (and recorded durably) after the
  // saved state was taken: the cohort's membership becomes `member`, entered or
  // exited at `at`, so the next poll reports only what changed since. Unknown
  // ids are ignored.
  void reported(std::string_view cohort_id, bool member, const Now &at);

  // Ids of the cohorts the user is in at `now`, in definitions order (a full
  // reading; records nothing).
  std::vector<std::string> members(const Now &now) const;

  // {"match": bool, "explain": {"logic", "match", "conditions": [...]}} for one
  // cohort at `now`: every condition with its measured value. Fails when the id
  // is unknown.
  Status explain(std::string_view cohort_id, const Now &now, std::string *json) const;

  // Every live cohort's state, to persist (cohorts still in look-back are left
  // out: their state is partial).
  std::vector<SavedState> save() const;

  std::vector<CohortInfo> cohorts() const;

 private:
  friend class Preview;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// definitions.preview: an ad-hoc rule evaluated over a given history. Its
// `cohort` conditions read the engine's cohorts; the engine must not be reloaded
// while a Preview is alive.
class Preview {
 public:
  ~Preview();
  // Compiles `rule_json` (a group: {"logic", "conditions"}). Errors name the field
  // ("rule.conditions[0].metric: unknown metric \"median\"").
  static Status compile(const Engine &engine, std::string_view rule_json, std::unique_ptr<Preview> *out);
  // Feed the history oldest first.
  void observe(const Event &e);
  // The same shape as Engine::explain.
  std::string explain(const Now &now) const;

 private:
  struct Impl;
  explicit Preview(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace co::rules
