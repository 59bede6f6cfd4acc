#include "platform/crypto.h"

#include <mbedtls/ctr_drbg.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <sys/random.h>
#include <unistd.h>

#include "platform/mutex.h"

namespace co::platform {
namespace {

// Early in boot the kernel pool may not be initialised: never block on it.
int os_entropy(void *, unsigned char *out, size_t len) { return read_os_entropy(out, len); }

class SystemEntropy final : public Entropy {
 public:
  SystemEntropy() {
    mbedtls_ctr_drbg_init(&drbg_);
    static const char personal[] = "cohort-agent";
    ok_ = mbedtls_ctr_drbg_seed(&drbg_, os_entropy, nullptr,
                                reinterpret_cast<const unsigned char *>(personal),
                                sizeof personal - 1) == 0;
  }
  ~SystemEntropy() override { mbedtls_ctr_drbg_free(&drbg_); }
  SystemEntropy(const SystemEntropy &) = delete;
  SystemEntropy &operator=(const SystemEntropy &) = delete;

  bool fill(void *buf, size_t len) override {
    MutexLock lock(mu_);
    if (!ok_) return false;
    auto *p = static_cast<unsigned char *>(buf);
    while (len > 0) {
      size_t chunk = len > MBEDTLS_CTR_DRBG_MAX_REQUEST ? MBEDTLS_CTR_DRBG_MAX_REQUEST : len;
      if (mbedtls_ctr_drbg_random(&drbg_, p, chunk) != 0) return false;
      p += chunk;
      len -= chunk;
    }
    return true;
  }

 private:
  Mutex mu_;
  mbedtls_ctr_drbg_context drbg_ CO_GUARDED_BY(mu_);
  bool ok_ = false;
};

const char kHex[] = "0123456789abcdef";

}  // namespace

int read_os_entropy(unsigned char *out, size_t len, GetrandomFn getrandom_fn) {
  if (getrandom_fn == nullptr) getrandom_fn = ::getrandom;
  size_t got = 0;
  for (int attempt = 0; got < len && attempt < 50; ++attempt) {
    ssize_t n = getrandom_fn(out + got, len - got, GRND_NONBLOCK);
    if (n > 0) {
      got += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) break;
    if (n < 0 && errno == EAGAIN) usleep(2000);
  }
  if (got < len) {
    FILE *f = fopen("/dev/urandom", "rbe");
    if (!f) return -1;
    size_t n = fread(out + got, 1, len - got, f);
    fclose(f);
    got += n;
  }
  return got == len ? 0 : -1;
}

std::unique_ptr<Entropy> make_system_entropy() { return std::make_unique<SystemEntropy>(); }

bool FakeEntropy::fill(void *buf, size_t len) {
  auto *p = static_cast<unsigned char *>(buf);
  for (size_t i = 0; i < len; ++i) {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    p[i] = static_cast<unsigned char>(state_ >> 24);
  }
  return true;
}

std::string uuid4(Entropy &entropy) {
  unsigned char b[16];
  if (!entropy.fill(b, sizeof b)) return {};
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string s;
  s.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[b[i] >> 4]);
    s.push_back(kHex[b[i] & 15]);
  }
  return s;
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

}  // namespace co::platform
