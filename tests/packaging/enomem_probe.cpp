// Exceptions still work in a size-first (-Os, LTO, gc-sections, stripped)
// libcohort: every allocation of this thread throws std::bad_alloc while
// `failing` is set, and cohort_call must catch it at the C boundary and answer
// COHORT_ENOMEM, not terminate. Built against the release library by
// scripts/footprint.sh (under qemu for ARM) and tests/packaging/test_package.sh.
//
//   enomem_probe DATA_DIR      exit 0 and "enomem_probe: OK" when it holds
#include <cohort/cohort.h>

#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

namespace {
thread_local bool failing = false;
int thrown = 0;
}  // namespace

// Replaces the global operator new for the whole process, libcohort included.
void *operator new(std::size_t n) {
  if (failing) {
    ++thrown;
    throw std::bad_alloc();
  }
  void *p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: enomem_probe DATA_DIR\n");
    return 2;
  }
  std::string config = std::string("{\"data_dir\":\"") + argv[1] +
                       "\",\"api\":{\"ccs_url\":\"http://127.0.0.1:9\",\"contextual_url\":\"http://127.0.0.1:9\"},"
                       "\"consent\":{\"required\":false}}";
  cohort_agent *agent = nullptr;
  if (cohort_open(config.c_str(), &agent) != COHORT_OK) {
    std::fprintf(stderr, "enomem_probe: cohort_open: %s\n", cohort_last_error(nullptr));
    return 1;
  }
  char *out = nullptr;
  failing = true;
  cohort_status st = cohort_call(agent, "track", "{\"name\":\"Pageview\",\"properties\":{\"k\":\"v\"}}", &out);
  failing = false;
  if (st != COHORT_ENOMEM || out != nullptr || thrown == 0) {
    std::fprintf(stderr, "enomem_probe: expected COHORT_ENOMEM, got %s (thrown %d)\n", cohort_status_str(st), thrown);
    return 1;
  }
  // And the agent goes on working.
  st = cohort_call(agent, "status", nullptr, &out);
  if (st != COHORT_OK) {
    std::fprintf(stderr, "enomem_probe: status after ENOMEM: %s\n", cohort_status_str(st));
    return 1;
  }
  cohort_free(out);
  cohort_close(agent);
  std::printf("enomem_probe: OK (std::bad_alloc caught at the C boundary: %s)\n", cohort_status_str(COHORT_ENOMEM));
  return 0;
}
