// The detached-signature verifier (platform/signature.h) against what the
// openssl CLI makes: keys, signatures as a publisher writes them, and what a
// verifier must refuse (another key, other bytes, a cut or mangled signature
// file, keys of the wrong kind). Fixtures: tests/unit/data/make-fixtures.sh.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>


#include <mbedtls/base64.h>

#include "platform/signature.h"
#include "test_util.h"
#include "unit_test.h"

#ifndef COHORT_TEST_DATA
#error "COHORT_TEST_DATA must be the path of tests/unit/data"
#endif

namespace {

using co::platform::PublicKey;
using co::platform::SignatureStatus;
using co::platform::verify_signature;

std::string data_path(const std::string &name) {
  return std::string(COHORT_TEST_DATA) + "/signature/" + name;
}

using test::slurp;
std::string fixture(const std::string &name) {
  return slurp(data_path(name));
}

std::vector<PublicKey> keys(const std::vector<std::string> &names) {
  std::vector<std::string> paths;
  for (const std::string &n : names) paths.push_back(data_path(n));
  std::vector<PublicKey> out;
  SignatureStatus st = co::platform::load_public_keys(paths, &out);
  if (!st.ok) fail_msg("%s", st.reason.c_str());
  return out;
}

void assert_refused(const SignatureStatus &st, const std::string &reason) {
  if (st.ok) fail_msg("accepted; expected \"%s\"", reason.c_str());
  if (st.reason.find(reason) == std::string::npos) fail_msg("\"%s\" lacks \"%s\"", st.reason.c_str(), reason.c_str());
}

std::string base64(const std::string &bytes) {
  unsigned char out[512];
  size_t len = 0;
  assert_int_equal(
      mbedtls_base64_encode(out, sizeof out, &len, reinterpret_cast<const unsigned char *>(bytes.data()), bytes.size()),
      0);
  return std::string(reinterpret_cast<const char *>(out), len);
}

UNIT_TEST(good_signature_verifies) {
  SignatureStatus st = verify_signature(fixture("doc.json"), fixture("doc.json.sig"), keys({"pub1.pem"}));
  assert_true(st.ok);
  assert_string_equal(st.reason.c_str(), "");
  assert_int_equal(st.key_index, 0);
}

// The exact bytes: one byte more, or one changed, and the signature fails.
UNIT_TEST(other_bytes_do_not_verify) {
  std::string doc = fixture("doc.json");
  std::string sig = fixture("doc.json.sig");
  auto pub = keys({"pub1.pem"});
  assert_refused(verify_signature(doc + "\n", sig, pub), "signature does not verify against the public key");
  doc[3] = static_cast<char>(doc[3] ^ 1);
  assert_refused(verify_signature(doc, sig, pub), "signature does not verify against the public key");
  // A genuine signature of another document by the same key.
  assert_refused(verify_signature(fixture("doc.json"), fixture("other.json.sig"), keys({"pub1.pem", "pub2.pem"})),
                 "signature does not verify against any of 2 keys");
}

UNIT_TEST(wrong_key_does_not_verify) {
  assert_refused(verify_signature(fixture("doc.json"), fixture("doc.json.sig"), keys({"pub2.pem"})),
                 "signature does not verify against the public key");
}

// Rotation: the device holds both keys; either signature verifies, and the
// status says which key it was.
UNIT_TEST(rotated_keys_each_verify) {
  auto both = keys({"pub1.pem", "pub2.pem"});
  SignatureStatus old_key = verify_signature(fixture("doc.json"), fixture("doc.json.sig"), both);
  assert_true(old_key.ok);
  assert_int_equal(old_key.key_index, 0);
  SignatureStatus new_key = verify_signature(fixture("doc.json"), fixture("doc.json.key2.sig"), both);
  assert_true(new_key.ok);
  assert_int_equal(new_key.key_index, 1);
}

// `base64` wraps at 76 columns and ends with a newline; `-w0` output may get
// a newline or spaces added by an editor: all the same signature.
UNIT_TEST(whitespace_after_and_line_breaks_are_fine) {
  auto pub = keys({"pub1.pem"});
  std::string doc = fixture("doc.json");
  std::string sig = fixture("doc.json.sig");
  assert_true(verify_signature(doc, fixture("doc.json.wrapped.sig"), pub).ok);
  assert_true(verify_signature(doc, sig + "\n", pub).ok);
  assert_true(verify_signature(doc, sig + " \r\n\t\n", pub).ok);
  assert_true(verify_signature(doc, sig.substr(0, 64) + "\r\n" + sig.substr(64), pub).ok);
}

UNIT_TEST(truncated_signature_file_is_refused) {
  auto pub = keys({"pub1.pem"});
  std::string doc = fixture("doc.json");
  std::string cut = fixture("doc.json.truncated.sig");
  assert_int_equal(cut.size(), 40);
  // 40 characters is whole base64, but not a whole DER signature.
  assert_refused(verify_signature(doc, cut, pub), "signature: not a DER ECDSA signature (30 bytes: truncated?)");
  assert_refused(verify_signature(doc, cut.substr(0, 39), pub),
                 "signature: not base64 (39 characters, not a multiple of 4: truncated?)");
}

UNIT_TEST(not_base64_is_refused) {
  auto pub = keys({"pub1.pem"});
  std::string doc = fixture("doc.json");
  std::string sig = fixture("doc.json.sig");
  assert_refused(verify_signature(doc, "", pub), "signature: empty");
  assert_refused(verify_signature(doc, "\n", pub), "signature: empty");
  std::string bang = sig;
  bang[7] = '!';
  assert_refused(verify_signature(doc, bang, pub), "signature: not base64 (byte 7 is '!')");
  assert_refused(verify_signature(doc, " " + sig, pub), "signature: not base64 (byte 0 is 0x20)");
  assert_refused(verify_signature(doc, sig.substr(0, 10) + " " + sig.substr(10), pub),
                 "signature: not base64 (byte 10 is 0x20)");
  // base64url is another alphabet.
  std::string url = sig;
  url[5] = '-';
  assert_refused(verify_signature(doc, url, pub), "signature: not base64 (byte 5 is '-')");
  // Padding only at the end.
  assert_refused(verify_signature(doc, "AB=A" + sig, pub), "signature: not base64 (byte 3 is 'A')");
  // The raw DER (what `openssl dgst -sign` writes before base64).
  unsigned char der[128];
  size_t len = 0;
  assert_int_equal(
      mbedtls_base64_decode(der, sizeof der, &len, reinterpret_cast<const unsigned char *>(sig.data()), sig.size()), 0);
  assert_refused(verify_signature(doc, std::string(reinterpret_cast<char *>(der), len), pub),
                 "signature: not base64 (byte 2 is 0x02)");
  assert_refused(verify_signature(doc, std::string(2000, 'A'), pub),
                 "signature: 2000 bytes, longer than any P-256 signature");
}

// Well-formed base64 of something that is not SEQUENCE { INTEGER, INTEGER }.
UNIT_TEST(not_a_der_signature_is_refused) {
  auto pub = keys({"pub1.pem"});
  std::string doc = fixture("doc.json");
  std::string der;
  assert_true(co::platform::decode_signature(fixture("doc.json.sig"), &der).ok);
  assert_refused(verify_signature(doc, base64(der + std::string(1, '\0')), pub),
                 "signature: not a DER ECDSA signature");
  assert_refused(verify_signature(doc, base64("hello, world"), pub), "signature: not a DER ECDSA signature");
  assert_true(verify_signature(doc, base64(der), pub).ok);
}

UNIT_TEST(keys_of_the_wrong_kind_are_refused) {
  std::vector<PublicKey> out;
  PublicKey key;
  assert_refused(co::platform::parse_public_key(fixture("p384-pub.pem"), "k", &key), "k: not a P-256 key (secp384r1)");
  assert_refused(co::platform::parse_public_key(fixture("rsa-pub.pem"), "k", &key),
                 "k: an RSA key, not an EC P-256 key");
  assert_refused(co::platform::parse_public_key(fixture("key1.pem"), "k", &key), "k: a private key, not a public key");
  assert_refused(co::platform::parse_public_key("hello", "k", &key),
                 "k: not PEM (no \"-----BEGIN PUBLIC KEY-----\" line)");
  assert_refused(
      co::platform::parse_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "k", &key),
      "k: not a valid PEM public key (");
  assert_refused(
      co::platform::parse_public_key("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "k", &key),
      "k: a certificate, not a public key");
  assert_true(co::platform::parse_public_key(fixture("pub1.pem"), "k", &key).ok);
  assert_string_equal(key.name.c_str(), "k");
  assert_int_equal(key.der.size(), 91);  // a P-256 SubjectPublicKeyInfo
}

// Key files: each error names the key by its place and path; on any error
// the keys already held stay as they were.
UNIT_TEST(key_files_are_named_in_errors) {
  std::vector<PublicKey> out = keys({"pub1.pem"});
  assert_refused(co::platform::load_public_keys({data_path("pub1.pem"), data_path("p384-pub.pem")}, &out),
                 "public key 2 (" + data_path("p384-pub.pem") + "): not a P-256 key (secp384r1)");
  assert_refused(co::platform::load_public_keys({data_path("missing.pem")}, &out),
                 "public key 1 (" + data_path("missing.pem") + "): cannot read: No such file or directory");
  assert_refused(co::platform::load_public_keys({COHORT_TEST_DATA}, &out), "): cannot read: Is a directory");
  assert_refused(co::platform::load_public_keys({}, &out), "no public key");
  assert_int_equal(out.size(), 1);
  assert_string_equal(out[0].name.c_str(), ("public key 1 (" + data_path("pub1.pem") + ")").c_str());
  assert_refused(verify_signature(fixture("doc.json"), fixture("doc.json.sig"), {}), "no public key");
}

// scripts/sign-definitions.sh with the demo key of samples/: what it writes
// is what the agent verifies.
UNIT_TEST(sign_script_output_verifies) {
  std::vector<PublicKey> demo;
  SignatureStatus st =
      co::platform::load_public_keys({std::string(COHORT_SAMPLES) + "/definitions/keys/demo-pub.pem"}, &demo);
  assert_true(st.ok);
  assert_true(verify_signature(fixture("demo.json"), fixture("demo.json.sig"), demo).ok);
  assert_false(verify_signature(fixture("demo.json"), fixture("demo.json.sig"), keys({"pub1.pem"})).ok);
}

// The script itself, run now: what it writes verifies; what it refuses
// (a document without an integer version, a key that is not P-256) leaves no
// .sig behind.
UNIT_TEST(sign_script_signs_and_refuses) {
  const char *base = std::getenv("TMPDIR");
  std::string dir = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/cohort-sign-XXXXXX";
  assert_non_null(mkdtemp(&dir[0]));
  std::string script = std::string(COHORT_SOURCE_DIR) + "/scripts/sign-definitions.sh";
  std::string demo_key = std::string(COHORT_SAMPLES) + "/definitions/keys/demo-key.pem";
  auto sign = [&](const std::string &doc, const std::string &key) {
    std::ofstream(dir + "/doc.json") << doc;
    std::remove((dir + "/doc.json.sig").c_str());
    std::string cmd = "'" + script + "' '" + dir + "/doc.json' '" + key + "' >/dev/null 2>'" + dir + "/err'";
    int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  auto has_sig = [&] { return std::ifstream(dir + "/doc.json.sig").good(); };
  std::vector<PublicKey> demo;
  assert_true(
      co::platform::load_public_keys({std::string(COHORT_SAMPLES) + "/definitions/keys/demo-pub.pem"}, &demo).ok);

  assert_int_equal(sign("{\"version\": 12, \"cohorts\": []}", demo_key), 0);
  assert_true(has_sig());
  assert_true(verify_signature(slurp(dir + "/doc.json"), slurp(dir + "/doc.json.sig"), demo).ok);
  // Served beside the document: as readable as it is (not mktemp's 0600).
  struct stat doc_st = {};
  struct stat sig_st = {};
  assert_int_equal(stat((dir + "/doc.json").c_str(), &doc_st), 0);
  assert_int_equal(stat((dir + "/doc.json.sig").c_str(), &sig_st), 0);
  assert_int_equal(sig_st.st_mode & 07777, doc_st.st_mode & 07777);

  const char *refused_docs[] = {
      "{\"cohorts\": []}", "{\"version\": \"12\"}", "{\"version\": 1.5}", "{\"version\": true}", "[1]",
      "{\"version\": 1"};
  for (const char *doc : refused_docs) {
    assert_int_equal(sign(doc, demo_key), 2);
    assert_false(has_sig());
    assert_true(slurp(dir + "/err").find("sign-definitions.sh: ") == 0);
  }
  std::string p384 = dir + "/p384.pem";
  assert_int_equal(std::system(("openssl ecparam -name secp384r1 -genkey -noout -out '" + p384 + "'").c_str()), 0);
  assert_int_equal(sign("{\"version\": 12}", p384), 2);
  assert_false(has_sig());
  assert_true(slurp(dir + "/err").find("not an EC P-256 private key") != std::string::npos);
  assert_int_equal(std::system(("rm -rf '" + dir + "'").c_str()), 0);
}

}  // namespace
