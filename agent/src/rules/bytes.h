// The compact byte encoding of persisted state: LEB128 varints (zigzag for
// signed), little-endian IEEE doubles, length-prefixed strings, a CRC-32 trailer.
// The reader never reads past its input and fails instead of guessing.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace co::rules {

class ByteWriter {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void uvar(uint64_t v);
  void svar(int64_t v);
  void f64(double v);
  void str(std::string_view s);
  void raw(std::string_view s) { out_.append(s); }
  // Appends the CRC-32 of everything written so far.
  void seal();
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool u8(uint8_t *v);
  bool uvar(uint64_t *v);
  bool svar(int64_t *v);
  bool f64(double *v);
  bool str(std::string *s);
  bool raw(size_t n, std::string *s);
  size_t remaining() const { return in_.size() - pos_; }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

// CRC-32 (IEEE 802.3, as zlib computes it).
uint32_t crc32(std::string_view data);

// Splits a sealed blob into its body; false when too short or the CRC differs.
bool unseal(std::string_view blob, std::string_view *body);

}  // namespace co::rules
