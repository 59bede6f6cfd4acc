// cJSON with ownership: every tree the agent builds is held by a Json.
#pragma once
#include <cjson/cJSON.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace co {

struct JsonDeleter {
  void operator()(cJSON *p) const { cJSON_Delete(p); }
};
using Json = std::unique_ptr<cJSON, JsonDeleter>;

// Parses text; nullptr for malformed JSON (or an empty string).
Json json_parse(std::string_view text);
// Compact serialization; "" only when out of memory.
std::string json_print(const cJSON *item);

// Typed access. Each returns false when the member is absent; `ok` is set to
// false when it is present with the wrong type.
bool json_get_string(const cJSON *obj, const char *key, std::string &out, bool &ok);
bool json_get_int(const cJSON *obj, const char *key, int64_t &out, bool &ok);
bool json_get_number(const cJSON *obj, const char *key, double &out, bool &ok);
bool json_get_bool(const cJSON *obj, const char *key, bool &out, bool &ok);

// A JSON number that is an integer within int64 range.
bool json_is_integer(const cJSON *item, int64_t &out);

// Removes null members and null array elements, recursively (absent is never
// sent as null).
void json_drop_nulls(cJSON *item);

}  // namespace co
