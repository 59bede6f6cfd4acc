// Identity: a new or lost database, the identity file, the alias set as
// identity.set_aliases makes it, a new epoch, and the identity a batch of an
// earlier epoch leaves under.
#include "agent.h"
#include "platform/files.h"
#include "platform/sha256.h"
#include "store_fixture.h"
#include "test_util.h"
#include "unit_test.h"

using co::Identity;

namespace {

struct Fixture : test::StoreFixture {
  std::unique_ptr<co::platform::Entropy> entropy = co::platform::make_system_entropy();
  Identity id;
  Fixture() { id.start(store, log, *entropy, dir.path); }
};

co::Outcome next_aliases(const Identity &id, const char *params, std::vector<co::Alias> &next) {
  co::Json json = co::json_parse(params);
  const co::ParamList *decl = co::Agent::method_params("identity.set_aliases");
  assert_non_null(decl);
  co::Outcome checked = co::check_params(*decl, json.get());
  assert_true(checked.ok());
  return id.next_aliases(co::Params(*decl, json.get()), next);
}

std::string text(const cJSON *o) {
  return co::json_print_checked(o);
}

}  // namespace

UNIT_TEST(a_new_database_gets_an_id_and_keeps_it) {
  Fixture f;
  assert_true(f.id.load().ok());
  assert_true(co::platform::is_uuid(f.id.user_id()));
  assert_int_equal(f.id.epoch(), 1);
  std::string file;
  assert_true(co::platform::read_file(f.dir.path + "/identity", file, 256));
  assert_string_equal(file.c_str(), (f.id.user_id() + "\n").c_str());
  Identity again;
  again.start(f.store, f.log, *f.entropy, f.dir.path);
  assert_true(again.load().ok());
  assert_string_equal(again.user_id().c_str(), f.id.user_id().c_str());
  assert_int_equal(again.epoch(), 1);
}

UNIT_TEST(a_lost_database_takes_the_id_from_the_file) {
  Fixture f;
  assert_true(
      co::platform::write_file_atomic(f.dir.path + "/identity", " 2008C38F-DECE-4570-976D-87593ED001C3\n", 0600));
  assert_true(f.id.load().ok());
  assert_string_equal(f.id.user_id().c_str(), "2008c38f-dece-4570-976d-87593ed001c3");
}

UNIT_TEST(aliases_rank_hash_and_persist) {
  Fixture f;
  assert_true(f.id.load().ok());
  std::vector<co::Alias> next;
  assert_true(next_aliases(f.id,
                           "{\"aliases\":[{\"tag\":\"device\",\"id\":\"d1\"},"
                           "{\"tag\":\"email_sha256\",\"id\":\" A@B.example \",\"hash\":\"sha256\"}]}",
                           next)
                  .ok());
  assert_int_equal(next.size(), 2);
  assert_string_equal(next[0].tag.c_str(), "device");
  assert_int_equal(next[0].priority, 0);
  assert_int_equal(next[1].priority, 1);  // after the one before it
  assert_string_equal(next[1].id.c_str(), co::platform::sha256_hex("a@b.example").c_str());
  assert_true(f.id.set_aliases(next).ok());
  // Set again, a tag keeps its rank; a raw address is refused.
  assert_true(next_aliases(f.id, "{\"aliases\":[{\"tag\":\"device\",\"id\":\"d2\"}]}", next).ok());
  assert_int_equal(next.size(), 2);
  assert_string_equal(next[0].id.c_str(), "d2");
  assert_int_equal(next[0].priority, 0);
  co::Outcome raw = next_aliases(f.id, "{\"aliases\":[{\"tag\":\"mail\",\"id\":\"a@b.example\"}]}", next);
  assert_int_equal(raw.status, COHORT_EINVAL);
  Identity again;
  again.start(f.store, f.log, *f.entropy, f.dir.path);
  assert_true(again.load().ok());
  assert_int_equal(again.aliases().size(), 2);
  assert_string_equal(again.aliases()[1].tag.c_str(), "email_sha256");
}

UNIT_TEST(an_earlier_epoch_leaves_under_its_own_identity) {
  Fixture f;
  assert_true(f.id.load().ok());
  std::vector<co::Alias> next;
  assert_true(next_aliases(f.id, "{\"aliases\":[{\"tag\":\"device\",\"id\":\"d1\"}]}", next).ok());
  assert_true(f.id.set_aliases(next).ok());
  std::string first = f.id.user_id();
  assert_true(f.store.begin());
  assert_true(f.id.record_next(2, "0b2a3c4d-0000-4000-8000-000000000002"));
  assert_true(f.store.commit());
  f.id.became("0b2a3c4d-0000-4000-8000-000000000002", 2);
  assert_int_equal(f.id.aliases().size(), 0);
  co::Json old(cJSON_CreateObject()), now(cJSON_CreateObject());
  f.id.add_batch_identity(1, old.get());
  f.id.add_batch_identity(2, now.get());
  assert_string_equal(text(old.get()).c_str(), "{\"aliases\":[{\"tag\":\"device\",\"id\":\"d1\",\"priority\":0}]}");
  assert_string_equal(text(now.get()).c_str(), "{\"user_id\":\"0b2a3c4d-0000-4000-8000-000000000002\"}");
  // The CCS API's own id for the current epoch is adopted, and kept.
  f.id.adopt("0b2a3c4d-0000-4000-8000-000000000003");
  Identity again;
  again.start(f.store, f.log, *f.entropy, f.dir.path);
  assert_true(again.load().ok());
  assert_string_equal(again.user_id().c_str(), "0b2a3c4d-0000-4000-8000-000000000003");
  assert_int_equal(again.epoch(), 2);
  assert_true(first != again.user_id());
}
