// The database schema: what each table and column holds, and the invariants
// the agent keeps. This comment is the specification of the current schema
// (version 7); the migrations below are how a database of any earlier version
// gets there, and never change once released. SQL lives only in storage/: the
// agent calls the named operations of events.h, boots.h, caches.h,
// identities.h, cohort_state.h, views.h and dead_letters.h.
//
// meta(key TEXT PRIMARY KEY, value TEXT)
//   Small values, one row each. Keys:
//     user_id          the current Permutive ID (a UUID; the CCS API may
//                      answer with another, which is then adopted).
//     epoch            the current identity epoch (see identities).
//     consent          "1" when consent is granted, "0" when withdrawn.
//     session          "<session id>|<mono ms>|<boot id>|<wall ms>": the
//                      session and its last activity, written when the
//                      session changes and at most every 10 s otherwise.
//     sent_seq         the send cursor: every event with seq <= sent_seq has
//                      left the queue (sent, refused or given up).
//     seq_floor        the last sequence number handed out when the history
//                      was last emptied: numbering never goes back.
//     history_evicted  events evicted from the history, ever (a counter).
//     outbox_dropped   queued events given up to the queue bound, ever.
//     definitions      the cohort definitions document last put.
//     ccs_state        the stateless CCS user state (api.mode stateless).
//
// events(seq INTEGER PRIMARY KEY, event_id, epoch, name, time_ms, mono_ms,
//        boot, session_id, view_id, properties)
//   The history: one row per stored event, seq rising in the order accepted
//   (handed out by the agent: max(seq, seq_floor, sent_seq) + 1).
//     event_id    a UUID, as a 16-byte blob (rows before version 4: text).
//     epoch       the identity epoch the event was recorded under.
//     name        the event name (SegmentEntry / SegmentExit: the agent's own
//                 record of local cohort changes; kept back from the CCS API
//                 unless sync.send_segment_events).
//     time_ms     Unix ms; NULL while the wall clock was not yet trusted,
//                 back-filled from boots.offset_ms once it is.
//     mono_ms     the boot's monotonic clock when the event was stored.
//     boot        boots.n of the boot that stored it.
//     session_id  a UUID blob; view_id: a UUID blob or NULL.
//     properties  a JSON object, at most 16 KiB: as text, or (denser) as a
//                 blob: a varint props_dicts.id, then the JSON encoded against
//                 that dictionary (storage/props_codec.h). Read it through
//                 the SQL function props(properties): the JSON text either way.
//   The outbox is not a table: it is the events with seq > meta.sent_seq
//   (less the segment events, unless sent). Invariants: events with
//   seq <= sent_seq may be evicted (by count or age); events above it never
//   are, except by a consent withdrawal (all go) or the queue bound (the
//   cursor moves past the oldest first).
//
// boots(n INTEGER PRIMARY KEY, boot_id TEXT UNIQUE, offset_ms, alive_mono)
//   One row per boot of the device the agent ran in.
//     offset_ms   wall - mono of that boot once its wall clock was trusted;
//                 NULL: never trusted during it.
//     alive_mono  the last monotonic time that boot was seen alive (written
//                 hourly and with each cached answer): a later boot takes a
//                 cached answer's time left from it.
//
// identities(epoch INTEGER PRIMARY KEY, user_id TEXT, aliases TEXT)
//   One row per identity epoch (identity.reset starts the next). aliases: the
//   epoch's alias set as a JSON array [{tag, id, priority}], kept when the
//   epoch ends, so its events still queued leave under it.
//
// aliases(tag TEXT PRIMARY KEY, id TEXT, priority INTEGER, ord INTEGER)
//   The current epoch's aliases; ord: their order among equal priorities
//   (the order they were given in).
//
// cohort_state(cohort_id TEXT PRIMARY KEY, checksum TEXT, last_seq INTEGER,
//              state BLOB)
//   The local cohorts' saved state, written about once a minute and with
//   every definitions change: the state covers every event up to last_seq
//   (the rest is replayed from events at start). checksum: the rule it was
//   built for.
//
// cache(key TEXT PRIMARY KEY, kind TEXT, boot INTEGER, expires_mono INTEGER,
//       body TEXT)
//   Remote answers kept with their deadline. key: "behavioral" (the CCS
//   answer) or "ctx:<url>" (a contextual answer); kind: "behavioral" or
//   "contextual"; body: the cached JSON. expires_mono is on the clock of
//   boot `boot`; a NULL boot (rows from before version 5) means expires_mono
//   is the time left itself. A later boot never gives an answer more than its
//   TTL.
//
// views(view_id TEXT PRIMARY KEY, event_name, completion_name, kind,
//       session_id, properties, url, duration_s, started_mono, state)
//   Content views still open, so a crash or power cut can end them with
//   their engagement at the next start. kind: the percentage key
//   (percentage_watched, ...); duration_s: in ms despite its name (rounded);
//   state: JSON {playing, spent_ms, position_s, furthest_s}, updated as the
//   view goes on. A row leaves in the transaction that stores its completion.
//
// props_dicts(id INTEGER PRIMARY KEY, name TEXT, dict BLOB)
//   The dictionaries event properties are encoded against: the start (at
//   most 2 KiB) of an earlier event's properties named `name`; the newest of
//   a name is the one new events use. A dictionary is written in the
//   transaction of the first event encoded against it, and lives while an
//   event in the history refers to it (swept with the retention by age; all
//   go with a consent withdrawal). At most 64.
//
// dead_letters(id INTEGER PRIMARY KEY, at_ms, http_status, error, payload)
//   Batches the CCS API refused for good (400, 413, 422): the answer's body
//   (error, redacted) and the request (payload). The newest 100 are kept.
#include "storage/store.h"

namespace co::storage {
namespace {

// Version N is reached by running kMigrations[N-1] on version N-1. Append only:
// a released migration never changes.
const char *const kMigrations[] = {
    // 1: identity, history, outbox, dead letters, cohort state, caches.
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE aliases(tag TEXT PRIMARY KEY, id TEXT NOT NULL,"
    "  priority INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE identities(epoch INTEGER PRIMARY KEY, user_id TEXT NOT NULL,"
    "  aliases TEXT NOT NULL DEFAULT '[]');"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,"
    "  epoch INTEGER NOT NULL, name TEXT NOT NULL, time_ms INTEGER, mono_ms INTEGER NOT NULL,"
    "  boot_id TEXT NOT NULL, session_id TEXT NOT NULL, view_id TEXT,"
    "  properties TEXT NOT NULL);"
    "CREATE INDEX events_time ON events(time_ms);"
    "CREATE TABLE outbox(seq INTEGER PRIMARY KEY);"
    "CREATE TABLE dead_letters(id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,"
    "  http_status INTEGER NOT NULL, error TEXT NOT NULL, payload TEXT NOT NULL);"
    "CREATE TABLE cohort_state(cohort_id TEXT PRIMARY KEY, checksum TEXT NOT NULL,"
    "  last_seq INTEGER NOT NULL, state BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE cache(key TEXT PRIMARY KEY, kind TEXT NOT NULL, stored_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL, body TEXT NOT NULL) WITHOUT ROWID;",
    // 2: open views, so a crash or power cut can still end them with engagement.
    "CREATE TABLE views(view_id TEXT PRIMARY KEY, event_name TEXT NOT NULL,"
    "  completion_name TEXT NOT NULL, kind TEXT NOT NULL, session_id TEXT NOT NULL,"
    "  properties TEXT NOT NULL, url TEXT, duration_s REAL, started_mono INTEGER NOT NULL,"
    "  state TEXT NOT NULL) WITHOUT ROWID;",
    // 3: retention scans by age every few minutes; an index written with every
    // event costs more flash than the scan costs time.
    "DROP INDEX IF EXISTS events_time;",
    // 4: flash wear. An event is one small row on one page: the outbox becomes
    // a cursor (meta sent_seq: every event up to it has left); sequence numbers
    // come from the agent (meta seq_floor keeps them rising when the history
    // empties), not from AUTOINCREMENT's extra page per insert; UUIDs are 16-byte
    // blobs (rows written before stay text); the boot is a number into `boots`,
    // which also keeps each boot's wall-clock offset once the clock is trusted.
    "CREATE TABLE boots(n INTEGER PRIMARY KEY, boot_id TEXT NOT NULL UNIQUE, offset_ms INTEGER);"
    "CREATE TABLE events4(seq INTEGER PRIMARY KEY, event_id BLOB NOT NULL,"
    "  epoch INTEGER NOT NULL, name TEXT NOT NULL, time_ms INTEGER, mono_ms INTEGER NOT NULL,"
    "  boot NOT NULL, session_id BLOB NOT NULL, view_id BLOB, properties TEXT NOT NULL);"
    "INSERT INTO events4 SELECT seq,event_id,epoch,name,time_ms,mono_ms,boot_id,session_id,view_id,properties"
    "  FROM events;"
    "INSERT OR REPLACE INTO meta(key,value) SELECT 'sent_seq',"
    "  coalesce((SELECT min(seq) FROM outbox) - 1, (SELECT max(seq) FROM events), 0);"
    "INSERT OR REPLACE INTO meta(key,value) SELECT 'seq_floor',"
    "  coalesce((SELECT seq FROM sqlite_sequence WHERE name='events'), 0);"
    "DROP TABLE events;"
    "DROP TABLE outbox;"
    "ALTER TABLE events4 RENAME TO events;",
    // 5: cache deadlines on the monotonic clock, so a wall-clock change
    // neither expires nor revives an answer. A row keeps the boot it was
    // written in and its deadline on that boot's clock; each boot records the
    // last monotonic time it was seen alive, so a later boot knows how much
    // time an answer had left. Rows written before keep their time left at
    // upgrade (their deadline on no boot: the time left itself).
    "ALTER TABLE boots ADD COLUMN alive_mono INTEGER;"
    "CREATE TABLE cache5(key TEXT PRIMARY KEY, kind TEXT NOT NULL, boot INTEGER,"
    "  expires_mono INTEGER NOT NULL, body TEXT NOT NULL) WITHOUT ROWID;"
    "INSERT INTO cache5 SELECT key, kind, NULL,"
    "  expires_ms - CAST(strftime('%s','now') AS INTEGER) * 1000, body FROM cache"
    "  WHERE stored_ms <= CAST(strftime('%s','now') AS INTEGER) * 1000;"
    "DROP TABLE cache;"
    "ALTER TABLE cache5 RENAME TO cache;",
    // 6: aliases of equal priority keep the order they were given in (not
    // their tag's spelling): `ord` is that order. Rows from before keep the
    // tag order they were read in.
    "ALTER TABLE aliases ADD COLUMN ord INTEGER NOT NULL DEFAULT 0;"
    "UPDATE aliases SET ord = (SELECT count(*) FROM aliases a2 WHERE a2.priority < aliases.priority"
    "  OR (a2.priority = aliases.priority AND a2.tag < aliases.tag));",
    // 7: flash wear. Event properties may be stored as a blob encoded against
    // a dictionary of this table (storage/props.h); rows written before stay
    // text, and are read as they were.
    "CREATE TABLE props_dicts(id INTEGER PRIMARY KEY, name TEXT NOT NULL, dict BLOB NOT NULL);",
};
constexpr int kVersion = static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);

}  // namespace

int schema_version() {
  return kVersion;
}

const char *migration_sql(int to_version) {
  return to_version >= 1 && to_version <= kVersion ? kMigrations[to_version - 1] : nullptr;
}

}  // namespace co::storage
