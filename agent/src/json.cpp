#include "json.h"

#include <cmath>

namespace co {

Json json_parse(std::string_view text) {
  if (text.empty()) return nullptr;
  return Json(cJSON_ParseWithLength(text.data(), text.size()));
}

std::string json_print(const cJSON *item) {
  char *s = cJSON_PrintUnformatted(item);
  if (!s) return {};
  std::string out(s);
  cJSON_free(s);
  return out;
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

void json_drop_nulls(cJSON *item) {
  cJSON *child = item ? item->child : nullptr;
  while (child) {
    cJSON *next = child->next;
    if (cJSON_IsNull(child)) {
      cJSON_Delete(cJSON_DetachItemViaPointer(item, child));
    } else {
      json_drop_nulls(child);
    }
    child = next;
  }
}

}  // namespace co
