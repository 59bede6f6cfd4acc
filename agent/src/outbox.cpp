#include "outbox.h"

#include <algorithm>

#include "agent.h"
#include "storage/events.h"

namespace co {

void add_event_fields(cJSON *e, const storage::Stmt &q, int first) {
  json_add_string(e, "name", q.text(first).c_str());
  if (q.is_null(first + 1))
    json_add_null(e, "time");  // the wall clock was not trusted yet
  else
    json_add_string(e, "time", format_iso8601(q.int64(first + 1)).c_str());
  json_add_string(e, "session_id", q.uuid(first + 2).c_str());
  if (!q.is_null(first + 3)) json_add_string(e, "view_id", q.uuid(first + 3).c_str());
  Json props = json_parse(q.text(first + 4));
  json_add(e, "properties", props ? props.release() : cJSON_CreateObject());
}

bool Outbox::next(int64_t sent_seq, bool segment_events, OutboxBatch &out) {
  struct Row {
    int64_t time_ms;
    int64_t seq;
    Json event;
  };
  std::vector<Row> rows;
  out = OutboxBatch();
  bool read = storage::read_outbox(*store_, sent_seq, static_cast<int64_t>(kBatch), segment_events,
                                   [&](const storage::Stmt &q) {
                                     // Not sent before the wall clock is trusted and its time back-filled.
                                     if (q.is_null(3)) {
                                       out.waiting_for_clock = rows.empty();
                                       return false;
                                     }
                                     if (out.epoch >= 0 && q.int64(1) != out.epoch) return false;
                                     out.epoch = q.int64(1);
                                     Json e(json_must(cJSON_CreateObject()));
                                     add_event_fields(e.get(), q, 2);
                                     rows.push_back({q.int64(3), q.int64(0), std::move(e)});
                                     return true;
                                   });
  if (!read) return false;
  // The outbox holds events in the order they were accepted; a caller's own
  // `time` may be older than an event before it. The guide asks for
  // chronological order: within a request it is (stable for equal times).
  std::stable_sort(rows.begin(), rows.end(), [](const Row &a, const Row &b) { return a.time_ms < b.time_ms; });
  out.events.reset(json_must(cJSON_CreateArray()));
  for (Row &r : rows) {
    out.seqs.push_back(r.seq);
    json_append(out.events.get(), r.event.release());
  }
  std::sort(out.seqs.begin(), out.seqs.end());
  return true;
}

}  // namespace co
