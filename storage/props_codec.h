// A small LZ77 coder for event properties, primed with a dictionary: an
// earlier event's properties of the same name. An app's events of one name
// repeat their keys and most of their values, so a ~500-byte JSON object
// becomes ~40-70 bytes and a row fits about four to a 512-byte page (fewer
// pages, and fewer WAL frames, per event). No general compression library is in
// the dependencies; this needs none.
//
// The stream, after the dictionary (which the decoder sees as output already
// written): tokens, each a control byte c and what follows it:
//   c < 0x80          a run of c + 1 literal bytes, which follow;
//   0x80 <= c < 0xc0  a match of (c & 0x3f) + 4 bytes at the previous match's
//                     distance back (the first match's previous distance is
//                     the dictionary's size: the dictionary's start);
//   c >= 0xc0         the same, at a new distance: the previous one plus a
//                     signed difference, which follows (zigzag, then a varint:
//                     7 bits a byte, least significant first, high bit set on
//                     all but the last byte).
// A match may overlap what it writes. Against its dictionary an event mostly
// goes on where the last match left off, or a few bytes further (a value of
// another length between): most distances cost nothing or a byte. Streams
// of the first format (every match `distance` back as a varint, c >= 0x80 a
// match of (c & 0x7f) + 4 bytes) are still read, by decompress_v1.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace co::storage::codec {

// Appends the encoding of `in` against `dict` to out.
void compress(std::string_view dict, std::string_view in, std::string &out);
// Decodes `in` against `dict` into out (replacing it). False when the stream
// is malformed or would decode to more than max_out bytes.
bool decompress(std::string_view dict, std::string_view in, std::string &out, size_t max_out);
// The same for a stream of the first format (rows written before it changed).
bool decompress_v1(std::string_view dict, std::string_view in, std::string &out, size_t max_out);

// A varint as in the stream; get_varint advances `pos`, false when truncated.
void put_varint(std::string &out, uint64_t v);
bool get_varint(std::string_view in, size_t &pos, uint64_t &v);

}  // namespace co::storage::codec
