// The agent: one engine behind the three faces (C API, socket, CLI). Every
// public method of the socket protocol is a handler here; cohort_call()
// dispatches to them under the agent's lock.
//
// Its parts, each with one owner and its own header: Identity
// (user_identity.h), ClockTrust, Caches, Views (open_views.h), LocalCohorts,
// Outbox and Sender (with its Backoff); the SQL is storage/'s. mu_ guards the
// agent and every part; the sync worker lets go of it only while a request is
// in flight, and calls that wait on the network (method_waits) take it
// themselves. The annotations say so to clang's thread-safety analysis
// (tests/thread_safety): a member marked CO_GUARDED_BY(mu_) is touched only
// by a function marked CO_REQUIRES(mu_) or one that takes the lock.
#pragma once
#include <cohort/cohort.h>
#include <atomic>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backoff.h"
#include "caches.h"
#include "clock_trust.h"
#include "config.h"
#include "definitions_feed.h"
#include "iso8601.h"
#include "json.h"
#include "local_cohorts.h"
#include "open_views.h"
#include "outbox.h"
#include "params.h"
#include "platform/clock.h"
#include "platform/crypto.h"
#include "platform/http.h"
#include "platform/log.h"
#include "platform/mutex.h"
#include "rules/engine.h"
#include "sender.h"
#include "storage/events.h"
#include "storage/store.h"
#include "storage/transaction.h"
#include "sync_plan.h"
#include "user_identity.h"

namespace co {

// The OS seams; tests pass fakes, cohort_open() the real ones.
struct Seams {
  platform::Clock *clock = nullptr;
  platform::Entropy *entropy = nullptr;
  platform::Logger *logger = nullptr;
  platform::Transport *transport = nullptr;
  // The earliest plausible wall time (ms); -1: this build's time. Tests whose
  // fake clock sits in the past set 0.
  int64_t plausible_after_ms = -1;
  // This boot's identity; empty: the kernel's (a fresh one per start when the
  // kernel cannot tell).
  std::string boot_id;
};

// A validated event, ready to be stored.
struct Event {
  std::string event_id;
  std::string name;
  int64_t time_ms = 0;     // wall time; an estimate when !time_known
  bool time_known = true;  // false: stamped while the wall clock was untrusted
  int64_t mono_ms = 0;
  std::string session_id;
  std::string view_id;
  Json properties;  // an object, nulls removed
};

// Limits shared by a method's declared params and its handler.
constexpr double kMaxDurationS = 1e9;

class Agent {
 public:
  // How long after a track its membership changes are recorded (their
  // SegmentEntry / SegmentExit events) by the worker, unless a call comes
  // first: a burst of tracks is recorded once.
  static constexpr int64_t kRecordDelayMs = 50;
  // Retention by age: a pass every ten minutes, this many seqs per call.
  static constexpr int64_t kRetentionEveryMs = 600000;
  static constexpr int64_t kRetentionChunk = 1000;
  // Opens with the given configuration document and seams (NULL members are
  // replaced by the real ones). On failure returns the status and sets err.
  // With `in_memory_why`, the database is copied into memory as soon as it is
  // read, with that reason (see degrade()): nothing more is written to the
  // disk, and the worker starts on the copy.
  static cohort_status open(const char *config_json, const Seams &seams, std::unique_ptr<Agent> &out, std::string &err,
                            const std::string &in_memory_why = std::string());
  ~Agent();
  Agent(const Agent &) = delete;
  Agent &operator=(const Agent &) = delete;

  // One method call: params may be NULL. On success result holds the JSON
  // text; on failure err names what was wrong.
  cohort_status call(const char *method, const char *params_json, std::string &result, std::string &err);
  // The same with parsed params (may be NULL) and the result as a tree.
  cohort_status invoke(const char *method, const cJSON *params, Json &result, std::string &err);

  // One subscriber for membership changes (fn NULL: none).
  // Group commit (cohort_rpc_batch): between batch_begin() and batch_end(),
  // calls on this thread hold the agent's lock and share one storage
  // transaction; a call that waits for the network first commits what came
  // before it and lets go of the lock while it waits. batch_end() is false when
  // a commit failed: then nothing since the last good commit is on disk, and
  // the memory is ahead of it (the caller abandons this agent and reopens).
  void batch_begin() CO_ACQUIRE(mu_);
  bool batch_end() CO_RELEASE(mu_);
  // The destructor then leaves the disk alone, and a pass of the worker still
  // under way ends without acting on what it found (see worker_main).
  void abandon() {
    abandoned_ = true;
    stop_ = true;
  }
  // After batch_end() is false: whether the commit that failed was refused by
  // the disk, and what it said, as they were then (read after the lock is let
  // go, the store could already be the worker's copy in memory, fault cleared).
  bool batch_disk_fault() const { return batch_disk_fault_; }
  const std::string &batch_error() const { return batch_error_; }
  // Carries on with an in-memory copy of the database (degraded.cpp).
  bool degrade(const std::string &why) CO_REQUIRES(mu_);
  // Whether it works from memory; from outside the agent: takes its lock
  // (the worker may be running).
  bool storage_degraded() CO_EXCLUDES(mu_) {
    platform::MutexLock lock(mu_);
    return store_.in_memory();
  }
  void subscribe(cohort_changed_fn fn, void *user) CO_EXCLUDES(subscriber_mu_);

  // Begins closing, from any thread: the background sync stops (a request
  // in flight is abandoned, its batch stays queued) and every call waiting on
  // the network returns at once with COHORT_ECLOSED. The destructor still
  // does the rest (joins the worker, flushes).
  void shut_down() CO_EXCLUDES(mu_);

  // Flushes the store (WAL checkpoint); called by close.
  void flush() CO_EXCLUDES(mu_);

  // The names of the methods in the method table (kMethods), in its order.
  static std::vector<std::string> method_names();
  // Whether a method waits on the network (runs without the agent lock).
  static bool method_waits(const char *name);
  // A method's declared params (NULL: no such method).
  static const ParamList *method_params(const char *name);

 private:
  // A handler gets its params checked against the declaration (params.h)
  // and fills result; a failure is its Outcome, with or without the lock.
  using Handler = Outcome (Agent::*)(const Params &params, cJSON *result);
  struct Method {
    const char *name;
    Handler handler;
    ParamList params;
    // Waits on the network: runs without the agent lock and takes it itself.
    bool waits = false;
    // Stores events and leaves the membership changes they make to be
    // recorded after the call (track); any other method records them first.
    bool records_later = false;
  };
  static const Method kMethods[];
  static const Method *find_method(const char *name);
  Outcome run_locked(const Method &m, const Params &args, cJSON *out, std::vector<std::string> &changes)
      CO_REQUIRES(mu_);
  Outcome run_in_batch(const Method &m, const Params &args, cJSON *out, std::vector<std::string> &changes);
  Outcome run_waiting(const Method &m, const Params &args, cJSON *out, bool batched);

  Agent() = default;
  cohort_status init(const char *config_json, const Seams &seams, std::string &err, const std::string &in_memory_why)
      CO_EXCLUDES(mu_);
  void take_seams(const Seams &seams) CO_REQUIRES(mu_);
  // The API key, or none yet (api.key_file not there: key_pending_).
  bool take_key(std::string &err) CO_REQUIRES(mu_);
  cohort_status open_storage(const std::string &in_memory_why, std::string &err) CO_REQUIRES(mu_);
  cohort_status load_state(const Seams &seams, std::string &err) CO_REQUIRES(mu_);
  static Outcome failure(cohort_status status, std::string message) { return {status, std::move(message)}; }
  void hide_key() CO_REQUIRES(mu_);

  // Handlers (one per socket method).
  Outcome m_status(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_identity_get(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_identity_set_aliases(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_identity_reset(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_consent_set(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_track(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_history_get(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_view_start(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_view_pause(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_view_resume(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_view_progress(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_view_end(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_config_get(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_subscribe(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  void deliver(const std::vector<std::string> &changes) CO_EXCLUDES(subscriber_mu_);

  // Identity (identity.cpp).
  Outcome load_identity() CO_REQUIRES(mu_);
  Outcome new_identity(bool drop_history) CO_REQUIRES(mu_);
  // Session: renews the session after the inactivity timeout. Call once per
  // activity, inside the transaction that stores it.
  bool touch_session(int64_t now_mono) CO_REQUIRES(mu_);
  // The wall clock (clock.cpp): trusted once plausible; until then events are
  // stamped with the monotonic clock and back-filled when it becomes trusted.

  // Storage faults (degraded.cpp).
  static constexpr int64_t kDegradedMaxEvents = 2000;
  static constexpr int64_t kStorageRetryMs = 30000;
  bool degrade_after_fault() CO_REQUIRES(mu_);
  void retry_storage() CO_REQUIRES(mu_);
  int64_t history_limit() const CO_REQUIRES(mu_);
  int64_t queue_limit() const CO_REQUIRES(mu_);
  void check_storage_file() CO_REQUIRES(mu_);

  bool check_clock() CO_REQUIRES(mu_);
  int64_t now_wall() CO_REQUIRES(mu_);
  void stamp(Event &ev) CO_REQUIRES(mu_);
  bool backfill_times(int64_t wall, int64_t mono) CO_REQUIRES(mu_);
  bool consent_granted() const CO_REQUIRES(mu_) { return !cfg_.consent_required || consent_; }

  // Views (views.cpp).
  Outcome set_playing(const Params &params, cJSON *result, bool playing) CO_REQUIRES(mu_);
  Outcome find_view(const Params &params, View *&view, double &position, int64_t &now) CO_REQUIRES(mu_);
  Outcome end_view(View &view, int64_t now_mono, cJSON *result) CO_REQUIRES(mu_);
  Outcome settle_duration(cJSON *properties, double &duration) CO_REQUIRES(mu_);
  Outcome recover_views() CO_REQUIRES(mu_);
  void expire_views(int64_t now_mono) CO_REQUIRES(mu_);

  // Local cohorts (cohorts.cpp).
  rules::Now rules_now() CO_REQUIRES(mu_);
  Outcome apply_definitions(const std::string &doc, bool fresh_state) CO_REQUIRES(mu_);
  Outcome install_definitions(const std::string &doc,
                              const std::vector<std::pair<std::string, std::string>> &keep = {}) CO_REQUIRES(mu_);
  bool reload_from_store() CO_REQUIRES(mu_);
  void load_definitions() CO_REQUIRES(mu_);
  void settle_cohorts() CO_REQUIRES(mu_);
  // Membership changes a poll found, waiting to be recorded: the moment and
  // session they were found at.
  struct FoundChanges {
    rules::Changes changes;
    int64_t time_ms = 0;
    bool time_known = true;
    int64_t mono_ms = 0;
    std::string session_id;
  };
  static constexpr size_t kMaxUnrecorded = 64;
  void note_changes(rules::Changes ch) CO_REQUIRES(mu_);
  void record_pending() CO_REQUIRES(mu_);
  bool record_found(const FoundChanges &found) CO_REQUIRES(mu_);
  void committed() CO_REQUIRES(mu_);
  void rebuild_cohorts() CO_REQUIRES(mu_);
  void observe_event(const Event &ev, int64_t seq) CO_REQUIRES(mu_);
  void save_cohort_state() CO_REQUIRES(mu_);
  void tick_cohorts() CO_REQUIRES(mu_);
  void add_local_cohorts(cJSON *arr) CO_REQUIRES(mu_);
  void add_local_activations(cJSON *out) CO_REQUIRES(mu_);
  Outcome m_definitions_put(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_definitions_get(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_definitions_reload(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_definitions_preview(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  // Signed definitions from cohorts.definitions_url (definitions_url.cpp).
  bool restore_fetched_definitions() CO_REQUIRES(mu_);
  void fetch_definitions() CO_REQUIRES(mu_);
  Outcome reload_definitions_url(cJSON *result) CO_REQUIRES(mu_);
  Outcome m_explain(const Params &params, cJSON *result) CO_REQUIRES(mu_);

  // Remote sync (sync.cpp).
  struct ContextJob {
    std::string url;
    std::string page_properties;  // JSON object
  };
  // One CCS request made from the oldest queued events of one identity epoch.
  struct Batch {
    std::vector<int64_t> seqs;  // the events it carries, in outbox order
    int64_t epoch = -1;
    uint64_t purges = 0;        // consent withdrawals when it was built
    platform::HttpRequest req;
  };
  cohort_status start_sync(const Seams &seams, std::string &err) CO_REQUIRES(mu_);
  void stop_sync() CO_EXCLUDES(mu_);
  void worker_main() CO_EXCLUDES(mu_);
  void deliver_pending() CO_EXCLUDES(mu_);
  void sync_storage() CO_REQUIRES(mu_);
  // The key file provisioned at last: taken, and the queue leaves.
  void check_key_file() CO_REQUIRES(mu_);
  // One round of requests, sent together: the contextual jobs waiting and the
  // next CCS batch when one is due. False when there was nothing to send, or
  // nothing more to do now (the CCS API failed and backs off).
  bool run_round() CO_EXCLUDES(mu_);
  bool build_batch(Batch &batch) CO_REQUIRES(mu_);
  // True when the batch left the outbox (delivered, or dead-lettered).
  bool settle_batch(const Batch &batch, platform::HttpResponse &resp) CO_REQUIRES(mu_);
  bool record_settled(const Batch &batch, const platform::HttpResponse &resp, bool delivered) CO_REQUIRES(mu_);
  void take_answer(const cJSON *answer) CO_REQUIRES(mu_);
  void settle_contextual(const ContextJob &job, const platform::HttpResponse &resp) CO_REQUIRES(mu_);
  // Something of ours failed: the next CCS attempt after a back-off.
  void back_off() CO_REQUIRES(mu_);
  // A random draw for the back-off's jitter.
  uint32_t draw();
  bool queued_for_ccs(const std::string &event_name) const CO_REQUIRES(mu_);
  // Text that leaves the agent (status, dead letters) without the API key.
  std::string redact(std::string text) const CO_REQUIRES(mu_);
  void cache_put(const std::string &key, const char *kind, Json body, int64_t ttl_s) CO_REQUIRES(mu_);
  void prune_caches(int64_t now_mono) CO_REQUIRES(mu_);
  void note_alive(int64_t now_mono, bool now) CO_REQUIRES(mu_);
  void queue_contextual(const std::string &url, Json page_properties) CO_REQUIRES(mu_);
  void wake_worker(bool urgent) CO_REQUIRES(mu_);
  static Outcome closing();
  Outcome m_activations_get(const Params &params, cJSON *result) CO_EXCLUDES(mu_);
  Outcome m_cohorts_get(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_sync_now(const Params &params, cJSON *result) CO_EXCLUDES(mu_);
  Outcome m_dead_letters_get(const Params &params, cJSON *result) CO_REQUIRES(mu_);
  Outcome m_config_reload(const Params &params, cJSON *result) CO_REQUIRES(mu_);

  // Events (events.cpp).
  // A new event named `name` (already checked) with the caller's properties
  // (an object, or NULL for none), at `time` (ISO 8601; NULL: stamped now).
  Outcome new_event(const std::string &name, const cJSON *properties, const char *time, Event &ev) CO_REQUIRES(mu_);
  Outcome store_event(Event &ev, int64_t &seq, const std::function<bool()> &also = nullptr) CO_REQUIRES(mu_);
  Outcome store_events(Event *evs, int64_t *seqs, size_t n, const std::function<bool()> &also = nullptr)
      CO_REQUIRES(mu_);
  bool write_events(Event *evs, int64_t *seqs, size_t n, bool activity) CO_REQUIRES(mu_);
  bool enforce_bounds() CO_REQUIRES(mu_);
  bool enforce_retention() CO_REQUIRES(mu_);
  bool count_evicted(int64_t n) CO_REQUIRES(mu_);
  bool advance_sent(int64_t seq) CO_REQUIRES(mu_);
  bool keep_seq_floor() CO_REQUIRES(mu_);
  bool delete_sent_events() CO_REQUIRES(mu_);
  bool purge_behavioral() CO_REQUIRES(mu_);

  Config cfg_ CO_GUARDED_BY(mu_);
  platform::Clock *clock_ = nullptr;
  platform::Entropy *entropy_ = nullptr;
  platform::Logger *log_ = nullptr;
  std::unique_ptr<platform::Entropy> own_entropy_;
  std::unique_ptr<platform::Logger> own_logger_;
  storage::Store store_ CO_GUARDED_BY(mu_);
  std::string boot_id_;
  int64_t boot_n_ CO_GUARDED_BY(mu_) = 0;  // this boot in the boots table
  std::optional<int64_t> alive_saved_mono_ CO_GUARDED_BY(mu_);  // when boots.alive_mono was last written
  static constexpr int64_t kAliveSaveMs = 3600 * 1000;

  mutable platform::Mutex mu_;

  // Identity and session, mirrored from the store.
  Identity identity_ CO_GUARDED_BY(mu_);
  bool consent_ CO_GUARDED_BY(mu_) = false;
  // The session: its id and last activity (monotonic ms).
  struct Session {
    std::string id;
    int64_t last_mono = 0;
  };
  Session session_ CO_GUARDED_BY(mu_);
  int64_t session_saved_mono_ CO_GUARDED_BY(mu_) = -1;  // when the session was last persisted

  // The history's counters and cursors (persisted in meta and counted at
  // open); a transaction that changes them holds them (storage::Transaction).
  storage::HistoryCounts counts_ CO_GUARDED_BY(mu_);
  // The retention pass in progress (next_seq 0: none; enforce_retention()).
  struct RetentionPass {
    int64_t next_seq = 0;   // the next chunk starts here
    int64_t cutoff_ms = 0;  // events older than this go (fixed at the pass's start)
    std::optional<int64_t> started_mono;  // when the last pass started (none yet: at once)
    bool deleted = false;  // some went: sweep the dictionaries at the end
  };
  RetentionPass retention_ CO_GUARDED_BY(mu_);
  std::atomic<std::thread::id> batch_owner_{};  // the thread in a batch, if any
  bool batch_tx_ CO_GUARDED_BY(mu_) = false;                       // the batch's transaction is open
  bool batch_failed_ CO_GUARDED_BY(mu_) = false;                   // a commit of this batch failed
  bool batch_disk_fault_ = false;               // ...refused by the disk
  std::string batch_error_;                     // ...with this message
  bool abandoned_ = false;
  void batch_commit() CO_REQUIRES(mu_);
  void recover_from_throw() CO_REQUIRES(mu_);
  std::string storage_error_ CO_GUARDED_BY(mu_);      // why the store is in memory ("" when on disk)
  int64_t storage_retry_mono_ CO_GUARDED_BY(mu_) = 0;
  int64_t degraded_history_ CO_GUARDED_BY(mu_) = 0;   // the history and queue when storage failed:
  int64_t degraded_queue_ CO_GUARDED_BY(mu_) = 0;     // what comes after is bounded, not what was
  ClockTrust clock_trust_ CO_GUARDED_BY(mu_);
  bool waiting_for_clock_ CO_GUARDED_BY(mu_) = false; // the next event to send has no wall time yet

  Views views_ CO_GUARDED_BY(mu_);
  Outbox outbox_ CO_GUARDED_BY(mu_);

  // Remote sync: a worker thread owns every network call. mu_ guards the
  // state below; the worker never holds it while a request is in flight.
  std::unique_ptr<platform::Transport> own_transport_;
  platform::Transport *transport_ = nullptr;
  std::thread worker_;
  std::mutex join_mu_;  // one thread joins the worker
  std::condition_variable_any wake_cv_;  // wakes the worker
  std::condition_variable_any done_cv_;  // a worker pass finished
  std::atomic<bool> stop_{false};
  bool wake_ CO_GUARDED_BY(mu_) = false;
  bool urgent_ CO_GUARDED_BY(mu_) = false;               // skip the back-off once (sync.now, view.start)
  int64_t rounds_ CO_GUARDED_BY(mu_) = 0;                // passes completed
  std::deque<ContextJob> ctx_jobs_ CO_GUARDED_BY(mu_);
  Sender sender_ CO_GUARDED_BY(mu_);  // the CCS requests: back-off, in flight, status.last_sync
  bool key_pending_ CO_GUARDED_BY(mu_) = false;          // api.key_file not there yet: nothing is sent
  int64_t key_checked_mono_ CO_GUARDED_BY(mu_) = 0;      // when the worker last looked for it
  uint64_t purges_ CO_GUARDED_BY(mu_) = 0;               // consent withdrawals so far
  Caches caches_ CO_GUARDED_BY(mu_);

  DefinitionsFeed feed_ CO_GUARDED_BY(mu_);  // the URL's signed definitions
  LocalCohorts cohorts_ CO_GUARDED_BY(mu_);
  // The engine observed events that are not committed yet (or that a failed
  // commit did not keep, until it is rebuilt from the disk).
  bool cohorts_ahead_ CO_GUARDED_BY(mu_) = false;
  bool settled_by_store_ CO_GUARDED_BY(mu_) = false;         // this call stored events and settled with them
  std::vector<FoundChanges> unrecorded_ CO_GUARDED_BY(mu_);  // oldest first
  int64_t unrecorded_since_mono_ CO_GUARDED_BY(mu_) = 0;     // when the oldest was found

  // Membership changes waiting to be delivered once the lock is released.
  std::vector<std::string> pending_notifications_ CO_GUARDED_BY(mu_);
  // Apart from mu_: the subscriber is called with no lock held, and may
  // subscribe again from inside.
  platform::Mutex subscriber_mu_;
  cohort_changed_fn subscriber_ CO_GUARDED_BY(subscriber_mu_) = nullptr;
  void *subscriber_user_ CO_GUARDED_BY(subscriber_mu_) = nullptr;
};

// Adds each platform's ids to out[platform], skipping ids already there, in
// order: the first source keeps its place (local, then CCS, then contextual).
void merge_activations(cJSON *out, const cJSON *activations);

}  // namespace co
