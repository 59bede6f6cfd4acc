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

}  // namespace co::rules
