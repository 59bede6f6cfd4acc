// The judge of a definitions document from a URL (definitions_doc.h): each
// refusal with its reason, "unchanged" for the document in force, and what it
// hands on (the definitions the rule parser accepts); and when to fetch next
// (Cache-Control max-age). Signed fixtures: tests/unit/data/make-fixtures.sh.
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>


#include "definitions_doc.h"
#include "json.h"
#include "platform/sha256.h"
#include "rules/parser.h"
#include "test_util.h"
#include "unit_test.h"

#ifndef COHORT_TEST_DATA
#error "COHORT_TEST_DATA must be the path of tests/unit/data"
#endif

namespace {

using co::DefinitionsCheck;
using co::DefinitionsInForce;
using co::DefinitionsVerdict;

using test::slurp;
std::string doc(const std::string &name) {
  return slurp(std::string(COHORT_TEST_DATA) + "/definitions/" + name);
}

const std::vector<co::platform::PublicKey> &keys() {
  static std::vector<co::platform::PublicKey> k = [] {
    std::vector<co::platform::PublicKey> out;
    std::string dir = std::string(COHORT_TEST_DATA) + "/signature/";
    co::platform::SignatureStatus st = co::platform::load_public_keys({dir + "pub2.pem", dir + "pub1.pem"}, &out);
    if (!st.ok) fail_msg("%s", st.reason.c_str());
    return out;
  }();
  return k;
}

// The fixture `name` (and its .sig) against the set in force.
DefinitionsCheck check(const std::string &name, const DefinitionsInForce &in_force = {}) {
  return co::check_definitions_doc(doc(name), doc(name + ".sig"), keys(), in_force);
}

DefinitionsInForce in_force(const std::string &name, int64_t version) {
  return DefinitionsInForce{version, co::platform::sha256_hex(doc(name))};
}

void assert_refused(const DefinitionsCheck &c, const std::string &reason) {
  if (c.verdict != DefinitionsVerdict::refuse) fail_msg("not refused; expected \"%s\"", reason.c_str());
  if (c.reason != reason) fail_msg("\"%s\" is not \"%s\"", c.reason.c_str(), reason.c_str());
  assert_string_equal(c.definitions.c_str(), "");
}

// The first document (nothing from the URL in force, or a stored set
// re-verified at start): accepted, handed on without its version.
UNIT_TEST(first_document_is_accepted) {
  DefinitionsCheck c = check("v1.json");
  assert_int_equal(static_cast<int>(c.verdict), static_cast<int>(DefinitionsVerdict::accept));
  assert_string_equal(c.reason.c_str(), "");
  assert_int_equal(c.version, 1);
  assert_string_equal(c.sha256.c_str(), co::platform::sha256_hex(doc("v1.json")).c_str());
  assert_int_equal(c.key_index, 1);  // signed with pub1, the second key
  co::Json defs = co::json_parse(c.definitions);
  assert_non_null(defs.get());
  assert_null(cJSON_GetObjectItemCaseSensitive(defs.get(), "version"));
  co::rules::Definitions parsed;
  assert_true(co::rules::parse_definitions(c.definitions, &parsed).ok());
  assert_int_equal(parsed.cohorts.size(), 1);
  assert_string_equal(parsed.cohorts[0].id.c_str(), "1001");
}

UNIT_TEST(newer_version_is_accepted) {
  DefinitionsCheck c = check("v2.json", in_force("v1.json", 1));
  assert_int_equal(static_cast<int>(c.verdict), static_cast<int>(DefinitionsVerdict::accept));
  assert_int_equal(c.version, 2);
}

UNIT_TEST(same_document_is_unchanged) {
  DefinitionsCheck c = check("v2.json", in_force("v2.json", 2));
  assert_int_equal(static_cast<int>(c.verdict), static_cast<int>(DefinitionsVerdict::unchanged));
  assert_string_equal(c.reason.c_str(), "");
  assert_int_equal(c.version, 2);
  assert_string_equal(c.definitions.c_str(), "");
}

UNIT_TEST(older_version_is_refused) {
  assert_refused(check("v1.json", in_force("v2.json", 2)), "version 1 is older than version 2 in force");
}

UNIT_TEST(same_version_other_bytes_is_refused) {
  assert_refused(check("v2-other.json", in_force("v2.json", 2)), "version 2 already in force with other content");
}

// The signature is checked before anything of the document is read.
UNIT_TEST(bad_signature_is_refused) {
  std::string v2 = doc("v2.json");
  assert_refused(co::check_definitions_doc(v2, doc("v1.json.sig"), keys(), {}),
                 "signature does not verify against any of 2 keys");
  // Even the same bytes as in force: the signature decides first.
  assert_refused(co::check_definitions_doc(v2, doc("v1.json.sig"), keys(), in_force("v2.json", 2)),
                 "signature does not verify against any of 2 keys");
  assert_refused(co::check_definitions_doc(v2, "", keys(), {}), "signature: empty");
  std::vector<co::platform::PublicKey> other{keys()[0]};
  assert_refused(co::check_definitions_doc(v2, doc("v2.json.sig"), other, {}),
                 "signature does not verify against the public key");
}

UNIT_TEST(body_over_4_mib_is_refused) {
  std::string big(co::kMaxDefinitionsDocBytes + 1, ' ');
  assert_refused(co::check_definitions_doc(big, doc("v2.json.sig"), keys(), {}),
                 "document: 4194305 bytes, over the limit of 4194304 (4 MiB)");
  // At the limit, the size passes: the signature is what refuses it.
  big.pop_back();
  assert_refused(co::check_definitions_doc(big, doc("v2.json.sig"), keys(), {}),
                 "signature does not verify against any of 2 keys");
}

// Signed by the publisher, but not a definitions document.
UNIT_TEST(signed_invalid_documents_are_refused) {
  assert_refused(check("v3-truncated.json"), "document: not valid JSON (it ends too early: truncated?)");
  assert_refused(check("not-json.json"), "document: not valid JSON (at byte 27)");
  assert_refused(check("not-object.json"), "document: expected a JSON object");
  assert_refused(check("no-version.json"), "version: missing (a top-level integer, higher in each new document)");
  assert_refused(check("version-string.json"), "version: must be an integer from 0 to 9007199254740991, not \"3\"");
  assert_refused(check("version-fraction.json"), "version: must be an integer from 0 to 9007199254740991, not 3.5");
  assert_refused(check("version-twice.json"), "version: given twice");
  // The rule parser's own messages: the same checks as definitions.put.
  assert_refused(check("extra-key.json"), "published: unknown key");
  DefinitionsCheck bad_rule = check("v3-bad-rule.json", in_force("v2.json", 2));
  assert_int_equal(static_cast<int>(bad_rule.verdict), static_cast<int>(DefinitionsVerdict::refuse));
  assert_non_null(strstr(bad_rule.reason.c_str(), "cohort \"1001\": rule.conditions[0].operator"));
}

// What the API emulator serves, as it is and under each content fault
// (tests/emulator/definitions.py), signed with the demo key: the refusal
// each will meet once the agent fetches it.
UNIT_TEST(emulator_documents_meet_their_refusals) {
  std::string dir = std::string(COHORT_TEST_DATA) + "/emulator/";
  std::vector<co::platform::PublicKey> demo;
  assert_true(
      co::platform::load_public_keys({std::string(COHORT_SAMPLES) + "/definitions/keys/demo-pub.pem"}, &demo).ok);
  auto judge = [&](const std::string &name, const DefinitionsInForce &now) {
    return co::check_definitions_doc(slurp(dir + name + ".json"), slurp(dir + name + ".json.sig"), demo, now);
  };
  DefinitionsCheck first = judge("published", {});
  assert_int_equal(static_cast<int>(first.verdict), static_cast<int>(DefinitionsVerdict::accept));
  co::rules::Definitions parsed;
  assert_true(co::rules::parse_definitions(first.definitions, &parsed).ok());
  assert_int_equal(parsed.cohorts.size(), 5);  // samples/definitions/cohorts.json
  DefinitionsInForce now{first.version, first.sha256};
  assert_int_equal(static_cast<int>(judge("published", now).verdict), static_cast<int>(DefinitionsVerdict::unchanged));
  assert_refused(judge("bad_signature", now), "signature does not verify against the public key");
  assert_refused(judge("wrong_key", now), "signature does not verify against the public key");
  assert_refused(judge("older_version", now), "version 0 is older than version 1 in force");
  assert_refused(judge("same_version", now), "version 1 already in force with other content");
  assert_refused(judge("signed_truncated", now), "document: not valid JSON (it ends too early: truncated?)");
  assert_refused(judge("invalid_json", now), "document: not valid JSON (it ends too early: truncated?)");
  DefinitionsCheck bad_rule = judge("invalid_rules", now);
  assert_int_equal(static_cast<int>(bad_rule.verdict), static_cast<int>(DefinitionsVerdict::refuse));
  assert_non_null(strstr(bad_rule.reason.c_str(), "cohort \"1001\": rule.conditions[0].operator"));
}

UNIT_TEST(max_age_is_read_robustly) {
  auto age = [](const char *header) { return co::cache_control_max_age(header).value_or(-1); };
  assert_int_equal(age(""), -1);
  assert_int_equal(age("max-age=600"), 600);
  assert_int_equal(age("public, max-age=600"), 600);
  assert_int_equal(age("public,max-age=600,must-revalidate"), 600);
  assert_int_equal(age("Max-Age=30"), 30);
  assert_int_equal(age("max-age=\"120\""), 120);
  assert_int_equal(age(" max-age = 45 "), 45);
  assert_int_equal(age("no-cache=\"a, max-age=1\", max-age=500"), 500);
  assert_int_equal(age("s-maxage=10"), -1);
  assert_int_equal(age("s-maxage=10, max-age=100"), 100);
  assert_int_equal(age("xmax-age=5"), -1);
  assert_int_equal(age("max-age=10, max-age=5"), 10);
  assert_int_equal(age("max-age=abc"), -1);
  assert_int_equal(age("max-age=30x"), -1);
  assert_int_equal(age("max-age=-5"), -1);
  assert_int_equal(age("max-age="), -1);
  assert_int_equal(age("max-age"), -1);
  assert_int_equal(age("max-age=99999999999999999999999"), int64_t{1} << 31);
  assert_int_equal(age("\x01\xff garbage ,,, \"unterminated"), -1);
}

UNIT_TEST(next_fetch_honours_a_shorter_max_age) {
  assert_int_equal(co::next_definitions_fetch_s(3600, ""), 3600);
  assert_int_equal(co::next_definitions_fetch_s(3600, "public, max-age=600"), 600);
  assert_int_equal(co::next_definitions_fetch_s(3600, "max-age=7200"), 3600);
  assert_int_equal(co::next_definitions_fetch_s(3600, "max-age=garbage"), 3600);
  // A server cannot make the fleet fetch constantly...
  assert_int_equal(co::next_definitions_fetch_s(3600, "max-age=0"), co::kMinDefinitionsRefreshS);
  assert_int_equal(co::next_definitions_fetch_s(3600, "max-age=59"), 60);
  assert_int_equal(co::next_definitions_fetch_s(3600, "max-age=61"), 61);
  // ... nor slower than the device's own setting.
  assert_int_equal(co::next_definitions_fetch_s(30, "max-age=0"), 30);
  assert_int_equal(co::next_definitions_fetch_s(30, "max-age=10"), 30);
}

}  // namespace
