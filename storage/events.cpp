#include "storage/events.h"

#include <unordered_set>
#include <vector>

namespace co::storage {
namespace {

// The condition of an event still to be sent: segment events stay on the
// device unless they are sent. Two texts, two cached statements each.
std::string queued(const char *before, bool segment_events, const char *after) {
  return std::string(before) + (segment_events ? "" : " AND name NOT IN ('SegmentEntry','SegmentExit')") + after;
}

bool evict(Stmt &del, int64_t arg, int64_t sent_seq, Store &store, int64_t &deleted) {
  del.bind(1, arg).bind(2, sent_seq);
  deleted = run(del) ? store.changes() : 0;
  return del.done();
}

// The rows of a query over one epoch's events after a seq.
bool read_after(Store &store, const char *sql, int64_t epoch, int64_t after, const Rows &fn) {
  Stmt q(store, sql);
  q.bind(1, epoch).bind(2, after);
  return each_row(q, fn);
}

}  // namespace

bool sweep_dicts(Store &store) {
  if (!store.exec("DELETE FROM props_dicts WHERE id NOT IN"
                  " (SELECT props_dict(properties) FROM events WHERE typeof(properties)='blob')")) {
    return false;
  }
  std::unordered_set<int64_t> kept;
  bool read = read_all(store, "SELECT id FROM props_dicts", [&](const Stmt &q) {
    kept.insert(q.int64(0));
    return true;
  });
  if (read) store.props().forget_current_except(kept);
  return read;
}

bool insert_event(Store &store, const EventRow &row) {
  PropsDicts::Encoded props;
  store.props().encode(row.name, row.properties, props);
  if (props.dict_id != 0) {
    // Written with the first event that needs it; after that a lookup, no write.
    Stmt dict(store, "INSERT OR IGNORE INTO props_dicts(id,name,dict) VALUES(?,?,?)");
    dict.bind(1, props.dict_id).bind(2, props.name).bind_blob(3, props.dict);
    if (!run(dict)) return false;
  }
  Stmt ins(store,
           "INSERT INTO events(event_id,epoch,name,time_ms,mono_ms,boot,session_id,view_id,properties,seq)"
           " VALUES(?,?,?,?,?,?,?,?,?,?)");
  ins.bind_uuid(1, row.event_id).bind(2, row.epoch).bind(3, row.name).bind(5, row.mono_ms);
  if (row.time_known)
    ins.bind(4, row.time_ms);
  else
    ins.bind_null(4);
  ins.bind(6, row.boot).bind_uuid(7, row.session_id).bind(10, row.seq);
  if (props.blob.empty())
    ins.bind(9, row.properties);
  else
    ins.bind_blob(9, props.blob);
  if (row.view_id.empty())
    ins.bind_null(8);
  else
    ins.bind_uuid(8, row.view_id);
  return run(ins);
}

bool count_events(Store &store, int64_t sent_seq, bool segment_events, StoredCounts &out) {
  std::string sql = queued("SELECT count(*), coalesce(max(seq),0), (SELECT count(*) FROM events WHERE seq>?",
                           segment_events, "), (SELECT count(*) FROM events WHERE time_ms IS NULL) FROM events");
  Stmt q(store, sql.c_str());
  q.bind(1, sent_seq);
  if (!q.step()) return false;
  out.history = q.int64(0);
  out.max_seq = q.int64(1);
  out.queued = q.int64(2);
  out.untimed = q.int64(3);
  return true;
}

bool count_all_events(Store &store, int64_t &n) {
  Stmt q(store, "SELECT count(*) FROM events");
  if (!q.step()) return false;
  n = q.int64(0);
  return true;
}

bool nth_queued(Store &store, int64_t sent_seq, int64_t n, bool segment_events, int64_t &seq) {
  std::string sql = queued("SELECT seq FROM events WHERE seq>?", segment_events, " ORDER BY seq LIMIT 1 OFFSET ?");
  Stmt q(store, sql.c_str());
  q.bind(1, sent_seq).bind(2, n);
  if (!q.step()) return false;
  seq = q.int64(0);
  return true;
}

bool evict_oldest(Store &store, int64_t n, int64_t sent_seq, int64_t &deleted) {
  Stmt del(store, "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq<=?2 ORDER BY seq LIMIT ?1)");
  return evict(del, n, sent_seq, store, deleted);
}

bool evict_older_than(Store &store, int64_t cutoff_ms, int64_t from_seq, int64_t to_seq, int64_t &deleted) {
  Stmt del(store,
           "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq BETWEEN ?3 AND ?2 AND time_ms < ?1)");
  del.bind(3, from_seq);
  return evict(del, cutoff_ms, to_seq, store, deleted);
}

bool first_seq_from(Store &store, int64_t from_seq, int64_t &seq) {
  Stmt q(store, "SELECT coalesce(min(seq),0) FROM events WHERE seq>=?");
  q.bind(1, from_seq);
  if (!q.step()) return false;
  seq = q.int64(0);
  return true;
}

bool delete_sent(Store &store, int64_t sent_seq) {
  Stmt del(store, "DELETE FROM events WHERE seq<=?");
  del.bind(1, sent_seq);
  return run(del) && (store.changes() == 0 || sweep_dicts(store));
}

bool set_sent_seq(Store &store, int64_t seq) {
  return store.set_meta("sent_seq", std::to_string(seq));
}
bool set_seq_floor(Store &store, int64_t seq) {
  return store.set_meta("seq_floor", std::to_string(seq));
}
bool set_counter(Store &store, const char *key, int64_t value) {
  return store.set_meta(key, std::to_string(value));
}

int64_t counter(Store &store, const char *key) {
  std::string v;
  return store.get_meta(key, v) ? std::stoll(v) : 0;
}

bool purge_behavioral(Store &store, int64_t last_seq) {
  return set_sent_seq(store, last_seq) && set_seq_floor(store, last_seq) && store.exec("DELETE FROM events") &&
         store.exec("DELETE FROM cohort_state") && store.exec("DELETE FROM cache WHERE kind='behavioral'") &&
         store.exec("DELETE FROM dead_letters") && store.exec("DELETE FROM meta WHERE key='ccs_state'") &&
         sweep_dicts(store);
}

bool read_outbox(Store &store, int64_t sent_seq, int64_t limit, bool segment_events, const Rows &fn) {
  std::string sql = queued("SELECT seq,epoch,name,time_ms,session_id,view_id,props(properties) FROM events WHERE seq>?",
                           segment_events, " ORDER BY seq LIMIT ?");
  Stmt q(store, sql.c_str());
  q.bind(1, sent_seq).bind(2, limit);
  return each_row(q, fn);
}

bool read_history(Store &store, int64_t epoch, std::string_view name, int64_t before, int64_t limit, const Rows &fn) {
  Stmt q(store,
         "SELECT seq,event_id,name,time_ms,session_id,view_id,props(properties) FROM events"
         " WHERE epoch = ?3 AND (?1 = '' OR name = ?1) AND (?4 = 0 OR seq < ?4) ORDER BY seq DESC LIMIT ?2");
  q.bind(1, name).bind(2, limit).bind(3, epoch).bind(4, before);
  return each_row(q, fn);
}

bool read_epoch_events(Store &store, int64_t epoch, int64_t after, const Rows &fn) {
  return read_after(store,
                    "SELECT seq,time_ms,name,session_id,view_id,props(properties) FROM events"
                    " WHERE epoch=? AND seq>? ORDER BY seq",
                    epoch, after, fn);
}

bool read_segment_events(Store &store, int64_t epoch, int64_t after, const Rows &fn) {
  return read_after(store,
                    "SELECT seq,name,time_ms,session_id,view_id,props(properties) FROM events"
                    " WHERE epoch=? AND seq>? AND name IN ('SegmentEntry','SegmentExit') ORDER BY seq",
                    epoch, after, fn);
}

std::string newest_view_id(Store &store, int64_t epoch) {
  Stmt q(store, "SELECT view_id FROM events WHERE epoch=? AND view_id IS NOT NULL ORDER BY seq DESC LIMIT 1");
  q.bind(1, epoch);
  return q.step() ? q.uuid(0) : std::string();
}

bool backfill_times(Store &store, int64_t boot, int64_t offset) {
  if (!store.begin()) return false;
  Stmt mark(store, "UPDATE boots SET offset_ms=? WHERE n=?");
  mark.bind(1, offset).bind(2, boot);
  mark.step();
  // This boot, and earlier boots whose offset is known: exact.
  Stmt known(store,
             "UPDATE events SET time_ms = mono_ms + (SELECT offset_ms FROM boots WHERE n = events.boot)"
             " WHERE time_ms IS NULL AND boot IN (SELECT n FROM boots WHERE offset_ms IS NOT NULL)");
  known.step();
  // Earlier boots never trusted: just before this boot started (at wall time
  // `offset`), the latest boot last, each spaced as it was.
  struct Span {
    int64_t boot, first, last;
  };
  std::vector<Span> spans;
  Stmt q(store,
         "SELECT boot, min(mono_ms), max(mono_ms) FROM events WHERE time_ms IS NULL"
         " GROUP BY boot ORDER BY boot DESC");
  while (q.step()) spans.push_back({q.int64(0), q.int64(1), q.int64(2)});
  bool ok = mark.done() && known.done() && q.done();
  int64_t end = offset - 1;
  Stmt place(store, "UPDATE events SET time_ms = ?1 - (?2 - mono_ms) WHERE boot = ?3 AND time_ms IS NULL");
  for (const Span &span : spans) {
    if (!ok) break;
    place.reset();
    place.bind(1, end).bind(2, span.last).bind(3, span.boot);
    ok = run(place);
    end -= span.last - span.first + 1;
  }
  if (!ok || !store.commit()) {
    store.rollback();
    return false;
  }
  return true;
}

}  // namespace co::storage
