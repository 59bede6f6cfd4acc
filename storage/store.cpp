#include "storage/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace co::storage {
namespace {

bool is_corruption(int rc) {
  rc &= 0xff;
  return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

}  // namespace

Store::~Store() {
  close();
}

void Store::drop_statements() {
  for (auto &entry : stmts_) sqlite3_finalize(entry.second);
  stmts_.clear();
}

void Store::close() {
  drop_statements();
  depth_ = 0;
  unsynced_since_ms_ = 0;  // closing checkpoints (and syncs) the WAL
  in_memory_ = false;
  fault_ = false;
  if (db_) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

bool Store::exec(const char *sql, std::string *err) {
  char *msg = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) note(rc);
  if (rc != SQLITE_OK && err) *err = msg ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  return rc == SQLITE_OK;
}

// Transaction control runs for every request: prepared once, kept (prepare()).
bool Store::run(const std::string &sql) {
  Stmt stmt(*this, sql.c_str());
  if (!stmt.ok()) {
    note(db_ ? sqlite3_errcode(db_) : SQLITE_MISUSE);
    return false;
  }
  stmt.step();
  return stmt.done();
}

bool Store::begin() {
  if (depth_ > 0 && sqlite3_get_autocommit(db_)) depth_ = 0;  // SQLite rolled the outer one back
  if (!run(depth_ == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT s" + std::to_string(depth_))) return false;
  ++depth_;
  return true;
}

bool Store::commit() {
  if (depth_ == 0 || sqlite3_get_autocommit(db_)) return false;  // nothing open (any more)
  if (!run(depth_ == 1 ? "COMMIT" : "RELEASE s" + std::to_string(depth_ - 1))) {
    return false;  // still open: the caller rolls back
  }
  --depth_;
  return true;
}

void Store::rollback() {
  if (!db_) return;
  if (depth_ > 1 && !sqlite3_get_autocommit(db_)) {
    std::string name = "s" + std::to_string(depth_ - 1);
    exec(("ROLLBACK TO " + name + ";RELEASE " + name).c_str());
    --depth_;
    return;
  }
  depth_ = 0;
  if (!sqlite3_get_autocommit(db_)) exec("ROLLBACK");
}
void Store::rollback_all() {
  depth_ = 0;
  if (db_ && !sqlite3_get_autocommit(db_)) exec("ROLLBACK");
}

void Store::checkpoint() {
  if (db_) sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
}
int64_t Store::changes() const {
  return sqlite3_changes(db_);
}
std::string Store::error() const {
  return db_ ? sqlite3_errmsg(db_) : "database not open";
}

bool Store::migrate(std::string &err) {
  int version = 0;
  {
    Stmt q(*this, "PRAGMA user_version");
    if (!q.ok() || !q.step()) {
      err = error();
      return false;
    }
    version = static_cast<int>(q.int64(0));
  }
  if (version > schema_version()) {
    err = "database schema version " + std::to_string(version) + " is newer than this agent's (" +
          std::to_string(schema_version()) + ")";
    return false;
  }
  for (int v = version + 1; v <= schema_version(); ++v) {
    std::string sql =
        std::string("BEGIN IMMEDIATE;") + migration_sql(v) + "PRAGMA user_version=" + std::to_string(v) + ";COMMIT;";
    if (!exec(sql.c_str(), &err)) {
      rollback();
      err = "migration to schema version " + std::to_string(v) + " failed: " + err;
      return false;
    }
  }
  return true;
}

// One agent owns its database: exclusive locking spares the lock calls of
// every transaction (and keeps a second agent off the same data_dir).
bool Store::configure(std::string &err) {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 2000);
  std::string pragmas = std::string("PRAGMA page_size=512;PRAGMA locking_mode=EXCLUSIVE;PRAGMA journal_mode=WAL;") +
                        (sync_interval_ms_ == 0 ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;") +
                        "PRAGMA foreign_keys=ON;PRAGMA temp_store=MEMORY;"
                        "PRAGMA journal_size_limit=1048576;PRAGMA cache_size=-" +
                        std::to_string(cache_kib_) + ";";
  if (!exec(pragmas.c_str(), &err)) return false;
  props_.register_functions(db_);
  // Replaces SQLite's own hook, whose checkpoint it keeps.
  if (!in_memory_) sqlite3_wal_hook(db_, on_wal_commit, this);
  return true;
}

int Store::on_wal_commit(void *self, sqlite3 *db, const char *name, int frames) {
  Store *s = static_cast<Store *>(self);
  if (s->sync_interval_ms_ > 0 && s->unsynced_since_ms_ == 0) {
    s->unsynced_since_ms_ = s->now_ms();
    if (s->on_unsynced_) s->on_unsynced_();
  }
  // SQLite's default: a passive checkpoint once the WAL holds 1000 pages.
  constexpr int kAutoCheckpointFrames = 1000;
  if (frames >= kAutoCheckpointFrames) sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  return SQLITE_OK;
}

void Store::set_durability(int64_t interval_ms, platform::Clock *clock, std::function<void()> on_unsynced) {
  sync_interval_ms_ = interval_ms;
  clock_ = clock;
  on_unsynced_ = std::move(on_unsynced);
}

bool Store::sync_wal(std::string &err) {
  if (!db_ || in_memory_ || unsynced_since_ms_ == 0) {
    unsynced_since_ms_ = 0;
    return true;
  }
  sqlite3_file *wal = nullptr;
  int rc = sqlite3_file_control(db_, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
  if (rc == SQLITE_OK && wal && wal->pMethods) rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
  if (rc != SQLITE_OK) {
    note(rc);
    err = std::string("cannot sync ") + path_ + "-wal: " + sqlite3_errstr(rc);
    unsynced_since_ms_ = now_ms();
    return false;
  }
  unsynced_since_ms_ = 0;
  return true;
}

bool Store::file_moved() {
  int moved = 0;
  if (!db_ || in_memory_) return false;
  return sqlite3_file_control(db_, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved != 0;
}

void Store::note(int rc) {
  if ((rc & 0xff) == SQLITE_NOMEM) nomem_ = true;
  if (in_memory_) return;
  switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      fault_ = true;
      break;
    default:
      break;
  }
}

bool Store::switch_to_memory(std::string &err) {
  sqlite3 *mem = nullptr;
  if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    err = "cannot open an in-memory database";
    sqlite3_close_v2(mem);
    return false;
  }
  // The source: the open connection, else the file opened read-only as it
  // stands (a read-only data_dir: its history must not be lost).
  sqlite3 *source = db_;
  if (!source && !path_.empty()) {
    std::string uri = "file:" + path_ + "?immutable=1";
    if (sqlite3_open_v2(uri.c_str(), &source, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
      sqlite3_close_v2(source);
      source = nullptr;
    }
  }
  bool copied = false;
  if (source) {
    if (source == db_ && !sqlite3_get_autocommit(db_)) exec("ROLLBACK");
    drop_statements();
    sqlite3_backup *b = sqlite3_backup_init(mem, "main", source, "main");
    copied = b != nullptr && sqlite3_backup_step(b, -1) == SQLITE_DONE;
    if (b != nullptr) sqlite3_backup_finish(b);
    sqlite3_close_v2(source);
  }
  copied_from_disk_ = copied;
  db_ = mem;
  depth_ = 0;
  in_memory_ = true;
  fault_ = false;
  sqlite3_extended_result_codes(db_, 1);
  props_.register_functions(db_);
  // Nothing readable to start from: a new database, in memory (with the
  // file's page size, so it can be copied back).
  if (!copied && !(exec("PRAGMA page_size=512", &err) && migrate(err))) return false;
  return props_.load(*this) || (err = error(), false);
}

bool Store::write_back(std::string &err) {
  if (!in_memory_) return true;
  // A file we could not copy from is not overwritten: it is kept aside.
  struct stat st {};
  if (!copied_from_disk_ && ::stat(path_.c_str(), &st) == 0 && st.st_size > 0) {
    std::string aside = path_ + ".unread-" + std::to_string(static_cast<long long>(time(nullptr)));
    if (rename(path_.c_str(), aside.c_str()) != 0) {
      err = "cannot move aside " + path_ + ": " + strerror(errno);
      return false;
    }
    copied_from_disk_ = true;
  }
  int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    err = std::string("cannot open ") + path_ + ": " + strerror(errno);
    return false;
  }
  (void)fchmod(fd, 0600);
  ::close(fd);
  sqlite3 *file = nullptr;
  int rc = sqlite3_open_v2(path_.c_str(), &file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
  sqlite3_backup *b = rc == SQLITE_OK ? sqlite3_backup_init(file, "main", db_, "main") : nullptr;
  rc = b != nullptr ? sqlite3_backup_step(b, -1) : SQLITE_CANTOPEN;
  if (b != nullptr) sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    err = file != nullptr ? sqlite3_errmsg(file) : "cannot open the database file";
    sqlite3_close_v2(file);
    return false;
  }
  drop_statements();
  sqlite3_close_v2(db_);
  db_ = file;
  in_memory_ = false;
  fault_ = false;
  depth_ = 0;
  // Not usable as configured: stay on memory's copy next time.
  return configure(err) && (props_.load(*this) || (err = error(), false));
}

bool Store::open_and_migrate(std::string &err) {
  // The history is the user's: owner-only, also when data_dir already exists
  // with looser modes (SQLite would create 0644, and its WAL copies the mode).
  int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) {
    (void)fchmod(fd, 0600);
    ::close(fd);
  }
  int rc =
      sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    note(rc);
    err = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    close();
    return false;
  }
  if (!configure(err)) return false;
  // quick_check reads every page: corruption is found at start, not mid-flight.
  {
    Stmt check(*this, "PRAGMA quick_check");
    if (!check.ok() || !check.step()) {
      err = error();
      return false;
    }
    if (check.text(0) != "ok") {
      err = "integrity check failed: " + check.text(0);
      return false;
    }
  }  // finished before migrations: a pending read would block a schema change
  if (!migrate(err)) return false;
  if (props_.load(*this)) return true;
  err = error();
  return false;
}

bool Store::open(const std::string &path, int cache_kib, platform::Logger &log, std::string &err) {
  close();
  nomem_ = false;
  path_ = path;
  cache_kib_ = cache_kib > 0 ? cache_kib : 512;
  moved_aside_.clear();
  if (open_and_migrate(err)) return true;
  int rc = db_ ? sqlite3_extended_errcode(db_) : SQLITE_CANTOPEN;
  bool corrupt = is_corruption(rc) || err.rfind("integrity check failed", 0) == 0;
  close();
  if (!corrupt) {
    err = "cannot open database " + path + ": " + err;
    return false;
  }
  // Corrupt: keep the evidence, start afresh. The WAL and shm belong to it.
  std::string aside = path + ".corrupt-" + std::to_string(static_cast<long long>(time(nullptr)));
  if (rename(path.c_str(), aside.c_str()) != 0) {
    err = "database " + path + " is corrupt and cannot be moved aside: " + strerror(errno);
    return false;
  }
  for (const char *suffix : {"-wal", "-shm"}) {
    std::string from = path + suffix;
    rename(from.c_str(), (aside + suffix).c_str());
  }
  // The names first: SQLite's integrity report runs to many lines; its first says enough.
  std::string why = err.substr(0, err.find('\n'));
  log.log(platform::LogLevel::error, "database %s was corrupt; moved aside to %s, starting a new one (%s)",
          path.c_str(), aside.c_str(), why.c_str());
  moved_aside_ = aside;
  std::string err2;
  if (!open_and_migrate(err2)) {
    close();
    err = "cannot create database " + path + ": " + err2;
    return false;
  }
  err.clear();
  return true;
}

bool Store::get_meta(const char *key, std::string &value) {
  Stmt q(*this, "SELECT value FROM meta WHERE key=?");
  q.bind(1, key);
  if (!q.step()) return false;
  value = q.text(0);
  return true;
}

bool Store::set_meta(const char *key, std::string_view value) {
  Stmt q(*this, "INSERT INTO meta(key,value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value");
  q.bind(1, key).bind(2, value);
  q.step();
  return q.done();
}

bool Store::delete_meta(const char *key) {
  Stmt q(*this, "DELETE FROM meta WHERE key=?");
  q.bind(1, key);
  q.step();
  return q.done();
}

sqlite3_stmt *Store::prepare(const char *sql, bool &owned) {
  owned = false;
  if (!db_) return nullptr;
  sqlite3_stmt *&slot = stmts_[sql];
  if (slot && !sqlite3_stmt_busy(slot)) return slot;
  sqlite3_stmt *fresh = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &fresh, nullptr) != SQLITE_OK) {
    sqlite3_finalize(fresh);
    return nullptr;
  }
  if (!slot) return slot = fresh;
  owned = true;
  return fresh;
}

Stmt::Stmt(Store &store, const char *sql) : store_(&store), stmt_(store.prepare(sql, owned_)) {}

Stmt::~Stmt() {
  if (owned_) {
    sqlite3_finalize(stmt_);
  } else if (stmt_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Stmt &Stmt::bind(int i, int64_t v) {
  if (stmt_) sqlite3_bind_int64(stmt_, i, v);
  return *this;
}

Stmt &Stmt::bind(int i, std::string_view v) {
  if (stmt_) sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Stmt &Stmt::bind_uuid(int i, std::string_view v) {
  unsigned char bytes[16];
  size_t n = 0;
  bool canonical = v.size() == 36;
  for (size_t k = 0; canonical && k < 36; ++k) {
    if (k == 8 || k == 13 || k == 18 || k == 23) {
      canonical = v[k] == '-';
      continue;
    }
    int hi = hex_value(v[k]), lo = k + 1 < 36 ? hex_value(v[k + 1]) : -1;
    canonical = hi >= 0 && lo >= 0;
    if (canonical) bytes[n++] = static_cast<unsigned char>(hi << 4 | lo);
    ++k;
  }
  if (!canonical || n != 16) return bind(i, v);
  if (stmt_) sqlite3_bind_blob(stmt_, i, bytes, 16, SQLITE_TRANSIENT);
  return *this;
}

std::string Stmt::uuid(int col) const {
  if (sqlite3_column_type(stmt_, col) != SQLITE_BLOB || sqlite3_column_bytes(stmt_, col) != 16) return text(col);
  const auto *b = static_cast<const unsigned char *>(sqlite3_column_blob(stmt_, col));
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int k = 0; k < 16; ++k) {
    if (k == 4 || k == 6 || k == 8 || k == 10) out += '-';
    out += kHex[b[k] >> 4];
    out += kHex[b[k] & 15];
  }
  return out;
}

Stmt &Stmt::bind_blob(int i, std::string_view v) {
  if (stmt_) sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt &Stmt::bind_null(int i) {
  if (stmt_) sqlite3_bind_null(stmt_, i);
  return *this;
}

bool Stmt::step() {
  done_ = false;
  if (!stmt_) return false;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  done_ = rc == SQLITE_DONE;
  if (!done_) store_->note(rc);
  return false;
}

void Stmt::reset() {
  if (stmt_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  done_ = false;
}

int64_t Stmt::int64(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

std::string Stmt::text(int col) const {
  const unsigned char *p = sqlite3_column_text(stmt_, col);
  return p ? std::string(reinterpret_cast<const char *>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
           : std::string();
}

bool Stmt::is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

}  // namespace co::storage
