// SHA-256, on mbedTLS: a library of its own (cohort_sha256), so the rule engine
// can checksum its canonical rules without linking the rest of platform/.
#pragma once
#include <string>
#include <string_view>

namespace co::platform {

// Lowercase hex SHA-256 of the bytes.
std::string sha256_hex(std::string_view data);
void sha256(std::string_view data, unsigned char out[32]);

}  // namespace co::platform
