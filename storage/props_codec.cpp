#include "storage/props_codec.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace co::storage::codec {
namespace {

constexpr size_t kMinMatch = 4;
constexpr size_t kMaxMatch = 0x7f + kMinMatch;
constexpr size_t kMaxLiterals = 0x80;
constexpr int kHashBits = 12;
constexpr int kChainTries = 8;  // candidates looked at per position: the dictionary is ~500 bytes

uint32_t hash4(const char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return (v * 2654435761u) >> (32 - kHashBits);
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
  for (size_t i = 0; i < dict.size(); ++i) insert(i);
  size_t i = dict.size(), literals = i;
  while (i < n) {
    size_t best_len = 0, best_pos = 0;
    if (i + kMinMatch <= n) {
      int tries = kChainTries;
      for (int32_t c = head[hash4(&buf[i])]; c >= 0 && tries-- > 0; c = prev[static_cast<size_t>(c)]) {
        auto cand = static_cast<size_t>(c);
        size_t len = 0;
        while (len < kMaxMatch && i + len < n && buf[cand + len] == buf[i + len]) ++len;
        if (len > best_len) {
          best_len = len;
          best_pos = cand;
          if (len == kMaxMatch) break;
        }
      }
    }
    if (best_len < kMinMatch) {
      insert(i++);
      continue;
    }
    flush_literals(buf, literals, i, out);
    out += static_cast<char>(0x80 | (best_len - kMinMatch));
    put_varint(out, i - best_pos);
    for (size_t k = 0; k < best_len; ++k) insert(i + k);
    i += best_len;
    literals = i;
  }
  flush_literals(buf, literals, n, out);
}

bool decompress(std::string_view dict, std::string_view in, std::string &out, size_t max_out) {
  std::string buf;
  buf.reserve(dict.size() + std::min(max_out, in.size() * kMaxMatch));
  buf.append(dict);
  const size_t limit = dict.size() + max_out;
  size_t pos = 0;
  while (pos < in.size()) {
    auto c = static_cast<unsigned char>(in[pos++]);
    if (c < 0x80) {
      size_t len = size_t{c} + 1;
      if (len > in.size() - pos || buf.size() + len > limit) return false;
      buf.append(in, pos, len);
      pos += len;
      continue;
    }
    size_t len = (c & 0x7f) + kMinMatch;
    uint64_t distance = 0;
    if (!get_varint(in, pos, distance) || distance == 0 || distance > buf.size() || buf.size() + len > limit) {
      return false;
    }
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

}  // namespace co::storage::codec
