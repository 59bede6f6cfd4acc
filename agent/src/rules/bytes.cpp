#include "rules/bytes.h"

#include <cstring>

namespace co::rules {

void ByteWriter::uvar(uint64_t v) {
  while (v >= 0x80) {
    u8(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  u8(static_cast<uint8_t>(v));
}

void ByteWriter::svar(int64_t v) {
  uint64_t u = static_cast<uint64_t>(v);
  uvar((u << 1) ^ (v < 0 ? ~uint64_t{0} : 0));
}

void ByteWriter::f64(double v) {
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  for (int i = 0; i < 8; ++i) u8(static_cast<uint8_t>(bits >> (8 * i)));
}

void ByteWriter::str(std::string_view s) {
  uvar(s.size());
  out_.append(s);
}

void ByteWriter::seal() {
  uint32_t crc = crc32(out_);
  for (int i = 0; i < 4; ++i) u8(static_cast<uint8_t>(crc >> (8 * i)));
}

bool ByteReader::u8(uint8_t *v) {
  if (remaining() < 1) return false;
  *v = static_cast<uint8_t>(in_[pos_++]);
  return true;
}

bool ByteReader::uvar(uint64_t *v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b = 0;
    if (!u8(&b)) return false;
    if (shift == 63 && b > 1) return false;  // would overflow 64 bits
    result |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool ByteReader::svar(int64_t *v) {
  uint64_t u = 0;
  if (!uvar(&u)) return false;
  *v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  return true;
}

bool ByteReader::f64(double *v) {
  if (remaining() < 8) return false;
  uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
  pos_ += 8;
  std::memcpy(v, &bits, sizeof bits);
  return true;
}

bool ByteReader::str(std::string *s) {
  uint64_t n = 0;
  return uvar(&n) && raw(n, s);
}

bool ByteReader::raw(size_t n, std::string *s) {
  if (remaining() < n) return false;
  s->assign(in_.substr(pos_, n));
  pos_ += n;
  return true;
}

uint32_t crc32(std::string_view data) {
  uint32_t crc = 0xffffffffu;
  for (char ch : data) {
    crc ^= static_cast<uint8_t>(ch);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (~(crc & 1) + 1));
  }
  return ~crc;
}

bool unseal(std::string_view blob, std::string_view *body) {
  if (blob.size() < 4) return false;
  std::string_view head = blob.substr(0, blob.size() - 4);
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored |= static_cast<uint32_t>(static_cast<uint8_t>(blob[head.size() + i])) << (8 * i);
  if (stored != crc32(head)) return false;
  *body = head;
  return true;
}

}  // namespace co::rules
