// Shared by the unit tests: CMocka, a scratch directory, an agent with fakes.
#pragma once
// clang-format off
// Before cmocka.h: its fail() macro would break <ios>.
#include <fstream>
#include <sstream>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}
// clang-format on

#include <csignal>
#include <cstdlib>
#include <sys/wait.h>
#include <unistd.h>
#include <cstring>
#include <string>

#include "api_internal.h"
#include "json.h"

namespace test {

// A fresh directory under $TMPDIR, removed by the destructor.
struct TempDir {
  std::string path;
  TempDir() {
    const char *base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/cohort-test-XXXXXX";
    char *p = mkdtemp(&tmpl[0]);
    assert_non_null(p);
    path = tmpl;
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path + "'";
    if (system(cmd.c_str()) != 0) {
    }
  }
  // Remote APIs point at a closed local port unless extra says otherwise:
  // a unit test never reaches past this machine.
  // The fleet delay of the first sync is off unless `delay` (test_sync checks it).
  // The wall clock is trusted as soon as it is plausible (clock.trust
  // "system"), unless extra sets clock.trust: a test on the real clock must
  // not depend on how long the machine has been up or whether NTP synced it
  // (the "auto" rules are tested on the fake clock).
  // Each default is added only where extra does not set that key (flat or
  // nested): a key given twice is a configuration error.
  std::string config(const std::string &extra = "", bool delay = false) const {
    co::Json doc = co::json_parse("{" + extra + "}");
    assert_non_null(doc.get());
    auto set = [&](const char *key, cJSON *value) {
      std::string name = key;
      size_t dot = name.find('.');
      const cJSON *section = dot == std::string::npos ? nullptr
                                                      : cJSON_GetObjectItemCaseSensitive(doc.get(), name.substr(0, dot).c_str());
      bool given = cJSON_GetObjectItemCaseSensitive(doc.get(), key) ||
                   (section && cJSON_GetObjectItemCaseSensitive(section, name.substr(dot + 1).c_str()));
      if (given) {
        cJSON_Delete(value);
      } else {
        cJSON_AddItemToObject(doc.get(), key, value);
      }
    };
    set("data_dir", cJSON_CreateString((path + "/data").c_str()));
    set("api.ccs_url", cJSON_CreateString("http://127.0.0.1:9"));
    set("api.contextual_url", cJSON_CreateString("http://127.0.0.1:9"));
    if (!delay) set("sync.initial_delay_s", cJSON_CreateNumber(0));
    set("clock.trust", cJSON_CreateString("system"));
    return co::json_print(doc.get());
  }
};

// Calls a method and returns the parsed result; fails the test on error.
inline co::Json call_ok(cohort_agent *a, const char *method, const char *params = nullptr) {
  char *out = nullptr;
  cohort_status st = cohort_call(a, method, params, &out);
  if (st != COHORT_OK) fail_msg("%s failed: %s: %s", method, cohort_status_str(st), cohort_last_error(a));
  co::Json j = co::json_parse(out);
  cohort_free(out);
  assert_non_null(j.get());
  return j;
}

inline std::string str(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : "";
}

inline double num(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

// Runs `child` in a real child process, which opens the agent with `config`
// and returns a 36-character id to report; then kills it with SIGKILL, agent
// still open, mid-flight. Returns the id (empty if the child failed).
template <typename F>
std::string run_and_kill(const std::string &config, F &&child) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    cohort_agent *a = nullptr;
    if (cohort_open(config.c_str(), &a) != COHORT_OK) _exit(2);
    std::string id = child(a);
    if (id.size() != 36 || write(fds[1], id.c_str(), 36) != 36) _exit(3);
    pause();
    _exit(0);
  }
  close(fds[1]);
  char buf[37] = {0};
  ssize_t n = read(fds[0], buf, 36);
  close(fds[0]);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return n == 36 ? std::string(buf, 36) : std::string();
}

// An agent on fake seams: a clock, entropy and a transport the test drives.
// Until a test sets a handler, the transport answers like a closed port.
struct AgentFixture {
  TempDir dir;
  co::platform::FakeClock clock;
  co::platform::FakeEntropy entropy;
  co::platform::Logger logger;
  co::platform::FakeTransport transport;
  cohort_agent *agent = nullptr;
  std::string extra;  // the configuration of the last open()
  bool delayed = false;
  std::string boot_id = "boot-1";

  explicit AgentFixture(uint64_t seed = 1) : entropy(seed) {
    transport.set_handler([](const co::platform::HttpRequest &, co::platform::HttpResponse &r) {
      r.status = 0;
      r.error = "Couldn't connect to server";
    });
  }
  ~AgentFixture() { cohort_close(agent); }
  AgentFixture(const AgentFixture &) = delete;
  AgentFixture &operator=(const AgentFixture &) = delete;

  co::Seams seams() {
    co::Seams s;
    s.clock = &clock;
    s.entropy = &entropy;
    s.logger = &logger;
    s.transport = &transport;
    s.plausible_after_ms = 0;  // the fake clock starts in 2023, before this build
    s.boot_id = boot_id;
    return s;
  }
  // delay: keep the fleet delay of the first background sync (config_extra may
  // set sync.initial_delay_s); by default it is off.
  void open_with(const std::string &config_extra, bool delay = false) {
    extra = config_extra;
    delayed = delay;
    assert_int_equal(co::open_with_seams(dir.config(extra, delayed).c_str(), seams(), &agent), COHORT_OK);
  }
  void reopen() {
    cohort_close(agent);
    agent = nullptr;
    open_with(extra, delayed);
  }
  // A restart on a new boot: its own boot id, the monotonic clock from
  // `mono`; `while_off` runs between the two.
  template <typename F = void (*)()>
  void reboot(const std::string &id, int64_t mono, F &&while_off = [] {}) {
    cohort_close(agent);
    agent = nullptr;
    while_off();
    boot_id = id;
    clock.set_mono_ms(mono);
    open_with(extra, delayed);
  }
};

// A file's whole content (a fixture); fails the test when it cannot be read.
inline std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  assert_true(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace test
