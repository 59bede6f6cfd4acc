// Fuzz target: evaluation. The input is a rule group, a NUL byte, then a
// program: each 4 bytes make one step (an event of a few names and property
// shapes at a moving clock, a poll, an explain, a save / restore, a look-back).
// Beyond not crashing: an engine rebuilt by look-back must read exactly as the
// live one, as long as the clock never went back and no transition is read;
// a model's probability lies in [0, 1] on the side of the threshold its
// decision says.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "rules/engine.h"

using namespace co::rules;

namespace {

const char *const kNames[] = {"A", "B", "Videoview", "VideoCompletion", "AudioPlay", "AudioCompletion", "SegmentEntry",
                              "*"};
const char *const kProps[] = {
    "{}",
    R"({"n":1,"s":"football","tags":["football","drama",1],"b":true})",
    R"({"n":-2.5,"s":"","tags":[],"v":{"c":"x","d":{"e":[1,2]}}})",
    R"({"time_spent_seconds":120,"percentage_watched":0.5})",
    R"({"time_spent_seconds":1e308,"percentage_listened":1e308,"n":1e308})",
    R"({"n":null,"s":null,"tags":null,"v":null})",
    R"({"n":"3","s":3,"tags":"football","v":[1]})",
    R"({"categories":["football"],"genre":"drama","total":500})",
};

struct Stored {
  int64_t seq, time_ms;
  std::string name, session, view;
  cJSON *props;
  Event event() const { return Event{seq, time_ms, name, session, view, props}; }
};

void require(bool ok) {
  if (!ok) std::abort();
}

// A model's probability is in [0, 1] (null only for a NaN score, when two
// infinite contributions cancel) and agrees with its decision.
bool probability_ok(const std::string &json) {
  cJSON *j = cJSON_Parse(json.c_str());
  const cJSON *explain = cJSON_GetObjectItemCaseSensitive(j, "explain");
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(explain, "probability");
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(explain, "threshold");
  bool match = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "match"));
  bool ok = p == nullptr || cJSON_IsNull(p)
                ? !match || p == nullptr
                : p->valuedouble >= 0 && p->valuedouble <= 1 &&
                      // the decision is on the score: the probability may round across
                      (match ? p->valuedouble >= t->valuedouble - 1e-9 : p->valuedouble <= t->valuedouble + 1e-9);
  cJSON_Delete(j);
  return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = static_cast<const uint8_t *>(memchr(data, 0, size));
  size_t rule_len = nul ? static_cast<size_t>(nul - data) : size;
  std::string rule(reinterpret_cast<const char *>(data), rule_len);
  std::string defs =
      R"({"cohorts":[{"id":"base","rule":{"logic":"OR","conditions":[{"type":"event","event_type":"A","window_minutes":1}]}},{"id":"x","rule":)" +
      rule + "}]}";
  auto engine = std::make_unique<Engine>();
  LoadReport report;
  if (!engine->load(defs, {}, 0, &report).ok()) return 0;
  engine->end_lookback();

  std::vector<Stored> history;
  int64_t clock = 1704067200000;
  int session = 0, view = 0;
  bool comparable = rule.find("entered") == std::string::npos && rule.find("exited") == std::string::npos;
  size_t pos = rule_len + 1;
  for (; pos + 4 <= size; pos += 4) {
    const uint8_t *p = data + pos;
    int64_t step = static_cast<int8_t>(p[1]);
    clock += step * step * step * 37;  // mostly small moves, sometimes days, sometimes back
    comparable = comparable && step >= 0;
    std::string session_id = "s" + std::to_string(session), view_id = view ? "v" + std::to_string(view) : "";
    Now now{clock, session_id, view_id};
    switch (p[0] & 15) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:
      case 6:
      case 7:
      case 8:
      case 9: {
        if (p[3] & 1) ++session;
        if (p[3] & 2) ++view;
        session_id = "s" + std::to_string(session);
        view_id = (p[3] & 4) && view ? "v" + std::to_string(view) : "";
        history.push_back({static_cast<int64_t>(history.size() + 1), clock - (p[3] >> 3) * 60000, kNames[p[2] & 7],
                           session_id, view_id, cJSON_Parse(kProps[(p[2] >> 3) & 7])});
        engine->observe(history.back().event());
        break;
      }
      case 10:
      case 11:
        engine->poll(now);
        break;
      case 12:
      case 13: {
        std::string json;
        require(engine->explain("x", now, &json).ok());
        require(probability_ok(json));
        engine->members(now);
        break;
      }
      case 14: {
        auto restored = std::make_unique<Engine>();
        LoadReport r;
        require(restored->load(defs, engine->save(), clock, &r).ok());
        require(r.lookback.empty() && r.discarded.empty());
        engine = std::move(restored);
        break;
      }
      default: {
        auto rebuilt = std::make_unique<Engine>();
        LoadReport r;
        require(rebuilt->load(defs, {}, clock, &r).ok());
        for (const Stored &s : history) rebuilt->lookback(s.event());
        rebuilt->end_lookback();
        std::string live_json, rebuilt_json;
        require(engine->explain("x", now, &live_json).ok() && rebuilt->explain("x", now, &rebuilt_json).ok());
        require(!comparable || live_json == rebuilt_json);
        break;
      }
    }
  }
  engine.reset();
  for (Stored &s : history) cJSON_Delete(s.props);
  return 0;
}
