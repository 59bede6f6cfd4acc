#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

#include "json.h"
#include "platform/files.h"
#include "platform/log.h"
#include "platform/signature.h"

namespace co {
namespace {

enum class Kind { string, integer, boolean, mode, paths };
constexpr size_t kMaxPaths = 8;

// The descriptions of the keys are the configuration reference
// (cohortd.json(5), the table of samples/config/README.md): they are compiled
// only into the generator of those pages (docs/man/config_reference.cpp,
// built with COHORT_CONFIG_DOCS), never into the library a device runs.
// Markup: `code` only; plain ASCII but for a few typographic characters the
// generator knows (— – ≤ ≥ …).
#ifdef COHORT_CONFIG_DOCS
#define CO_DOC(text) text
#else
#define CO_DOC(text) nullptr
#endif

struct Key {
  const char *name;
  Kind kind;
  std::string Config::*str;
  int64_t Config::*num;
  bool Config::*flag;
  int Config::*mode;
  std::vector<std::string> Config::*list;  // Kind::paths: file paths
  int64_t min;
  int64_t max;
  const char *choices;  // "a|b|c": the only values a string takes (nullptr: any string)
  const char *type;     // the reference's name for its type when the kind says too little (or nullptr)
  const char *help;     // what it does (nullptr in the library: see CO_DOC)
};

#define CO_KEY_STR(name, field, type, help) \
  {name, Kind::string, &Config::field, nullptr, nullptr, nullptr, nullptr, 0, 0, nullptr, CO_DOC(type), CO_DOC(help)}
#define CO_KEY_ENUM(name, field, choices, help) \
  {name, Kind::string, &Config::field, nullptr, nullptr, nullptr, nullptr, 0, 0, choices, nullptr, CO_DOC(help)}
#define CO_KEY_INT(name, field, lo, hi, help) \
  {name, Kind::integer, nullptr, &Config::field, nullptr, nullptr, nullptr, lo, hi, nullptr, nullptr, CO_DOC(help)}
#define CO_KEY_BOOL(name, field, help) \
  {name, Kind::boolean, nullptr, nullptr, &Config::field, nullptr, nullptr, 0, 0, nullptr, nullptr, CO_DOC(help)}
// At most kMaxPaths of them.
#define CO_KEY_PATHS(name, field, help) \
  {name, Kind::paths, nullptr, nullptr, nullptr, nullptr, &Config::field, 0, 0, nullptr, CO_DOC("array of paths"), \
   CO_DOC(help)}

const Key kKeys[] = {
    CO_KEY_STR("data_dir", data_dir, "string (path)",
               "The SQLite database (`cohort.db`) and the `identity` file. Must be writable and persistent (not "
               "tmpfs): the Permutive ID lives here. systemd's `StateDirectory=cohort` creates it with the right "
               "owner. A directory that cannot be written does not stop the agent: it runs from memory and "
               "`status` says why. `cohortd --data-dir` overrides it."),
    CO_KEY_STR("socket.path", socket_path, "string (path)",
               "The Unix socket of the JSON-RPC protocol (cohortd only). `RuntimeDirectory=cohort` makes "
               "`/run/cohort`. `cohortd --socket` overrides it."),
    {"socket.mode", Kind::mode, nullptr, nullptr, nullptr, &Config::socket_mode, nullptr, 0, 0777, nullptr,
     CO_DOC("string (octal mode)"),
     CO_DOC("Permissions of the socket file: owner and group may connect. Put the apps that talk to the agent in "
            "the `cohort` group. Written as a string; an integer is taken as the mode's value (so `432`, not "
            "`660`).")},
    CO_KEY_STR("api.key", api_key, nullptr,
               "The API key, inline: at most 1024 printable ASCII characters. Prefer `api.key_file` on devices; "
               "when both are set, the file wins. Sent where `api.key_in` says; never in a log line, `status`, "
               "`config.get` or a dead letter."),
    CO_KEY_STR("api.key_file", api_key_file, "string (path)",
               "A file holding the API key (trailing newline ignored), readable by the `cohort` user only (`chmod "
               "0400`). Read at start-up and again on `SIGHUP` or `config.reload`: a key rotated across a fleet "
               "is taken without a restart, and events queued while the old key was refused then leave. A file "
               "that does not exist yet (a key provisioned after the first boot) is awaited: the agent starts, "
               "sends nothing (`status.api_key` says `missing`) and takes the key when the file appears (looked "
               "for every 30 s). One that exists but cannot be read is an error, also for `--check-config`, "
               "which only notes a missing one."),
    CO_KEY_STR("api.ccs_url", api_ccs_url, "string (URL)",
               "Base URL of the CCS segmentation API (`/ccs/v1/segmentation`), as the CCS reference gives it (its "
               "OpenAPI `servers` entry and examples). "
               "`http://` or `https://` only. A 404 or 405 from it keeps the queue and shows `not_found` / "
               "`method_not_allowed` in `status.last_sync`."),
    CO_KEY_STR("api.contextual_url", api_contextual_url, "string (URL)",
               "Base URL of the Contextual API (`/ctx/v1/segment`), as the guide's Contextual example gives it. "
               "`http://` or `https://` only."),
    CO_KEY_ENUM("api.key_in", api_key_in, "header|query",
                "Where the key travels: the `X-Api-Key` header, or the `k` query parameter (`?k=`, as in the API "
                "documents' examples) for gateways that want it there. Either way it never reaches a log line, "
                "`status`, `config.get`, a dead letter or an error message."),
    CO_KEY_ENUM("api.mode", api_mode, "stateful|stateless",
                "`stateful`: the CCS API keeps the user's state. `stateless`: the agent keeps the opaque `state` "
                "and sends it back each time. Both ask for activations (`activations=true`); when an answer comes "
                "without them, "
                "`activations.get` names the source in `missing`."),
    CO_KEY_INT("api.timeout_ms", api_timeout_ms, 1, 600000,
               "The deadline of every remote call, in milliseconds. An ad break never waits longer than its own "
               "budget anyway; this bounds the background work."),
    CO_KEY_STR("api.ca_file", api_ca_file, "string (path)",
               "A CA bundle (PEM) to trust for TLS instead of the system's: boxes with an old or absent system "
               "store ship their own. `--check-config` checks that it can be read."),
    CO_KEY_BOOL("api.synchronous_validation", api_synchronous_validation,
                "The guide's troubleshooting switch: CCS requests carry `synchronous-validation=true`, so events "
                "that do not match the workspace schema are answered with the schema error (kept in the dead "
                "letters, `cohortctl dead-letters`) instead of being silently ignored. For testing only: slow, "
                "and warned about at start."),
    CO_KEY_INT("session.inactivity_timeout_s", session_inactivity_timeout_s, 1, 30LL * 86400,
               "A session ends after this many seconds without activity; the next event starts a new one. Also "
               "ends views left open."),
    CO_KEY_INT("cache.behavioral_ttl_s", cache_behavioral_ttl_s, 0, 3650LL * 86400,
               "How long, in seconds, the CCS API's last answer (cohorts, activations) may be served (the "
               "default: 30 days). Expired entries are never served. Measured on the monotonic clock."),
    CO_KEY_INT("cache.contextual_ttl_s", cache_contextual_ttl_s, 0, 3650LL * 86400,
               "The same for the Contextual API, per content URL (the default: 24 hours)."),
    CO_KEY_STR("cohorts.definitions", cohorts_definitions, "string (path)",
               "The local cohort definitions (the rule language of `docs/rules.md`). `SIGHUP` (`systemctl reload "
               "cohortd`) or `definitions.reload` reads it again; a bad file is refused and the previous "
               "definitions stay. `--check-config` checks that it can be read."),
    CO_KEY_STR("cohorts.definitions_url", cohorts_definitions_url, "string (URL)",
               "Where the fleet's cohort definitions are published: an `https://` URL of a definitions document "
               "with a top-level integer `version`, signed (ECDSA P-256, SHA-256) in a detached file at the same "
               "URL plus `.sig`. Fetched with the API key after start (after the fleet delay) and every "
               "`cohorts.refresh_s`, with `If-None-Match`; a document that does not verify against "
               "`cohorts.public_keys`, is not newer than the set in force, or is not valid is refused with the "
               "reason in `status.definitions_set`, and the set in force stays. An accepted set is kept with its "
               "signature and used at the next start before any network. `definitions.reload` fetches at once. "
               "Takes precedence over `cohorts.definitions`."),
    CO_KEY_PATHS("cohorts.public_keys", cohorts_public_keys,
                 "PEM files of the P-256 public keys that may sign the definitions document (several, so a key "
                 "can be rotated: a document signed by any of them is taken). Required with "
                 "`cohorts.definitions_url`. `--check-config` checks that each is a P-256 public key."),
    CO_KEY_INT("cohorts.refresh_s", cohorts_refresh_s, 60, 7LL * 86400,
               "Seconds between fetches of `cohorts.definitions_url`; a shorter `Cache-Control: max-age` is "
               "honoured (never under a minute)."),
    CO_KEY_BOOL("consent.required", consent_required,
                "Until consent is granted (`consent.set`), nothing behavioral is kept or sent. Set `false` only "
                "where consent is obtained otherwise (and documented)."),
    CO_KEY_INT("queue.max_events", queue_max_events, 1, 10000000,
               "Bound of the outbox of events waiting for the CCS API; when full the oldest go first and "
               "`status.queue_dropped` counts them."),
    CO_KEY_INT("history.retention_days", history_retention_days, 1, 3650,
               "Events older than this many days leave the local history (look-back windows cannot exceed it)."),
    CO_KEY_INT("history.max_events", history_max_events, 1, 10000000,
               "Bound of the local history; oldest first, counted in `status.history.evicted`. About 300 bytes "
               "per event on disk."),
    CO_KEY_BOOL("activations.merge", activations_merge,
                "`true`: local, CCS and contextual activations in one list per platform. `false`: contextual ones "
                "reported apart, under `contextual`."),
    CO_KEY_ENUM("log.level", log_level, "error|warn|info|debug", "Log verbosity."),
    CO_KEY_ENUM("log.target", log_target, "stderr|syslog",
                "Where log lines go: stderr (the journal under systemd) or syslog (BusyBox `syslogd` on boxes "
                "without systemd). Lines never carry the API key or an e-mail address."),
    CO_KEY_INT("storage.cache_kib", storage_cache_kib, 64, 1 << 20,
               "Extension: the SQLite page cache bound, in KiB. The main lever on the daemon's memory."),
    CO_KEY_INT("storage.sync_interval_ms", storage_sync_interval_ms, 0, 600000,
               "Extension: how long a commit may wait for its fsync, in milliseconds. An accepted event survives "
               "`kill -9` at once and a power cut once the write-ahead log is synced, at most this long after it "
               "(one fsync per interval, only while events come). `0`: every commit is synced before it is "
               "answered — nothing acknowledged is lost to a power cut, at the price of a flash write and an "
               "fsync's latency per event."),
    CO_KEY_INT("sync.initial_delay_s", sync_initial_delay_s, 0, 3600,
               "Extension: the first background sync after start waits a random 0 to this many seconds, so a "
               "firmware push that reboots a fleet does not reach the API all at once. `sync.now` and a view "
               "start skip it."),
    CO_KEY_INT("sync.retry_base_ms", sync_retry_base_ms, 100, 600000,
               "Extension: a failed CCS request (network, 5xx, 408, 429) is retried after a random 0 to twice "
               "this many milliseconds, the bound doubling with each failure up to five minutes, never before "
               "the server's `Retry-After`. Lower retries a blip sooner, but a fleet whose API fails at once "
               "then sends several quick retries per device in the first minute (see the README's fleet "
               "section)."),
    CO_KEY_BOOL("sync.send_segment_events", sync_send_segment_events,
                "Extension: `SegmentEntry` / `SegmentExit` are the agent's own events (local cohorts entered and "
                "left); the workspace does not define them, so they stay on the device (history, look-back, "
                "notifications). `true` sends them to the CCS API too."),
    CO_KEY_ENUM("clock.trust", clock_trust, "auto|system",
                "When the wall clock is believed (events are stamped, sent and windowed by it). `auto`: once it is "
                "plausible (not before this build) and the kernel says NTP synchronised it, or it was stepped "
                "forward while the agent ran, or the box has been up ten minutes with neither; until then events "
                "keep their monotonic time and wait. `system`: as soon as it is plausible — for boxes with a "
                "battery-backed RTC, containers and CI. The trade-off: with `system` a box whose RTC is plausible "
                "but wrong (a stale RTC after a long power-off) stamps events with that wrong time until NTP "
                "corrects it; with `auto` a box without NTP holds its events for its first ten minutes."),
    CO_KEY_STR("client.type", client_type, "string (≤ 256 bytes)",
               "The device type in the `client` section of the Contextual API's `page_properties` (the guide's "
               "example request), set once per device: `ctv`, `stb`, `speaker`, … Never anything about the "
               "user. Unset: not sent."),
    CO_KEY_STR("client.app", client_app, "string (≤ 256 bytes)",
               "The app or channel in the same `client` section. Unset: not sent."),
    CO_KEY_STR("client.platform", client_platform, "string (≤ 256 bytes)",
               "The platform in the same `client` section (`tizen`, `webos`, `android_tv`, `linux`, …). Unset: "
               "not sent."),
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

// "a|b|c" holds value.
bool one_of(const char *choices, const std::string &value) {
  for (const char *p = choices;;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? static_cast<size_t>(bar - p) : strlen(p);
    if (value.size() == len && value.compare(0, len, p, len) == 0) return true;
    if (!bar) return false;
    p = bar + 1;
  }
}

// "a|b" -> "\"a\" or \"b\""; "a|b|c" -> "one of \"a\", \"b\", \"c\"".
std::string choices_text(const char *choices) {
  std::string out;
  int n = 0;
  for (const char *p = choices; *p; ++p) n += *p == '|';
  if (n > 1) out = "one of ";
  out += '"';
  for (const char *p = choices; *p; ++p) {
    if (*p != '|') {
      out += *p;
    } else {
      out += n > 1 ? "\", \"" : "\" or \"";
    }
  }
  return out + '"';
}

// The Levenshtein distance of a and b, ASCII case ignored.
size_t edit_distance(const std::string &a, const std::string &b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      size_t subst = diag + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1);
      row[j] = std::min({up + 1, row[j - 1] + 1, subst});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string config_nearest_key(const std::string &name) {
  // Every key and every section is a candidate; the one key whose last part
  // is exactly the name (a key written outside its section) is the answer.
  std::vector<std::string> candidates;
  std::string outside;
  int outside_count = 0;
  for (const Key &k : kKeys) {
    std::string key = k.name;
    for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1)) {
      candidates.push_back(key.substr(0, dot));
    }
    candidates.push_back(key);
    size_t last = key.rfind('.');
    if (last != std::string::npos && key.compare(last + 1, std::string::npos, name) == 0) {
      outside = key;
      ++outside_count;
    }
  }
  if (outside_count == 1) return outside;
  std::string best;
  size_t best_d = std::string::npos;
  for (const std::string &c : candidates) {
    size_t d = edit_distance(name, c);
    if (d < best_d) best_d = d, best = c;
  }
  // Close enough to be a typo: one edit in a short name, up to three in a long one.
  size_t allowed = std::max<size_t>(1, std::min<size_t>(3, name.size() / 4));
  return best_d <= allowed ? best : std::string();
}

namespace {

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
      if (k.choices && !one_of(k.choices, v->valuestring)) {
        err = std::string("configuration key \"") + k.name + "\" must be " + choices_text(k.choices);
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
    case Kind::paths: {
      std::vector<std::string> paths;
      for (const cJSON *p = cJSON_IsArray(v) ? v->child : nullptr; p; p = p->next) {
        if (!cJSON_IsString(p) || !*p->valuestring) break;
        paths.emplace_back(p->valuestring);
      }
      if (!cJSON_IsArray(v) || paths.size() != static_cast<size_t>(cJSON_GetArraySize(v)) ||
          paths.size() > kMaxPaths) {
        err = std::string("configuration key \"") + k.name + "\" must be an array of at most " +
              std::to_string(kMaxPaths) + " file paths (non-empty strings)";
        return false;
      }
      cfg.*k.list = std::move(paths);
      return true;
    }
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

// `seen`: the keys set so far, and the sections opened in each object, so a
// key given twice (in one object, or flat and nested) is an error, never a
// silent "last one wins".
bool walk(const cJSON *obj, const std::string &prefix, Config &cfg, std::string &err, std::vector<std::string> &seen) {
  std::vector<std::string> sections;  // the members of this object that were sections
  for (const cJSON *v = obj->child; v; v = v->next) {
    std::string name = prefix.empty() ? v->string : prefix + "." + v->string;
    if (const Key *k = find_key(name)) {
      for (const std::string &s : seen) {
        if (s == name) {
          err = "configuration key \"" + name + "\" is given twice";
          return false;
        }
      }
      seen.push_back(name);
      if (!set_key(*k, v, cfg, err)) return false;
    } else if (is_section(name)) {
      if (!cJSON_IsObject(v)) {
        err = "configuration key \"" + name + "\" must be an object";
        return false;
      }
      for (const std::string &s : sections) {
        if (s == name) {
          err = "configuration section \"" + name + "\" is given twice (write its keys in one object)";
          return false;
        }
      }
      sections.push_back(name);
      if (!walk(v, name, cfg, err, seen)) return false;
    } else {
      err = "unknown configuration key \"" + name + "\"";
      std::string near = config_nearest_key(name);
      if (!near.empty()) err += "; did you mean \"" + near + "\"?";
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
  platform::LogLevel level;
  if (!platform::parse_log_level(cfg.log_level, level)) {
    err = "configuration key \"log.level\" must be one of error, warn, info, debug";
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
  if (!cfg.cohorts_definitions_url.empty()) {
    if (cfg.cohorts_definitions_url.rfind("http://", 0) != 0 && cfg.cohorts_definitions_url.rfind("https://", 0) != 0) {
      err = "configuration key \"cohorts.definitions_url\" must be an http:// or https:// URL";
      return false;
    }
    if (cfg.cohorts_public_keys.empty()) {
      err = "configuration key \"cohorts.definitions_url\" needs \"cohorts.public_keys\": the keys that may sign "
            "the definitions (an unsigned document is never taken)";
      return false;
    }
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

// "line 3, column 9" of a byte offset (columns count characters, not bytes).
std::string position(std::string_view text, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// A few characters of the text from offset, to show where (printable ASCII;
// anything else shown as '?').
std::string excerpt(std::string_view text, size_t offset) {
  std::string out;
  for (size_t i = offset; i < text.size() && out.size() < 16 && text[i] != '\n' && text[i] != '\r'; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    out += c >= ' ' && c < 127 ? static_cast<char>(c) : '?';
  }
  return out;
}

// Why text is not one JSON document, and where.
std::string syntax_error(std::string_view text) {
  size_t at = json_error_offset(text);
  if (at < text.size() && json_valid(text.substr(0, at))) {
    return "configuration has content after its JSON document, at " + position(text, at) + " (near \"" +
           excerpt(text, at) + "\")";
  }
  if (at >= text.size()) return "configuration is not valid JSON: it ends early, at " + position(text, at);
  // The validator stops inside a bad word or number (`tru`, `01`): point at its start.
  auto in_word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
           c == '.';
  };
  while (at > 0 && in_word(text[at - 1])) --at;
  return "configuration is not valid JSON at " + position(text, at) + " (near \"" + excerpt(text, at) + "\")";
}

}  // namespace

bool config_parse(const char *json, Config &cfg, std::string &err) {
  cfg = Config();
  if (!json || !*json) return true;
  std::string_view text(json);
  // The strict grammar first (RFC 8259: one value, nothing after it), so an
  // error has a place; cJSON then builds what it accepted.
  if (!json_valid(text)) {
    err = syntax_error(text);
    return false;
  }
  Json doc = json_parse(text);
  if (!doc) throw std::bad_alloc();  // valid, so cJSON ran out of memory
  if (!cJSON_IsObject(doc.get())) {
    err = "configuration must be a JSON object";
    return false;
  }
  std::vector<std::string> seen;
  return walk(doc.get(), "", cfg, err, seen) && check(cfg, err);
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
    case Kind::paths: return a.*k.list == b.*k.list;
  }
  return true;
}

void copy_value(const Key &k, Config &dst, const Config &src) {
  switch (k.kind) {
    case Kind::string: dst.*k.str = src.*k.str; break;
    case Kind::integer: dst.*k.num = src.*k.num; break;
    case Kind::boolean: dst.*k.flag = src.*k.flag; break;
    case Kind::mode: dst.*k.mode = src.*k.mode; break;
    case Kind::paths: dst.*k.list = src.*k.list; break;
  }
}

// What a running agent can take without a restart: where and how it reaches
// the APIs (a rotated key, a corrected URL), what it tells them, and its
// logging. The rest (storage, socket, mode, TTLs, bounds) is read at start.
const char *const kReloadable[] = {
    "api.key", "api.key_file", "api.key_in", "api.ccs_url", "api.contextual_url", "api.timeout_ms",
    "api.synchronous_validation", "client.type", "client.app", "client.platform", "log.level",
    "sync.send_segment_events", "activations.merge", "cohorts.definitions", "cohorts.definitions_url",
    "cohorts.public_keys", "cohorts.refresh_s",
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
      case Kind::paths: {
        cJSON *arr = json_add_array(parent, name.c_str());
        for (const std::string &p : cfg.*k.list) json_append(arr, json_must(cJSON_CreateString(p.c_str())));
        break;
      }
    }
  }
  return holder.release();
}

namespace {

// The embedded default of a key, as JSON ("" for a string that is unset).
std::string default_json(const Key &k) {
  static const Config defaults;
  switch (k.kind) {
    case Kind::string: {
      const std::string &v = defaults.*k.str;
      if (v.empty()) return "";
      Json s(json_must(cJSON_CreateString(v.c_str())));
      return json_print_checked(s.get());
    }
    case Kind::integer: return std::to_string(defaults.*k.num);
    case Kind::boolean: return defaults.*k.flag ? "true" : "false";
    case Kind::mode: {
      char buf[16];
      snprintf(buf, sizeof buf, "\"%04o\"", defaults.*k.mode);
      return buf;
    }
    case Kind::paths: return "[]";
  }
  return "";
}

// A file the configuration names must be a readable file. Opened read-only
// and closed: nothing is created, changed or read past the open (O_NONBLOCK:
// a FIFO does not hold the check). False with errno set.
bool readable_file(const std::string &path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = fstat(fd, &st) == 0;
  int saved = errno;
  close(fd);
  if (!ok) {
    errno = saved;
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    errno = EISDIR;
    return false;
  }
  return true;
}

}  // namespace

std::vector<ConfigKeyInfo> config_reference() {
  std::vector<ConfigKeyInfo> out;
  for (const Key &k : kKeys) {
    ConfigKeyInfo i;
    i.name = k.name;
    static const char *const kinds[] = {"string", "integer", "boolean", "mode", "array"};
    i.kind = kinds[static_cast<int>(k.kind)];
    i.type = k.type ? k.type : "";
    i.default_json = default_json(k);
    i.min = k.min;
    i.max = k.max;
    i.choices = k.choices ? k.choices : "";
    i.help = k.help ? k.help : "";
    i.reloadable = config_key_reloadable(k.name);
    out.push_back(std::move(i));
  }
  return out;
}

bool config_check_files(const Config &cfg, std::string &err, std::vector<std::string> &notes) {
  const std::pair<const char *, const std::string *> required[] = {
      {"cohorts.definitions", &cfg.cohorts_definitions},
      {"api.ca_file", &cfg.api_ca_file},
  };
  for (const auto &r : required) {
    if (r.second->empty() || readable_file(*r.second)) continue;
    err = std::string("configuration key \"") + r.first + "\": cannot read " + *r.second + ": " + strerror(errno);
    return false;
  }
  if (!cfg.cohorts_public_keys.empty()) {
    std::vector<platform::PublicKey> keys;
    platform::SignatureStatus st = platform::load_public_keys(cfg.cohorts_public_keys, &keys);
    if (!st.ok) {
      err = "configuration key \"cohorts.public_keys\": " + st.reason;
      return false;
    }
  }
  if (cfg.api_key_file.empty()) return true;
  // A key file that does not exist yet is fine: a box gets its key after its
  // first boot, and the agent takes it when it appears (SIGHUP,
  // config.reload). One that exists must be readable and hold a key.
  struct stat st {};
  if (stat(cfg.api_key_file.c_str(), &st) != 0 && errno == ENOENT) {
    notes.push_back("configuration key \"api.key_file\": " + cfg.api_key_file +
                    " does not exist yet; nothing is sent to the API until it does");
    return true;
  }
  if (!readable_file(cfg.api_key_file)) {
    err = "configuration key \"api.key_file\": cannot read " + cfg.api_key_file + ": " + strerror(errno);
    return false;
  }
  Config copy = cfg;
  return config_read_key_file(copy, err);
}

}  // namespace co
