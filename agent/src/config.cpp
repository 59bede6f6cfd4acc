#include "config.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include "json.h"
#include "platform/files.h"
#include "platform/log.h"

namespace co {
namespace {

enum class Kind { string, integer, boolean, mode };

struct Key {
  const char *name;
  Kind kind;
  std::string Config::*str;
  int64_t Config::*num;
  bool Config::*flag;
  int Config::*mode;
  int64_t min;
  int64_t max;
};

#define CO_KEY_STR(name, field) {name, Kind::string, &Config::field, nullptr, nullptr, nullptr, 0, 0}
#define CO_KEY_INT(name, field, lo, hi) {name, Kind::integer, nullptr, &Config::field, nullptr, nullptr, lo, hi}
#define CO_KEY_BOOL(name, field) {name, Kind::boolean, nullptr, nullptr, &Config::field, nullptr, 0, 0}

const Key kKeys[] = {
    CO_KEY_STR("data_dir", data_dir),
    CO_KEY_STR("socket.path", socket_path),
    {"socket.mode", Kind::mode, nullptr, nullptr, nullptr, &Config::socket_mode, 0, 0777},
    CO_KEY_STR("api.key", api_key),
    CO_KEY_STR("api.key_file", api_key_file),
    CO_KEY_STR("api.ccs_url", api_ccs_url),
    CO_KEY_STR("api.contextual_url", api_contextual_url),
    CO_KEY_STR("api.key_in", api_key_in),
    CO_KEY_STR("api.mode", api_mode),
    CO_KEY_INT("api.timeout_ms", api_timeout_ms, 1, 600000),
    CO_KEY_STR("api.ca_file", api_ca_file),
    CO_KEY_BOOL("api.synchronous_validation", api_synchronous_validation),
    CO_KEY_INT("session.inactivity_timeout_s", session_inactivity_timeout_s, 1, 30LL * 86400),
    CO_KEY_INT("cache.behavioral_ttl_s", cache_behavioral_ttl_s, 0, 3650LL * 86400),
    CO_KEY_INT("cache.contextual_ttl_s", cache_contextual_ttl_s, 0, 3650LL * 86400),
    CO_KEY_STR("cohorts.definitions", cohorts_definitions),
    CO_KEY_BOOL("consent.required", consent_required),
    CO_KEY_INT("queue.max_events", queue_max_events, 1, 10000000),
    CO_KEY_INT("history.retention_days", history_retention_days, 1, 3650),
    CO_KEY_INT("history.max_events", history_max_events, 1, 10000000),
    CO_KEY_BOOL("activations.merge", activations_merge),
    CO_KEY_STR("log.level", log_level),
    CO_KEY_STR("log.target", log_target),
    CO_KEY_INT("storage.cache_kib", storage_cache_kib, 64, 1 << 20),
    CO_KEY_INT("storage.sync_interval_ms", storage_sync_interval_ms, 0, 600000),
    CO_KEY_INT("sync.initial_delay_s", sync_initial_delay_s, 0, 3600),
    CO_KEY_BOOL("sync.send_segment_events", sync_send_segment_events),
    CO_KEY_STR("clock.trust", clock_trust),
    CO_KEY_STR("client.type", client_type),
    CO_KEY_STR("client.app", client_app),
    CO_KEY_STR("client.platform", client_platform),
};

const Key *find_key(const std::string &name) {
  for (const Key &k : kKeys) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

// True when some key starts with "prefix." (so prefix names a section).
bool is_section(const std::string &prefix) {
  for (const Key &k : kKeys) {
    if (strncmp(k.name, prefix.c_str(), prefix.size()) == 0 && k.name[prefix.size()] == '.') return true;
  }
  return false;
}

bool parse_mode(const cJSON *v, int64_t &out) {
  if (cJSON_IsString(v)) {
    const char *s = v->valuestring;
    if (!*s || strlen(s) > 4) return false;
    int64_t m = 0;
    for (; *s; ++s) {
      if (*s < '0' || *s > '7') return false;
      m = m * 8 + (*s - '0');
    }
    out = m;
    return true;
  }
  // An integer is taken as the mode's value (0660 octal is 432); a decimal-
  // looking 660 is out of range and rejected rather than misread.
  return json_is_integer(v, out) && out >= 0 && out <= 0777;
}

bool set_key(const Key &k, const cJSON *v, Config &cfg, std::string &err) {
  int64_t n = 0;
  switch (k.kind) {
    case Kind::string:
      if (!cJSON_IsString(v)) {
        err = std::string("configuration key \"") + k.name + "\" must be a string";
        return false;
      }
      cfg.*k.str = v->valuestring;
      return true;
    case Kind::boolean:
      if (!cJSON_IsBool(v)) {
        err = std::string("configuration key \"") + k.name + "\" must be true or false";
        return false;
      }
      cfg.*k.flag = cJSON_IsTrue(v);
      return true;
    case Kind::integer:
      if (!json_is_integer(v, n)) {
        err = std::string("configuration key \"") + k.name + "\" must be an integer";
        return false;
      }
      if (n < k.min || n > k.max) {
        err = std::string("configuration key \"") + k.name + "\" must be between " + std::to_string(k.min) +
              " and " + std::to_string(k.max);
        return false;
      }
      cfg.*k.num = n;
      return true;
    case Kind::mode:
      if (!parse_mode(v, n)) {
        err = std::string("configuration key \"") + k.name + "\" must be an octal mode string such as \"0660\"";
        return false;
      }
      cfg.*k.mode = static_cast<int>(n);
      return true;
  }
  return false;
}

bool walk(const cJSON *obj, const std::string &prefix, Config &cfg, std::string &err) {
  for (const cJSON *v = obj->child; v; v = v->next) {
    std::string name = prefix.empty() ? v->string : prefix + "." + v->string;
    if (const Key *k = find_key(name)) {
      if (!set_key(*k, v, cfg, err)) return false;
    } else if (is_section(name)) {
      if (!cJSON_IsObject(v)) {
        err = "configuration key \"" + name + "\" must be an object";
        return false;
      }
      if (!walk(v, name, cfg, err)) return false;
    } else {
      err = "unknown configuration key \"" + name + "\"";
      return false;
    }
  }
  return true;
}

// The key goes into a header line or a URL: printable ASCII only, so it can
// neither split the header nor need escaping rules of its own.
bool valid_key(const std::string &key) {
  for (char c : key) {
    if (c <= ' ' || c >= 127) return false;
  }
  return key.size() <= 1024;
}

bool check(const Config &cfg, std::string &err) {
  if (!valid_key(cfg.api_key)) {
    err = "configuration key \"api.key\" must be at most 1024 printable ASCII characters, without spaces";
    return false;
  }
  if (cfg.api_mode != "stateful" && cfg.api_mode != "stateless") {
    err = "configuration key \"api.mode\" must be \"stateful\" or \"stateless\"";
    return false;
  }
  platform::LogLevel level;
  if (!platform::parse_log_level(cfg.log_level, level)) {
    err = "configuration key \"log.level\" must be one of error, warn, info, debug";
    return false;
  }
  if (cfg.log_target != "stderr" && cfg.log_target != "syslog") {
    err = "configuration key \"log.target\" must be \"stderr\" or \"syslog\"";
    return false;
  }
  if (cfg.clock_trust != "auto" && cfg.clock_trust != "system") {
    err = "configuration key \"clock.trust\" must be \"auto\" or \"system\"";
    return false;
  }
  if (cfg.api_key_in != "header" && cfg.api_key_in != "query") {
    err = "configuration key \"api.key_in\" must be \"header\" or \"query\"";
    return false;
  }
  for (const auto &c : {std::make_pair("client.type", &cfg.client_type), std::make_pair("client.app", &cfg.client_app),
                        std::make_pair("client.platform", &cfg.client_platform)}) {
    if (c.second->size() > 256) {
      err = std::string("configuration key \"") + c.first + "\" must be at most 256 bytes";
      return false;
    }
  }
  if (cfg.data_dir.empty()) {
    err = "configuration key \"data_dir\" must not be empty";
    return false;
  }
  for (const auto *url : {&cfg.api_ccs_url, &cfg.api_contextual_url}) {
    if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
      err = std::string("configuration key \"") + (url == &cfg.api_ccs_url ? "api.ccs_url" : "api.contextual_url") +
            "\" must be an http:// or https:// URL";
      return false;
    }
  }
  return true;
}

}  // namespace

bool config_parse(const char *json, Config &cfg, std::string &err) {
  cfg = Config();
  if (!json || !*json) return true;
  Json doc = json_parse(json);
  if (!doc) {
    err = "configuration is not valid JSON";
    return false;
  }
  if (!cJSON_IsObject(doc.get())) {
    err = "configuration must be a JSON object";
    return false;
  }
  return walk(doc.get(), "", cfg, err) && check(cfg, err);
}

bool config_read_key_file(Config &cfg, std::string &err) {
  if (cfg.api_key_file.empty()) return true;
  std::string key;
  if (!platform::read_file(cfg.api_key_file, key, 4096)) {
    err = "configuration key \"api.key_file\": cannot read " + cfg.api_key_file + ": " + strerror(errno);
    return false;
  }
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (!valid_key(key)) {
    err = "configuration key \"api.key_file\": " + cfg.api_key_file +
          " must hold one key of at most 1024 printable ASCII characters";
    return false;
  }
  cfg.api_key = key;
  return true;
}

namespace {

bool same_value(const Key &k, const Config &a, const Config &b) {
  switch (k.kind) {
    case Kind::string: return a.*k.str == b.*k.str;
    case Kind::integer: return a.*k.num == b.*k.num;
    case Kind::boolean: return a.*k.flag == b.*k.flag;
    case Kind::mode: return a.*k.mode == b.*k.mode;
  }
  return true;
}

void copy_value(const Key &k, Config &dst, const Config &src) {
  switch (k.kind) {
    case Kind::string: dst.*k.str = src.*k.str; break;
    case Kind::integer: dst.*k.num = src.*k.num; break;
    case Kind::boolean: dst.*k.flag = src.*k.flag; break;
    case Kind::mode: dst.*k.mode = src.*k.mode; break;
  }
}

// What a running agent can take without a restart: where and how it reaches
// the APIs (a rotated key, a corrected URL), what it tells them, and its
// logging. The rest (storage, socket, mode, TTLs, bounds) is read at start.
const char *const kReloadable[] = {
    "api.key", "api.key_file", "api.key_in", "api.ccs_url", "api.contextual_url", "api.timeout_ms",
    "api.synchronous_validation", "client.type", "client.app", "client.platform", "log.level",
    "sync.send_segment_events", "activations.merge", "cohorts.definitions",
};

}  // namespace

std::vector<std::string> config_changed_keys(const Config &a, const Config &b) {
  std::vector<std::string> out;
  for (const Key &k : kKeys) {
    if (!same_value(k, a, b)) out.emplace_back(k.name);
  }
  return out;
}

bool config_key_reloadable(const std::string &key) {
  for (const char *name : kReloadable) {
    if (key == name) return true;
  }
  return false;
}

void config_keep_restart_keys(Config &next, const Config &current) {
  for (const Key &k : kKeys) {
    if (!config_key_reloadable(k.name)) copy_value(k, next, current);
  }
}

cJSON *config_to_json(const Config &cfg) {
  Json holder(json_must(cJSON_CreateObject()));
  cJSON *root = holder.get();
  for (const Key &k : kKeys) {
    // Build the nested path.
    cJSON *parent = root;
    std::string name = k.name;
    size_t dot;
    while ((dot = name.find('.')) != std::string::npos) {
      std::string section = name.substr(0, dot);
      cJSON *child = cJSON_GetObjectItemCaseSensitive(parent, section.c_str());
      if (!child) child = json_add_object(parent, section.c_str());
      parent = child;
      name = name.substr(dot + 1);
    }
    switch (k.kind) {
      case Kind::string: {
        const std::string &s = cfg.*k.str;
        bool secret = strcmp(k.name, "api.key") == 0 && !s.empty();
        json_add_string(parent, name.c_str(), secret ? "[redacted]" : s.c_str());
        break;
      }
      case Kind::boolean:
        json_add_bool(parent, name.c_str(), cfg.*k.flag);
        break;
      case Kind::integer:
        json_add_number(parent, name.c_str(), static_cast<double>(cfg.*k.num));
        break;
      case Kind::mode: {
        char buf[8];
        snprintf(buf, sizeof buf, "%04o", cfg.*k.mode);
        json_add_string(parent, name.c_str(), buf);
        break;
      }
    }
  }
  return holder.release();
}

}  // namespace co
