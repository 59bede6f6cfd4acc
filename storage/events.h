// The history and the outbox: the events table, the send cursor
// (meta sent_seq) and the sequence floor (meta seq_floor). See schema.cpp.
// Every function runs in the caller's transaction, if one is open.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/rows.h"
#include "storage/store.h"

namespace co::storage {

// The history's counters, mirrored in memory from the store. A transaction
// that changes them holds them (Transaction<HistoryCounts, ...>), so that its
// rollback puts them back.
struct HistoryCounts {
  int64_t history = 0;   // events in the history
  int64_t outbox = 0;    // events after sent_seq: still to send
  int64_t sent_seq = 0;  // every event up to here has left (sent, refused or dropped)
  int64_t next_seq = 1;  // the sequence number of the next stored event
  int64_t evicted = 0;   // history_evicted (persisted in meta)
  int64_t dropped = 0;   // outbox_dropped (persisted in meta)
  int64_t untimed = 0;   // stored with no trusted time yet
};

// The outbox queries take `segment_events`: whether the agent's own
// SegmentEntry / SegmentExit events are sent (sync.send_segment_events).

// One event row. An empty view_id is stored as NULL; time_known false: a NULL
// time_ms (the wall clock was not trusted yet).
struct EventRow {
  int64_t seq = 0;
  std::string_view event_id;
  int64_t epoch = 0;
  std::string_view name;
  int64_t time_ms = 0;
  bool time_known = true;
  int64_t mono_ms = 0;
  int64_t boot = 0;
  std::string_view session_id;
  std::string_view view_id;
  std::string_view properties;
};
bool insert_event(Store &store, const EventRow &row);

// The counts at open: the history's size, its highest seq, the events queued
// after sent_seq, and those with no wall time yet.
struct StoredCounts {
  int64_t history = 0, max_seq = 0, queued = 0, untimed = 0;
};
bool count_events(Store &store, int64_t sent_seq, bool segment_events, StoredCounts &out);
bool count_all_events(Store &store, int64_t &n);

// The seq of the queued event `n` places after the oldest one (0: the oldest).
bool nth_queued(Store &store, int64_t sent_seq, int64_t n, bool segment_events, int64_t &seq);

// Eviction from the history, never past the send cursor: the `n` oldest, or
// those older than `cutoff_ms` with a seq from `from_seq` to `to_seq` (at most
// sent_seq; a range of the primary key, read alone). `deleted` says how many went.
bool evict_oldest(Store &store, int64_t n, int64_t sent_seq, int64_t &deleted);
bool evict_older_than(Store &store, int64_t cutoff_ms, int64_t from_seq, int64_t to_seq, int64_t &deleted);
// The lowest seq in the history at or after `from_seq`, 0 when none.
bool first_seq_from(Store &store, int64_t from_seq, int64_t &seq);
// Dictionaries no event refers to any more go, so that an event's text does
// not outlive the history's bounds in one. Reads every event: run after an
// eviction by age that deleted some, not per event.
bool sweep_dicts(Store &store);
// Every event up to sent_seq (a new identity's fresh start).
bool delete_sent(Store &store, int64_t sent_seq);

bool set_sent_seq(Store &store, int64_t seq);
bool set_seq_floor(Store &store, int64_t seq);
bool set_counter(Store &store, const char *key, int64_t value);  // history_evicted, outbox_dropped
// The meta counter `key`, 0 when never written.
int64_t counter(Store &store, const char *key);

// Consent withdrawn: every event, the cohort state, the behavioral cache,
// the dead letters and the stateless state go; the cursor and the floor move
// to last_seq.
bool purge_behavioral(Store &store, int64_t last_seq);

// Reads. Event columns, from the first one each names:
//   name, time_ms (NULL: not trusted yet), session_id (uuid), view_id (uuid
//   or NULL), properties (text).
// The outbox, oldest first, at most `limit`: seq, epoch, then the event.
bool read_outbox(Store &store, int64_t sent_seq, int64_t limit, bool segment_events, const Rows &fn);
// A page of the epoch's history, newest first (name "": any; before 0: from
// the newest): seq, event_id (uuid), then the event.
bool read_history(Store &store, int64_t epoch, std::string_view name, int64_t before, int64_t limit, const Rows &fn);
// The epoch's events after `after`, oldest first:
// seq, time_ms, name, session_id, view_id, properties.
bool read_epoch_events(Store &store, int64_t epoch, int64_t after, const Rows &fn);
// The epoch's SegmentEntry / SegmentExit events after `after`, oldest first:
// seq, name, time_ms, session_id, view_id, properties.
bool read_segment_events(Store &store, int64_t epoch, int64_t after, const Rows &fn);
// The view_id of the epoch's newest event that has one ("" when none).
std::string newest_view_id(Store &store, int64_t epoch);

// The wall clock became trusted at offset (wall - mono) in boot `boot`: that
// boot's offset is recorded and every event without a time gets one, in one
// transaction: exact for boots whose offset is known, and for boots never
// trusted, just before this one, the latest last, each spaced as it was.
bool backfill_times(Store &store, int64_t boot, int64_t offset);

}  // namespace co::storage
