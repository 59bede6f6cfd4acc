// A definitions document fetched from a URL (cohorts.definitions_url), judged
// before anything of it is used: size, signature, JSON, version, then the
// rules themselves. Pure: the caller fetches, stores and installs; this only
// decides, so a hostile server cannot make the set in force any worse.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/signature.h"

namespace co {

// The largest document taken: a few thousand cohorts, far from a device's memory.
constexpr size_t kMaxDefinitionsDocBytes = 4u << 20;
// The largest `version`: every integer up to it is exact in a JSON number.
constexpr int64_t kMaxDefinitionsVersion = (int64_t{1} << 53) - 1;

// The set in force, as the last accepted document left it.
struct DefinitionsInForce {
  std::optional<int64_t> version;  // none: no document from the URL yet (a file, definitions.put, nothing)
  std::string sha256;              // lowercase hex SHA-256 of that document's exact bytes; "" when none
};

enum class DefinitionsVerdict {
  accept,     // a new set: install `definitions`
  unchanged,  // the very document in force again (also after a reboot): nothing to do
  refuse,     // `reason` says why; the set in force stays
};

struct DefinitionsCheck {
  DefinitionsVerdict verdict = DefinitionsVerdict::refuse;
  // refuse: what is wrong, for status.definitions.error, e.g.
  //   "version 3 is older than version 5 in force"
  //   "signature does not verify against any of 2 keys"
  //   "cohort \"1001\": rule.conditions[0].operator: unknown operator \"median\""
  std::string reason;
  // accept and unchanged: the document's version and the SHA-256 of its bytes
  // (what the next check takes as DefinitionsInForce), and the key that
  // signed it (index into `keys`).
  int64_t version = 0;
  std::string sha256;
  size_t key_index = 0;
  // accept: the definitions document without its `version`, which the rule
  // parser accepted: what Agent::install_definitions() / definitions.put take.
  std::string definitions;
};

// Judges `body` (the document's exact bytes) and `sig_file` (the text of its
// .sig) against `keys` and the set in force, in this order: size (at most
// kMaxDefinitionsDocBytes), signature, the same bytes as in force
// ("unchanged"), JSON (one object), `version` (an integer 0..2^53-1, once),
// not older than the one in force and not the same with other bytes, then the
// rules, by the rule engine's own parser. To re-verify a stored set at start,
// pass an empty `in_force`.
DefinitionsCheck check_definitions_doc(std::string_view body, std::string_view sig_file,
                                       const std::vector<platform::PublicKey> &keys,
                                       const DefinitionsInForce &in_force);

// The `max-age` of a Cache-Control header value, in seconds: the first
// max-age directive (name in any case, value digits, quoted or not), among
// others (`public, max-age=600`). None when absent or not a number (a value
// past 2^31 reads as 2^31, as RFC 9111 asks).
std::optional<int64_t> cache_control_max_age(std::string_view header);

// A server's max-age never makes devices fetch more often than this (a
// max-age of 0 would otherwise mean fetch constantly).
constexpr int64_t kMinDefinitionsRefreshS = 60;

// Seconds until the next fetch after an answer carrying `cache_control`
// (empty when none): `refresh_s` (cohorts.refresh_s), or the answer's
// max-age when shorter, but not under kMinDefinitionsRefreshS (nor over
// refresh_s).
int64_t next_definitions_fetch_s(int64_t refresh_s, std::string_view cache_control);

}  // namespace co
