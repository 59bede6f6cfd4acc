
#include <atomic>
#include <thread>
#include <vector>

#include "test_util.h"
#include "unit_test.h"

using test::call_ok;

UNIT_TEST(status_table_is_complete) {
  assert_string_equal(cohort_status_str(COHORT_OK), "success");
  assert_string_equal(cohort_status_str(COHORT_EINVAL), "invalid argument");
  assert_int_equal(COHORT_EINVAL, 1);
  assert_int_equal(COHORT_EINTERNAL, 16);
  assert_string_equal(cohort_status_str(static_cast<cohort_status>(999)), "unknown status");
}

UNIT_TEST(null_and_bad_arguments) {
  cohort_close(nullptr);
  char *out = reinterpret_cast<char *>(1);
  assert_int_equal(cohort_call(nullptr, "status", nullptr, &out), COHORT_EINVAL);
  assert_null(out);
  assert_int_equal(cohort_open("{}", nullptr), COHORT_EINVAL);
  cohort_free(nullptr);
  cohort_agent *a = reinterpret_cast<cohort_agent *>(1);
  assert_int_equal(cohort_open("{\"nope\":1}", &a), COHORT_ECONFIG);
  assert_null(a);
  assert_non_null(strstr(cohort_last_error(nullptr), "nope"));
}

// Storage that cannot be written does not stop the agent: it works from
// memory and status says why.
static void expect_degraded(const std::string &data_dir) {
  cohort_agent *a = nullptr;
  std::string cfg = "{\"data_dir\":\"" + data_dir + "\",\"consent\":{\"required\":false},"
                    "\"api\":{\"ccs_url\":\"http://127.0.0.1:9\",\"contextual_url\":\"http://127.0.0.1:9\"}}";
  assert_int_equal(cohort_open(cfg.c_str(), &a), COHORT_OK);
  test::call_ok(a, "track", "{\"name\":\"Pageview\"}");
  co::Json st = test::call_ok(a, "status");
  assert_string_equal(test::str(st.get(), "storage").c_str(), "degraded");
  assert_non_null(strstr(test::str(st.get(), "storage_error").c_str(), "data_dir"));
  assert_int_equal(test::num(st.get(), "queue_depth"), 1);
  cohort_close(a);
}

UNIT_TEST(unwritable_data_dir_degrades_to_memory) {
  // /proc refuses new directories even to root.
  expect_degraded("/proc/self/cohort-data");
}

UNIT_TEST(data_dir_that_is_a_file_degrades_to_memory) {
  test::TempDir dir;
  std::string file = dir.path + "/file";
  FILE *f = fopen(file.c_str(), "w");
  fclose(f);
  expect_degraded(file);
}

UNIT_TEST(unknown_method_and_bad_params) {
  test::TempDir dir;
  cohort_agent *a = nullptr;
  assert_int_equal(cohort_open(dir.config().c_str(), &a), COHORT_OK);
  char *out = nullptr;
  assert_int_equal(cohort_call(a, "no.such", nullptr, &out), COHORT_ENOMETHOD);
  assert_non_null(strstr(cohort_last_error(a), "no.such"));
  assert_int_equal(cohort_call(a, "track", "{\"name\":", &out), COHORT_EJSON);
  assert_int_equal(cohort_call(a, "track", "[1,2]", &out), COHORT_EINVAL);
  assert_int_equal(cohort_call(a, "status", nullptr, &out), COHORT_OK);
  assert_string_equal(cohort_last_error(a), "");
  cohort_free(out);
  assert_int_equal(cohort_track(a, nullptr, nullptr), COHORT_EINVAL);
  assert_int_equal(cohort_track(a, "X", "{bad"), COHORT_EJSON);
  cohort_close(a);
}

UNIT_TEST(track_shortcut) {
  test::TempDir dir;
  cohort_agent *a = nullptr;
  assert_int_equal(cohort_open(dir.config("\"consent.required\":false").c_str(), &a), COHORT_OK);
  assert_int_equal(cohort_track(a, "Videoview", "{\"video_id\":\"v1\"}"), COHORT_OK);
  co::Json h = call_ok(a, "history.get");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")), 1);
  cohort_close(a);
}

// Four threads hammer one agent with writes and reads; every call succeeds
// and every event lands exactly once.
UNIT_TEST(four_threads_hammer_one_agent) {
  test::TempDir dir;
  cohort_agent *a = nullptr;
  assert_int_equal(cohort_open(dir.config("\"consent.required\":false").c_str(), &a), COHORT_OK);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const int per_thread = 250;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        std::string props = "{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}";
        if (cohort_track(a, "Hammer", props.c_str()) != COHORT_OK) ++failures;
        char *out = nullptr;
        if (cohort_call(a, i % 2 ? "status" : "identity.get", nullptr, &out) != COHORT_OK) ++failures;
        cohort_free(out);
        if (cohort_track(a, "bad name", nullptr) != COHORT_EINVAL) ++failures;
        if (!strstr(cohort_last_error(a), "name")) ++failures;
      }
    });
  }
  for (auto &th : threads) th.join();
  assert_int_equal(failures.load(), 0);
  co::Json st = call_ok(a, "status");
  assert_int_equal(test::num(cJSON_GetObjectItem(st.get(), "history"), "events"), 4 * per_thread);
  cohort_close(a);
}

// The library's run-time version is the header's it was built with, in
// both forms; the build information names each library with its version.
UNIT_TEST(versions_at_run_time) {
  assert_string_equal(cohort_version(), COHORT_VERSION_STRING);
  assert_int_equal(cohort_version_number(), COHORT_VERSION_NUMBER);
  char text[32];
  snprintf(text, sizeof text, "%d.%d.%d", cohort_version_number() / 10000, cohort_version_number() / 100 % 100,
           cohort_version_number() % 100);
  assert_string_equal(text, cohort_version());
  assert_ptr_equal(cohort_version(), cohort_version());  // static, owned by the library

  const char *info = cohort_build_info();
  assert_non_null(info);
  assert_ptr_equal(info, cohort_build_info());
  std::string all = info;
  assert_int_equal(all.rfind(std::string("libcohort ") + COHORT_VERSION_STRING + " (", 0), 0);
  // One "name version" line each, as curl -V shows them.
  for (const char *name : {"libcurl ", "SQLite ", "mbed TLS ", "cJSON "}) {
    size_t at = all.find(std::string("\n") + name);
    if (at == std::string::npos) fail_msg("no %sline in:\n%s", name, info);
    char c = all[at + 1 + strlen(name)];
    if (c < '0' || c > '9') fail_msg("%sis not followed by a version in:\n%s", name, info);
  }
  assert_non_null(strstr(info, cJSON_Version()));
  assert_null(strchr(info, '\t'));
  assert_int_not_equal(all.back(), '\n');
}

// Any thread, at once, the first call included: one string for all.
UNIT_TEST(versions_from_many_threads) {
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  std::atomic<const char *> seen{nullptr};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        const char *info = cohort_build_info();
        const char *expected = nullptr;
        if (!seen.compare_exchange_strong(expected, info) && expected != info) ++wrong;
        if (strcmp(cohort_version(), COHORT_VERSION_STRING) != 0) ++wrong;
        if (cohort_version_number() != COHORT_VERSION_NUMBER) ++wrong;
      }
    });
  }
  for (auto &th : threads) th.join();
  assert_non_null(seen.load());
  assert_int_equal(wrong.load(), 0);
}
