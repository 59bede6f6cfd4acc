#include "platform/sha256.h"

#include <mbedtls/sha256.h>

namespace co::platform {

void sha256(std::string_view data, unsigned char out[32]) {
  mbedtls_sha256_ret(reinterpret_cast<const unsigned char *>(data.data()), data.size(), out, 0);
}

std::string sha256_hex(std::string_view data) {
  static const char kHex[] = "0123456789abcdef";
  unsigned char digest[32];
  sha256(data, digest);
  std::string hex(64, '0');
  for (int i = 0; i < 32; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 15];
  }
  return hex;
}

}  // namespace co::platform
