// Sender on a virtual clock with chosen draws: what each answer to a batch
// does to the record (status.last_sync), the back-off and the dead-letter
// count, when the batch is handed to storage, and that the key never reaches
// a text it keeps or logs.
#include <vector>

#include "sender.h"
#include "test_util.h"
#include "unit_test.h"

using co::Sender;
using co::sync_plan::Verdict;

namespace {

constexpr const char *kKey = "sk-secret/key";

struct Harness {
  Sender sender;
  co::platform::Logger log;
  std::vector<std::string> lines;
  std::vector<Verdict> recorded;  // what the storage step was asked to record
  std::string store_error;        // what the storage step answers ("": it took it)
  int draws = 0;

  Harness() {
    log.set_level(co::platform::LogLevel::debug);
    log.set_sink([](void *user, co::platform::LogLevel,
                    const char *line) { static_cast<Harness *>(user)->lines.push_back(line); },
                 this);
  }

  Sender::Settled answer(int status, const std::string &body, const char *type = "application/json",
                         int64_t retry_after_s = -1, int64_t now = 1000) {
    co::platform::HttpResponse r;
    r.status = status;
    r.body = body;
    r.content_type = type;
    r.retry_after_s = retry_after_s;
    Sender::Attempt at;
    at.now_mono = now;
    at.random = [this] {
      ++draws;
      return 0xffffffffu;  // the longest jittered delay
    };
    at.api_key = kKey;
    at.queued = 7;
    at.record = [this](Verdict v) {
      recorded.push_back(v);
      return store_error;
    };
    return sender.settle(r, 10, at, log);
  }

  co::Json last_sync() const {
    co::Json out(cJSON_CreateObject());
    sender.describe(out.get());
    return out;
  }
  bool logged(const char *text) const {
    for (const std::string &l : lines) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }
  bool key_anywhere() const {
    std::string all = co::json_print(last_sync().get());
    for (const std::string &l : lines) all += l;
    return all.find("sk-secret") != std::string::npos || all.find("sk-secret%2Fkey") != std::string::npos;
  }
};

const cJSON *field(const co::Json &doc, const char *name) {
  return cJSON_GetObjectItemCaseSensitive(doc.get(), name);
}

}  // namespace

UNIT_TEST(nothing_attempted_reads_as_nulls) {
  Harness h;
  co::Json s = h.last_sync();
  assert_true(cJSON_IsNull(field(s, "ok")));
  assert_true(cJSON_IsNull(field(s, "at")));
  assert_true(cJSON_IsNull(field(s, "error")));
  assert_int_equal(static_cast<int>(field(s, "sent")->valuedouble), 0);
  assert_false(h.sender.failing());
}

UNIT_TEST(delivered_leaves_with_the_answer_and_clears_the_backoff) {
  Harness h;
  h.answer(503, "{}");  // a failure first: it backs off
  assert_true(h.sender.backoff().waiting(1000));
  h.sender.attempted(1700000000000);
  Sender::Settled s = h.answer(200, "{\"user_id\":\"u\",\"cohorts\":[\"1\"]}", "application/json; charset=utf-8");
  assert_true(s.leaves);
  assert_non_null(s.answer.get());
  assert_int_equal(h.recorded.size(), 1);
  assert_int_equal(static_cast<int>(h.recorded[0]), static_cast<int>(Verdict::delivered));
  assert_false(h.sender.backoff().waiting(1000));
  assert_int_equal(h.sender.sent(), 10);
  co::Json st = h.last_sync();
  assert_true(cJSON_IsTrue(field(st, "ok")));
  assert_string_equal(field(st, "at")->valuestring, "2023-11-14T22:13:20.000Z");
  assert_true(cJSON_IsNull(field(st, "error")));
  assert_true(cJSON_IsNull(field(st, "http_status")));
}

UNIT_TEST(an_unreadable_2xx_keeps_the_batch) {
  Harness h;
  h.sender.attempted(1700000000000);
  for (const char *type : {"text/html", "application/json"}) {
    const char *body = strcmp(type, "text/html") == 0 ? "{}" : "[1,2]";  // not JSON by type, not an object
    Sender::Settled s = h.answer(200, body, type);
    assert_false(s.leaves);
    assert_null(s.answer.get());
  }
  assert_true(h.recorded.empty());  // nothing asked of storage: the events stay queued
  assert_true(h.sender.failing());
  assert_string_equal(h.sender.error().c_str(), "network: malformed answer from the CCS API");
  assert_true(h.sender.backoff().waiting(1000));
  assert_int_equal(h.sender.sent(), 0);
}

UNIT_TEST(a_configuration_fault_is_named_warned_once_and_waits_up_to_an_hour) {
  Harness h;
  struct {
    int status;
    const char *name;
    const char *hint;
  } cases[] = {{401, "unauthorized", "api.key"},
               {403, "forbidden", "api.key"},
               {404, "not_found", "api.ccs_url"},
               {405, "method_not_allowed", "api.ccs_url"},
               {415, "rejected", "api.ccs_url"}};
  for (const auto &c : cases) {
    Harness one;
    Sender::Settled s = one.answer(c.status, "{\"error\":{\"message\":\"bad key sk-secret/key\"}}");
    assert_false(s.leaves);
    assert_true(one.recorded.empty());
    assert_string_equal(one.sender.error().c_str(), c.name);
    co::Json st = one.last_sync();
    assert_int_equal(static_cast<int>(field(st, "http_status")->valuedouble), c.status);
    assert_non_null(strstr(field(st, "detail")->valuestring, c.hint));
    assert_false(one.key_anywhere());
  }
  // Hourly: with the longest draw, far past the 5-minute cap of a 5xx.
  for (int i = 0; i < 20; ++i) h.answer(401, "{}");
  int64_t wait = h.sender.backoff().retry_at() - 1000;
  assert_true(wait > co::Backoff::kCapMs && wait <= co::Backoff::kConfigFaultCapMs);
  int warnings = 0;
  for (const std::string &l : h.lines) warnings += l.find("CCS API: unauthorized") != std::string::npos;
  assert_int_equal(warnings, 1);  // once, not at every attempt
}

UNIT_TEST(retry_after_is_honoured) {
  Harness h;
  h.answer(429, "{}", "application/json", 120, 5000);
  assert_true(h.sender.backoff().retry_at() >= 5000 + 120 * 1000);
  h.sender.backoff().skip_own_delay();  // an explicit sync.now never skips the server's word
  assert_true(h.sender.backoff().waiting(5000 + 119 * 1000));
}

UNIT_TEST(a_refused_batch_is_dead_lettered_with_the_api_words) {
  Harness h;
  Sender::Settled s =
      h.answer(400, "{\"error\":{\"message\":\"events[3].name: bad for sk-secret/key\",\"cause\":\"x\"}}");
  assert_true(s.leaves);
  assert_null(s.answer.get());  // nothing of a refusal is cached
  assert_int_equal(static_cast<int>(h.recorded.at(0)), static_cast<int>(Verdict::refused));
  assert_int_equal(h.sender.dead_letters(), 1);
  assert_false(h.sender.backoff().waiting(1000));  // the next batch goes at once
  assert_string_equal(h.sender.error().c_str(), "HTTP 400: events[3].name: bad for [redacted]");
  assert_true(h.logged("dead-lettered"));
  assert_false(h.key_anywhere());
  for (int i = 0; i < 150; ++i) h.answer(422, "{}");
  assert_int_equal(h.sender.dead_letters(), Sender::kMaxDeadLetters);  // as many as are kept
}

UNIT_TEST(a_store_that_refuses_the_record_keeps_the_batch_and_backs_off) {
  Harness h;
  h.store_error = "disk I/O error";
  Sender::Settled s = h.answer(200, "{\"cohorts\":[]}");
  assert_false(s.leaves);
  assert_null(s.answer.get());
  assert_int_equal(h.recorded.size(), 1);
  assert_string_equal(h.sender.error().c_str(), "storage: disk I/O error");
  assert_int_equal(h.sender.sent(), 0);
  assert_true(h.sender.backoff().waiting(1000));  // never a hot loop
  assert_int_equal(h.draws, 1);
}

UNIT_TEST(a_success_draws_nothing) {
  // The random source is asked only when an attempt is put off: the agent's
  // ids come from the same source, and a draw per batch would shift them.
  Harness h;
  h.answer(200, "{}");
  h.answer(400, "{}");
  assert_int_equal(h.draws, 0);
  h.answer(500, "{}");
  assert_int_equal(h.draws, 1);
}
