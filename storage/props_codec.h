// A small LZ77 coder for event properties, primed with a dictionary: an
// earlier event's properties of the same name. An app's events of one name
// repeat their keys and most of their values, so a ~500-byte JSON object
// becomes ~50-80 bytes and a row fits three to a 512-byte page (fewer pages,
// and fewer WAL frames, per event). No general compression library is in
// the dependencies; this needs none.
//
// The stream, after the dictionary (which the decoder sees as output already
// written): tokens, each a control byte c and what follows it:
//   c < 0x80   a run of c + 1 literal bytes, which follow;
//   c >= 0x80  a match of (c & 0x7f) + 4 bytes, starting `distance` bytes back
//              (a varint: 7 bits a byte, least significant first, high bit
//              set on all but the last byte); it may overlap what it writes.
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

// A varint as in the stream; get_varint advances `pos`, false when truncated.
void put_varint(std::string &out, uint64_t v);
bool get_varint(std::string_view in, size_t &pos, uint64_t &v);

}  // namespace co::storage::codec
