// The canonical form of a rule: what its checksum is computed over, and what
// definitions.get returns. Keys sorted, no whitespace, defaults explicit, aliases
// resolved (monetary -> aggregate), so neither key order nor spacing nor writing
// a default out changes the checksum. It is itself a valid rule.
#pragma once
#include <string>

#include "rules/ast.h"

namespace co::rules {

std::string canonical_json(const Rule &rule);
// Lowercase hex SHA-256 of `canonical`.
std::string checksum_of(const std::string &canonical);
// What an accumulating condition gathers, canonically: conditions with the same
// key fed the same events hold the same state, whatever their decision (the
// operator, value and metric are read only when deciding; a property records
// its comparison as it goes, so it keeps them).
// Throws std::bad_alloc rather than answer a wrong key.
std::string gathering_key(const Condition &c);
// A literal as compact JSON ("" for none); throws std::bad_alloc.
std::string literal_text(const cJSON *value);

}  // namespace co::rules
