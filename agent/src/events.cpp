// Events: validation, the history and the outbox.
#include <algorithm>
#include <cstring>

#include "agent.h"

namespace co {
namespace {

constexpr size_t kMaxPropertiesBytes = 16 * 1024;

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// algorithm): 64-bit, no timegm, no time_t — safe past 2038 on 32-bit targets.
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int64_t &y, int64_t &m, int64_t &d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool digits(const std::string &s, size_t pos, size_t n, int64_t &out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

int days_in_month(int64_t y, int64_t m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : dm[m - 1];
}

}  // namespace

bool parse_iso8601(const std::string &s, int64_t &ms) {
  int64_t y, mo, d, h, mi, sec;
  if (!digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) || s[13] != ':' ||
      !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return false;
  }
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60) return false;
  size_t pos = 19;
  int64_t frac_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    int64_t scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start || pos - start > 9) return false;
  }
  int64_t offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int64_t oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om) ||
        oh > 23 || om > 59) {
      return false;
    }
    offset_min = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    pos += 6;
  } else {
    return false;  // a time without a zone is ambiguous on a device with a wrong TZ
  }
  if (pos != s.size()) return false;
  int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + (sec > 59 ? 59 : sec);
  ms = (secs - offset_min * 60) * 1000 + frac_ms;
  return true;
}

std::string format_iso8601(int64_t ms) {
  int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  int64_t rem = ms - days * 86400000;
  int64_t y, m, d;
  civil_from_days(days, y, m, d);
  char buf[80];  // sized for any int64 input, not only plausible dates
  snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(y),
           static_cast<long long>(m), static_cast<long long>(d), static_cast<long long>(rem / 3600000),
           static_cast<long long>(rem / 60000 % 60), static_cast<long long>(rem / 1000 % 60),
           static_cast<long long>(rem % 1000));
  return buf;
}

Outcome Agent::new_event(const std::string &name, const cJSON *properties, const char *time, Event &ev) {
  ev.name = name;
  if (properties) {
    ev.properties.reset(cJSON_Duplicate(properties, 1));
    if (!ev.properties) return failure(COHORT_ENOMEM, "properties: out of memory");
    json_drop_empty(ev.properties.get());
    if (json_print_checked(ev.properties.get()).size() > kMaxPropertiesBytes) {
      return failure(COHORT_EINVAL, "properties: larger than 16 KiB serialized");
    }
  } else {
    ev.properties.reset(cJSON_CreateObject());
  }
  int64_t given_ms = 0;
  if (time && !parse_iso8601(time, given_ms)) {
    return failure(COHORT_EINVAL, "time: must be an ISO 8601 date-time with a zone, e.g. 2024-01-15T14:00:00Z");
  }
  stamp(ev);
  if (time) {
    ev.time_ms = given_ms;  // the caller's own time stands
    ev.time_known = true;
  }
  ev.event_id = platform::uuid4(*entropy_);
  if (ev.event_id.empty()) return failure(COHORT_EINTERNAL, "no entropy for the event id");
  return COHORT_OK;
}

// Stores the event in one transaction: the session touch, the history row,
// the outbox row (only with consent), the bounds, and `also` (the caller's own
// rows, e.g. a view's). Without consent nothing behavioral is kept: seq is 0.
// An event that already has a session (a view's completion) keeps it.
Outcome Agent::store_event(Event &ev, int64_t &seq, const std::function<bool()> &also) {
  return store_events(&ev, &seq, 1, also);
}

// Stores `n` events as store_event() does one, all in one transaction. The
// engine observes them and polls inside it; the changes it finds are kept for
// record_pending(), which writes their SegmentEntry / SegmentExit events
// after the call (a change of seven cohorts cost the caller more than four
// plain events). When the commit fails, the engine, which saw what the disk
// did not keep, is rebuilt from the disk before anything else is stored or
// settled (the retry in memory too).
Outcome Agent::store_events(Event *evs, int64_t *seqs, size_t n, const std::function<bool()> &also) {
  // A failed commit left the engine ahead of the disk: from the disk again.
  if (cohorts_ahead_ && !store_.in_transaction()) rebuild_cohorts();
  std::fill(seqs, seqs + n, 0);
  storage::Transaction<storage::HistoryCounts, Session> tx(store_, counts_, session_);
  size_t unrecorded = unrecorded_.size(), notified = pending_notifications_.size();
  bool ok = tx.begun() && write_events(evs, seqs, n, true) && (!also || also());
  if (ok) {
    for (size_t i = 0; i < n; ++i) {
      if (seqs[i] != 0) observe_event(evs[i], seqs[i]);
    }
    note_changes(cohorts_.poll(rules_now()));
  }
  if (!ok || !tx.commit()) {
    unrecorded_.resize(unrecorded);  // the rebuilt engine finds them again
    pending_notifications_.resize(notified);
    std::string why = store_.error();
    tx.rollback();
    std::fill(seqs, seqs + n, 0);
    // The disk failed us: carry on in memory and store it there.
    if (degrade_after_fault()) return store_events(evs, seqs, n, also);
    return failure(COHORT_ESTORAGE, "event not stored: " + why);
  }
  committed();
  settled_by_store_ = true;
  if (unrecorded_.size() >= kMaxUnrecorded) record_pending();
  return COHORT_OK;
}

// The rows of `n` events, in the open transaction (their seqs; 0 without
// consent: nothing behavioral is kept). The caller's events are activity
// (they keep the session alive); the agent's own SegmentEntry / SegmentExit,
// written later than they were found, are not.
bool Agent::write_events(Event *evs, int64_t *seqs, size_t n, bool activity) {
  for (size_t i = 0; i < n; ++i) {
    Event &ev = evs[i];
    if (activity && !touch_session(ev.mono_ms)) return false;
    if (ev.session_id.empty()) ev.session_id = session_.id;
    if (!consent_granted()) continue;
    std::string props = json_print_checked(ev.properties.get());
    seqs[i] = counts_.next_seq++;
    storage::EventRow row{seqs[i],    ev.event_id, identity_.epoch(), ev.name,    ev.time_ms, ev.time_known,
                          ev.mono_ms, boot_n_,     ev.session_id,     ev.view_id, props};
    if (!ev.time_known) counts_.untimed += 1;
    bool inserted = storage::insert_event(store_, row);
    counts_.history += 1;
    if (queued_for_ccs(ev.name)) counts_.outbox += 1;
    if (!inserted || !enforce_bounds()) return false;
  }
  return true;
}

// Keeps the history and the outbox within their bounds: oldest first, and
// counters say how many went. Runs inside the caller's transaction.
bool Agent::enforce_bounds() {
  if (counts_.outbox > queue_limit()) {
    // The oldest queued events are given up: the cursor moves past them.
    int64_t excess = counts_.outbox - queue_limit();
    int64_t last = 0;
    if (!storage::nth_queued(store_, counts_.sent_seq, excess - 1, cfg_.sync_send_segment_events, last)) return false;
    if (!advance_sent(last)) return false;
    counts_.outbox -= excess;
    counts_.dropped += excess;
    if (!storage::set_counter(store_, "outbox_dropped", counts_.dropped)) return false;
  }
  int64_t excess = counts_.history - history_limit();
  int64_t n = 0;
  if (excess > 0 && !(storage::evict_oldest(store_, excess, counts_.sent_seq, n) && count_evicted(n))) return false;
  return enforce_retention();
}

// Retention by age: a pass over the history every ten minutes, a chunk of
// kRetentionChunk seqs (a range of the primary key) per call, so that no call
// reads the whole history: 50,000 events are ~10 ms on a PC, far more on a
// TV, and a call holds the lock an ad break's activations wait for. The
// dictionaries are swept once, after a pass that deleted events. A chunk
// whose transaction rolls back is looked at again by the next pass.
bool Agent::enforce_retention() {
  if (!clock_trust_.trusted()) return true;
  int64_t now_mono = clock_->mono_ms();
  RetentionPass &pass = retention_;
  if (pass.next_seq == 0) {
    if (pass.started_mono && now_mono - *pass.started_mono <= kRetentionEveryMs) return true;
    pass = {0, clock_->wall_ms() - cfg_.history_retention_days * 86400000, now_mono, false};
    if (!storage::first_seq_from(store_, 0, pass.next_seq)) return false;
  }
  int64_t last = std::min(pass.next_seq + kRetentionChunk - 1, counts_.sent_seq);
  int64_t n = 0;
  if (pass.next_seq > 0 && pass.next_seq <= last) {
    if (!(storage::evict_older_than(store_, pass.cutoff_ms, pass.next_seq, last, n) && count_evicted(n))) return false;
    pass.deleted = pass.deleted || n > 0;
    if (!storage::first_seq_from(store_, last + 1, pass.next_seq)) return false;
  }
  if (pass.next_seq != 0 && pass.next_seq <= counts_.sent_seq) return true;  // the next chunk, at the next call
  pass.next_seq = 0;
  return !pass.deleted || storage::sweep_dicts(store_);
}

// Moves the send cursor: every event up to `seq` has left the queue.
bool Agent::advance_sent(int64_t seq) {
  if (!storage::set_sent_seq(store_, seq)) return false;
  counts_.sent_seq = seq;
  return true;
}

// Counts `n` events evicted from the history (never one still queued).
bool Agent::count_evicted(int64_t n) {
  if (n > 0) {
    counts_.history -= n;
    counts_.evicted += n;
    return storage::set_counter(store_, "history_evicted", counts_.evicted) && keep_seq_floor();
  }
  return true;
}

// Drops every event that has left the queue (a new identity's fresh start).
bool Agent::delete_sent_events() {
  return storage::delete_sent(store_, counts_.sent_seq) && storage::set_seq_floor(store_, counts_.next_seq - 1);
}

// Sequence numbers never go back, even when the history empties (the cohort
// state and the send cursor count on it).
bool Agent::keep_seq_floor() {
  return counts_.history > 0 || storage::set_seq_floor(store_, counts_.next_seq - 1);
}

bool Agent::purge_behavioral() {
  // The cursor and the floor move to the last sequence number: nothing queued,
  // and numbering goes on from there (the caller resets the counters).
  if (!storage::purge_behavioral(store_, counts_.next_seq - 1)) return false;
  ++purges_;
  caches_.forget("behavioral");
  sender_.set_dead_letters(0);
  return true;
}

Outcome Agent::m_track(const Params &params, cJSON *result) {
  expire_views(clock_->mono_ms());
  Event ev;
  Outcome st = new_event(params.string("name"), params.get("properties"),
                         params.has("time") ? params.get("time")->valuestring : nullptr, ev);
  if (!st.ok()) return st;
  ev.view_id = params.string("view_id");
  // An event inside an engagement carries its view_id (the guide): one of
  // the open views, whose activity it counts as.
  if (!ev.view_id.empty()) {
    View *view = views_.find(ev.view_id);
    if (!view) return failure(COHORT_ENOTFOUND, "view_id: no open view " + ev.view_id);
    view->active_mono = ev.mono_ms;
  }
  int64_t seq = 0;
  st = store_event(ev, seq);
  if (!st.ok()) return st;
  if (seq != 0) wake_worker(false);
  json_add_string(result, "event_id", ev.event_id.c_str());
  json_add_string(result, "session_id", ev.session_id.c_str());
  if (ev.view_id.empty())
    json_add_null(result, "view_id");
  else
    json_add_string(result, "view_id", ev.view_id.c_str());
  // The membership the poll inside store_event() just kept, as text: reading
  // every cohort again and building the list node by node costs more than
  // the event did.
  if (cohorts_.settled()) {
    json_add(result, "cohorts", cJSON_CreateRaw(cohorts_.settled_members_json().c_str()));
  } else {
    add_local_cohorts(json_add_array(result, "cohorts"));
  }
  json_add_bool(result, "stored", seq != 0);
  return COHORT_OK;
}

Outcome Agent::m_history_get(const Params &params, cJSON *result) {
  int64_t limit = params.integer("limit");
  std::string name = params.string("name");
  // Paging, newest first: `before` is the `next` of the previous page.
  int64_t before = params.integer("before");
  cJSON *arr = json_add_array(result, "events");
  int64_t rows = 0, last = 0;
  bool read = storage::read_history(store_, identity_.epoch(), name, before, limit, [&](const storage::Stmt &q) {
    cJSON *e = json_append(arr, cJSON_CreateObject());  // owned by arr before it is filled
    last = q.int64(0);
    json_add_number(e, "seq", static_cast<double>(last));
    json_add_string(e, "event_id", q.uuid(1).c_str());
    add_event_fields(e, q, 2);
    ++rows;
    return true;
  });
  if (!read) return failure(COHORT_ESTORAGE, "history: " + store_.error());
  json_add_number(result, "total", static_cast<double>(counts_.history));
  // A full page may have more behind it; a short one is the last.
  if (rows == limit) {
    json_add_number(result, "next", static_cast<double>(last));
  } else {
    json_add_null(result, "next");
  }
  return COHORT_OK;
}

}  // namespace co
