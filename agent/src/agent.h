// The agent: one engine behind the three faces (C API, socket, CLI). Every
// public method of the socket protocol is a handler here; cohort_call()
// dispatches to them under the agent's lock.
//
// Its parts, each with one owner and its own header: Identity
// (user_identity.h), ClockTrust, Caches, Views (open_views.h), LocalCohorts,
// Outbox and Sender (with its Backoff); the SQL is storage/'s. mu_ guards the agent and every
// part; the sync worker lets go of it only while a request is in flight, and
// calls that wait on the network (method_waits) take it themselves.
#pragma once
#include <atomic>
#include <cohort/cohort.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <string>
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
#include "sender.h"
#include "params.h"
#include "platform/clock.h"
#include "platform/crypto.h"
#include "platform/http.h"
#include "platform/log.h"
#include "platform/mutex.h"
#include "rules/engine.h"
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
  void batch_begin();
  bool batch_end();
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
  bool degrade(const std::string &why);
  // Whether it works from memory; from outside the agent: takes its lock
  // (the worker may be running).
  bool storage_degraded() {
    std::lock_guard<std::mutex> lock(mu_);
    return store_.in_memory();
  }
  void subscribe(cohort_changed_fn fn, void *user) CO_EXCLUDES(subscriber_mu_);

  // Begins closing, from any thread: the background sync stops (a request
  // in flight is abandoned, its batch stays queued) and every call waiting on
  // the network returns at once with COHORT_ECLOSED. The destructor still
  // does the rest (joins the worker, flushes).
  void shut_down();

  // Flushes the store (WAL checkpoint); called by close.
  void flush();

  const Config &config() const { return cfg_; }

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
  };
  static const Method kMethods[];
  static const Method *find_method(const char *name);

  Agent() = default;
  cohort_status init(const char *config_json, const Seams &seams, std::string &err, const std::string &in_memory_why);
  void take_seams(const Seams &seams);
  // The API key, or none yet (api.key_file not there: key_pending_).
  bool take_key(std::string &err);
  cohort_status open_storage(const std::string &in_memory_why, std::string &err);
  cohort_status load_state(const Seams &seams, std::string &err);
  static Outcome failure(cohort_status status, std::string message) { return {status, std::move(message)}; }
  void hide_key();

  // Handlers (one per socket method).
  Outcome m_status(const Params &params, cJSON *result);
  Outcome m_identity_get(const Params &params, cJSON *result);
  Outcome m_identity_set_aliases(const Params &params, cJSON *result);
  Outcome m_identity_reset(const Params &params, cJSON *result);
  Outcome m_consent_set(const Params &params, cJSON *result);
  Outcome m_track(const Params &params, cJSON *result);
  Outcome m_history_get(const Params &params, cJSON *result);
  Outcome m_view_start(const Params &params, cJSON *result);
  Outcome m_view_pause(const Params &params, cJSON *result);
  Outcome m_view_resume(const Params &params, cJSON *result);
  Outcome m_view_progress(const Params &params, cJSON *result);
  Outcome m_view_end(const Params &params, cJSON *result);
  Outcome m_config_get(const Params &params, cJSON *result);
  Outcome m_subscribe(const Params &params, cJSON *result);
  void deliver(const std::vector<std::string> &changes) CO_EXCLUDES(subscriber_mu_);

  // Identity (identity.cpp).
  Outcome load_identity();
  Outcome new_identity(bool drop_history);
  // Session: renews the session after the inactivity timeout. Call once per
  // activity, inside the transaction that stores it.
  bool touch_session(int64_t now_mono);
  // The wall clock (clock.cpp): trusted once plausible; until then events are
  // stamped with the monotonic clock and back-filled when it becomes trusted.

  // Storage faults (degraded.cpp).
  static constexpr int64_t kDegradedMaxEvents = 2000;
  static constexpr int64_t kStorageRetryMs = 30000;
  bool degrade_after_fault();
  void retry_storage();
  int64_t history_limit() const;
  int64_t queue_limit() const;
  void check_storage_file();

  bool check_clock();
  int64_t now_wall();
  void stamp(Event &ev);
  bool backfill_times(int64_t wall, int64_t mono);
  bool consent_granted() const { return !cfg_.consent_required || consent_; }

  // Views (views.cpp).
  Outcome set_playing(const Params &params, cJSON *result, bool playing);
  Outcome find_view(const Params &params, View *&view, double &position, int64_t &now);
  Outcome end_view(View &view, int64_t now_mono, cJSON *result);
  Outcome settle_duration(cJSON *properties, double &duration);
  Outcome recover_views();
  void expire_views(int64_t now_mono);

  // Local cohorts (cohorts.cpp).
  rules::Now rules_now();
  Outcome apply_definitions(const std::string &doc, bool fresh_state);
  Outcome install_definitions(const std::string &doc,
                              const std::vector<std::pair<std::string, std::string>> &keep = {});
  bool reload_from_store();
  void load_definitions();
  void settle_cohorts();
  void observe_event(const Event &ev, int64_t seq);
  void save_cohort_state();
  void tick_cohorts();
  void add_local_cohorts(cJSON *arr);
  void add_local_activations(cJSON *out);
  Outcome m_definitions_put(const Params &params, cJSON *result);
  Outcome m_definitions_get(const Params &params, cJSON *result);
  Outcome m_definitions_reload(const Params &params, cJSON *result);
  Outcome m_definitions_preview(const Params &params, cJSON *result);
  // Signed definitions from cohorts.definitions_url (definitions_url.cpp).
  bool restore_fetched_definitions();
  void fetch_definitions(std::unique_lock<std::mutex> &lock);
  Outcome reload_definitions_url(cJSON *result);
  Outcome m_explain(const Params &params, cJSON *result);

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
  cohort_status start_sync(const Seams &seams, std::string &err);
  void stop_sync();
  void worker_main();
  void sync_storage();
  // The key file provisioned at last: taken, and the queue leaves.
  void check_key_file();
  // One round of requests, sent together: the contextual jobs waiting and the
  // next CCS batch when one is due. False when there was nothing to send, or
  // nothing more to do now (the CCS API failed and backs off).
  bool run_round();
  bool build_batch(Batch &batch);
  // True when the batch left the outbox (delivered, or dead-lettered).
  bool settle_batch(const Batch &batch, platform::HttpResponse &resp);
  bool record_settled(const Batch &batch, const platform::HttpResponse &resp, bool delivered);
  void take_answer(const cJSON *answer);
  void settle_contextual(const ContextJob &job, const platform::HttpResponse &resp);
  // Something of ours failed: the next CCS attempt after a back-off.
  void back_off();
  bool queued_for_ccs(const std::string &event_name) const;
  // Text that leaves the agent (status, dead letters) without the API key.
  std::string redact(std::string text) const;
  void cache_put(const std::string &key, const char *kind, Json body, int64_t ttl_s);
  void prune_caches(int64_t now_mono);
  void note_alive(int64_t now_mono, bool now);
  void queue_contextual(const std::string &url, Json page_properties);
  void wake_worker(bool urgent);
  static Outcome closing();
  Outcome m_activations_get(const Params &params, cJSON *result);
  Outcome m_cohorts_get(const Params &params, cJSON *result);
  Outcome m_sync_now(const Params &params, cJSON *result);
  Outcome m_dead_letters_get(const Params &params, cJSON *result);
  Outcome m_config_reload(const Params &params, cJSON *result);

  // Events (events.cpp).
  // A new event named `name` (already checked) with the caller's properties
  // (an object, or NULL for none), at `time` (ISO 8601; NULL: stamped now).
  Outcome new_event(const std::string &name, const cJSON *properties, const char *time, Event &ev);
  Outcome store_event(Event &ev, int64_t &seq, const std::function<bool()> &also = nullptr);
  bool enforce_bounds();
  bool count_evicted(int64_t n);
  bool advance_sent(int64_t seq);
  bool keep_seq_floor();
  bool delete_sent_events();
  bool purge_behavioral();

  Config cfg_;
  platform::Clock *clock_ = nullptr;
  platform::Entropy *entropy_ = nullptr;
  platform::Logger *log_ = nullptr;
  std::unique_ptr<platform::Entropy> own_entropy_;
  std::unique_ptr<platform::Logger> own_logger_;
  storage::Store store_;
  std::string boot_id_;
  int64_t boot_n_ = 0;  // this boot in the boots table
  std::optional<int64_t> alive_saved_mono_;  // when boots.alive_mono was last written
  static constexpr int64_t kAliveSaveMs = 3600 * 1000;

  std::mutex mu_;

  // Identity and session, mirrored from the store.
  Identity identity_;
  bool consent_ = false;
  // The session: its id and last activity (monotonic ms).
  struct Session {
    std::string id;
    int64_t last_mono = 0;
  };
  Session session_;
  int64_t session_saved_mono_ = -1;  // when the session was last persisted

  // The history's counters and cursors (persisted in meta and counted at
  // open); a transaction that changes them holds them (storage::Transaction).
  storage::HistoryCounts counts_;
  int64_t retention_checked_mono_ = 0;
  std::atomic<std::thread::id> batch_owner_{};  // the thread in a batch, if any
  bool batch_tx_ = false;                       // the batch's transaction is open
  bool batch_failed_ = false;                   // a commit of this batch failed
  bool batch_disk_fault_ = false;               // ...refused by the disk
  std::string batch_error_;                     // ...with this message
  bool abandoned_ = false;
  void batch_commit();
  void recover_from_throw();
  std::string storage_error_;      // why the store is in memory ("" when on disk)
  int64_t storage_retry_mono_ = 0;
  int64_t degraded_history_ = 0;   // the history and queue when storage failed:
  int64_t degraded_queue_ = 0;     // what comes after is bounded, not what was
  ClockTrust clock_trust_;
  bool waiting_for_clock_ = false; // the next event to send has no wall time yet

  Views views_;
  Outbox outbox_;

  // Remote sync: a worker thread owns every network call. mu_ guards the
  // state below; the worker never holds it while a request is in flight.
  std::unique_ptr<platform::Transport> own_transport_;
  platform::Transport *transport_ = nullptr;
  std::thread worker_;
  std::mutex join_mu_;  // one thread joins the worker
  std::condition_variable wake_cv_;  // wakes the worker
  std::condition_variable done_cv_;  // a worker pass finished
  std::atomic<bool> stop_{false};
  bool wake_ = false;
  bool urgent_ = false;               // skip the back-off once (sync.now, view.start)
  int64_t rounds_ = 0;                // passes completed
  std::deque<ContextJob> ctx_jobs_;
  Sender sender_;  // the CCS requests: back-off, in flight, status.last_sync
  bool key_pending_ = false;          // api.key_file not there yet: nothing is sent
  int64_t key_checked_mono_ = 0;      // when the worker last looked for it
  uint64_t purges_ = 0;               // consent withdrawals so far
  Caches caches_;

  DefinitionsFeed feed_;  // the URL's signed definitions
  LocalCohorts cohorts_;

  // Membership changes waiting to be delivered once the lock is released.
  std::vector<std::string> pending_notifications_;
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
