// Entropy and UUIDs, on mbedTLS (SHA-256: platform/sha256.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace co::platform {

// The entropy seam: fills buffers with random bytes.
class Entropy {
 public:
  virtual ~Entropy() = default;
  // Returns false only when no randomness can be had at all.
  virtual bool fill(void *buf, size_t len) = 0;
};

// mbedTLS CTR-DRBG seeded from the OS (getrandom, non-blocking with retry, so
// early boot never hangs start-up). Thread-safe.
std::unique_ptr<Entropy> make_system_entropy();

// The OS read behind it: getrandom(2) with GRND_NONBLOCK and a few short
// retries, then /dev/urandom (which never blocks). `getrandom_fn` replaces
// getrandom in tests (an early-boot pool that is not ready). 0 on success.
using GetrandomFn = ssize_t (*)(void *buf, size_t len, unsigned flags);
int read_os_entropy(unsigned char *out, size_t len, GetrandomFn getrandom_fn = nullptr);

// Deterministic bytes for tests (xorshift from a seed; NOT random).
class FakeEntropy final : public Entropy {
 public:
  explicit FakeEntropy(uint64_t seed = 42) : state_(seed ? seed : 1) {}
  bool fill(void *buf, size_t len) override;

 private:
  uint64_t state_;
};

// A version-4 UUID (RFC 4122 version and variant bits), lowercase, 36 chars.
// Empty when the entropy source fails.
std::string uuid4(Entropy &entropy);

// True for 8-4-4-4-12 hex, any case.
bool is_uuid(std::string_view s);

}  // namespace co::platform
