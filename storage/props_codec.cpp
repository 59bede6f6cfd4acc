#include "storage/props_codec.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace co::storage::codec {
namespace {

constexpr size_t kMinMatch = 4;
constexpr size_t kMaxMatch = 0x3f + kMinMatch;
constexpr size_t kMaxMatchV1 = 0x7f + kMinMatch;
constexpr unsigned char kRepeat = 0x80;       // a match at the previous distance
constexpr unsigned char kNewDistance = 0xc0;  // a match, its distance's change follows
constexpr size_t kMaxLiterals = 0x80;
constexpr int kHashBits = 12;
constexpr int kChainTries = 8;  // candidates looked at per position: the dictionary is ~500 bytes

uint32_t hash4(const char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return (v * 2654435761u) >> (32 - kHashBits);
}

// A match's distance, as a change from the previous one: zigzag, so that a
// small step back costs a byte as a small step forward does.
uint64_t zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t unzigzag(uint64_t z) {
  return static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1);
}

void flush_literals(const std::string &buf, size_t from, size_t to, std::string &out) {
  while (from < to) {
    size_t n = std::min(to - from, kMaxLiterals);
    out += static_cast<char>(n - 1);
    out.append(buf, from, n);
    from += n;
  }
}

}  // namespace

void put_varint(std::string &out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

bool get_varint(std::string_view in, size_t &pos, uint64_t &v) {
  v = 0;
  for (int shift = 0; shift < 64 && pos < in.size(); shift += 7) {
    auto b = static_cast<unsigned char>(in[pos++]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (b < 0x80) return true;
  }
  return false;
}

void compress(std::string_view dict, std::string_view in, std::string &out) {
  // Matches are searched in the dictionary and in what came before, as one buffer.
  std::string buf;
  buf.reserve(dict.size() + in.size());
  buf.append(dict).append(in);
  const size_t n = buf.size();
  // Kept between calls (one event after another): no allocation per event.
  thread_local std::vector<int32_t> head, prev;
  head.assign(size_t{1} << kHashBits, -1);
  prev.assign(n, -1);
  auto insert = [&](size_t i) {
    if (i + kMinMatch > n) return;
    uint32_t h = hash4(&buf[i]);
    prev[i] = head[h];
    head[h] = static_cast<int32_t>(i);
  };
  auto match_at = [&](size_t cand, size_t i) {
    size_t len = 0;
    while (len < kMaxMatch && i + len < n && buf[cand + len] == buf[i + len]) ++len;
    return len;
  };
  for (size_t i = 0; i < dict.size(); ++i) insert(i);
  size_t i = dict.size(), literals = i, last = dict.size();
  while (i < n) {
    size_t best_len = 0, best_pos = 0;
    if (i + kMinMatch <= n) {
      // The previous distance first: an event against its dictionary mostly
      // goes on where the last match left off, and then costs no distance.
      if (last <= i) best_len = match_at(i - last, i), best_pos = i - last;
      int tries = kChainTries;
      for (int32_t c = head[hash4(&buf[i])]; c >= 0 && tries-- > 0 && best_len < kMaxMatch;
           c = prev[static_cast<size_t>(c)]) {
        size_t len = match_at(static_cast<size_t>(c), i);
        if (len > best_len) best_len = len, best_pos = static_cast<size_t>(c);
      }
    }
    if (best_len < kMinMatch) {
      insert(i++);
      continue;
    }
    flush_literals(buf, literals, i, out);
    size_t distance = i - best_pos;
    if (distance == last) {
      out += static_cast<char>(kRepeat | (best_len - kMinMatch));
    } else {
      out += static_cast<char>(kNewDistance | (best_len - kMinMatch));
      put_varint(out, zigzag(static_cast<int64_t>(distance) - static_cast<int64_t>(last)));
      last = distance;
    }
    for (size_t k = 0; k < best_len; ++k) insert(i + k);
    i += best_len;
    literals = i;
  }
  flush_literals(buf, literals, n, out);
}

namespace {

// Both formats: v1 (every match with its distance) and the current one.
bool decode(std::string_view dict, std::string_view in, std::string &out, size_t max_out, bool v1) {
  std::string buf;
  buf.reserve(dict.size() + std::min(max_out, in.size() * kMaxMatchV1));
  buf.append(dict);
  const size_t limit = dict.size() + max_out;
  size_t pos = 0;
  uint64_t last = dict.size();
  while (pos < in.size()) {
    auto c = static_cast<unsigned char>(in[pos++]);
    if (c < 0x80) {
      size_t len = size_t{c} + 1;
      if (len > in.size() - pos || buf.size() + len > limit) return false;
      buf.append(in, pos, len);
      pos += len;
      continue;
    }
    size_t len = 0;
    uint64_t distance = last;
    if (v1) {
      len = (c & 0x7f) + kMinMatch;
      if (!get_varint(in, pos, distance)) return false;
    } else {
      len = (c & 0x3f) + kMinMatch;
      uint64_t z = 0;
      if ((c & kNewDistance) == kNewDistance) {
        if (!get_varint(in, pos, z)) return false;
        distance = last + static_cast<uint64_t>(unzigzag(z));
      }
    }
    if (distance == 0 || distance > buf.size() || buf.size() + len > limit) return false;
    last = distance;
    size_t from = buf.size() - static_cast<size_t>(distance);
    if (distance >= len) {
      buf.append(buf, from, len);
    } else {
      for (size_t k = 0; k < len; ++k) buf += buf[from + k];  // byte by byte: it overlaps what it writes
    }
  }
  out.assign(buf, dict.size(), std::string::npos);
  return true;
}

}  // namespace

bool decompress(std::string_view dict, std::string_view in, std::string &out, size_t max_out) {
  return decode(dict, in, out, max_out, false);
}

bool decompress_v1(std::string_view dict, std::string_view in, std::string &out, size_t max_out) {
  return decode(dict, in, out, max_out, true);
}

}  // namespace co::storage::codec
