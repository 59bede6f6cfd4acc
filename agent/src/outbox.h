// Outbox: the events still to send, read a batch at a time. Not a table: a
// cursor over the history (storage/events.h, meta sent_seq); the agent moves
// the cursor when a batch has left (sync.cpp). Owns the reading of a batch:
// the oldest queued events of one identity epoch, at most kBatch, stopping
// before the first whose wall time is not known yet, in time order (the
// guide's) and in the CCS event shape. Guarded by the agent's lock
// (Agent::mu_).
#pragma once
#include <cstdint>
#include <vector>

#include "json.h"
#include "storage/store.h"
#include "sync_plan.h"

namespace co {

// Adds name, time, session_id, view_id? and properties (the CCS event shape)
// from the five event columns of a row (storage/events.h), starting at `first`.
void add_event_fields(cJSON *e, const storage::Stmt &q, int first);

struct OutboxBatch {
  int64_t epoch = -1;              // the identity epoch of every event in it
  std::vector<int64_t> seqs;       // the events it carries, in outbox order
  Json events;                     // a JSON array, in time order
  bool waiting_for_clock = false;  // empty: the next event has no wall time yet
};

class Outbox {
 public:
  static constexpr size_t kBatch = sync_plan::kBatchEvents;

  void start(storage::Store &store) { store_ = &store; }
  // The next batch after `sent_seq` (segment_events: whether the agent's own
  // SegmentEntry / SegmentExit events are sent). False when the store could
  // not be read; an empty batch when nothing can go now.
  bool next(int64_t sent_seq, bool segment_events, OutboxBatch &out);

 private:
  storage::Store *store_ = nullptr;
};

}  // namespace co
