// The configuration document (README: "Configuration"): every key has an
// embedded default; nested ({"api":{"timeout_ms":300}}) and flat dotted
// ({"api.timeout_ms":300}) spellings are both accepted. An unknown key or a
// wrong type is an error naming the key.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

struct cJSON;

namespace co {

struct Config {
  std::string data_dir = "/var/lib/cohort";
  std::string socket_path = "/run/cohort/cohortd.sock";
  int socket_mode = 0660;
  std::string api_key;
  std::string api_key_file;
  // The hosts the API documents use: the CCS reference (its OpenAPI `servers`
  // entry and examples) is on .app, the Contextual API example on .com.
  std::string api_ccs_url = "https://api.permutive.app";
  std::string api_contextual_url = "https://api.permutive.com";
  // Where the key travels: the X-Api-Key header, or the `k` query parameter
  // (both documented; every example uses ?k=) for gateways that want it there.
  std::string api_key_in = "header";
  std::string api_mode = "stateful";
  int64_t api_timeout_ms = 300;
  std::string api_ca_file;
  // The guide's troubleshooting switch: the CCS API validates events against
  // the workspace schema before answering (schema errors become 400s, which
  // land in the dead letters). For testing only: it is slow.
  bool api_synchronous_validation = false;
  int64_t session_inactivity_timeout_s = 1800;
  int64_t cache_behavioral_ttl_s = 30 * 86400;
  int64_t cache_contextual_ttl_s = 86400;
  std::string cohorts_definitions;
  std::string cohorts_definitions_url;           // signed definitions, fetched
  std::vector<std::string> cohorts_public_keys;  // PEM files: who may sign them
  int64_t cohorts_refresh_s = 3600;
  bool consent_required = true;
  int64_t queue_max_events = 10000;
  int64_t history_retention_days = 90;
  int64_t history_max_events = 50000;
  bool activations_merge = true;
  std::string log_level = "warn";
  std::string log_target = "stderr";  // or "syslog"
  int64_t storage_cache_kib = 512;
  // A commit survives kill -9 at once and a power cut once the WAL is synced,
  // at most this long after it; 0: every commit synced before it is answered
  // (a flash write per commit).
  int64_t storage_sync_interval_ms = 2000;
  // The first background sync after start waits a random 0..this many seconds
  // (a firmware push reboots a fleet at once); sync.now and view.start skip it.
  int64_t sync_initial_delay_s = 120;
  // The first retry of a failed CCS request comes within twice this, then
  // the bound doubles up to five minutes (full jitter); see Backoff.
  int64_t sync_retry_base_ms = 15000;
  // When the wall clock is believed: "auto" once it is plausible and the
  // kernel says it is synchronised, was stepped forward while we ran, or the
  // box has been up ten minutes (a box without NTP); "system" as soon as it is
  // plausible (not before this build): for boxes with a battery-backed RTC,
  // containers and CI, whose clock is right from boot.
  std::string clock_trust = "auto";
  // SegmentEntry / SegmentExit are the agent's own events (the workspace does
  // not define them): kept on the device, sent to the CCS API only when true.
  bool sync_send_segment_events = false;
  // The Contextual API's `client` section of page_properties, configured once
  // per device: never anything about the user. Empty: not sent.
  std::string client_type;      // the device type: "ctv", "stb", "speaker", ...
  std::string client_app;       // the app or channel
  std::string client_platform;  // the OS / platform: "tizen", "webos", "android_tv", "linux", ...
};

// Fills cfg from the document (NULL/empty = all defaults). On error returns
// false with err naming the key (a key given twice, flat or nested, is one;
// an unknown key comes with the nearest known one), or the line and column
// of a syntax error (the document is strict JSON: one object, nothing after
// it); cfg is then unspecified. Throws std::bad_alloc when out of memory.
bool config_parse(const char *json, Config &cfg, std::string &err);

// The known key or section nearest to an unknown name (a typo: a small edit
// distance, case ignored; or a key written outside its section), or "".
std::string config_nearest_key(const std::string &name);

// What --check-config adds to config_parse (cohort_check_config): the files
// the configuration names. cohorts.definitions and api.ca_file must be
// readable files; api.key_file, when it exists, must be readable and hold a
// valid key, and when it does not exist yet gets a note. Reads, never writes.
// False with err naming the key, the path and the reason.
bool config_check_files(const Config &cfg, std::string &err, std::vector<std::string> &notes);

// One key of the table, for the configuration reference (cohortd.json(5) and
// samples/config/README.md are generated from it: docs/man/config_reference.cpp).
struct ConfigKeyInfo {
  std::string name;          // "api.timeout_ms"
  std::string kind;          // "string", "integer", "boolean" or "mode"
  std::string type;          // how the reference names its type, when the kind says too little ("" else)
  std::string default_json;  // the embedded default as JSON; "" for a string that is unset
  int64_t min = 0, max = 0;  // an integer's range; a mode's too
  std::string choices;       // "a|b": the only values a string takes ("" for any)
  std::string help;          // what it does; "" unless built with COHORT_CONFIG_DOCS
  bool reloadable = false;   // config.reload (SIGHUP) applies it without a restart
};
// Every key, in table order.
std::vector<ConfigKeyInfo> config_reference();

// The effective configuration as JSON (nested), with the API key redacted.
cJSON *config_to_json(const Config &cfg);

// Reads api.key_file into cfg.api_key (trailing newline and spaces trimmed),
// when one is set. False with err naming the key and the file's problem.
bool config_read_key_file(Config &cfg, std::string &err);

// Reloading a running agent (config.reload): the keys whose values differ,
// in table order, and which of them take effect only at the next start.
std::vector<std::string> config_changed_keys(const Config &a, const Config &b);
bool config_key_reloadable(const std::string &key);
// Copies into `next` every restart-only key's value from `current`.
void config_keep_restart_keys(Config &next, const Config &current);

}  // namespace co
