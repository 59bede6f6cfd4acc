// What the agent feeds the rule engine, and the moment it asks about.
#pragma once
#include <cjson/cJSON.h>

#include <cstdint>
#include <string_view>

namespace co::rules {

class FilterMemo;

// One stored event, borrowed for the duration of a call: the engine copies
// only what it keeps (a session or view id, a property value).
struct Event {
  int64_t seq = 0;      // the history's sequence number: strictly increasing
  int64_t time_ms = 0;  // wall clock, UTC milliseconds since the epoch
  std::string_view name;
  std::string_view session_id;
  std::string_view view_id;           // empty when the event belongs to no view
  const cJSON *properties = nullptr;  // a JSON object; null is read as {}
  FilterMemo *filters = nullptr;  // the engine's per-event scratch, or null
};

// The reading context. Membership is a function of the history *and* of this:
// windows and recency move with `time_ms`, and the session / view windows count
// only events of the agent's current session and view.
struct Now {
  int64_t time_ms = 0;
  std::string_view session_id;  // the agent's current session
  // The current view: the view_id of the most recent event that had one
  // (it stays current after its completion, until another view starts).
  std::string_view view_id;
};

}  // namespace co::rules
