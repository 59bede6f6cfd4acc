// Remote sync: the CCS and Contextual APIs.
//
// One worker thread owns every network call. It drains the outbox in the
// order events were accepted, at most 10 events a request (in time order
// within it); an event leaves the outbox only after a 2xx, or when the API
// says the batch itself is bad (400, 413, 422: dead-lettered with the API's
// error). A 401, 403, 404 or 405 is a fault of the configuration (key, URL),
// not of the batch: the queue is kept and sync backs off, up to an hour,
// until the configuration changes. 5xx, 408, 429, timeouts and network errors
// back off exponentially with full jitter, capped, honouring Retry-After.
// The contextual requests waiting and the next CCS batch go out together,
// so a view waits for the slower of the two, not their sum. Callers never
// wait on the network except inside a call that was given a timeout
// (activations.get, sync.now), and then never past it: they get the
// freshest valid cache, marked stale.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <string_view>
#include <unordered_set>

#include "agent.h"
#include "platform/files.h"
#include "requests.h"
#include "storage/boots.h"
#include "storage/dead_letters.h"
#include "sync_plan.h"

namespace co {
namespace {

constexpr size_t kMaxContextualPerRound = 4;

constexpr int64_t kIdlePollMs = 60 * 1000;
constexpr int64_t kKeyPollMs = 30 * 1000;  // how often a missing key file is looked for

}  // namespace

void merge_activations(cJSON *out, const cJSON *activations) {
  // The ids already listed, by their text (owned by the list, which only
  // grows here): one look-up per id, not a scan of the list.
  std::unordered_set<std::string_view> seen;
  for (const cJSON *plat = activations ? activations->child : nullptr; plat; plat = plat->next) {
    if (!cJSON_IsArray(plat)) continue;
    cJSON *list = cJSON_GetObjectItemCaseSensitive(out, plat->string);
    if (!list) list = json_add_array(out, plat->string);
    seen.clear();
    for (const cJSON *x = list->child; x; x = x->next) seen.insert(x->valuestring);
    for (const cJSON *id = plat->child; id; id = id->next) {
      if (!cJSON_IsString(id) || seen.count(id->valuestring)) continue;
      seen.insert(json_append(list, cJSON_CreateString(id->valuestring))->valuestring);
    }
  }
}

cohort_status Agent::start_sync(const Seams &seams, std::string &err) {
  if (seams.transport) {
    transport_ = seams.transport;
  } else {
    platform::TransportOptions opts;
    opts.ca_file = cfg_.api_ca_file;
    own_transport_ = platform::make_curl_transport(opts, *log_, err);
    if (!own_transport_) return COHORT_ECONFIG;
    transport_ = own_transport_.get();
  }
  int64_t dead_letters = 0;
  storage::count_dead_letters(store_, dead_letters);
  sender_.set_dead_letters(dead_letters);
  sender_.backoff().set_base_ms(cfg_.sync_retry_base_ms);
  // Fleet reboots: the first sync waits like a back-off, so new events do not
  // end it early; an explicit sync.now or a view start does (urgent wake).
  if (cfg_.sync_initial_delay_s > 0) {
    uint64_t r = 0;
    entropy_->fill(&r, sizeof r);
    sender_.backoff().defer_until(sync_plan::first_attempt_at(clock_->mono_ms(), r, cfg_.sync_initial_delay_s));
  }
  feed_.defer_until(sender_.backoff().retry_at());  // the definitions' first fetch waits for the fleet delay too
  worker_ = std::thread([this] { worker_main(); });
  return COHORT_OK;
}

void Agent::shut_down() {
  {
    platform::MutexLock lock(mu_);
    stop_ = true;
  }
  // An in-flight request is abandoned; its batch stays in the outbox.
  if (transport_) transport_->abort();
  wake_cv_.notify_all();
  done_cv_.notify_all();  // the waiting calls see stop_ and answer "shutting down"
}

void Agent::stop_sync() {
  shut_down();
  std::lock_guard<std::mutex> lock(join_mu_);
  if (worker_.joinable()) worker_.join();
}

void Agent::wake_worker(bool urgent) {
  // A new event need not wake a worker that is already due, or backing off.
  if (!urgent && (wake_ || sender_.backoff().waiting(clock_->mono_ms()))) return;
  wake_ = true;
  urgent_ = urgent_ || urgent;
  wake_cv_.notify_one();
}

// Makes the commits so far durable against a power cut (an fsync of the WAL,
// under the lock like SQLite's own checkpoints: once an interval at most).
// A disk that cannot sync cannot keep what it is given: the agent goes on in
// memory, as for any storage fault, and writes back when the disk works.
void Agent::sync_storage() {
  std::string err;
  if (!store_.sync_wal(err) && !store_.in_transaction()) degrade("storage: " + err);
}

void Agent::worker_main() {
  platform::MutexLock lock(mu_);
  while (!stop_) {
    if (clock_->mono_ms() >= store_.sync_due_ms()) sync_storage();
    if (!unrecorded_.empty() && clock_->mono_ms() >= unrecorded_since_mono_ + kRecordDelayMs) {
      try {
        record_pending();
      } catch (...) {
        recover_from_throw();
      }
      lock.unlock();
      deliver_pending();
      lock.lock();
      continue;
    }
    int64_t now = clock_->mono_ms();
    // Events waiting for a trusted wall clock: look at the clock every second.
    if (key_pending_ && now - key_checked_mono_ >= kKeyPollMs) check_key_file();
    int64_t due = key_pending_                                                     ? key_checked_mono_ + kKeyPollMs
                  : counts_.outbox > 0 && consent_granted() && !waiting_for_clock_ ? std::max(sender_.backoff().retry_at(), now)
                  : waiting_for_clock_                                             ? now + 1000
                                                                                   : now + kIdlePollMs;
    if (store_.in_memory()) due = std::min(due, storage_retry_mono_ + kStorageRetryMs);
    if (feed_.enabled()) due = std::min(due, std::max(feed_.next_due(), now));
    if (!wake_ && ctx_jobs_.empty()) {
      // Woken early for the WAL's sync too: that is not a pass.
      int64_t until = std::min(due, store_.sync_due_ms());
      if (!unrecorded_.empty()) until = std::min(until, unrecorded_since_mono_ + kRecordDelayMs);
      wake_cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(until - now, 1)));
      if (stop_) break;
      if (!wake_ && clock_->mono_ms() < due) continue;
    }
    wake_ = false;
    // The WAL's sync, when due, comes before a pass too (woken for the pass,
    // the loop's top was not run again): what sync.now waits for includes it.
    if (clock_->mono_ms() >= store_.sync_due_ms()) sync_storage();
    // An explicit request skips our own back-off, never the server's Retry-After.
    if (urgent_) sender_.backoff().skip_own_delay();
    urgent_ = false;
    lock.unlock();
    // Out of memory in a pass ends the pass, not the process: its transaction
    // (if any) is undone and the next pass comes after a back-off.
    bool failed = false;
    try {
      while (run_round()) {
      }
    } catch (...) {
      failed = true;
    }
    lock.lock();
    // Closing, or abandoned after a failed commit: the rest of a pass (a
    // switch to memory, cohort ticks, notifications) is for an agent that goes on.
    if (stop_) break;
    try {
      if (failed) throw std::bad_alloc();
      if (feed_.due(clock_->mono_ms())) fetch_definitions();
      if (stop_) break;
      degrade_after_fault();  // whatever failed on the disk: go on in memory
      check_storage_file();
      tick_cohorts();
      prune_caches(clock_->mono_ms());
      retry_storage();
    } catch (...) {
      recover_from_throw();
      sender_.set_in_flight(false);
      back_off();
      CO_LOG(*log_, warn, "sync pass cut short: out of memory");
    }
    rounds_ += 1;
    done_cv_.notify_all();
    lock.unlock();
    deliver_pending();
    lock.lock();
  }
}

// The worker's notifications, delivered with the lock let go.
void Agent::deliver_pending() {
  std::vector<std::string> changes;
  {
    platform::MutexLock lock(mu_);
    changes.swap(pending_notifications_);
  }
  deliver(changes);
}

void Agent::check_key_file() {
  key_checked_mono_ = clock_->mono_ms();
  if (!platform::file_exists(cfg_.api_key_file)) return;
  std::string err;
  if (!config_read_key_file(cfg_, err)) {
    CO_LOG(*log_, warn, "%s", err.c_str());
    return;
  }
  key_pending_ = false;
  hide_key();
  CO_LOG(*log_, info, "api.key_file %s appeared: sending", cfg_.api_key_file.c_str());
  wake_worker(true);
}

bool Agent::run_round() {
  platform::MutexLock lock(mu_);
  if (stop_) return false;
  // No key yet: nothing leaves (contextual jobs are best effort: dropped).
  if (key_pending_) {
    ctx_jobs_.clear();
    done_cv_.notify_all();
    return false;
  }
  // The jobs stay queued while in flight: activations.get waits for them.
  size_t n_ctx = std::min(ctx_jobs_.size(), kMaxContextualPerRound);
  std::vector<ContextJob> jobs(ctx_jobs_.begin(), ctx_jobs_.begin() + static_cast<std::ptrdiff_t>(n_ctx));
  std::vector<platform::HttpRequest> reqs;
  std::vector<std::string> user_values = {identity_.user_id()};
  for (const Alias &a : identity_.aliases()) user_values.push_back(a.id);
  for (const ContextJob &job : jobs) {
    Json pp = json_parse(job.page_properties);
    reqs.push_back(contextual_request(cfg_, job.url, pp.get(), user_values));
  }
  record_pending();  // the tracks' SegmentEntry / SegmentExit leave with them
  Batch batch;
  bool ccs = build_batch(batch);
  if (reqs.empty() && !ccs) return false;
  if (ccs) reqs.push_back(batch.req);
  sender_.set_in_flight(ccs);
  lock.unlock();

  std::vector<platform::HttpResponse> resps;
  transport_->post_all(reqs, resps);

  lock.lock();
  sender_.set_in_flight(false);
  for (const ContextJob &job : jobs) {
    auto it = std::find_if(ctx_jobs_.begin(), ctx_jobs_.end(), [&](const ContextJob &j) { return j.url == job.url; });
    if (it != ctx_jobs_.end()) ctx_jobs_.erase(it);
  }
  // Without memory for the answers: the contextual jobs are dropped (best
  // effort: the next view or ad break asks again), the batch stays queued.
  if (resps.size() != reqs.size()) throw std::bad_alloc();
  storage::Store::Unsynced bookkeeping(store_);  // no fsync of its own for what the answers leave
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (!stop_) settle_contextual(jobs[i], resps[i]);
  }
  done_cv_.notify_all();
  bool more = ccs && settle_batch(batch, resps.back());
  return more || !ctx_jobs_.empty();
}

bool Agent::queued_for_ccs(const std::string &event_name) const {
  return cfg_.sync_send_segment_events || (event_name != "SegmentEntry" && event_name != "SegmentExit");
}

std::string Agent::redact(std::string text) const { return redact_key(std::move(text), cfg_.api_key); }

// Reads the next batch: the oldest queued events of one identity epoch (the
// agent's own segment events kept back), in time order within the request.
// False when there is nothing to send now (empty, backing off, the clock
// not yet trusted, the disk failing).
bool Agent::build_batch(Batch &batch) {
  if (stop_ || !consent_granted() || counts_.outbox == 0 || sender_.backoff().waiting(clock_->mono_ms())) return false;
  OutboxBatch next;
  if (!outbox_.next(counts_.sent_seq, cfg_.sync_send_segment_events, next)) {
    // The events stay queued: the pass goes on in memory if the disk is at
    // fault (degrade_after_fault), and the next send comes after a back-off.
    waiting_for_clock_ = false;
    CO_LOG(*log_, warn, "cannot read the outbox: %s", store_.error().c_str());
    back_off();
    return false;
  }
  waiting_for_clock_ = next.waiting_for_clock;
  if (next.seqs.empty()) {
    if (!waiting_for_clock_) counts_.outbox = 0;  // a count that ran ahead of the rows (should not happen)
    return false;
  }
  batch.epoch = next.epoch;
  batch.seqs = std::move(next.seqs);
  Json body(json_must(cJSON_CreateObject()));
  identity_.add_batch_identity(batch.epoch, body.get());
  json_add(body.get(), "events", next.events.release());
  // The stateless user state is the server's memory of this user: it is kept
  // apart from the activation cache and outlives its TTL.
  std::string state;
  if (cfg_.api_mode == "stateless" && batch.epoch == identity_.epoch() && store_.get_meta("ccs_state", state)) {
    if (cJSON *st = cJSON_Parse(state.c_str())) json_add(body.get(), "state", st);
  }
  batch.req = ccs_request(cfg_, body.get());
  batch.purges = purges_;
  return true;
}

bool Agent::settle_batch(const Batch &batch, platform::HttpResponse &resp) {
  if (stop_ && resp.status == 0) return false;  // abandoned at shutdown: retried next start
  sender_.attempted(clock_->wall_ms());
  // Consent withdrawn while the request was out: its rows are gone, and
  // nothing of the answer may be kept. (After an identity reset the rows are
  // still there and leave as usual; the answer is not cached: other epoch.)
  if (batch.purges != purges_) return true;
  // The queue may have given up some of the batch while it was out (queue
  // full): only what is still queued leaves, and the cursor never moves back.
  int64_t prev_sent = counts_.sent_seq;
  int64_t leaving = std::count_if(batch.seqs.begin(), batch.seqs.end(), [&](int64_t s) { return s > prev_sent; });
  Sender::Attempt at;
  at.now_mono = clock_->mono_ms();
  at.random = [this] { return draw(); };
  at.api_key = cfg_.api_key;
  at.queued = counts_.outbox;
  // A disk that refuses the record of a batch the server has: recorded in
  // memory instead, or the batch would go out again from there.
  // Called by settle(), under the lock this function holds.
  at.record = [&](sync_plan::Verdict verdict) CO_NO_THREAD_SAFETY_ANALYSIS -> std::string {
    bool delivered = verdict == sync_plan::Verdict::delivered;
    if (record_settled(batch, resp, delivered) || (degrade_after_fault() && record_settled(batch, resp, delivered))) {
      return "";
    }
    return store_.error();
  };
  Sender::Settled settled = sender_.settle(resp, batch.seqs.size(), at, *log_);
  if (!settled.leaves) return false;
  counts_.outbox -= leaving;
  if (settled.answer && batch.epoch == identity_.epoch()) take_answer(settled.answer.get());
  return true;
}

// The batch leaves the outbox in one transaction: the cursor moves past it
// and, refused, it is dead-lettered. False (nothing changed) when the store
// failed.
bool Agent::record_settled(const Batch &batch, const platform::HttpResponse &resp, bool delivered) {
  storage::Transaction<storage::HistoryCounts> tx(store_, counts_);
  bool ok = tx.begun();
  if (!delivered) {
    // Kept with the API's own error body: its message and cause say why;
    // for inspection, not forever.
    ok = storage::add_dead_letter(store_, clock_->wall_ms(), resp.status, redact(resp.body).substr(0, 4096),
                                  batch.req.body, Sender::kMaxDeadLetters) &&
         ok;
    // A stateless state the server refuses would poison every later batch.
    if (cfg_.api_mode == "stateless") ok = ok && store_.delete_meta("ccs_state");
  }
  if (batch.seqs.back() > counts_.sent_seq) ok = ok && advance_sent(batch.seqs.back());
  if (ok && tx.commit()) return true;
  tx.rollback();
  return false;
}

// The CCS answer for the current identity: it becomes the behavioral cache,
// its user id is adopted, and its stateless state kept.
void Agent::take_answer(const cJSON *answer) {
  const cJSON *uid = cJSON_GetObjectItemCaseSensitive(answer, "user_id");
  if (cJSON_IsString(uid) && platform::is_uuid(uid->valuestring) && uid->valuestring != identity_.user_id()) {
    identity_.adopt(uid->valuestring);
  }
  Json cached(cJSON_CreateObject());
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(answer, "state");
  const cJSON *cohorts = cJSON_GetObjectItemCaseSensitive(answer, "cohorts");
  if (!cJSON_IsArray(cohorts) && st) cohorts = cJSON_GetObjectItemCaseSensitive(st, "cohorts");
  json_add(cached.get(), "cohorts", cJSON_IsArray(cohorts) ? cJSON_Duplicate(cohorts, 1) : cJSON_CreateArray());
  // An answer without activations (a server that ignored activations=true)
  // is cached without them, so activations.get can say what it lacks.
  const cJSON *acts = cJSON_GetObjectItemCaseSensitive(answer, "activations");
  if (cJSON_IsObject(acts)) json_add(cached.get(), "activations", cJSON_Duplicate(acts, 1));
  // The stateless state goes back with every request: only a well-formed one is kept.
  bool state_ok = cJSON_IsObject(st) && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(st, "internal_state")) &&
                  cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(st, "external_state"));
  if (state_ok && !store_.set_meta("ccs_state", json_print_checked(st))) {
    CO_LOG(*log_, warn, "cannot store the stateless user state: %s", store_.error().c_str());
  }
  cache_put("behavioral", "behavioral", std::move(cached), cfg_.cache_behavioral_ttl_s);
}

uint32_t Agent::draw() {
  uint32_t r = 0;
  entropy_->fill(&r, sizeof r);
  return r;
}

void Agent::back_off() { sender_.back_off(clock_->mono_ms(), draw()); }

void Agent::queue_contextual(const std::string &url, Json page_properties) {
  for (const ContextJob &j : ctx_jobs_) {
    if (j.url == url) return;
  }
  ctx_jobs_.push_back({url, json_print_checked(page_properties.get())});
  // Not behind the CCS back-off: a round sends them whether or not a batch is due.
  wake_ = true;
  wake_cv_.notify_one();
}

void Agent::settle_contextual(const ContextJob &job, const platform::HttpResponse &resp) {
  Json answer = resp.status >= 200 && resp.status < 300 && is_json(resp) ? json_parse(resp.body) : nullptr;
  if (!answer || !cJSON_IsObject(answer.get())) {
    // Contextual answers are best effort: the next view or ad break asks again.
    CO_LOG(*log_, info, "contextual API failed for a URL (%s)", redact(answer_error_text(resp)).c_str());
    return;
  }
  // The documented answer is {activations}; an answer without them is kept
  // without them (activations.get names the missing source).
  Json cached(cJSON_CreateObject());
  const cJSON *acts = cJSON_GetObjectItemCaseSensitive(answer.get(), "activations");
  if (cJSON_IsObject(acts)) json_add(cached.get(), "activations", cJSON_Duplicate(acts, 1));
  cache_put("ctx:" + job.url, "contextual", std::move(cached), cfg_.cache_contextual_ttl_s);
}

void Agent::cache_put(const std::string &key, const char *kind, Json body, int64_t ttl_s) {
  int64_t now_mono = clock_->mono_ms();
  caches_.put(key, kind, std::move(body), ttl_s, now_mono);
  note_alive(now_mono, false);
}

void Agent::prune_caches(int64_t now_mono) {
  caches_.prune(now_mono);
  note_alive(now_mono, false);
}

// How long this boot has run, written at most hourly (and at close): a later
// boot takes a cached answer's time left from it, never more than its TTL.
// An answer stored after the last write counts its TTL from the next boot's
// start, so a power cut makes an answer outlive its TTL by an hour at most.
// (Written with every cached answer as well, it cost a page per batch.)
void Agent::note_alive(int64_t now_mono, bool now) {
  if (!now && alive_saved_mono_ && now_mono - *alive_saved_mono_ < kAliveSaveMs) return;
  if (storage::note_boot_alive(store_, boot_n_, now_mono)) alive_saved_mono_ = now_mono;
}

Outcome Agent::m_cohorts_get(const Params &, cJSON *result) {
  const CacheEntry *b = consent_granted() ? caches_.get("behavioral", clock_->mono_ms()) : nullptr;
  cJSON *all = json_add_array(result, "cohorts");
  cJSON *local = json_add_array(result, "local");
  cJSON *remote = json_add_array(result, "remote");
  if (!all || !local || !remote) throw std::bad_alloc();
  add_local_cohorts(local);
  for (const cJSON *id = local->child; id; id = id->next) json_append(all, cJSON_CreateString(id->valuestring));
  const cJSON *ids = b ? cJSON_GetObjectItemCaseSensitive(b->body.get(), "cohorts") : nullptr;
  for (const cJSON *id = ids ? ids->child : nullptr; id; id = id->next) {
    if (!cJSON_IsString(id)) continue;
    json_append(remote, cJSON_CreateString(id->valuestring));
    bool seen = false;
    for (const cJSON *x = all->child; x && !seen; x = x->next) seen = strcmp(x->valuestring, id->valuestring) == 0;
    if (!seen) json_append(all, cJSON_CreateString(id->valuestring));
  }
  json_add_bool(result, "cached", b != nullptr);
  return COHORT_OK;
}

// A call that waited for the network while the agent began to close: it is
// answered at once, and says why (its caller, not the network, is what ends).
Outcome Agent::closing() { return failure(COHORT_ECLOSED, "shutting down"); }

Outcome Agent::m_activations_get(const Params &params, cJSON *result) {
  // api.timeout_ms when not given, read under the lock (config.reload may change it).
  int64_t timeout = params.has("timeout_ms") ? params.integer("timeout_ms") : -1;
  std::string url = params.string("url");
  const cJSON *pp = params.get("page_properties");
  platform::MutexLock lock(mu_);
  if (timeout < 0) timeout = cfg_.api_timeout_ms;
  int64_t start = clock_->mono_ms();
  std::string ctx_key = "ctx:" + url;
  if (!url.empty() && !caches_.get(ctx_key, start)) {
    queue_contextual(url, Json(pp ? cJSON_Duplicate(pp, 1) : cJSON_CreateObject()));
  }
  // Wait for what is in flight: the contextual answer for this URL, and the
  // CCS answer to the events already queued. Never past the caller's budget.
  auto fresh = [&]() CO_NO_THREAD_SAFETY_ANALYSIS {
    bool ctx_ready =
        url.empty() || caches_.get(ctx_key, clock_->mono_ms()) ||
        std::none_of(ctx_jobs_.begin(), ctx_jobs_.end(), [&](const ContextJob &j) { return j.url == url; });
    bool ccs_ready = !consent_granted() || key_pending_ ||
                     (!sender_.in_flight() && (counts_.outbox == 0 || sender_.backoff().waiting(clock_->mono_ms())));
    return stop_ || (ctx_ready && ccs_ready);
  };
  bool in_time = done_cv_.wait_for(lock, std::chrono::milliseconds(timeout), fresh);
  if (stop_) return closing();
  int64_t now = clock_->mono_ms();
  const CacheEntry *b = consent_granted() ? caches_.get("behavioral", now) : nullptr;
  const CacheEntry *c = url.empty() ? nullptr : caches_.get(ctx_key, now);
  Json merged(cJSON_CreateObject());
  Json contextual(cJSON_CreateObject());
  if (consent_granted()) add_local_activations(merged.get());
  if (b) merge_activations(merged.get(), cJSON_GetObjectItemCaseSensitive(b->body.get(), "activations"));
  if (c) {
    const cJSON *acts = cJSON_GetObjectItemCaseSensitive(c->body.get(), "activations");
    merge_activations(contextual.get(), acts);
    if (cfg_.activations_merge) merge_activations(merged.get(), acts);
  }
  bool stale = !in_time || (consent_granted() && sender_.failing()) || (!url.empty() && !c);
  json_add(result, "activations", merged.release());
  json_add(result, "contextual", contextual.release());
  json_add_bool(result, "stale", stale);
  // A source that answered without activations (a server that ignores
  // activations=true) is named, rather than its side silently missing.
  cJSON *missing = json_add_array(result, "missing");
  if (b && !cJSON_GetObjectItemCaseSensitive(b->body.get(), "activations")) {
    json_append(missing, cJSON_CreateString("behavioral"));
  }
  if (c && !cJSON_GetObjectItemCaseSensitive(c->body.get(), "activations")) {
    json_append(missing, cJSON_CreateString("contextual"));
  }
  return COHORT_OK;
}

Outcome Agent::m_sync_now(const Params &params, cJSON *result) {
  int64_t timeout = params.integer("timeout_ms");
  platform::MutexLock lock(mu_);
  int64_t sent_before = sender_.sent();
  int64_t round = rounds_;
  wake_worker(true);
  // Done when a whole pass has run after this call and nothing is left to
  // send now (empty outbox, or the pass failed and backs off).
  done_cv_.wait_for(lock, std::chrono::milliseconds(timeout), [&]() CO_NO_THREAD_SAFETY_ANALYSIS {
    return stop_ || key_pending_ ||
           (rounds_ > round && !wake_ && (counts_.outbox == 0 || !consent_granted() || sender_.backoff().retry_at() > 0));
  });
  if (stop_) return closing();
  json_add_number(result, "sent", static_cast<double>(sender_.sent() - sent_before));
  json_add_number(result, "pending", static_cast<double>(consent_granted() ? counts_.outbox : 0));
  json_add_number(result, "dead_letters", static_cast<double>(sender_.dead_letters()));
  if (key_pending_) {
    json_add_string(result, "error", ("no API key: api.key_file " + cfg_.api_key_file + " does not exist yet").c_str());
  } else if (!sender_.error().empty()) {
    json_add_string(result, "error", sender_.error().c_str());
  }
  return COHORT_OK;
}

Outcome Agent::m_dead_letters_get(const Params &params, cJSON *result) {
  int64_t limit = params.integer("limit");
  cJSON *arr = json_add_array(result, "dead_letters");
  storage::read_dead_letters(store_, limit, [&](const storage::Stmt &q) {
    cJSON *d = json_append(arr, cJSON_CreateObject());  // owned by arr before it is filled
    json_add_number(d, "id", static_cast<double>(q.int64(0)));
    json_add_string(d, "at", format_iso8601(q.int64(1)).c_str());
    json_add_number(d, "http_status", static_cast<double>(q.int64(2)));
    // The API's own words (HttpErrorResponse: error.message, error.cause),
    // and the body as it came when it is not one.
    platform::HttpResponse answer;
    answer.status = static_cast<int>(q.int64(2));
    answer.body = q.text(3);
    json_add_string(d, "error", answer_error_text(answer).c_str());
    Json body = json_parse(answer.body);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(body.get(), "error");
    for (const char *field : {"message", "cause"}) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(err, field);
      if (cJSON_IsString(v)) json_add_string(d, field, v->valuestring);
    }
    const cJSON *request_id = cJSON_GetObjectItemCaseSensitive(body.get(), "request_id");
    if (cJSON_IsString(request_id)) json_add_string(d, "request_id", request_id->valuestring);
    if (!cJSON_IsObject(err)) json_add_string(d, "body", answer.body.c_str());
    Json payload = json_parse(q.text(4));
    json_add_number(d, "events",
                    static_cast<double>(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(payload.get(), "events"))));
    return true;
  });
  json_add_number(result, "total", static_cast<double>(sender_.dead_letters()));
  return COHORT_OK;
}

}  // namespace co
