#include "platform/clock.h"

#include <ctime>

namespace co::platform {
namespace {

int64_t read_ms(clockid_t id) {
  struct timespec ts {};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

class SystemClock final : public Clock {
 public:
  int64_t wall_ms() override { return read_ms(CLOCK_REALTIME); }
  int64_t mono_ms() override { return read_ms(CLOCK_BOOTTIME); }
};

}  // namespace

Clock &system_clock() {
  static SystemClock clock;
  return clock;
}

}  // namespace co::platform
