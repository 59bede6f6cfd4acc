// Fuzz target: the state-blob loader. The input is a saved blob for one of a
// few cohorts covering every condition kind, and a model with a feature of
// each measure. A blob with a wrong CRC is
// rejected at once, so when the first byte is odd the input is sealed with its
// own CRC first: that lets the fuzzer reach the structure parser behind it.
// Whatever loads must then run: observe, poll, explain, save.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "rules/bytes.h"
#include "rules/engine.h"

using namespace co::rules;

namespace {

const char kDefs[] = R"({"cohorts":[
{"id":"e","rule":{"logic":"AND","conditions":[{"type":"event","event_type":"A","window_days":2},{"type":"cohort","cohort_id":"p","state":"entered","window":"session"}]}},
{"id":"a","rule":{"logic":"OR","conditions":[{"type":"aggregate","event_type":"*","property":"n","metric":"avg","operator":"gte","value":1,"window_minutes":5}]}},
{"id":"r","rule":{"logic":"NOT","conditions":[{"type":"recency","event_type":"B","operator":"gt","window_days":3}]}},
{"id":"p","rule":{"logic":"AND","conditions":[{"type":"property","event_type":"A","property":"s","operator":"contains","value":"foot","window":"view"}]}},
{"id":"g","rule":{"logic":"AND","conditions":[{"type":"engagement","metric":"completion","operator":"gte","value":0.5,"window_hours":3}]}},
{"id":"m","rule":{"model":"logistic","bias":-1,"threshold":0.5,"features":[
 {"name":"views","type":"event","event_type":"A","window_days":2,"transform":"log1p","weight":1},
 {"name":"avg","type":"aggregate","event_type":"*","property":"n","metric":"avg","window_minutes":5,"default":-1,"weight":0.5},
 {"name":"since","type":"recency","event_type":"B","transform":"cap","cap":3,"weight":-1},
 {"name":"foot","type":"property","event_type":"A","property":"s","operator":"contains","value":"foot","window":"view","weight":2},
 {"name":"done","type":"engagement","metric":"completion","window_hours":3,"weight":1}]}}]})";
const char *const kIds[] = {"e", "a", "r", "p", "g", "m"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  std::string blob(reinterpret_cast<const char *>(data) + 1, size - 1);
  if (data[0] & 1) {
    ByteWriter w;
    w.raw(blob);
    w.seal();
    blob = w.take();
  }
  Engine engine;
  LoadReport report;
  SavedState saved{kIds[(data[0] >> 1) % 6], "", 0, blob};
  if (!engine.load(kDefs, {saved}, 1704067200000, &report).ok()) std::abort();
  engine.end_lookback();
  cJSON *props = cJSON_Parse(R"({"n":2,"s":"football","time_spent_seconds":30,"percentage_watched":0.75})");
  const char *names[] = {"A", "B", "Videoview", "VideoCompletion"};
  for (int i = 0; i < 4; ++i) {
    engine.observe(Event{1000 + i, 1704067200000 + i * 1000, names[i], "s", "v", props});
  }
  Now now{1704070800000, "s", "v"};
  engine.poll(now);
  for (const char *id : kIds) {
    std::string json;
    if (!engine.explain(id, now, &json).ok()) std::abort();
  }
  engine.save();
  cJSON_Delete(props);
  return 0;
}
