// The SQLite store: one database file in data_dir, WAL with synchronous=NORMAL
// (an accepted event survives kill -9 without an fsync per event; the WAL is
// synced within a bounded interval, so a power cut loses at most that much),
// a bounded page cache, and a schema versioned with PRAGMA user_version.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "platform/clock.h"
#include "platform/log.h"
#include "storage/props.h"

struct sqlite3;
struct sqlite3_stmt;

namespace co::storage {

// The schema, one migration per version; exposed so tests can build any
// earlier version and migrate forward from it.
int schema_version();
const char *migration_sql(int to_version);  // SQL taking version-1 to version

class Stmt;

class Store {
 public:
  Store() = default;
  ~Store();
  Store(const Store &) = delete;
  Store &operator=(const Store &) = delete;

  // Opens (or creates) path and migrates it to the current schema. A file
  // that is not a database, or is corrupt, is renamed aside to
  // "<path>.corrupt-<unix time>" and a new store is started, with a log line.
  // On failure returns false and sets err naming the path and the cause.
  bool open(const std::string &path, int cache_kib, platform::Logger &log, std::string &err);
  void close();
  // Where the database belongs, for write_back() when open() never succeeded.
  void set_path(const std::string &path) { path_ = path; }
  bool is_open() const { return db_ != nullptr; }

  // Runs SQL with no results; false + err on failure.
  bool exec(const char *sql, std::string *err = nullptr);
  // Transactions nest: the outermost is BEGIN IMMEDIATE ... COMMIT, inner ones
  // are savepoints, so a step that fails undoes only itself and a caller can
  // make several steps one atomic unit. After a failed commit(), rollback().
  bool begin();
  bool commit();
  void rollback();
  bool in_transaction() const { return depth_ > 0; }
  // Undoes every open level (after a throw left them open).
  void rollback_all();
  // Writes the WAL back into the database file (flush, shutdown).
  void checkpoint();

  // Durability against power loss. A commit is in the page cache at once
  // (it survives kill -9) and on flash once the WAL is synced: the owner calls
  // sync_wal() when sync_due_ms() comes, at most `interval_ms` after the first
  // commit not yet synced (on `clock`'s monotonic time). on_unsynced runs in
  // the committing thread when a commit leaves the store unsynced (to wake the
  // owner's timer; it must not take the owner's lock). interval_ms 0: every
  // commit is synced before it returns (synchronous=FULL: a flash write per
  // commit). Set before open().
  void set_durability(int64_t interval_ms, platform::Clock *clock, std::function<void()> on_unsynced);
  // INT64_MAX when every commit is synced. An in-memory store has nothing to
  // sync: once it went to memory, the next sync_wal() clears what was due.
  int64_t sync_due_ms() const { return unsynced_since_ms_ == 0 ? INT64_MAX : unsynced_since_ms_ + sync_interval_ms_; }
  // Syncs the WAL (through SQLite's own file). A failure is a storage fault,
  // tried again an interval later: false, with err naming the file.
  bool sync_wal(std::string &err);

  // Storage faults. True once an error came from the disk (full, read-only,
  // gone, I/O) rather than from a statement, until close(), switch_to_memory()
  // or write_back().
  bool storage_fault() const { return fault_; }
  void note(int rc);
  // The last open() failed for want of memory (not the disk's fault).
  bool out_of_memory() const { return nomem_; }
  // Carries on in memory: a copy of the database as it stands (or a new, empty
  // one when it cannot be read) replaces it. Only between statements: every
  // Stmt of the old connection must be gone.
  bool switch_to_memory(std::string &err);
  bool in_memory() const { return in_memory_; }
  // The database file was deleted or replaced under us.
  bool file_moved();
  // Back to the file: the in-memory database is copied over it (it started as
  // a copy of it, so nothing is lost). False, still in memory, while the disk
  // is not usable.
  bool write_back(std::string &err);
  int64_t changes() const;
  std::string error() const;
  const std::string &path() const { return path_; }
  // The name the corrupt file was moved to by the last open, or "".
  const std::string &moved_aside() const { return moved_aside_; }

  // A prepared statement for sql, kept for reuse (one per distinct SQL text);
  // nullptr on error. A statement still in use is not handed out twice: the
  // caller then gets a fresh one to finalize (owned == true).
  sqlite3_stmt *prepare(const char *sql, bool &owned);

  // What the sender records after an answer (the send cursor, a dead letter,
  // the cached answers) is committed, while one of these lives, without a
  // sync of its own when every commit is synced (sync_interval_ms 0): an
  // acknowledged event then costs exactly one fsync, and the record rides on
  // the next synced commit. A power cut may lose such a record, never an
  // event: the batch is then sent again (the API takes events at least once).
  // Not inside a transaction.
  class Unsynced {
   public:
    explicit Unsynced(Store &store)
        : store_(store), on_(store.sync_interval_ms_ == 0 && store.db_ && !store.in_memory_ && store.depth_ == 0) {
      if (on_) on_ = store_.exec("PRAGMA synchronous=NORMAL");
    }
    ~Unsynced() {
      if (on_) store_.exec("PRAGMA synchronous=FULL");
    }
    Unsynced(const Unsynced &) = delete;
    Unsynced &operator=(const Unsynced &) = delete;

   private:
    Store &store_;
    bool on_;
  };

  // The dictionaries event properties are stored against (props.h).
  PropsDicts &props() { return props_; }

  // Key/value pairs of the meta table.
  bool get_meta(const char *key, std::string &value);
  bool set_meta(const char *key, std::string_view value);
  bool delete_meta(const char *key);

 private:
  bool run(const std::string &sql);
  static int on_wal_commit(void *self, sqlite3 *db, const char *name, int frames);
  int64_t now_ms() const { return clock_ ? std::max<int64_t>(clock_->mono_ms(), 1) : 1; }
  bool open_and_migrate(std::string &err);
  bool configure(std::string &err);
  void drop_statements();
  bool migrate(std::string &err);

  sqlite3 *db_ = nullptr;
  std::string path_;
  std::string moved_aside_;
  int cache_kib_ = 512;
  int depth_ = 0;  // open transaction levels
  bool in_memory_ = false;
  bool fault_ = false;
  bool nomem_ = false;
  bool copied_from_disk_ = false;  // the in-memory copy started from the file
  int64_t sync_interval_ms_ = 2000;
  platform::Clock *clock_ = nullptr;
  std::function<void()> on_unsynced_;
  int64_t unsynced_since_ms_ = 0;  // monotonic time of the first commit not synced; 0: none
  std::unordered_map<std::string, sqlite3_stmt *> stmts_;
  PropsDicts props_;
};

// A prepared statement, finalized on destruction. Binds are 1-based.
class Stmt {
 public:
  Stmt(Store &store, const char *sql);
  ~Stmt();
  Stmt(const Stmt &) = delete;
  Stmt &operator=(const Stmt &) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Stmt &bind(int i, int64_t v);
  Stmt &bind(int i, std::string_view v);
  Stmt &bind_null(int i);
  Stmt &bind_blob(int i, std::string_view v);
  // A UUID in canonical text (lowercase, dashed) as a 16-byte blob; any other
  // text as text. uuid() reads either back as text.
  Stmt &bind_uuid(int i, std::string_view v);
  // SQLITE_ROW -> true with a row; done or error -> false (see done()).
  bool step();
  // True after the statement ran to completion without error.
  bool done() const { return done_; }
  void reset();
  int64_t int64(int col) const;
  std::string text(int col) const;
  std::string uuid(int col) const;
  bool is_null(int col) const;

 private:
  Store *store_ = nullptr;
  sqlite3_stmt *stmt_ = nullptr;
  bool owned_ = false;
  bool done_ = false;
};

}  // namespace co::storage
