// Fuzz target: the definitions parser. Any input is either rejected with a
// message or loaded; a loaded document must survive the round trips the agent
// relies on: its canonical rules reload to the same checksums, every cohort
// explains, and saved state restores without look-back.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "rules/engine.h"

using namespace co::rules;

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

std::string canonical_document(const std::vector<CohortInfo> &cohorts) {
  std::string doc = "{\"cohorts\":[";
  for (size_t i = 0; i < cohorts.size(); ++i) {
    cJSON *id = cJSON_CreateString(cohorts[i].id.c_str());
    char *quoted = cJSON_PrintUnformatted(id);
    doc += (i ? ",{\"id\":" : "{\"id\":") + std::string(quoted) + ",\"rule\":" + cohorts[i].rule + "}";
    cJSON_free(quoted);
    cJSON_Delete(id);
  }
  return doc + "]}";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view json(reinterpret_cast<const char *>(data), size);
  Engine engine;
  LoadReport report;
  if (!engine.load(json, {}, 0, &report).ok()) return 0;
  engine.end_lookback();
  std::vector<CohortInfo> cohorts = engine.cohorts();
  Now now{1704067200000, "s", "v"};
  for (const CohortInfo &c : cohorts) {
    std::string explained;
    require(engine.explain(c.id, now, &explained).ok());
  }
  engine.poll(now);

  Engine again;
  LoadReport again_report;
  require(again.load(canonical_document(cohorts), engine.save(), 0, &again_report).ok());
  require(again_report.lookback.empty() && again_report.discarded.empty());
  std::vector<CohortInfo> reloaded = again.cohorts();
  require(reloaded.size() == cohorts.size());
  for (size_t i = 0; i < cohorts.size(); ++i) require(reloaded[i].checksum == cohorts[i].checksum);
  return 0;
}
