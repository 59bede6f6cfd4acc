#include "storage/views.h"

namespace co::storage {

bool insert_view(Store &store, const ViewRow &v) {
  Stmt q(store,
         "INSERT OR REPLACE INTO views(view_id,event_name,completion_name,kind,session_id,properties,url,"
         "duration_s,started_mono,state) VALUES(?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, v.view_id).bind(2, v.event_name).bind(3, v.completion_name).bind(4, v.kind);
  q.bind(5, v.session_id).bind(6, v.properties).bind(7, v.url);
  q.bind(8, v.duration_ms).bind(9, v.started_mono).bind(10, v.state);
  return run(q);
}

bool set_view_state(Store &store, std::string_view view_id, std::string_view state) {
  Stmt q(store, "UPDATE views SET state=? WHERE view_id=?");
  q.bind(1, state).bind(2, view_id);
  return run(q);
}

bool delete_view(Store &store, std::string_view view_id) {
  return run_for_key(store, "DELETE FROM views WHERE view_id=?", view_id);
}

bool read_views(Store &store, const Rows &fn) {
  return read_all(store,
                  "SELECT view_id,event_name,completion_name,kind,session_id,properties,url,duration_s,state"
                  " FROM views",
                  fn);
}

}  // namespace co::storage
