#include "json.h"

#include <cmath>
#include <new>

namespace co {
namespace {

struct CJsonFree {
  void operator()(char *p) const { cJSON_free(p); }
};

// The validator behind json_valid(): the grammar of RFC 8259, no stricter
// than cJSON anywhere, and stricter where cJSON might not take a text
// (nesting deeper than its limit, numbers longer than its old 63-byte buffer,
// control characters in strings, lone UTF-16 surrogates). So a text it
// accepts is one cJSON parses whenever it has the memory.
class Validator {
 public:
  explicit Validator(std::string_view t) : p_(t.data()), end_(t.data() + t.size()), begin_(t.data()) {}

  bool run(size_t *end) {
    space();
    if (!value()) return false;
    if (end) *end = static_cast<size_t>(p_ - begin_);
    space();
    return p_ == end_;
  }
  // Where run() stopped: the first byte that cannot be there.
  size_t stopped_at() const { return static_cast<size_t>((p_ < end_ ? p_ : end_) - begin_); }

 private:
  static constexpr int kMaxDepth = CJSON_NESTING_LIMIT < 512 ? CJSON_NESTING_LIMIT : 512;
  static constexpr long kMaxNumber = 63;

  bool at(char c) const { return p_ < end_ && *p_ == c; }
  void space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool word(const char *w) {
    for (; *w; ++w, ++p_) {
      if (!at(*w)) return false;
    }
    return true;
  }
  bool digits() {
    if (p_ >= end_ || *p_ < '0' || *p_ > '9') return false;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    return true;
  }
  bool number() {
    const char *start = p_;
    if (at('-')) ++p_;
    if (at('0')) {
      ++p_;
    } else if (!digits()) {
      return false;
    }
    if (at('.')) {
      ++p_;
      if (!digits()) return false;
    }
    if (at('e') || at('E')) {
      ++p_;
      if (at('+') || at('-')) ++p_;
      if (!digits()) return false;
    }
    return p_ - start <= kMaxNumber;
  }
  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  int hex4() {
    int v = 0;
    for (int i = 0; i < 4; ++i, ++p_) {
      if (p_ >= end_) return -1;
      int d = hex_digit(*p_);
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  }
  bool string() {
    ++p_;  // the opening quote
    while (p_ < end_ && *p_ != '"') {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c < 0x20) return false;
      ++p_;
      if (c != '\\') continue;
      if (p_ >= end_) return false;
      char e = *p_++;
      if (e == 'u') {
        int u = hex4();
        if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF)) return false;
        if (u >= 0xD800 && u <= 0xDBFF) {
          if (!word("\\u")) return false;
          int low = hex4();
          if (low < 0xDC00 || low > 0xDFFF) return false;
        }
      } else if (!one_of("\"\\/bfnrt", e)) {
        return false;
      }
    }
    if (!at('"')) return false;
    ++p_;
    return true;
  }
  static bool one_of(const char *set, char c) {
    for (; *set; ++set) {
      if (*set == c) return true;
    }
    return false;
  }
  // Iterative over the nesting, so the stack stays small at any depth.
  bool value() {
    char open[kMaxDepth];  // the kind of each container entered: '[' or '{'
    int depth = 0;
    for (;;) {
      // A value.
      if (at('{') || at('[')) {
        if (depth == kMaxDepth) return false;
        char kind = *p_++;
        open[depth++] = kind;
        space();
        if (at(kind == '{' ? '}' : ']')) {
          ++p_;
          --depth;
        } else {
          if (kind == '{' && !member_key()) return false;
          continue;
        }
      } else if (at('"')) {
        if (!string()) return false;
      } else if (at('t')) {
        if (!word("true")) return false;
      } else if (at('f')) {
        if (!word("false")) return false;
      } else if (at('n')) {
        if (!word("null")) return false;
      } else if (!number()) {
        return false;
      }
      // After a value: the next member or element, or the container's end.
      for (;;) {
        if (depth == 0) return true;
        space();
        char kind = open[depth - 1];
        if (at(',')) {
          ++p_;
          space();
          if (kind == '{' && !member_key()) return false;
          break;
        }
        if (!at(kind == '{' ? '}' : ']')) return false;
        ++p_;
        --depth;
      }
    }
  }
  // "key" : (then the value follows)
  bool member_key() {
    if (!at('"') || !string()) return false;
    space();
    if (!at(':')) return false;
    ++p_;
    space();
    return true;
  }

  const char *p_;
  const char *end_;
  const char *begin_;
};

}  // namespace

Json json_parse(std::string_view text) {
  if (text.empty()) return nullptr;
  return Json(cJSON_ParseWithLength(text.data(), text.size()));
}

std::string json_print(const cJSON *item) {
  // The text is freed whatever happens, also when its copy cannot be made.
  std::unique_ptr<char, CJsonFree> s(cJSON_PrintUnformatted(item));
  if (!s) return {};
  try {
    return std::string(s.get());
  } catch (const std::bad_alloc &) {
    return {};
  }
}

bool json_valid(std::string_view text, size_t *end) {
  return Validator(text).run(end);
}

size_t json_error_offset(std::string_view text) {
  Validator v(text);
  return v.run(nullptr) ? text.size() : v.stopped_at();
}

Json json_parse_exact(std::string_view text, JsonError &error) {
  error = JsonError::none;
  const char *stop = nullptr;
  Json j(text.empty() ? nullptr : cJSON_ParseWithLengthOpts(text.data(), text.size(), &stop, false));
  if (j) {
    // One value, then whitespace only.
    const char *end = text.data() + text.size();
    while (stop < end && (*stop == ' ' || *stop == '\t' || *stop == '\n' || *stop == '\r')) ++stop;
    if (stop == end) return j;
    error = JsonError::syntax;
    return nullptr;
  }
  error = json_valid(text) ? JsonError::memory : JsonError::syntax;
  return nullptr;
}

cJSON *json_must(cJSON *item) {
  if (!item) throw std::bad_alloc();
  return item;
}

cJSON *json_add(cJSON *object, const char *key, cJSON *item) {
  json_must(item);
  if (!cJSON_AddItemToObject(object, key, item)) {
    cJSON_Delete(item);
    throw std::bad_alloc();
  }
  return item;
}

cJSON *json_append(cJSON *array, cJSON *item) {
  json_must(item);
  if (!cJSON_AddItemToArray(array, item)) {
    cJSON_Delete(item);
    throw std::bad_alloc();
  }
  return item;
}

cJSON *json_add_string(cJSON *object, const char *key, const char *value) {
  return json_add(object, key, cJSON_CreateString(value));
}
cJSON *json_add_number(cJSON *object, const char *key, double value) {
  return json_add(object, key, cJSON_CreateNumber(value));
}
cJSON *json_add_bool(cJSON *object, const char *key, bool value) {
  return json_add(object, key, cJSON_CreateBool(value));
}
cJSON *json_add_null(cJSON *object, const char *key) {
  return json_add(object, key, cJSON_CreateNull());
}
cJSON *json_add_object(cJSON *object, const char *key) {
  return json_add(object, key, cJSON_CreateObject());
}
cJSON *json_add_array(cJSON *object, const char *key) {
  return json_add(object, key, cJSON_CreateArray());
}

std::string json_print_checked(const cJSON *item) {
  std::unique_ptr<char, CJsonFree> s(cJSON_PrintUnformatted(item));
  if (!s) throw std::bad_alloc();
  return std::string(s.get());
}

bool json_is_integer(const cJSON *item, int64_t &out) {
  if (!cJSON_IsNumber(item)) return false;
  double d = item->valuedouble;
  if (!std::isfinite(d) || d != std::floor(d) || d < -9.2e18 || d > 9.2e18) return false;
  out = static_cast<int64_t>(d);
  return true;
}

bool json_get_string(const cJSON *obj, const char *key, std::string &out, bool &ok) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return false;
  if (!cJSON_IsString(v)) {
    ok = false;
    return false;
  }
  out = v->valuestring;
  return true;
}

bool json_get_int(const cJSON *obj, const char *key, int64_t &out, bool &ok) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return false;
  if (!json_is_integer(v, out)) {
    ok = false;
    return false;
  }
  return true;
}

bool json_get_number(const cJSON *obj, const char *key, double &out, bool &ok) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return false;
  if (!cJSON_IsNumber(v) || !std::isfinite(v->valuedouble)) {
    ok = false;
    return false;
  }
  out = v->valuedouble;
  return true;
}

bool json_get_bool(const cJSON *obj, const char *key, bool &out, bool &ok) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return false;
  if (!cJSON_IsBool(v)) {
    ok = false;
    return false;
  }
  out = cJSON_IsTrue(v);
  return true;
}

void json_drop_empty(cJSON *item) {
  cJSON *child = item ? item->child : nullptr;
  while (child) {
    cJSON *next = child->next;
    if (cJSON_IsNull(child) || (cJSON_IsString(child) && child->valuestring[0] == '\0')) {
      cJSON_Delete(cJSON_DetachItemViaPointer(item, child));
    } else {
      json_drop_empty(child);
    }
    child = next;
  }
}

}  // namespace co
