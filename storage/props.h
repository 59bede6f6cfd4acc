// Event properties as stored (events.properties): the JSON text itself, or a
// blob, denser: a 0 byte, the varint dictionary id, then the props_codec
// stream of the JSON against that dictionary (props_dicts: an earlier event's
// properties of the same name). A ~500-byte object then takes ~50 bytes, and
// a row fits about four to a page: what a track costs the flash falls by more
// than half (README, storage). Blobs written before the current stream format
// start with the id (never 0) and are read with the first format's decoder.
// Reads go through the SQL function props(properties), which gives the JSON
// text either way, so no reader outside storage/ sees the encoding.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

struct sqlite3;

namespace co::storage {

class Store;

class PropsDicts {
 public:
  // At most this many dictionaries are kept (then new names are stored as text).
  static constexpr size_t kMaxDicts = 64;
  // A dictionary is at most this long: the start of the event it came from.
  static constexpr size_t kMaxDictBytes = 2048;
  // A name's dictionary is replaced by an event that compresses poorly against
  // it (to more than half its size), once it has served this many events.
  static constexpr int64_t kRenewAfter = 100;

  // Reads the stored dictionaries (after an open, a switch to memory, a write back).
  bool load(Store &store);

  struct Encoded {
    std::string blob;  // empty: store the text as it is
    int64_t dict_id = 0;
    std::string_view name, dict;  // the dictionary's row, to write with the event
  };
  // The stored form of the properties of an event named `name`.
  void encode(std::string_view name, std::string_view props, Encoded &out);
  // The JSON text of a stored blob; false for an unknown dictionary or a damaged stream.
  bool decode(std::string_view blob, std::string &json) const;
  // The dictionary a blob was encoded against (0 when it cannot be read).
  static int64_t dict_of(std::string_view blob);
  // The rows of props_dicts were deleted but for `kept` (a sweep or a purge):
  // no name goes on using one that is gone (its text would outlive it).
  void forget_current_except(const std::unordered_set<int64_t> &kept);

  // props(properties) and props_dict(properties) on this connection.
  void register_functions(sqlite3 *db) const;

 private:
  struct Current {
    int64_t id = 0;
    int64_t uses = 0;
  };
  bool add(std::string_view name, std::string_view props);

  std::unordered_map<int64_t, std::string> dicts_;
  std::unordered_map<std::string, Current> current_;
  int64_t next_id_ = 1;
};

}  // namespace co::storage
