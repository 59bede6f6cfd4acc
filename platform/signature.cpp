#include "platform/signature.h"

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace co::platform {
namespace {

// A P-256 DER signature is at most 72 bytes, 96 in base64: a signature file
// far larger than that is not one, whatever it holds.
constexpr size_t kMaxSigFile = 1024;
// SubjectPublicKeyInfo of a P-256 key: 91 bytes; room for any EC key.
constexpr size_t kMaxKeyDer = 256;
// A PEM public key is a few hundred bytes; this bounds what a key file read takes.
constexpr size_t kMaxKeyFile = size_t{16} * 1024;

SignatureStatus refused(std::string reason) {
  return SignatureStatus{false, std::move(reason), 0};
}
SignatureStatus accepted(size_t key_index = 0) {
  return SignatureStatus{true, std::string(), key_index};
}

// strerror() may share its buffer between threads; keys are loaded off the main thread too.
std::string errno_reason(int err) {
  char buf[128];
  // The GNU strerror_r returns the message (in buf or a static string).
  return strerror_r(err, buf, sizeof buf);
}

std::string mbedtls_reason(int code) {
  char buf[160];
  mbedtls_strerror(code, buf, sizeof buf);
  return buf;
}

// Owns an mbedtls_pk_context for one scope.
class Pk {
 public:
  Pk() { mbedtls_pk_init(&pk_); }
  ~Pk() { mbedtls_pk_free(&pk_); }
  Pk(const Pk &) = delete;
  Pk &operator=(const Pk &) = delete;
  mbedtls_pk_context *get() { return &pk_; }

 private:
  mbedtls_pk_context pk_;
};

// The label of the first PEM block ("PUBLIC KEY"), or "" when there is none.
std::string pem_label(std::string_view pem) {
  static constexpr std::string_view kBegin = "-----BEGIN ";
  size_t at = pem.find(kBegin);
  if (at == std::string_view::npos) return {};
  size_t start = at + kBegin.size();
  size_t end = pem.find("-----", start);
  if (end == std::string_view::npos) return {};
  return std::string(pem.substr(start, end - start));
}

// Why a PEM block that is not "PUBLIC KEY" cannot be used, in the publisher's terms.
std::string wrong_block(const std::string &label) {
  if (label.find("PRIVATE KEY") != std::string::npos) {
    return "a private key, not a public key (give the device the output of `openssl ec -in KEY -pubout`)";
  }
  if (label == "RSA PUBLIC KEY") return "an RSA key, not an EC P-256 key";
  if (label == "CERTIFICATE") return "a certificate, not a public key";
  return "not a public key (a PEM \"" + label + "\" block)";
}

std::string printable(unsigned char c) {
  if (c >= 0x21 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  char hex[8];
  (void)std::snprintf(hex, sizeof hex, "0x%02x", c);
  return hex;
}

bool is_base64_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// The base64 characters of a signature file, line breaks removed, or why it is not base64.
SignatureStatus base64_text(std::string_view file, std::string *out) {
  size_t end = file.size();
  while (end > 0 && std::strchr(" \t\r\n", file[end - 1]) != nullptr) --end;
  if (end == 0) return refused("signature: empty");
  std::string text;
  size_t padding = 0;
  for (size_t i = 0; i < end; ++i) {
    auto c = static_cast<unsigned char>(file[i]);
    if (c == '\n' || (c == '\r' && i + 1 < end && file[i + 1] == '\n')) continue;
    bool ok = c == '=' ? text.size() >= 2 && padding < 2 : is_base64_char(c) && padding == 0;
    if (!ok) return refused("signature: not base64 (byte " + std::to_string(i) + " is " + printable(c) + ")");
    padding += c == '=';
    text.push_back(static_cast<char>(c));
  }
  if (text.size() % 4 != 0) {
    return refused("signature: not base64 (" + std::to_string(text.size()) +
                   " characters, not a multiple of 4: truncated?)");
  }
  *out = std::move(text);
  return accepted();
}

// SEQUENCE { INTEGER r, INTEGER s } and nothing after it: what ECDSA signs as.
bool is_der_ecdsa_signature(const std::string &der) {
  auto *p = reinterpret_cast<unsigned char *>(const_cast<char *>(der.data()));
  const unsigned char *end = p + der.size();
  size_t len = 0;
  if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) return false;
  if (p + len != end) return false;
  for (int i = 0; i < 2; ++i) {
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_INTEGER) != 0 || len == 0) return false;
    p += len;
  }
  return p == end;
}

bool read_small_file(const std::string &path, std::string *out, int *err) {
  FILE *f = std::fopen(path.c_str(), "rbe");
  if (f == nullptr) {
    *err = errno;
    return false;
  }
  std::string data;
  char buf[4096];
  size_t n = 0;
  errno = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && data.size() <= kMaxKeyFile) data.append(buf, n);
  *err = std::ferror(f) ? (errno != 0 ? errno : EIO) : data.size() > kMaxKeyFile ? EFBIG : 0;
  (void)std::fclose(f);
  *out = std::move(data);
  return *err == 0;
}

}  // namespace

SignatureStatus parse_public_key(std::string_view pem, std::string_view name, PublicKey *out) {
  std::string prefix = std::string(name) + ": ";
  std::string label = pem_label(pem);
  if (label.empty()) return refused(prefix + "not PEM (no \"-----BEGIN PUBLIC KEY-----\" line)");
  if (label != "PUBLIC KEY") return refused(prefix + wrong_block(label));
  // mbedTLS takes PEM as a C string, its length counting the NUL.
  std::string text(pem);
  Pk pk;
  int rc =
      mbedtls_pk_parse_public_key(pk.get(), reinterpret_cast<const unsigned char *>(text.c_str()), text.size() + 1);
  if (rc == MBEDTLS_ERR_PK_UNKNOWN_PK_ALG) return refused(prefix + "not an EC P-256 key (an unsupported algorithm)");
  if (rc == MBEDTLS_ERR_PK_UNKNOWN_NAMED_CURVE) return refused(prefix + "not a P-256 key (an unsupported curve)");
  if (rc != 0) return refused(prefix + "not a valid PEM public key (" + mbedtls_reason(rc) + ")");
  if (mbedtls_pk_get_type(pk.get()) == MBEDTLS_PK_RSA) return refused(prefix + "an RSA key, not an EC P-256 key");
  if (!mbedtls_pk_can_do(pk.get(), MBEDTLS_PK_ECDSA)) {
    return refused(prefix + "not an EC key that can verify ECDSA (" + mbedtls_pk_get_name(pk.get()) + ")");
  }
  mbedtls_ecp_group_id curve = mbedtls_pk_ec(*pk.get())->grp.id;
  if (curve != MBEDTLS_ECP_DP_SECP256R1) {
    const mbedtls_ecp_curve_info *info = mbedtls_ecp_curve_info_from_grp_id(curve);
    return refused(prefix + "not a P-256 key (" + (info != nullptr ? info->name : "another curve") + ")");
  }
  unsigned char der[kMaxKeyDer];
  // mbedTLS writes the DER at the end of the buffer.
  int len = mbedtls_pk_write_pubkey_der(pk.get(), der, sizeof der);
  if (len <= 0) return refused(prefix + "cannot encode the key (" + mbedtls_reason(len) + ")");
  out->name = std::string(name);
  out->der.assign(reinterpret_cast<const char *>(der + sizeof der - len), static_cast<size_t>(len));
  return accepted();
}

SignatureStatus load_public_keys(const std::vector<std::string> &paths, std::vector<PublicKey> *out) {
  if (paths.empty()) return refused("no public key: nothing could verify a signature");
  std::vector<PublicKey> keys;
  for (size_t i = 0; i < paths.size(); ++i) {
    std::string name = "public key " + std::to_string(i + 1) + " (" + paths[i] + ")";
    std::string pem;
    int err = 0;
    if (!read_small_file(paths[i], &pem, &err)) {
      return refused(name + ": cannot read: " + (err == EFBIG ? "larger than any public key" : errno_reason(err)));
    }
    keys.emplace_back();
    SignatureStatus st = parse_public_key(pem, name, &keys.back());
    if (!st.ok) return st;
  }
  *out = std::move(keys);
  return accepted();
}

SignatureStatus decode_signature(std::string_view sig_file, std::string *der) {
  if (sig_file.size() > kMaxSigFile) {
    return refused("signature: " + std::to_string(sig_file.size()) + " bytes, longer than any P-256 signature");
  }
  std::string text;
  SignatureStatus st = base64_text(sig_file, &text);
  if (!st.ok) return st;
  unsigned char buf[kMaxSigFile];
  size_t len = 0;
  int rc =
      mbedtls_base64_decode(buf, sizeof buf, &len, reinterpret_cast<const unsigned char *>(text.data()), text.size());
  if (rc != 0) return refused("signature: not base64 (" + mbedtls_reason(rc) + ")");
  std::string decoded(reinterpret_cast<const char *>(buf), len);
  if (!is_der_ecdsa_signature(decoded)) {
    return refused("signature: not a DER ECDSA signature (" + std::to_string(len) + " bytes: truncated?)");
  }
  *der = std::move(decoded);
  return accepted();
}

SignatureStatus verify_signature(std::string_view data, std::string_view sig_file, const std::vector<PublicKey> &keys) {
  if (keys.empty()) return refused("no public key: nothing could verify a signature");
  std::string sig;
  SignatureStatus st = decode_signature(sig_file, &sig);
  if (!st.ok) return st;
  unsigned char hash[32];
  mbedtls_sha256_ret(reinterpret_cast<const unsigned char *>(data.data()), data.size(), hash, 0);
  for (size_t i = 0; i < keys.size(); ++i) {
    Pk pk;
    if (mbedtls_pk_parse_public_key(pk.get(), reinterpret_cast<const unsigned char *>(keys[i].der.data()),
                                    keys[i].der.size()) != 0) {
      return refused(keys[i].name + ": not a key made by parse_public_key()");
    }
    if (mbedtls_pk_verify(pk.get(), MBEDTLS_MD_SHA256, hash, sizeof hash,
                          reinterpret_cast<const unsigned char *>(sig.data()), sig.size()) == 0) {
      return accepted(i);
    }
  }
  if (keys.size() == 1) return refused("signature does not verify against the public key");
  return refused("signature does not verify against any of " + std::to_string(keys.size()) + " keys");
}

}  // namespace co::platform
