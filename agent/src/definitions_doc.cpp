#include "definitions_doc.h"

#include <algorithm>
#include <cstring>

#include "json.h"
#include "platform/sha256.h"
#include "rules/parser.h"

namespace co {
namespace {

DefinitionsCheck refuse(std::string reason) {
  DefinitionsCheck c;
  c.reason = std::move(reason);
  return c;
}

// Where a text that is not JSON goes wrong: the end (a cut download) or a byte.
std::string json_problem(std::string_view body) {
  size_t at = json_error_offset(body);
  if (at >= body.size()) return "document: not valid JSON (it ends too early: truncated?)";
  return "document: not valid JSON (at byte " + std::to_string(at) + ")";
}

// A JSON value for a message, cut short: what the publisher wrote.
std::string shown(const cJSON *item) {
  std::string text = json_print(item);
  return text.size() > 40 ? text.substr(0, 40) + "..." : text;
}

// The document's `version`, or why there is none that can be compared.
bool read_version(const cJSON *root, int64_t *version, std::string *why) {
  const cJSON *item = nullptr;
  for (const cJSON *k = root->child; k != nullptr; k = k->next) {
    if (std::strcmp(k->string, "version") != 0) continue;
    if (item != nullptr) {
      *why = "version: given twice";
      return false;
    }
    item = k;
  }
  if (item == nullptr) {
    *why = "version: missing (a top-level integer, higher in each new document)";
    return false;
  }
  int64_t v = 0;
  if (!json_is_integer(item, v) || v < 0 || v > kMaxDefinitionsVersion) {
    *why = "version: must be an integer from 0 to " + std::to_string(kMaxDefinitionsVersion) + ", not " + shown(item);
    return false;
  }
  *version = v;
  return true;
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

// Splits a header value at the commas outside quoted strings.
std::vector<std::string_view> directives(std::string_view header) {
  std::vector<std::string_view> out;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i <= header.size(); ++i) {
    if (i == header.size() || (header[i] == ',' && !quoted)) {
      out.push_back(trimmed(header.substr(start, i - start)));
      start = i + 1;
    } else if (header[i] == '"') {
      quoted = !quoted;
    } else if (header[i] == '\\' && quoted && i + 1 < header.size()) {
      ++i;
    }
  }
  return out;
}

}  // namespace

DefinitionsCheck check_definitions_doc(std::string_view body, std::string_view sig_file,
                                       const std::vector<platform::PublicKey> &keys,
                                       const DefinitionsInForce &in_force) {
  if (body.size() > kMaxDefinitionsDocBytes) {
    return refuse("document: " + std::to_string(body.size()) + " bytes, over the limit of " +
                  std::to_string(kMaxDefinitionsDocBytes) + " (4 MiB)");
  }
  // Nothing of an unsigned document is looked at, not even its version.
  platform::SignatureStatus sig = platform::verify_signature(body, sig_file, keys);
  if (!sig.ok) return refuse(sig.reason);
  std::string sha256 = platform::sha256_hex(body);
  if (in_force.version && sha256 == in_force.sha256) {
    DefinitionsCheck same;
    same.verdict = DefinitionsVerdict::unchanged;
    same.version = *in_force.version;
    same.sha256 = std::move(sha256);
    same.key_index = sig.key_index;
    return same;
  }
  JsonError error = JsonError::none;
  Json doc = json_parse_exact(body, error);
  if (error == JsonError::memory) return refuse("document: out of memory reading it");
  if (!doc) return refuse(json_problem(body));
  if (!cJSON_IsObject(doc.get())) return refuse("document: expected a JSON object");
  int64_t version = 0;
  std::string why;
  if (!read_version(doc.get(), &version, &why)) return refuse(why);
  if (in_force.version && version < *in_force.version) {
    return refuse("version " + std::to_string(version) + " is older than version " + std::to_string(*in_force.version) +
                  " in force");
  }
  if (in_force.version && version == *in_force.version) {
    return refuse("version " + std::to_string(version) + " already in force with other content");
  }
  // The rule parser takes the definitions document as definitions.put does:
  // without the envelope's version.
  cJSON_DeleteItemFromObjectCaseSensitive(doc.get(), "version");
  std::string definitions = json_print(doc.get());
  if (definitions.empty()) return refuse("document: out of memory reading it");
  rules::Definitions parsed;
  rules::Status rules = rules::parse_definitions(definitions, &parsed);
  if (!rules.ok()) return refuse(rules.message);
  DefinitionsCheck ok;
  ok.verdict = DefinitionsVerdict::accept;
  ok.version = version;
  ok.sha256 = std::move(sha256);
  ok.key_index = sig.key_index;
  ok.definitions = std::move(definitions);
  return ok;
}

std::optional<int64_t> cache_control_max_age(std::string_view header) {
  constexpr int64_t kCap = int64_t{1} << 31;
  for (std::string_view d : directives(header)) {
    size_t eq = d.find('=');
    if (!equals_ignoring_case(trimmed(d.substr(0, eq)), "max-age")) continue;
    // The first max-age decides, valid or not (RFC 9111: a second one is not
    // a second chance).
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view v = trimmed(d.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (v.empty()) return std::nullopt;
    int64_t n = 0;
    for (char c : v) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n >= kCap ? kCap : n * 10 + (c - '0');
    }
    return n > kCap ? kCap : n;
  }
  return std::nullopt;
}

int64_t next_definitions_fetch_s(int64_t refresh_s, std::string_view cache_control) {
  std::optional<int64_t> max_age = cache_control_max_age(cache_control);
  if (!max_age || *max_age >= refresh_s) return refresh_s;
  return std::max(*max_age, std::min(kMinDefinitionsRefreshS, refresh_s));
}

}  // namespace co
