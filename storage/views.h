// The views table: content views still open (see schema.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/rows.h"
#include "storage/store.h"

namespace co::storage {

struct ViewRow {
  std::string_view view_id, event_name, completion_name, kind, session_id, properties, url;
  int64_t duration_ms = 0;
  int64_t started_mono = 0;
  std::string_view state;  // JSON
};
bool insert_view(Store &store, const ViewRow &row);
bool set_view_state(Store &store, std::string_view view_id, std::string_view state);
bool delete_view(Store &store, std::string_view view_id);
// Every open view: view_id, event_name, completion_name, kind, session_id,
// properties, url, duration (ms), state.
bool read_views(Store &store, const Rows &fn);

}  // namespace co::storage
