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

// Parses text; nullptr for malformed JSON (or an empty string), and also
// when out of memory: json_parse_exact() tells the two apart.
Json json_parse(std::string_view text);
// Compact serialization; "" only when out of memory.
std::string json_print(const cJSON *item);

// Why json_parse_exact() returned nullptr.
enum class JsonError { none, syntax, memory };
// Parses text holding exactly one JSON value (whitespace around it allowed).
// On failure `error` says why: a text that is valid JSON but could not be
// built ran out of memory (COHORT_ENOMEM), it is not malformed (-32700).
Json json_parse_exact(std::string_view text, JsonError &error);
// True when text is one valid JSON value (RFC 8259) that cJSON accepts,
// surrounded by whitespace at most; end (optional) gets the offset just past
// the value. Allocates nothing.
bool json_valid(std::string_view text, size_t *end = nullptr);
// Where json_valid() finds text invalid: the byte offset of the first byte
// that cannot be there (text.size() when the text ends too early). Only
// meaningful when json_valid(text) is false. Allocates nothing.
size_t json_error_offset(std::string_view text);

// Checked building, for trees that must be complete: each throws
// std::bad_alloc when cJSON cannot allocate (the C boundary answers
// COHORT_ENOMEM), and an item that cannot be added is deleted, never leaked.
// Create the item inside the call, with nothing else in that expression that
// may throw first: json_add(o, "k", cJSON_CreateArray()), never
// json_add(json_add_object(o, "x"), "k", cJSON_CreateArray()).
cJSON *json_must(cJSON *item);  // item, or throws when it is NULL
cJSON *json_add(cJSON *object, const char *key, cJSON *item);
cJSON *json_append(cJSON *array, cJSON *item);
cJSON *json_add_string(cJSON *object, const char *key, const char *value);
cJSON *json_add_number(cJSON *object, const char *key, double value);
cJSON *json_add_bool(cJSON *object, const char *key, bool value);
cJSON *json_add_null(cJSON *object, const char *key);
cJSON *json_add_object(cJSON *object, const char *key);
cJSON *json_add_array(cJSON *object, const char *key);
// json_print() that throws std::bad_alloc instead of answering "".
std::string json_print_checked(const cJSON *item);

// Typed access. Each returns false when the member is absent; `ok` is set to
// false when it is present with the wrong type.
bool json_get_string(const cJSON *obj, const char *key, std::string &out, bool &ok);
bool json_get_int(const cJSON *obj, const char *key, int64_t &out, bool &ok);
bool json_get_number(const cJSON *obj, const char *key, double &out, bool &ok);
bool json_get_bool(const cJSON *obj, const char *key, bool &out, bool &ok);

// A JSON number that is an integer within int64 range.
bool json_is_integer(const cJSON *item, int64_t &out);

// Removes null and empty-string members and array elements, recursively: the
// guide says to omit a property that does not apply "rather than sending it
// as null or an empty value".
void json_drop_empty(cJSON *item);

}  // namespace co
