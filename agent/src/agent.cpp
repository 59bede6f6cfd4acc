#include "agent.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "build_info.h"
#include "platform/files.h"
#include "requests.h"
#include "storage/boots.h"

namespace co {

namespace {

using P = Param;

// identity.set_aliases: the members of each alias.
const Param kAliasMembers[] = {
    P::string("tag").must().name_format(),
    P::string("id").must().range(1, 512),
    P::integer("priority").range(0, kMaxPriority).def_doc("after the others"),
    P::string("hash"),  // only "sha256": the handler says so
};
const ParamList kAliasList(kAliasMembers);

const Param kSetAliases[] = {
    P::array("aliases").must().of_objects(kAliasList).at_most(kMaxAliases),
    P::boolean("replace").def(false),
};
const Param kConsentSet[] = {P::boolean("granted").must()};
const Param kTrack[] = {
    P::string("name").must().name_format(),
    P::object("properties").or_null().def_doc("`{}`"),
    P::string("time").def_doc("now"),  // ISO 8601 with a zone: the handler parses it
    P::uuid("view_id").or_null(),      // an open view: the handler looks
};
const Param kViewStart[] = {
    P::string("type").range(1, 32).def("video"),
    P::object("properties").or_null().def_doc("`{}`"),
    P::number("duration_s").range(0, kMaxDurationS).def_doc("unknown"),
    P::string("url").range(1, 2048),
    P::string("event").name_format().def_doc("by `type`"),
    P::string("completion_event").name_format().def_doc("by `type`"),
};
const Param kViewPosition[] = {  // view.pause, view.resume, view.end
    P::string("view_id").must(),
    P::number("position_s").at_least(0).def_doc("the last known"),
};
const Param kViewProgress[] = {
    P::string("view_id").must(),
    P::number("position_s").must().at_least(0),
};
const Param kHistoryGet[] = {
    P::integer("limit").range(1, 1000).def(20),
    P::string("name").def_doc("all"),
    P::integer("before").at_least(0).def_doc("newest"),
};
const Param kConfigReload[] = {P::object("config")};
const Param kSubscribe[] = {P::array("topics").must().of_strings().at_least(1)};
const Param kActivationsGet[] = {
    P::integer("timeout_ms").range(0, 60000).def_doc("`api.timeout_ms` (300)"),
    P::string("url").range(1, 2048),
    P::object("page_properties").def_doc("`{}`"),
};
const Param kSyncNow[] = {P::integer("timeout_ms").range(0, 600000).def(5000)};
const Param kDeadLettersGet[] = {P::integer("limit").range(1, 1000).def(20)};
const Param kDefinitionsPut[] = {P::array("cohorts").must()};  // the rule engine checks the rest
const Param kDefinitionsPreview[] = {P::object("rule").must()};
const Param kExplain[] = {P::string("cohort_id").must()};

}  // namespace

// Every method: its handler, its params, and whether it waits on the network.
// A method without params refuses any.
const Agent::Method Agent::kMethods[] = {
    {"status", &Agent::m_status, {}},
    {"identity.get", &Agent::m_identity_get, {}},
    {"identity.set_aliases", &Agent::m_identity_set_aliases, kSetAliases},
    {"identity.reset", &Agent::m_identity_reset, {}},
    {"consent.set", &Agent::m_consent_set, kConsentSet},
    {"track", &Agent::m_track, kTrack, false, true},
    {"view.start", &Agent::m_view_start, kViewStart},
    {"view.pause", &Agent::m_view_pause, kViewPosition},
    {"view.resume", &Agent::m_view_resume, kViewPosition},
    {"view.progress", &Agent::m_view_progress, kViewProgress},
    {"view.end", &Agent::m_view_end, kViewPosition},
    {"history.get", &Agent::m_history_get, kHistoryGet},
    {"config.get", &Agent::m_config_get, {}},
    {"subscribe", &Agent::m_subscribe, kSubscribe},
    {"cohorts.get", &Agent::m_cohorts_get, {}},
    {"activations.get", &Agent::m_activations_get, kActivationsGet, true},
    {"sync.now", &Agent::m_sync_now, kSyncNow, true},
    {"dead_letters.get", &Agent::m_dead_letters_get, kDeadLettersGet},
    {"config.reload", &Agent::m_config_reload, kConfigReload},
    {"definitions.put", &Agent::m_definitions_put, kDefinitionsPut},
    {"definitions.get", &Agent::m_definitions_get, {}},
    {"definitions.preview", &Agent::m_definitions_preview, kDefinitionsPreview},
    {"definitions.reload", &Agent::m_definitions_reload, {}},
    {"explain", &Agent::m_explain, kExplain},
};

const Agent::Method *Agent::find_method(const char *name) {
  for (const Method &m : kMethods) {
    if (strcmp(m.name, name) == 0) return &m;
  }
  return nullptr;
}

bool Agent::method_waits(const char *name) {
  const Method *m = find_method(name);
  return m && m->waits;
}

std::vector<std::string> Agent::method_names() {
  std::vector<std::string> names;
  for (const Method &m : kMethods) names.emplace_back(m.name);
  return names;
}

const ParamList *Agent::method_params(const char *name) {
  const Method *m = find_method(name);
  return m ? &m->params : nullptr;
}

// ---- Params: the declarations enforced (params.h).

const Param *ParamList::find(const char *name) const {
  for (const Param &p : *this) {
    if (strcmp(p.name, name) == 0) return &p;
  }
  return nullptr;
}

std::string limit_text(double v) {
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e7) {
    snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    return buf;
  }
  snprintf(buf, sizeof buf, "%g", v);  // 1e+09
  std::string s = buf;
  size_t e = s.find('e');
  if (e == std::string::npos) return s;
  std::string exp = s.substr(e + 1);
  bool negative = !exp.empty() && exp[0] == '-';
  if (!exp.empty() && (exp[0] == '+' || exp[0] == '-')) exp.erase(0, 1);
  exp.erase(0, std::min(exp.find_first_not_of('0'), exp.size() - 1));
  return s.substr(0, e) + "e" + (negative ? "-" : "") + exp;
}

namespace {

bool name_text(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; ++i) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// What a value of this param must be, as a message says it.
std::string must_be(const Param &p) {
  auto bounds = [&](const char *both_sep) {
    if (p.has_min && p.has_max) return " " + std::string(both_sep) + limit_text(p.min) + " to " + limit_text(p.max);
    if (p.has_min) return " of " + limit_text(p.min) + " or more";
    if (p.has_max) return " of at most " + limit_text(p.max);
    return std::string();
  };
  switch (p.type) {
    case ParamType::string:
      if (p.has_min && p.has_max && p.min == 1) return "a non-empty string of at most " + limit_text(p.max) + " bytes";
      if (p.has_min && p.has_max) return "a string of " + limit_text(p.min) + " to " + limit_text(p.max) + " bytes";
      if (p.has_min) return "a string of at least " + limit_text(p.min) + " bytes";
      if (p.has_max) return "a string of at most " + limit_text(p.max) + " bytes";
      return "a string";
    case ParamType::integer:
      return "an integer" + bounds("from ");
    case ParamType::number:
      return "a number" + bounds("from ");
    case ParamType::boolean:
      return "a boolean (true or false)";
    case ParamType::object:
      return "an object";
    case ParamType::uuid:
      return "a UUID";
    case ParamType::array: {
      std::string noun = p.items == ParamType::string ? "strings" : p.items == ParamType::object ? "objects" : "";
      if (p.has_min && p.has_max) {
        return "an array of " + limit_text(p.min) + " to " + limit_text(p.max) + " " + (noun.empty() ? "elements" : noun);
      }
      if (p.has_max) return "an array of at most " + limit_text(p.max) + " " + (noun.empty() ? "elements" : noun);
      std::string of = noun.empty() ? "" : " of " + noun;
      if (p.has_min && p.min == 1) return "a non-empty array" + of;
      if (p.has_min) return "an array of at least " + limit_text(p.min) + " " + (noun.empty() ? "elements" : noun);
      return "an array" + of;
    }
  }
  return "valid";
}

bool within(const Param &p, double v) { return !(p.has_min && v < p.min) && !(p.has_max && v > p.max); }

Outcome invalid(const std::string &where, const char *name, const std::string &what) {
  return {COHORT_EINVAL, where + name + ": " + what};
}

Outcome check_value(const Param &p, const cJSON *v, const std::string &where) {
  auto wrong = [&] { return invalid(where, p.name, "must be " + must_be(p)); };
  switch (p.type) {
    case ParamType::string: {
      if (!cJSON_IsString(v)) return wrong();
      if (p.format == ParamFormat::name && !name_text(v->valuestring)) {
        return invalid(where, p.name, "must be 1-64 characters of A-Z, a-z, 0-9 or _");
      }
      if (!within(p, static_cast<double>(strlen(v->valuestring)))) return wrong();
      return COHORT_OK;
    }
    case ParamType::uuid:
      return cJSON_IsString(v) && platform::is_uuid(v->valuestring) ? Outcome() : wrong();
    case ParamType::integer: {
      int64_t n = 0;
      return json_is_integer(v, n) && within(p, static_cast<double>(n)) ? Outcome() : wrong();
    }
    case ParamType::number:
      return cJSON_IsNumber(v) && std::isfinite(v->valuedouble) && within(p, v->valuedouble) ? Outcome() : wrong();
    case ParamType::boolean:
      return cJSON_IsBool(v) ? Outcome() : wrong();
    case ParamType::object:
      if (!cJSON_IsObject(v)) return wrong();
      return p.fields ? check_params(*p.fields, v, where + p.name + ".") : Outcome();
    case ParamType::array: {
      if (!cJSON_IsArray(v) || !within(p, cJSON_GetArraySize(v))) return wrong();
      int i = 0;
      for (const cJSON *e = v->child; e; e = e->next, ++i) {
        std::string at = where + p.name + "[" + std::to_string(i) + "]";
        if (p.items == ParamType::string && !cJSON_IsString(e)) return {COHORT_EINVAL, at + ": must be a string"};
        if (p.items == ParamType::object) {
          if (!cJSON_IsObject(e)) return {COHORT_EINVAL, at + ": must be an object"};
          if (p.fields) {
            Outcome o = check_params(*p.fields, e, at + ".");
            if (!o.ok()) return o;
          }
        }
      }
      return COHORT_OK;
    }
  }
  return wrong();
}

}  // namespace

Outcome check_params(const ParamList &decl, const cJSON *params, const std::string &where) {
  // An unknown member first: a misspelt name is the likeliest cause of a
  // "missing" that would follow.
  for (const cJSON *k = params ? params->child : nullptr; k; k = k->next) {
    if (!decl.find(k->string)) return invalid(where, k->string, "unknown field");
  }
  for (const Param &p : decl) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, p.name);
    if (v && p.nullable && cJSON_IsNull(v)) v = nullptr;
    if (!v) {
      if (p.required) return invalid(where, p.name, "missing");
      continue;
    }
    Outcome o = check_value(p, v, where);
    if (!o.ok()) return o;
  }
  return COHORT_OK;
}

const Param &Params::declared(const char *name) const {
  const Param *p = decl_->find(name);
  if (!p) throw std::logic_error(std::string("param \"") + name + "\" is not declared");
  return *p;
}

const Param &Params::declared(const char *name, ParamType as, ParamType or_as) const {
  const Param &p = declared(name);
  if (p.type != as && p.type != or_as) throw std::logic_error(std::string("param \"") + name + "\" read as another type");
  return p;
}

const cJSON *Params::get(const char *name) const {
  const Param &p = declared(name);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(params_, name);
  return v && p.nullable && cJSON_IsNull(v) ? nullptr : v;
}

std::string Params::string(const char *name) const {
  const Param &p = declared(name, ParamType::string, ParamType::uuid);
  const cJSON *v = get(name);
  if (cJSON_IsString(v)) return v->valuestring;
  return p.default_kind == Param::Default::string ? p.default_string : "";
}

int64_t Params::integer(const char *name) const {
  const Param &p = declared(name, ParamType::integer);
  int64_t n = 0;
  if (json_is_integer(get(name), n)) return n;
  return p.default_kind == Param::Default::integer ? p.default_integer : 0;
}

double Params::number(const char *name) const {
  const Param &p = declared(name, ParamType::number, ParamType::integer);
  const cJSON *v = get(name);
  if (cJSON_IsNumber(v)) return v->valuedouble;
  return p.default_kind == Param::Default::number    ? p.default_number
         : p.default_kind == Param::Default::integer ? static_cast<double>(p.default_integer)
                                                     : 0;
}

bool Params::boolean(const char *name) const {
  const Param &p = declared(name, ParamType::boolean);
  const cJSON *v = get(name);
  if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
  return p.default_kind == Param::Default::boolean && p.default_boolean;
}

std::vector<Params> Params::objects(const char *name) const {
  const Param &p = declared(name, ParamType::array);
  if (!p.fields) throw std::logic_error(std::string("param \"") + name + "\" is not an array of objects");
  std::vector<Params> out;
  const cJSON *arr = get(name);
  for (const cJSON *e = cJSON_IsArray(arr) ? arr->child : nullptr; e; e = e->next) out.emplace_back(*p.fields, e);
  return out;
}

cohort_status Agent::open(const char *config_json, const Seams &seams, std::unique_ptr<Agent> &out, std::string &err,
                          const std::string &in_memory_why) {
  std::unique_ptr<Agent> agent(new Agent());
  cohort_status st = agent->init(config_json, seams, err, in_memory_why);
  if (st == COHORT_OK) out = std::move(agent);
  return st;
}

cohort_status Agent::init(const char *config_json, const Seams &seams, std::string &err,
                          const std::string &in_memory_why) {
  // Nothing else runs yet; held so that the worker, once started, waits for the rest.
  platform::MutexLock lock(mu_);
  if (!config_parse(config_json, cfg_, err)) return COHORT_ECONFIG;
  take_seams(seams);
  if (!take_key(err)) return COHORT_ECONFIG;
  if (!feed_.configure(cfg_, err)) return COHORT_ECONFIG;
  cohort_status st = open_storage(in_memory_why, err);
  if (st == COHORT_OK) st = load_state(seams, err);
  if (st == COHORT_OK && start_sync(seams, err) != COHORT_OK) st = COHORT_ECONFIG;
  if (st != COHORT_OK) return st;
  CO_LOG(*log_, info, "agent open: data_dir %s, %lld events in history, %lld queued", cfg_.data_dir.c_str(),
         static_cast<long long>(counts_.history), static_cast<long long>(counts_.outbox));
  return COHORT_OK;
}

// The OS seams: the test's fakes, else the real ones.
void Agent::take_seams(const Seams &seams) {
  clock_ = seams.clock ? seams.clock : &platform::system_clock();
  clock_trust_.start(*clock_, seams.plausible_after_ms);
  if (seams.entropy) {
    entropy_ = seams.entropy;
  } else {
    own_entropy_ = platform::make_system_entropy();
    entropy_ = own_entropy_.get();
  }
  if (seams.logger) {
    log_ = seams.logger;
  } else {
    own_logger_ = std::make_unique<platform::Logger>();
    log_ = own_logger_.get();
  }
  platform::LogLevel level = platform::LogLevel::warn;
  platform::parse_log_level(cfg_.log_level, level);
  log_->set_level(level);
  if (cfg_.log_target == "syslog" && own_logger_) log_->use_syslog("cohort");
  // The parts that keep rows in the store, from the start: an agent whose
  // open failed still flushes at close.
  identity_.start(store_, *log_, *entropy_, cfg_.data_dir);
  views_.start(store_);
  outbox_.start(store_);
  cohorts_.start(store_, *log_);
}

bool Agent::take_key(std::string &err) {
  // A box whose key is provisioned after its first boot starts without it:
  // everything local works, nothing is sent, and the key is taken as soon as
  // the file appears (the worker looks for it) or on SIGHUP / config.reload.
  key_pending_ = !cfg_.api_key_file.empty() && !platform::file_exists(cfg_.api_key_file);
  if (key_pending_) {
    cfg_.api_key.clear();  // the file is where the key comes from
    CO_LOG(*log_, warn, "api.key_file %s does not exist yet: nothing is sent until it does", cfg_.api_key_file.c_str());
  } else if (!config_read_key_file(cfg_, err)) {
    return false;
  }
  hide_key();
  if (cfg_.api_synchronous_validation) {
    CO_LOG(*log_, warn, "api.synchronous_validation is on: for testing only (every CCS request is validated first, "
                        "which is slow)");
  }
  return true;
}

cohort_status Agent::open_storage(const std::string &in_memory_why, std::string &err) {
  // Storage that cannot be written (read-only, full, not a directory) is not
  // a reason to stop: the agent works from memory, bounded, and says so.
  std::string why;
  // The worker syncs the WAL when it is due; a commit that leaves it unsynced
  // wakes the worker's timer (a notify only: the committing thread holds mu_).
  store_.set_durability(cfg_.storage_sync_interval_ms, clock_, [this] { wake_cv_.notify_one(); });
  if (!platform::make_dirs(cfg_.data_dir, 0700) || !platform::dir_writable(cfg_.data_dir)) {
    why = "data_dir \"" + cfg_.data_dir + "\" cannot be written: " + strerror(errno ? errno : EACCES);
    store_.set_path(cfg_.data_dir + "/cohort.db");
  } else if (!store_.open(cfg_.data_dir + "/cohort.db", static_cast<int>(cfg_.storage_cache_kib), *log_, why)) {
    if (store_.out_of_memory()) {
      err = "storage: out of memory";
      return COHORT_ENOMEM;
    }
    why = "storage: " + why;
  } else if (!in_memory_why.empty()) {
    // Reopened after the disk refused a group commit: on from a copy before
    // anything more is written there (boot, cohort state, caches) and before
    // the worker starts. Switched only once running, the worker would be on
    // that disk meanwhile: racing the caller to switch, sending batches whose
    // cursor the disk cannot record.
    degrade(in_memory_why);  // without memory for a copy: on with the disk
  }
  if (!why.empty() && !degrade(why)) {
    err = why;
    return COHORT_ESTORAGE;
  }
  return COHORT_OK;
}

// What the store holds: this boot, the identity, the counters, the views a
// crash left open, the caches and the cohort definitions.
cohort_status Agent::load_state(const Seams &seams, std::string &err) {
  boot_id_ = !seams.boot_id.empty() ? seams.boot_id : platform::boot_id();
  if (boot_id_.empty()) boot_id_ = platform::uuid4(*entropy_);  // every start counts as a boot
  // This boot's number in the boots table: events carry the number.
  if (!storage::register_boot(store_, boot_id_, boot_n_)) {
    err = "cannot record the boot: " + store_.error();
    return COHORT_ESTORAGE;
  }
  Outcome identity = load_identity();
  if (!identity.ok()) {
    err = identity.message;
    return identity.status;
  }
  std::string v;
  consent_ = store_.get_meta("consent", v) && v == "1";
  counts_.evicted = storage::counter(store_, "history_evicted");
  counts_.dropped = storage::counter(store_, "outbox_dropped");
  if (!reload_from_store()) {
    err = "cannot read the history: " + store_.error();
    return COHORT_ESTORAGE;
  }
  if (store_.in_memory()) {
    // Degraded from the start: degrade() ran before the counts were read, and
    // the in-memory bound is for what comes in from now on. Measured from
    // zero, enforce_bounds() below would give up the oldest queued events
    // (the send cursor passing events never sent) and evict them.
    degraded_history_ = counts_.history;
    degraded_queue_ = counts_.outbox;
  }
  check_clock();  // back-fills what an earlier boot left untimed, if it can
  if (!enforce_bounds()) {
    err = "cannot apply history bounds: " + store_.error();
    return COHORT_ESTORAGE;
  }
  Outcome views = recover_views();
  if (!views.ok()) {
    err = views.message;
    return COHORT_ESTORAGE;
  }
  caches_.start(store_, *log_, boot_n_);
  caches_.load(clock_->mono_ms(), cfg_.cache_behavioral_ttl_s, cfg_.cache_contextual_ttl_s);
  load_definitions();
  return COHORT_OK;
}

// The history's counters and cursors as stored (at open, and after a
// transaction that failed to commit left the memory ahead of the disk).
bool Agent::reload_from_store() {
  counts_.sent_seq = storage::counter(store_, "sent_seq");
  int64_t floor = storage::counter(store_, "seq_floor");
  storage::StoredCounts stored;
  if (!storage::count_events(store_, counts_.sent_seq, cfg_.sync_send_segment_events, stored)) return false;
  counts_.history = stored.history;
  counts_.next_seq = std::max({stored.max_seq, floor, counts_.sent_seq}) + 1;
  counts_.outbox = stored.queued;
  counts_.untimed = stored.untimed;
  return true;
}

Agent::~Agent() {
  stop_sync();
  if (abandoned_) return;
  try {
    flush();
  } catch (...) {  // out of memory: what is committed is on disk already
  }
}

// A throw (out of memory) between begin() and commit() must not leave the
// transaction open: every later write would nest in it and never commit.
// What the memory holds is read back from the disk.
void Agent::recover_from_throw() {
  if (batch_owner_ == std::this_thread::get_id()) {
    batch_tx_ = false;
    batch_failed_ = true;
  }
  store_.rollback_all();
  try {
    reload_from_store();
    if (cohorts_ahead_) rebuild_cohorts();  // else retried by the next call
  } catch (...) {
  }
}

void Agent::batch_begin() {
  mu_.lock();
  batch_owner_ = std::this_thread::get_id();
  batch_failed_ = false;
  batch_disk_fault_ = false;
  batch_error_.clear();
  batch_tx_ = store_.begin();
}

void Agent::batch_commit() {
  if (!batch_tx_) return;
  batch_tx_ = false;
  // A statement the disk failed inside the batch fails the batch too.
  if (store_.storage_fault() || !store_.commit()) {
    CO_LOG(*log_, error, "group commit failed: %s", store_.error().c_str());
    if (!batch_failed_) {
      batch_disk_fault_ = store_.storage_fault();
      try {
        batch_error_ = store_.error();
      } catch (...) {  // out of memory: the lock must still be let go
      }
    }
    store_.rollback();
    batch_failed_ = true;
    return;  // the agent is opened again from the disk
  }
  cohorts_ahead_ = false;
}

bool Agent::batch_end() {
  batch_commit();
  batch_owner_ = std::thread::id();
  bool ok = !batch_failed_;
  mu_.unlock();
  return ok;
}

void Agent::flush() {
  platform::MutexLock lock(mu_);
  // Still in memory at close: one last try to put it on disk.
  if (store_.in_memory()) {
    storage_retry_mono_ = clock_->mono_ms() - kStorageRetryMs;
    retry_storage();
  }
  if (store_.is_open()) {
    save_cohort_state();
    note_alive(clock_->mono_ms(), true);
  }
  store_.checkpoint();
}

// The key, and its query-string spelling (api.key_in "query"), never reach
// a log line; old keys stay hidden after a rotation too.
void Agent::hide_key() {
  log_->add_secret(cfg_.api_key);
  log_->add_secret(url_encoded_key(cfg_.api_key));
}

// A handler that does not wait, with the lock held; the membership changes
// it made are handed back to be delivered once the lock is let go.
Outcome Agent::run_locked(const Method &m, const Params &args, cJSON *out, std::vector<std::string> &changes) {
  Outcome st;
  try {
    if (!m.records_later) record_pending();  // what it reads includes them
    st = (this->*m.handler)(args, out);
    if (st.status == COHORT_ESTORAGE) degrade_after_fault();  // the next call works from memory
    // Reading is enough to notice what time alone changed (a call that
    // stored an event settled with it, a moment ago: no second poll).
    if (!settled_by_store_) settle_cohorts();
    settled_by_store_ = false;
  } catch (...) {
    recover_from_throw();
    throw;
  }
  changes.swap(pending_notifications_);
  return st;
}

// In a group commit the lock was taken by batch_begin() on this thread and is
// held across calls: the analysis cannot follow a lock from one call to the
// next, so these two are told, and are kept to the hand-over.
Outcome Agent::run_in_batch(const Method &m, const Params &args, cJSON *out, std::vector<std::string> &changes)
    CO_NO_THREAD_SAFETY_ANALYSIS {
  return run_locked(m, args, out, changes);
}

// A handler that waits on the network takes the lock itself and drops it
// while it waits. In a batch, what came before is committed first and the
// lock let go, then taken again with a new transaction.
Outcome Agent::run_waiting(const Method &m, const Params &args, cJSON *out, bool batched)
    CO_NO_THREAD_SAFETY_ANALYSIS {
  if (batched) {
    batch_commit();
    mu_.unlock();
  }
  Outcome st = (this->*m.handler)(args, out);
  if (batched) {
    mu_.lock();
    batch_tx_ = store_.begin();
  }
  return st;
}

cohort_status Agent::invoke(const char *method, const cJSON *params, Json &result, std::string &err) {
  const Method *m = find_method(method);
  if (!m) {
    err = std::string("unknown method \"") + method + "\"";
    return COHORT_ENOMETHOD;
  }
  if (params && !cJSON_IsObject(params) && !cJSON_IsNull(params)) {
    err = "params: must be an object";
    return COHORT_EINVAL;
  }
  // The params as declared, before anything runs (and without the lock).
  const cJSON *p = cJSON_IsObject(params) ? params : nullptr;
  Outcome checked = check_params(m->params, p);
  if (!checked.ok()) {
    err = checked.message;
    return checked.status;
  }
  const Params args(m->params, p);
  Json out(cJSON_CreateObject());
  if (!out) return COHORT_ENOMEM;
  Outcome st;
  std::vector<std::string> changes;
  bool batched = batch_owner_ == std::this_thread::get_id();
  if (m->waits) {
    st = run_waiting(*m, args, out.get(), batched);
  } else if (batched) {
    st = run_in_batch(*m, args, out.get(), changes);
  } else {
    platform::MutexLock lock(mu_);
    st = run_locked(*m, args, out.get(), changes);
  }
  // Subscribers run outside the lock, so they may call back into the agent.
  deliver(changes);
  if (!st.ok()) {
    err = st.message.empty() ? cohort_status_str(st.status) : std::move(st.message);
    return st.status;
  }
  result = std::move(out);
  return COHORT_OK;
}

cohort_status Agent::call(const char *method, const char *params_json, std::string &result, std::string &err) {
  if (!method) {
    err = "method: missing";
    return COHORT_EINVAL;
  }
  Json params;
  if (params_json && *params_json) {
    params = json_parse(params_json);
    if (!params) {
      err = "params: malformed JSON";
      return COHORT_EJSON;
    }
  }
  Json out;
  cohort_status st = invoke(method, params.get(), out, err);
  if (st != COHORT_OK) return st;
  result = json_print(out.get());
  return result.empty() ? COHORT_ENOMEM : COHORT_OK;
}

void Agent::subscribe(cohort_changed_fn fn, void *user) {
  platform::MutexLock lock(subscriber_mu_);
  subscriber_ = fn;
  subscriber_user_ = user;
}

// The subscriber is called without any lock held: it may call back into the
// agent, even cohort_subscribe.
void Agent::deliver(const std::vector<std::string> &changes) {
  if (changes.empty()) return;
  cohort_changed_fn fn = nullptr;
  void *user = nullptr;
  {
    platform::MutexLock lock(subscriber_mu_);
    fn = subscriber_;
    user = subscriber_user_;
  }
  for (const std::string &c : changes) {
    if (fn) fn(user, c.c_str());
  }
}

Outcome Agent::m_subscribe(const Params &params, cJSON *result) {
  int i = 0;
  for (const cJSON *t = params.get("topics")->child; t; t = t->next, ++i) {
    if (strcmp(t->valuestring, "cohorts") != 0) {
      return failure(COHORT_EINVAL, "topics[" + std::to_string(i) + "]: unknown topic (known: \"cohorts\")");
    }
  }
  cJSON *arr = json_add_array(result, "topics");
  json_append(arr, cJSON_CreateString("cohorts"));
  return COHORT_OK;
}

Outcome Agent::m_status(const Params &, cJSON *result) {
  json_add_string(result, "version", COHORT_VERSION_STRING);
  json_add_string(result, "user_id", identity_.user_id().c_str());
  json_add_bool(result, "consent", consent_granted());
  json_add_bool(result, "consent_required", cfg_.consent_required);
  json_add_string(result, "session_id", session_.id.c_str());
  json_add_number(result, "queue_depth", static_cast<double>(counts_.outbox));
  json_add_number(result, "dead_letters", static_cast<double>(sender_.dead_letters()));
  json_add_number(result, "definitions", static_cast<double>(cohorts_.definitions().size()));
  feed_.describe(json_add_object(result, "definitions_set"), cohorts_.definitions().size());
  // "ok", or "degraded" (working from memory) with the reason.
  json_add_string(result, "storage", store_.in_memory() ? "degraded" : "ok");
  if (store_.in_memory()) json_add_string(result, "storage_error", storage_error_.c_str());
  // Extension: whether the wall clock is trusted, and the events waiting for it.
  cJSON *clock = json_add_object(result, "clock");
  json_add_bool(clock, "trusted", check_clock());
  json_add_number(clock, "untimed_events", static_cast<double>(counts_.untimed));
  sender_.describe(json_add_object(result, "last_sync"));
  // Extension: whether the API key is there ("missing": api.key_file not
  // provisioned yet, or no key configured; nothing is sent without one).
  json_add_string(result, "api_key", cfg_.api_key.empty() ? "missing" : "set");
  cJSON *hist = json_add_object(result, "history");
  json_add_number(hist, "events", static_cast<double>(counts_.history));
  json_add_number(hist, "evicted", static_cast<double>(counts_.evicted));
  json_add_number(result, "queue_dropped", static_cast<double>(counts_.dropped));
  return COHORT_OK;
}

Outcome Agent::m_consent_set(const Params &params, cJSON *result) {
  bool granted = params.boolean("granted");
  if (!store_.begin()) return failure(COHORT_ESTORAGE, "consent: " + store_.error());
  bool stored = store_.set_meta("consent", granted ? "1" : "0") && (granted || purge_behavioral());
  if (!stored || !store_.commit()) {
    std::string why = store_.error();
    store_.rollback();
    return failure(COHORT_ESTORAGE, "consent: " + why);
  }
  consent_ = granted;  // before the cohorts settle: without consent they record nothing
  if (!granted) {
    counts_.history = 0;
    counts_.outbox = 0;
    counts_.sent_seq = counts_.next_seq - 1;
    (void)apply_definitions(cohorts_.doc(), true);  // the cohort state went with the history
  }
  CO_LOG(*log_, info, "consent %s", granted ? "granted" : "withdrawn");
  json_add_bool(result, "consent", consent_granted());
  return COHORT_OK;
}

Outcome Agent::m_config_get(const Params &, cJSON *result) {
  json_add(result, "config", config_to_json(cfg_));
  return COHORT_OK;
}

// Takes a new configuration without a restart: a rotated key (api.key_file is
// read again even when its name is the same), a corrected URL. A key that
// only takes effect at start is reported, not applied. On any error nothing
// changes. A change to how the API is reached ends the back-off at once: a
// queue kept through a 401 leaves as soon as the key is right.
Outcome Agent::m_config_reload(const Params &params, cJSON *result) {
  Config next = cfg_;
  std::string err;
  if (const cJSON *doc = params.get("config")) {
    if (!config_parse(json_print_checked(doc).c_str(), next, err)) return failure(COHORT_ECONFIG, "config: " + err);
  }
  bool pending = !next.api_key_file.empty() && !platform::file_exists(next.api_key_file);
  if (pending) next.api_key.clear();
  if (!pending && !config_read_key_file(next, err)) return failure(COHORT_ECONFIG, err);
  DefinitionsFeed feed = feed_;  // applied only with the rest
  if (!feed.configure(next, err)) return failure(COHORT_ECONFIG, err);
  std::vector<std::string> changed = config_changed_keys(cfg_, next);
  config_keep_restart_keys(next, cfg_);
  cJSON *applied = json_add_array(result, "changed");
  cJSON *restart = json_add_array(result, "restart_required");
  bool api_changed = false;
  for (const std::string &key : changed) {
    bool now = config_key_reloadable(key);
    json_append(now ? applied : restart, cJSON_CreateString(key.c_str()));
    api_changed |= now && key.rfind("api.", 0) == 0;
  }
  bool outbox_changed = next.sync_send_segment_events != cfg_.sync_send_segment_events;
  api_changed |= key_pending_ != pending;
  cfg_ = std::move(next);
  key_pending_ = pending;
  hide_key();
  platform::LogLevel level = platform::LogLevel::warn;
  platform::parse_log_level(cfg_.log_level, level);
  log_->set_level(level);
  if (outbox_changed) reload_from_store();  // the queue is what is sent from now on
  bool feed_changed = feed.url() != feed_.url();
  feed_ = std::move(feed);
  if (feed_changed && feed_.enabled()) {  // a new URL: its set at once
    wake_ = true;
    wake_cv_.notify_one();
  }
  if (api_changed) {
    sender_.backoff().restart();  // the server's Retry-After still stands
    wake_worker(true);
  }
  for (const cJSON *k = restart->child; k; k = k->next) {
    CO_LOG(*log_, warn, "config.reload: %s changes only at the next start", k->valuestring);
  }
  CO_LOG(*log_, info, "configuration reloaded: %d key(s) changed", cJSON_GetArraySize(applied));
  return COHORT_OK;
}

}  // namespace co
