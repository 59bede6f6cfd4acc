// The C ABI: thin wrappers over co::Agent. No exception crosses this line.
#include <cohort/cohort.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <mbedtls/version.h>
#include <sqlite3.h>

#include "agent.h"
#include "api_internal.h"
#include "platform/mutex.h"

struct cohort_agent {
  std::unique_ptr<co::Agent> impl;
  // To reopen after a failed group commit: the configuration, the seams and
  // the subscriber.
  std::string config;
  co::Seams seams;
  cohort_changed_fn subscriber = nullptr;
  void *subscriber_user = nullptr;
  // The calls in progress on any thread: cohort_close tells the waiting ones
  // to return, then waits for every call to leave before it frees anything.
  // `impl` is swapped (a reopen) and shut down under calls_mu.
  co::platform::Mutex calls_mu;
  std::condition_variable_any calls_cv;
  int calls CO_GUARDED_BY(calls_mu) = 0;
  bool closing CO_GUARDED_BY(calls_mu) = false;
};

namespace {

// Per thread, per agent: the message of the last failure (NULL key: open).
thread_local std::unordered_map<const cohort_agent *, std::string> t_errors;

void set_error(const cohort_agent *a, std::string msg) {
  try {
    t_errors[a] = std::move(msg);
  } catch (...) {
  }
}

void clear_error(const cohort_agent *a) {
  auto it = t_errors.find(a);
  if (it != t_errors.end()) it->second.clear();
}

char *dup_string(const std::string &s) {
  char *p = static_cast<char *>(malloc(s.size() + 1));
  if (p) memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

template <typename F>
cohort_status guarded(const cohort_agent *a, F &&f) {
  try {
    return f();
  } catch (const std::bad_alloc &) {
    set_error(a, "out of memory");
    return COHORT_ENOMEM;
  } catch (...) {
    set_error(a, "internal error");
    return COHORT_EINTERNAL;
  }
}

// A call in progress on the agent (see cohort_agent::calls), refused once the
// agent is closing.
class Entry {
 public:
  explicit Entry(cohort_agent *a) : a_(a) {
    co::platform::MutexLock lock(a->calls_mu);
    in_ = !a->closing;
    if (in_) ++a->calls;
  }
  ~Entry() {
    if (!in_) return;
    co::platform::MutexLock lock(a_->calls_mu);
    if (--a_->calls == 0) a_->calls_cv.notify_all();
  }
  Entry(const Entry &) = delete;
  Entry &operator=(const Entry &) = delete;
  bool in() const { return in_; }

 private:
  cohort_agent *a_;
  bool in_ = false;
};

// guarded(), for a call on an open agent: refused with COHORT_ECLOSED once
// it is closing.
template <typename F>
cohort_status entered(cohort_agent *a, F &&f) {
  Entry entry(a);
  if (!entry.in()) {
    set_error(a, "shutting down: the agent is closing");
    return COHORT_ECLOSED;
  }
  return guarded(a, std::forward<F>(f));
}

// Tells the agent's waiting calls to return (see co::Agent::shut_down).
void shut_down(cohort_agent *agent) {
  co::platform::MutexLock lock(agent->calls_mu);
  agent->closing = true;
  if (agent->impl) agent->impl->shut_down();
}

// After a failed commit whose reopening failed too, the handle has no agent.
cohort_status no_agent(cohort_agent *agent) {
  set_error(agent, "storage: the agent could not be reopened after a failed commit");
  return COHORT_ESTORAGE;
}

// A call's status, and the agent's last error as it leaves.
cohort_status reported(cohort_agent *agent, cohort_status st, const std::string &err) {
  if (st == COHORT_OK) clear_error(agent);
  else set_error(agent, err);
  return st;
}

cohort_status call_json(cohort_agent *agent, const char *method, const char *params, std::string &result) {
  if (!agent) return COHORT_EINVAL;
  std::string err;
  if (!agent->impl) return no_agent(agent);
  return reported(agent, agent->impl->call(method, params, result, err), err);
}

// The same for a caller that wants no answer (cohort_track): the params as
// they are, and the answer never printed, which cost a track with many
// cohorts more than their settling did.
cohort_status call_quiet(cohort_agent *agent, const char *method, const cJSON *params) {
  std::string err;
  if (!agent->impl) return no_agent(agent);
  co::Json result;
  return reported(agent, agent->impl->invoke(method, params, result, err), err);
}

// Adds the caller's properties (NULL: none) to params; false for bad JSON.
bool add_properties(cohort_agent *agent, cJSON *params, const char *properties_json) {
  if (!properties_json) return true;
  co::Json props = co::json_parse(properties_json);
  if (!props) {
    set_error(agent, "properties: malformed JSON");
    return false;
  }
  co::json_add(params, "properties", props.release());
  return true;
}

}  // namespace

namespace co {

cohort_status open_with_seams(const char *config_json, const Seams &seams, cohort_agent **out) {
  if (!out) return COHORT_EINVAL;
  *out = nullptr;
  return guarded(nullptr, [&] {
    std::unique_ptr<Agent> impl;
    std::string err;
    cohort_status st = Agent::open(config_json, seams, impl, err);
    if (st != COHORT_OK) {
      set_error(nullptr, err);
      return st;
    }
    auto agent = std::make_unique<cohort_agent>();
    agent->config = config_json ? config_json : "";
    agent->seams = seams;
    agent->impl = std::move(impl);
    *out = agent.release();
    clear_error(nullptr);
    return COHORT_OK;
  });
}

}  // namespace co

namespace {

// The libraries this one runs with, as `curl -V` shows its own: the versions
// loaded at run time, with the one it was built against when they differ.
std::string make_build_info() {
  std::string out = "libcohort " COHORT_VERSION_STRING;
#if defined(__clang__)
  out += " (clang " __clang_version__;
#elif defined(__GNUC__)
  out += " (gcc " __VERSION__;
#else
  out += " (";
#endif
#if defined(__aarch64__)
  out += ", aarch64";
#elif defined(__arm__)
  out += ", arm";
#elif defined(__x86_64__)
  out += ", x86_64";
#elif defined(__i386__)
  out += ", i386";
#endif
#ifdef NDEBUG
  out += ", release)";
#else
  out += ", debug)";
#endif
  // name run-time-version [(built with ...)] [extra]
  auto line = [&out](const char *name, const std::string &run, const char *built, const char *extra = nullptr) {
    out += "\n";
    out += name;
    out += " ";
    out += run;
    if (run != built) out += std::string(" (built with ") + built + ")";
    if (extra && *extra) out += std::string(" ") + extra;
  };
  const co::platform::TransportLibrary transport = co::platform::transport_library();
  line(transport.name, transport.version, transport.built_with, transport.tls);
  line("SQLite", sqlite3_libversion(), SQLITE_VERSION);
  char mbed[32] = "";
  mbedtls_version_get_string(mbed);
  line("mbed TLS", mbed, MBEDTLS_VERSION_STRING);
  char cjson_built[32];
  snprintf(cjson_built, sizeof cjson_built, "%d.%d.%d", CJSON_VERSION_MAJOR, CJSON_VERSION_MINOR, CJSON_VERSION_PATCH);
  line("cJSON", cJSON_Version(), cjson_built);
  return out;
}

}  // namespace

extern "C" {

COHORT_API cohort_status cohort_open(const char *config_json, cohort_agent **out) {
  return co::open_with_seams(config_json, co::Seams(), out);
}

COHORT_API void cohort_close(cohort_agent *agent) {
  if (!agent) return;
  shut_down(agent);
  {
    // The waiting calls return at once; the others finish what they do.
    co::platform::MutexLock lock(agent->calls_mu);
    while (agent->calls != 0) agent->calls_cv.wait(lock);
  }
  t_errors.erase(agent);
  try {
    delete agent;
  } catch (...) {
  }
}

COHORT_API void cohort_shutdown(cohort_agent *agent) {
  if (agent) shut_down(agent);
}

COHORT_API cohort_status cohort_call(cohort_agent *agent, const char *method, const char *params_json,
                                     char **result_json) {
  if (result_json) *result_json = nullptr;
  if (!agent || !method || !result_json) {
    if (agent) set_error(agent, !method ? "method: missing" : "result_json: missing");
    return COHORT_EINVAL;
  }
  return entered(agent, [&] {
    std::string result;
    cohort_status st = call_json(agent, method, params_json, result);
    if (st != COHORT_OK) return st;
    *result_json = dup_string(result);
    return *result_json ? COHORT_OK : COHORT_ENOMEM;
  });
}

COHORT_API void cohort_free(void *p) { free(p); }

COHORT_API const char *cohort_status_str(cohort_status s) {
  switch (s) {
#define COHORT_X_CASE(name, value, message) \
  case name:                                 \
    return message;
    COHORT_STATUS_TABLE(COHORT_X_CASE)
#undef COHORT_X_CASE
  }
  return "unknown status";
}

COHORT_API const char *cohort_status_name(cohort_status s) {
  switch (s) {
#define COHORT_X_NAME(name, value, message) \
  case name:                                \
    return #name;
    COHORT_STATUS_TABLE(COHORT_X_NAME)
#undef COHORT_X_NAME
  }
  return "COHORT_UNKNOWN";
}

COHORT_API const char *cohort_last_error(cohort_agent *agent) {
  auto it = t_errors.find(agent);
  return it == t_errors.end() ? "" : it->second.c_str();
}

COHORT_API cohort_status cohort_track(cohort_agent *agent, const char *name, const char *properties_json) {
  if (!agent) return COHORT_EINVAL;
  return entered(agent, [&] {
    co::Json params(cJSON_CreateObject());
    if (!name) {
      set_error(agent, "name: missing");
      return COHORT_EINVAL;
    }
    co::json_add_string(params.get(), "name", name);
    if (!add_properties(agent, params.get(), properties_json)) return COHORT_EJSON;
    return call_quiet(agent, "track", params.get());
  });
}

COHORT_API cohort_status cohort_view_start(cohort_agent *agent, const char *type, const char *properties_json,
                                           double duration_s, char view_id[37]) {
  if (!agent || !view_id) return COHORT_EINVAL;
  return entered(agent, [&] {
    view_id[0] = '\0';
    co::Json params(cJSON_CreateObject());
    co::json_add_string(params.get(), "type", type ? type : "video");
    if (!add_properties(agent, params.get(), properties_json)) return COHORT_EJSON;
    if (duration_s > 0) co::json_add_number(params.get(), "duration_s", duration_s);
    std::string result;
    cohort_status st = call_json(agent, "view.start", co::json_print_checked(params.get()).c_str(), result);
    if (st != COHORT_OK) return st;
    co::Json res = co::json_parse(result);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(res.get(), "view_id");
    if (!cJSON_IsString(id) || strlen(id->valuestring) != 36) return COHORT_EINTERNAL;
    memcpy(view_id, id->valuestring, 37);
    return COHORT_OK;
  });
}

COHORT_API cohort_status cohort_view_end(cohort_agent *agent, const char *view_id, double position_s) {
  if (!agent) return COHORT_EINVAL;
  return entered(agent, [&] {
    if (!view_id) {
      set_error(agent, "view_id: missing");
      return COHORT_EINVAL;
    }
    co::Json params(cJSON_CreateObject());
    co::json_add_string(params.get(), "view_id", view_id);
    if (position_s >= 0) co::json_add_number(params.get(), "position_s", position_s);
    std::string result;
    return call_json(agent, "view.end", co::json_print_checked(params.get()).c_str(), result);
  });
}

COHORT_API cohort_status cohort_activations(cohort_agent *agent, const char *platform, int timeout_ms,
                                            char **csv_ids, int *stale) {
  if (csv_ids) *csv_ids = nullptr;
  if (stale) *stale = 0;
  if (!agent) return COHORT_EINVAL;
  return entered(agent, [&] {
    if (!platform || !csv_ids) {
      set_error(agent, !platform ? "platform: missing" : "csv_ids: missing");
      return COHORT_EINVAL;
    }
    // The call as activations.get, its params and its result as trees: no
    // JSON text is printed or parsed on the way.
    if (!agent->impl) return no_agent(agent);
    co::Json params(co::json_must(cJSON_CreateObject()));
    co::json_add_number(params.get(), "timeout_ms", timeout_ms < 0 ? 0 : timeout_ms);
    co::Json res;
    std::string err;
    cohort_status st = agent->impl->invoke("activations.get", params.get(), res, err);
    if (st != COHORT_OK) {
      set_error(agent, err);
      return st;
    }
    clear_error(agent);
    const cJSON *acts = cJSON_GetObjectItemCaseSensitive(res.get(), "activations");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(acts, platform);
    std::string csv;
    for (const cJSON *id = list ? list->child : nullptr; id; id = id->next) {
      if (!cJSON_IsString(id)) continue;
      if (!csv.empty()) csv += ',';
      csv += id->valuestring;
    }
    if (stale) *stale = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res.get(), "stale")) ? 1 : 0;
    *csv_ids = dup_string(csv);
    return *csv_ids ? COHORT_OK : COHORT_ENOMEM;
  });
}

COHORT_API cohort_status cohort_rpc(cohort_agent *agent, const char *line, size_t len, char **response_json,
                                    unsigned *topics) {
  if (response_json) *response_json = nullptr;
  if (topics) *topics = 0;
  if (!agent || !line || !response_json) return COHORT_EINVAL;
  return entered(agent, [&] {
    std::string response;
    unsigned t = 0;
    if (!agent->impl) return no_agent(agent);
    cohort_status st = co::rpc(*agent->impl, line, len, response, t);
    if (st != COHORT_OK) return st;
    if (topics) *topics = t;
    if (response.empty()) return COHORT_OK;
    *response_json = dup_string(response);
    return *response_json ? COHORT_OK : COHORT_ENOMEM;
  });
}

COHORT_API cohort_status cohort_check_config(const char *config_json) {
  return guarded(nullptr, [&] {
    co::Config cfg;
    std::string err;
    std::vector<std::string> notes;
    if (!co::config_parse(config_json, cfg, err) || !co::config_check_files(cfg, err, notes)) {
      set_error(nullptr, err);
      return COHORT_ECONFIG;
    }
    // Valid: what is worth knowing all the same, one note a line.
    std::string text;
    for (const std::string &n : notes) text += (text.empty() ? "" : "\n") + n;
    set_error(nullptr, std::move(text));
    return COHORT_OK;
  });
}

COHORT_API const char *cohort_version(void) { return COHORT_VERSION_STRING; }

COHORT_API int cohort_version_number(void) { return COHORT_VERSION_NUMBER; }

COHORT_API const char *cohort_build_info(void) {
  try {
    static const std::string info = make_build_info();
    return info.c_str();
  } catch (...) {
    return "libcohort " COHORT_VERSION_STRING;
  }
}

COHORT_API cohort_status cohort_rpc_batch(cohort_agent *agent, size_t n, const char *const *lines,
                                          const size_t *lens, char **responses, unsigned *topics) {
  if (!agent || (n > 0 && (!lines || !lens || !responses))) return COHORT_EINVAL;
  for (size_t i = 0; i < n; ++i) {
    responses[i] = nullptr;
    if (topics) topics[i] = 0;
  }
  return entered(agent, [&] {
    if (!agent->impl) return no_agent(agent);
    std::vector<std::string> out(n);
    std::vector<unsigned> bits(n, 0);
    for (int attempt = 0;; ++attempt) {
      co::Agent &a = *agent->impl;
      a.batch_begin();
      bool committed = false;
      try {
        for (size_t i = 0; i < n; ++i) co::rpc(a, lines[i], lens[i], out[i], bits[i]);
        committed = a.batch_end();
      } catch (...) {
        a.batch_end();
        throw;
      }
      if (committed) break;
      // Nothing of it is on disk, and the memory is ahead of the disk: the
      // agent starts again from what the disk holds. When the disk was at
      // fault, it starts on a copy of that in memory and the batch runs again
      // there (nothing was answered yet); otherwise every line gets the
      // storage error.
      bool again = a.batch_disk_fault() && attempt == 0;
      std::string why = a.batch_error();
      a.abandon();
      co::platform::MutexLock swap(agent->calls_mu);  // cohort_close may be shutting it down
      agent->impl.reset();
      std::string err;
      cohort_status st = co::Agent::open(agent->config.c_str(), agent->seams, agent->impl, err,
                                         again ? "storage: a group commit failed: " + why : std::string());
      if (st == COHORT_OK && agent->closing) agent->impl->shut_down();
      swap.unlock();
      if (st != COHORT_OK) {
        // No agent to go on with: every later call says so (see live()).
        set_error(agent, "reopening after a failed commit: " + err);
        return st;
      }
      if (agent->subscriber) agent->impl->subscribe(agent->subscriber, agent->subscriber_user);
      if (again && agent->impl->storage_degraded()) continue;
      // The answer to each request of a line that had one: a storage error.
      for (size_t i = 0; i < n; ++i) {
        if (!out[i].empty()) {
          out[i] = co::rpc_failure(lines[i], lens[i], COHORT_ESTORAGE,
                                   "storage: the batch was not committed; nothing of this request is kept");
        }
        bits[i] = 0;
      }
      break;
    }
    for (size_t i = 0; i < n; ++i) {
      if (topics) topics[i] = bits[i];
      if (out[i].empty()) continue;
      responses[i] = dup_string(out[i]);
      std::string().swap(out[i]);  // one copy of each answer at a time
      if (!responses[i]) {
        for (size_t k = 0; k < i; ++k) cohort_free(responses[k]), responses[k] = nullptr;
        return COHORT_ENOMEM;
      }
    }
    clear_error(agent);
    return COHORT_OK;
  });
}

COHORT_API cohort_status cohort_rpc_error(const char *line, size_t len, cohort_status status, const char *message,
                                          char **response_json) {
  if (response_json) *response_json = nullptr;
  if (!line || !response_json || status == COHORT_OK) return COHORT_EINVAL;
  return guarded(nullptr, [&] {
    std::string text = message ? message : status == COHORT_ECLOSED ? "shutting down" : cohort_status_str(status);
    std::string answer = co::rpc_failure(line, len, status, text);
    if (answer.empty()) return COHORT_OK;
    *response_json = dup_string(answer);
    return *response_json ? COHORT_OK : COHORT_ENOMEM;
  });
}

COHORT_API int cohort_rpc_waits(const char *line, size_t len) {
  if (!line) return 0;
  try {
    // Most lines (track, view.*) name no waiting method at all: no parse.
    std::string_view text(line, len);
    if (text.find("sync.now") == std::string_view::npos && text.find("activations.get") == std::string_view::npos) {
      return 0;
    }
    co::Json req(cJSON_ParseWithLength(line, len));
    auto waits = [](const cJSON *r) {
      const cJSON *method = cJSON_IsObject(r) ? cJSON_GetObjectItemCaseSensitive(r, "method") : nullptr;
      return cJSON_IsString(method) && co::Agent::method_waits(method->valuestring);
    };
    if (waits(req.get())) return 1;
    for (const cJSON *r = cJSON_IsArray(req.get()) ? req->child : nullptr; r; r = r->next) {
      if (waits(r)) return 1;
    }
  } catch (...) {  // out of memory: it runs where it is
  }
  return 0;
}

COHORT_API cohort_status cohort_subscribe(cohort_agent *agent, cohort_changed_fn fn, void *user) {
  if (!agent) return COHORT_EINVAL;
  return entered(agent, [&] {
    agent->subscriber = fn;
    agent->subscriber_user = user;
    if (agent->impl) agent->impl->subscribe(fn, user);
    clear_error(agent);
    return COHORT_OK;
  });
}

}  // extern "C"
