// The one owner of cJSON trees and texts for the front ends, cohortd and
// cohortctl (the library has its own, agent/src/json/json.h, which they may
// not include). Header-only.
#pragma once
#include <cjson/cJSON.h>

#include <memory>

namespace co::tools {

struct JsonDelete {
  void operator()(cJSON *item) const { cJSON_Delete(item); }
};
// Owns one cJSON tree (nullptr: none): Json doc(cJSON_Parse(text)).
using Json = std::unique_ptr<cJSON, JsonDelete>;

struct JsonTextFree {
  void operator()(char *text) const { cJSON_free(text); }
};
// Owns what cJSON_Print*() returned (nullptr when it ran out of memory).
using JsonText = std::unique_ptr<char, JsonTextFree>;

// A tree as text, compact or indented; nullptr when out of memory.
inline JsonText json_text(const cJSON *item, bool pretty = false) {
  return JsonText(pretty ? cJSON_Print(item) : cJSON_PrintUnformatted(item));
}

}  // namespace co::tools
