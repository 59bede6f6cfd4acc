#include "storage/props.h"

#include <sqlite3.h>

#include "storage/props_codec.h"
#include "storage/store.h"

namespace co::storage {
namespace {

// The largest properties object the agent accepts is 16 KiB; a stream that
// decodes to more is damaged.
constexpr size_t kMaxProps = 64 * 1024;
// Below this, a dictionary id and a stream save nothing worth a dictionary.
constexpr size_t kMinEncoded = 32;
// A blob of the current stream format starts with this byte, then the
// dictionary's id; one of the first format starts with the id (never 0).
constexpr char kCurrentFormat = 0;

void props_fn(sqlite3_context *ctx, int, sqlite3_value **argv) {
  if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
    sqlite3_result_value(ctx, argv[0]);
    return;
  }
  const auto *dicts = static_cast<const PropsDicts *>(sqlite3_user_data(ctx));
  std::string_view blob(static_cast<const char *>(sqlite3_value_blob(argv[0])),
                        static_cast<size_t>(sqlite3_value_bytes(argv[0])));
  std::string json;
  // Damaged: the event is still read (name, time, ids), with no properties.
  if (!dicts->decode(blob, json)) {
    sqlite3_result_null(ctx);
    return;
  }
  sqlite3_result_text(ctx, json.data(), static_cast<int>(json.size()), SQLITE_TRANSIENT);
}

void props_dict_fn(sqlite3_context *ctx, int, sqlite3_value **argv) {
  if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
    sqlite3_result_null(ctx);
    return;
  }
  std::string_view blob(static_cast<const char *>(sqlite3_value_blob(argv[0])),
                        static_cast<size_t>(sqlite3_value_bytes(argv[0])));
  sqlite3_result_int64(ctx, PropsDicts::dict_of(blob));
}

}  // namespace

bool PropsDicts::load(Store &store) {
  dicts_.clear();
  current_.clear();
  next_id_ = 1;
  Stmt q(store, "SELECT id, name, dict FROM props_dicts ORDER BY id");
  while (q.step()) {
    int64_t id = q.int64(0);
    dicts_[id] = q.text(2);
    current_[q.text(1)] = Current{id, 0};  // the newest of a name is its current one
    next_id_ = id + 1;
  }
  return q.done();
}

bool PropsDicts::add(std::string_view name, std::string_view props) {
  if (dicts_.size() >= kMaxDicts) return false;
  int64_t id = next_id_++;  // never handed out twice, even when a transaction rolls back
  dicts_[id] = std::string(props.substr(0, kMaxDictBytes));
  current_[std::string(name)] = Current{id, 0};
  return true;
}

void PropsDicts::encode(std::string_view name, std::string_view props, Encoded &out) {
  out = Encoded();
  if (props.size() < kMinEncoded) return;
  auto it = current_.find(std::string(name));
  if (it == current_.end()) {
    if (!add(name, props)) return;
    it = current_.find(std::string(name));
  }
  auto attempt = [&] {
    out.blob.assign(1, kCurrentFormat);
    codec::put_varint(out.blob, static_cast<uint64_t>(it->second.id));
    codec::compress(dicts_[it->second.id], props, out.blob);
  };
  attempt();
  if (out.blob.size() > props.size() / 2 && it->second.uses >= kRenewAfter && add(name, props)) attempt();
  if (out.blob.size() >= props.size()) {
    out.blob.clear();
    return;
  }
  it->second.uses += 1;
  out.dict_id = it->second.id;
  out.name = it->first;
  out.dict = dicts_[it->second.id];
}

bool PropsDicts::decode(std::string_view blob, std::string &json) const {
  bool v1 = !blob.empty() && blob[0] != kCurrentFormat;
  size_t pos = v1 ? 0 : 1;
  uint64_t id = 0;
  if (!codec::get_varint(blob, pos, id)) return false;
  auto it = dicts_.find(static_cast<int64_t>(id));
  if (it == dicts_.end()) return false;
  return v1 ? codec::decompress_v1(it->second, blob.substr(pos), json, kMaxProps)
            : codec::decompress(it->second, blob.substr(pos), json, kMaxProps);
}

int64_t PropsDicts::dict_of(std::string_view blob) {
  size_t pos = !blob.empty() && blob[0] == kCurrentFormat ? 1 : 0;
  uint64_t id = 0;
  return codec::get_varint(blob, pos, id) ? static_cast<int64_t>(id) : 0;
}

void PropsDicts::forget_current_except(const std::unordered_set<int64_t> &kept) {
  for (auto it = current_.begin(); it != current_.end();) {
    it = kept.count(it->second.id) ? std::next(it) : current_.erase(it);
  }
}

void PropsDicts::register_functions(sqlite3 *db) const {
  void *self = const_cast<PropsDicts *>(this);
  sqlite3_create_function(db, "props", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, self, props_fn, nullptr, nullptr);
  sqlite3_create_function(db, "props_dict", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, self, props_dict_fn, nullptr,
                          nullptr);
}

}  // namespace co::storage
