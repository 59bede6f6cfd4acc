#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "platform/crypto.h"
#include "platform/sha256.h"
#include "test_util.h"
#include "unit_test.h"

using test::call_ok;
using test::num;
using test::str;

struct Fixture : test::AgentFixture {
  Fixture() : AgentFixture(1) {}
  void open(const std::string &extra_config = "") { open_with(extra_config); }
};

UNIT_TEST(id_survives_reopen) {
  Fixture f;
  f.open();
  std::string id = str(call_ok(f.agent, "identity.get").get(), "user_id");
  assert_true(co::platform::is_uuid(id));
  f.reopen();
  assert_string_equal(str(call_ok(f.agent, "identity.get").get(), "user_id").c_str(), id.c_str());
}

// A real child process opens the agent, reports the ID and is killed without
// closing anything: the ID must be the same afterwards.
UNIT_TEST(id_survives_process_kill) {
  test::TempDir dir;
  std::string cfg = dir.config();
  std::string id = test::run_and_kill(cfg, [](cohort_agent *a) {
    char *out = nullptr;
    cohort_call(a, "identity.get", nullptr, &out);
    co::Json j = co::json_parse(out);
    return test::str(j.get(), "user_id");
  });
  assert_int_equal(id.size(), 36);
  cohort_agent *a = nullptr;
  assert_int_equal(cohort_open(cfg.c_str(), &a), COHORT_OK);
  assert_string_equal(str(call_ok(a, "identity.get").get(), "user_id").c_str(), id.c_str());
  cohort_close(a);
}

UNIT_TEST(id_survives_database_loss) {
  Fixture f;
  f.open();
  std::string id = str(call_ok(f.agent, "identity.get").get(), "user_id");
  cohort_close(f.agent);
  f.agent = nullptr;
  std::string db = f.dir.path + "/data/cohort.db";
  {
    std::ofstream out(db, std::ios::trunc);
    out << "garbage garbage garbage garbage garbage garbage garbage garbage garbage";
  }
  remove((db + "-wal").c_str());
  f.open();
  assert_string_equal(str(call_ok(f.agent, "identity.get").get(), "user_id").c_str(), id.c_str());
}

UNIT_TEST(reset_makes_a_new_id_and_drops_history) {
  Fixture f;
  f.open("\"consent\":{\"required\":false}");
  std::string id = str(call_ok(f.agent, "identity.get").get(), "user_id");
  std::string session = str(call_ok(f.agent, "status").get(), "session_id");
  call_ok(f.agent, "identity.set_aliases", "{\"aliases\":[{\"tag\":\"tifa\",\"id\":\"abc\",\"priority\":0}]}");
  call_ok(f.agent, "track", "{\"name\":\"Videoview\"}");
  co::Json r = call_ok(f.agent, "identity.reset");
  std::string id2 = str(r.get(), "user_id");
  assert_true(co::platform::is_uuid(id2));
  assert_string_not_equal(id.c_str(), id2.c_str());
  co::Json st = call_ok(f.agent, "status");
  assert_string_equal(str(st.get(), "user_id").c_str(), id2.c_str());
  assert_string_not_equal(str(st.get(), "session_id").c_str(), session.c_str());
  // The old user's history is gone for the new user; its queued event still
  // leaves, under the old identity.
  co::Json h = call_ok(f.agent, "history.get");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h.get(), "events")), 0);
  assert_int_equal(test::num(st.get(), "queue_depth"), 1);
  co::Json ident = call_ok(f.agent, "identity.get");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ident.get(), "aliases")), 0);
  f.reopen();
  assert_string_equal(str(call_ok(f.agent, "identity.get").get(), "user_id").c_str(), id2.c_str());
}

UNIT_TEST(aliases_sorted_by_priority_and_upserted) {
  Fixture f;
  f.open();
  call_ok(f.agent, "identity.set_aliases",
          "{\"aliases\":[{\"tag\":\"idfa\",\"id\":\"6D92078A\",\"priority\":1},"
          "{\"tag\":\"internal_id\",\"id\":\"u-1\",\"priority\":0}]}");
  co::Json r = call_ok(f.agent, "identity.set_aliases", "{\"aliases\":[{\"tag\":\"tifa\",\"id\":\"t-9\",\"priority\":2},"
                                                         "{\"tag\":\"idfa\",\"id\":\"NEW\",\"priority\":3}]}");
  const cJSON *arr = cJSON_GetObjectItem(r.get(), "aliases");
  assert_int_equal(cJSON_GetArraySize(arr), 3);
  assert_string_equal(str(cJSON_GetArrayItem(arr, 0), "tag").c_str(), "internal_id");
  assert_string_equal(str(cJSON_GetArrayItem(arr, 1), "tag").c_str(), "tifa");
  assert_string_equal(str(cJSON_GetArrayItem(arr, 2), "id").c_str(), "NEW");
  f.reopen();
  co::Json g = call_ok(f.agent, "identity.get");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(g.get(), "aliases")), 3);
  r = call_ok(f.agent, "identity.set_aliases", "{\"replace\":true,\"aliases\":[{\"tag\":\"aaid\",\"id\":\"x\"}]}");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.get(), "aliases")), 1);
}

// Without a priority an alias ranks after those already set, in the order
// given; equal priorities keep the order they were set in, across restarts.
// Never the tags' alphabet. Setting a tag again keeps its rank.
UNIT_TEST(aliases_without_priority_rank_in_the_order_given) {
  Fixture f;
  f.open();
  auto tags = [&] {
    co::Json r = call_ok(f.agent, "identity.get");
    std::string out;
    for (const cJSON *a = cJSON_GetObjectItem(r.get(), "aliases")->child; a; a = a->next) {
      out += str(a, "tag") + ":" + std::to_string(static_cast<int>(num(a, "priority"))) + " ";
    }
    return out;
  };
  call_ok(f.agent, "identity.set_aliases", "{\"aliases\":[{\"tag\":\"tifa\",\"id\":\"t-1\"}]}");
  call_ok(f.agent, "identity.set_aliases", "{\"aliases\":[{\"tag\":\"email_sha256\",\"id\":\"a@b.c\",\"hash\":\"sha256\"}]}");
  assert_string_equal(tags().c_str(), "tifa:0 email_sha256:1 ");
  call_ok(f.agent, "identity.set_aliases", "{\"aliases\":[{\"tag\":\"tifa\",\"id\":\"t-2\"}]}");  // again: keeps its rank
  call_ok(f.agent, "identity.set_aliases",
          "{\"aliases\":[{\"tag\":\"zz\",\"id\":\"z\",\"priority\":1},{\"tag\":\"aa\",\"id\":\"a\",\"priority\":1},"
          "{\"tag\":\"mm\",\"id\":\"m\"}]}");
  assert_string_equal(tags().c_str(), "tifa:0 email_sha256:1 zz:1 aa:1 mm:2 ");
  f.reopen();
  assert_string_equal(tags().c_str(), "tifa:0 email_sha256:1 zz:1 aa:1 mm:2 ");
  call_ok(f.agent, "identity.set_aliases", "{\"replace\":true,\"aliases\":[{\"tag\":\"b\",\"id\":\"1\"},{\"tag\":\"a\",\"id\":\"2\"}]}");
  assert_string_equal(tags().c_str(), "b:0 a:1 ");
}

UNIT_TEST(email_is_hashed_never_stored) {
  Fixture f;
  f.open();
  co::Json r = call_ok(f.agent, "identity.set_aliases",
                       "{\"aliases\":[{\"tag\":\"email_sha256\",\"id\":\"  John.Doe@Example.COM \",\"hash\":\"sha256\"}]}");
  std::string expect = co::platform::sha256_hex("john.doe@example.com");
  assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(r.get(), "aliases"), 0), "id").c_str(),
                      expect.c_str());
  cohort_close(f.agent);
  f.agent = nullptr;
  std::string cmd = "grep -ril 'example.com' '" + f.dir.path + "' >/dev/null";
  assert_int_not_equal(system(cmd.c_str()), 0);  // nowhere on disk
  f.open();
}

static void expect_rejected(cohort_agent *a, const char *params, const char *field) {
  char *out = nullptr;
  assert_int_equal(cohort_call(a, "identity.set_aliases", params, &out), COHORT_EINVAL);
  assert_null(out);
  if (!strstr(cohort_last_error(a), field)) fail_msg("\"%s\" does not name %s", cohort_last_error(a), field);
}

UNIT_TEST(bad_aliases_rejected_and_change_nothing) {
  Fixture f;
  f.open();
  call_ok(f.agent, "identity.set_aliases", "{\"aliases\":[{\"tag\":\"tifa\",\"id\":\"keep\",\"priority\":0}]}");
  expect_rejected(f.agent, "{\"aliases\":[{\"tag\":\"email_sha256\",\"id\":\"abc\"}]}", "aliases[0].id");
  expect_rejected(f.agent, "{\"aliases\":[{\"tag\":\"tifa\",\"id\":\"x\"},{\"tag\":\"email\",\"id\":\"a@b.com\"}]}",
                  "aliases[1].id");
  expect_rejected(f.agent, "{\"aliases\":[{\"tag\":\"\",\"id\":\"x\"}]}", "aliases[0].tag");
  expect_rejected(f.agent, "{\"aliases\":[{\"tag\":\"a b\",\"id\":\"x\"}]}", "aliases[0].tag");
  expect_rejected(f.agent, "{\"aliases\":[{\"tag\":\"t\",\"id\":5}]}", "aliases[0].id");
  expect_rejected(f.agent, "{\"aliases\":[{\"tag\":\"t\",\"id\":\"x\",\"priority\":\"0\"}]}", "aliases[0].priority");
  expect_rejected(f.agent, "{\"aliases\":[{\"tag\":\"t\",\"id\":\"x\",\"hash\":\"md5\"}]}", "aliases[0].hash");
  expect_rejected(f.agent, "{\"aliases\":[{\"tag\":\"t\",\"id\":\"x\"},{\"tag\":\"t\",\"id\":\"y\"}]}", "aliases[1].tag");
  expect_rejected(f.agent, "{\"aliases\":[{\"tag\":\"t\",\"id\":\"x\",\"extra\":1}]}", "aliases[0].extra");
  expect_rejected(f.agent, "{\"aliases\":{}}", "aliases");
  expect_rejected(f.agent, "{}", "aliases");
  co::Json g = call_ok(f.agent, "identity.get");
  const cJSON *arr = cJSON_GetObjectItem(g.get(), "aliases");
  assert_int_equal(cJSON_GetArraySize(arr), 1);
  assert_string_equal(str(cJSON_GetArrayItem(arr, 0), "id").c_str(), "keep");
}

UNIT_TEST(session_renews_after_inactivity) {
  Fixture f;
  f.open("\"session\":{\"inactivity_timeout_s\":60}");
  co::Json a = call_ok(f.agent, "track", "{\"name\":\"A\"}");
  f.clock.advance_ms(59000);
  co::Json b = call_ok(f.agent, "track", "{\"name\":\"B\"}");
  assert_string_equal(str(a.get(), "session_id").c_str(), str(b.get(), "session_id").c_str());
  f.clock.advance_ms(59000);  // activity keeps it alive
  co::Json c = call_ok(f.agent, "track", "{\"name\":\"C\"}");
  assert_string_equal(str(b.get(), "session_id").c_str(), str(c.get(), "session_id").c_str());
  f.clock.advance_ms(61000);
  co::Json d = call_ok(f.agent, "track", "{\"name\":\"D\"}");
  assert_string_not_equal(str(c.get(), "session_id").c_str(), str(d.get(), "session_id").c_str());
  // A restart within the timeout continues the session; a wall-clock jump does not end it.
  f.clock.set_wall_ms(f.clock.wall_ms() + 365LL * 86400000);
  f.reopen();
  assert_string_equal(str(call_ok(f.agent, "status").get(), "session_id").c_str(), str(d.get(), "session_id").c_str());
}
