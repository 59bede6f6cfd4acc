// The configuration document (README: "Configuration"): every key has an
// embedded default; nested ({"api":{"timeout_ms":300}}) and flat dotted
// ({"api.timeout_ms":300}) spellings are both accepted. An unknown key or a
// wrong type is an error naming the key.
#pragma once
#include <cstdint>
#include <string>

struct cJSON;

namespace co {

struct Config {
  std::string data_dir = "/var/lib/cohort";
  std::string socket_path = "/run/cohort/cohortd.sock";
  int socket_mode = 0660;
  std::string api_key;
  std::string api_key_file;
  std::string api_ccs_url = "https://api.permutive.com";
  std::string api_contextual_url = "https://api.permutive.com";
  std::string api_mode = "stateful";
  int64_t api_timeout_ms = 300;
  std::string api_ca_file;
  int64_t session_inactivity_timeout_s = 1800;
  int64_t cache_behavioral_ttl_s = 30 * 86400;
  int64_t cache_contextual_ttl_s = 86400;
  std::string cohorts_definitions;
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
  int64_t sync_initial_delay_s = 30;
};

// Fills cfg from the document (NULL/empty = all defaults). On error returns
// false with err naming the key; cfg is then unspecified.
bool config_parse(const char *json, Config &cfg, std::string &err);

// The effective configuration as JSON (nested), with the API key redacted.
cJSON *config_to_json(const Config &cfg);

}  // namespace co
