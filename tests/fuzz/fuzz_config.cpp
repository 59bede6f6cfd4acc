// Fuzz target: the configuration loader (config_parse) and its writer
// (config_to_json). The input is a configuration document.
//
// Beyond not crashing: a refused document says why; cohort_check_config
// agrees with config_parse and config_check_files; and a document that parses
// re-serializes to one that parses again to the same JSON, both nested (as
// config.get shows it) and written with flat dotted keys.
#include <cohort/cohort.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "config.h"
#include "json.h"

namespace {

[[noreturn]] void broken(const char *what, const std::string &detail) {
  std::fprintf(stderr, "fuzz invariant broken: %s: %s\n", what, detail.c_str());
  std::abort();
}

std::string effective(const co::Config &cfg) {
  co::Json j(co::config_to_json(cfg));
  std::string text = co::json_print(j.get());
  if (text.empty()) broken("config_to_json", "nothing printed");
  return text;
}

// {"api":{"timeout_ms":300}} -> {"api.timeout_ms":300}
void flatten(const cJSON *obj, const std::string &prefix, cJSON *out) {
  for (const cJSON *v = obj->child; v; v = v->next) {
    std::string name = prefix.empty() ? v->string : prefix + "." + v->string;
    if (cJSON_IsObject(v)) {
      flatten(v, name, out);
    } else {
      cJSON_AddItemToObject(out, name.c_str(), cJSON_Duplicate(v, 1));
    }
  }
}

// Parses text, which must be accepted, and returns its effective configuration.
std::string reparse(const std::string &text, const char *what) {
  co::Config cfg;
  std::string err;
  if (!co::config_parse(text.c_str(), cfg, err)) broken(what, err + " in " + text);
  return effective(cfg);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string doc(reinterpret_cast<const char *>(data), size);
  co::Config cfg;
  std::string err;
  bool ok = co::config_parse(doc.c_str(), cfg, err);
  if (!ok && err.empty()) broken("refused without a message", doc);
  // cohort_check_config also checks the files the document names (only reads).
  std::string file_err;
  std::vector<std::string> notes;
  bool files_ok = ok && co::config_check_files(cfg, file_err, notes);
  if ((cohort_check_config(doc.c_str()) == COHORT_OK) != files_ok) broken("cohort_check_config disagrees", doc);
  if (!ok) return 0;

  std::string first = effective(cfg);
  std::string second = reparse(first, "effective configuration refused");
  if (second != first) broken("round trip changed the configuration", first + " -> " + second);

  co::Json nested = co::json_parse(first);
  co::Json flat(cJSON_CreateObject());
  flatten(nested.get(), "", flat.get());
  std::string flat_text = co::json_print(flat.get());
  std::string third = reparse(flat_text, "flat configuration refused");
  if (third != first) broken("flat spelling changed the configuration", first + " -> " + third);
  return 0;
}
