// Detached signatures on mbedTLS: ECDSA P-256 / SHA-256 over exact bytes,
// checked against one or more public keys (several, so a publisher can rotate
// keys without a fleet that stops accepting its documents). A library of its
// own (cohort_signature, mbedcrypto only). Included as "platform/signature.h".
//
// The signature file is what a publisher makes with the openssl CLI:
//   openssl dgst -sha256 -sign key.pem doc.json | base64 -w0 > doc.json.sig
// i.e. base64 of the DER ECDSA signature. Whitespace after it (a trailing
// newline) and line breaks inside it (`base64` / `openssl base64` wrap their
// output) are allowed; anything else is refused with the reason.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace co::platform {

// An EC P-256 public key, checked when it was made: its DER
// SubjectPublicKeyInfo, and a name for messages (the file, or "public key N").
struct PublicKey {
  std::string name;
  std::string der;
};

// What a check found. `reason` is empty when ok, else it names what is wrong:
//   "public key 2 (/etc/keys/old.pem): not a P-256 key (secp384r1)"
//   "signature: not base64 (byte 7 is '!')"
//   "signature does not verify against any of 2 keys"
struct SignatureStatus {
  bool ok = false;
  std::string reason;
  // After a successful verify_signature(): which key matched (0-based).
  size_t key_index = 0;
};

// A PEM public key ("-----BEGIN PUBLIC KEY-----", SubjectPublicKeyInfo), which
// must be EC on P-256. `name` prefixes every message. On success `out` holds it.
SignatureStatus parse_public_key(std::string_view pem, std::string_view name, PublicKey *out);

// Reads and parses each file as parse_public_key() does, named
// "public key N (PATH)" (N from 1). The first error wins and `out` is then
// left untouched. No path at all is an error too: nothing could ever verify.
SignatureStatus load_public_keys(const std::vector<std::string> &paths, std::vector<PublicKey> *out);

// The DER signature held by a signature file (base64, see above).
SignatureStatus decode_signature(std::string_view sig_file, std::string *der);

// Whether `sig_file` (the text of the .sig file) is a signature of exactly
// `data` by one of `keys`. Refuses a signature file it cannot decode before
// trying any key.
SignatureStatus verify_signature(std::string_view data, std::string_view sig_file, const std::vector<PublicKey> &keys);

}  // namespace co::platform
