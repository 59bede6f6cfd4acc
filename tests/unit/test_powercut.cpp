// Power cut: an event the agent acknowledged is on stable storage.
//
// A kill -9 leaves the kernel's page cache behind, so every write the agent
// made survives it; a power cut does not. This test puts a SQLite VFS shim
// over the default one that keeps, for every database file, its bytes as of
// that file's last xSync: what is on flash when the power goes (a write not
// yet synced lives in the page cache only). At moments spread over a run it
// "cuts the power": it writes those images into a fresh data_dir, opens an
// agent on them and checks that every event that had a success answer is in
// its history, with its properties, and nothing else. A harsher cut also
// lets the kernel have written back any random part of what was not synced,
// 512-byte sector by sector (torn pages included): the database must still
// open clean, with a prefix of what was acknowledged.
#include <sqlite3.h>
#include <sys/stat.h>

#include <dirent.h>
#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"
#include "unit_test.h"

using test::call_ok;

namespace {

// ---- the shim ------------------------------------------------------------

sqlite3_vfs *g_real = nullptr;
std::mutex g_mu;
std::map<std::string, std::string> g_synced;  // path -> bytes as of its last xSync
// A write or truncation not synced yet: in the page cache, maybe on flash.
struct Pending {
  sqlite3_int64 offset;  // truncation: the new size
  std::string bytes;
  bool truncate;
};
std::map<std::string, std::vector<Pending>> g_pending;  // path -> since its last xSync, in order
int g_failing_wal_syncs = 0;                            // the next N syncs of a WAL fail (EIO)

struct ShimFile {
  sqlite3_file base;
  std::string *path;  // null: a file without a name (temporary)
  sqlite3_file *real() { return reinterpret_cast<sqlite3_file *>(this + 1); }
};

ShimFile *shim(sqlite3_file *f) {
  return reinterpret_cast<ShimFile *>(f);
}
sqlite3_file *real(sqlite3_file *f) {
  return shim(f)->real();
}

int x_close(sqlite3_file *f) {
  int rc = real(f)->pMethods->xClose(real(f));
  delete shim(f)->path;
  return rc;
}
int x_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off) {
  return real(f)->pMethods->xRead(real(f), buf, n, off);
}
void note_pending(sqlite3_file *f, Pending p) {
  if (!shim(f)->path) return;
  std::lock_guard<std::mutex> lock(g_mu);
  g_pending[*shim(f)->path].push_back(std::move(p));
}
int x_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off) {
  int rc = real(f)->pMethods->xWrite(real(f), buf, n, off);
  if (rc == SQLITE_OK)
    note_pending(f, {off, std::string(static_cast<const char *>(buf), static_cast<size_t>(n)), false});
  return rc;
}
int x_truncate(sqlite3_file *f, sqlite3_int64 size) {
  int rc = real(f)->pMethods->xTruncate(real(f), size);
  if (rc == SQLITE_OK) note_pending(f, {size, "", true});
  return rc;
}
// What the sync made durable: the whole file as it now is.
int x_sync(sqlite3_file *f, int flags) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    const std::string *path = shim(f)->path;
    if (g_failing_wal_syncs > 0 && path && path->size() > 4 && path->compare(path->size() - 4, 4, "-wal") == 0) {
      --g_failing_wal_syncs;
      return SQLITE_IOERR_FSYNC;
    }
  }
  int rc = real(f)->pMethods->xSync(real(f), flags);
  if (rc != SQLITE_OK || !shim(f)->path) return rc;
  sqlite3_int64 size = 0;
  rc = real(f)->pMethods->xFileSize(real(f), &size);
  if (rc != SQLITE_OK) return rc;
  std::string bytes(static_cast<size_t>(size), '\0');
  if (size > 0) rc = real(f)->pMethods->xRead(real(f), &bytes[0], static_cast<int>(size), 0);
  if (rc != SQLITE_OK) return rc;
  std::lock_guard<std::mutex> lock(g_mu);
  g_synced[*shim(f)->path] = std::move(bytes);
  g_pending.erase(*shim(f)->path);
  return SQLITE_OK;
}
int x_file_size(sqlite3_file *f, sqlite3_int64 *size) {
  return real(f)->pMethods->xFileSize(real(f), size);
}
int x_lock(sqlite3_file *f, int level) {
  return real(f)->pMethods->xLock(real(f), level);
}
int x_unlock(sqlite3_file *f, int level) {
  return real(f)->pMethods->xUnlock(real(f), level);
}
int x_check_reserved(sqlite3_file *f, int *out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int x_file_control(sqlite3_file *f, int op, void *arg) {
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int x_sector_size(sqlite3_file *f) {
  return real(f)->pMethods->xSectorSize(real(f));
}
int x_device_chars(sqlite3_file *f) {
  return real(f)->pMethods->xDeviceCharacteristics(real(f));
}
int x_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **p) {
  return real(f)->pMethods->xShmMap(real(f), pg, sz, extend, p);
}
int x_shm_lock(sqlite3_file *f, int off, int n, int flags) {
  return real(f)->pMethods->xShmLock(real(f), off, n, flags);
}
void x_shm_barrier(sqlite3_file *f) {
  real(f)->pMethods->xShmBarrier(real(f));
}
int x_shm_unmap(sqlite3_file *f, int del) {
  return real(f)->pMethods->xShmUnmap(real(f), del);
}
// No memory-mapped I/O: every byte goes through xWrite and xSync.
int x_fetch(sqlite3_file *, sqlite3_int64, int, void **p) {
  *p = nullptr;
  return SQLITE_OK;
}
int x_unfetch(sqlite3_file *, sqlite3_int64, void *) {
  return SQLITE_OK;
}

const sqlite3_io_methods kMethods = {
    3,          x_close,       x_read,           x_write,        x_truncate,    x_sync,         x_file_size,
    x_lock,     x_unlock,      x_check_reserved, x_file_control, x_sector_size, x_device_chars, x_shm_map,
    x_shm_lock, x_shm_barrier, x_shm_unmap,      x_fetch,        x_unfetch};

int v_open(sqlite3_vfs *, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags) {
  ShimFile *s = shim(f);
  s->base.pMethods = nullptr;
  s->path = nullptr;
  int rc = g_real->xOpen(g_real, name, s->real(), flags, out_flags);
  if (s->real()->pMethods) {
    s->base.pMethods = &kMethods;
    if (name) s->path = new std::string(name);
  }
  return rc;
}
// Unlinking is taken as durable at once (SQLite syncs the directory).
int v_delete(sqlite3_vfs *, const char *name, int sync_dir) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_synced.erase(name);
    g_pending.erase(name);
  }
  return g_real->xDelete(g_real, name, sync_dir);
}
int v_access(sqlite3_vfs *, const char *name, int flags, int *out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int v_full_pathname(sqlite3_vfs *, const char *name, int n, char *out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void *v_dl_open(sqlite3_vfs *, const char *name) {
  return g_real->xDlOpen(g_real, name);
}
void v_dl_error(sqlite3_vfs *, int n, char *msg) {
  g_real->xDlError(g_real, n, msg);
}
void (*v_dl_sym(sqlite3_vfs *, void *h, const char *sym))(void) {
  return g_real->xDlSym(g_real, h, sym);
}
void v_dl_close(sqlite3_vfs *, void *h) {
  g_real->xDlClose(g_real, h);
}
int v_randomness(sqlite3_vfs *, int n, char *out) {
  return g_real->xRandomness(g_real, n, out);
}
int v_sleep(sqlite3_vfs *, int us) {
  return g_real->xSleep(g_real, us);
}
int v_current_time(sqlite3_vfs *, double *t) {
  return g_real->xCurrentTime(g_real, t);
}
int v_last_error(sqlite3_vfs *, int n, char *msg) {
  return g_real->xGetLastError(g_real, n, msg);
}
int v_current_time64(sqlite3_vfs *, sqlite3_int64 *t) {
  return g_real->xCurrentTimeInt64(g_real, t);
}

sqlite3_vfs g_shim;

// The shim becomes the default VFS: every database the agent opens goes through it.
void install_shim() {
  g_real = sqlite3_vfs_find(nullptr);
  assert_non_null(g_real);
  g_shim = sqlite3_vfs{};
  g_shim.iVersion = 2;
  g_shim.szOsFile = static_cast<int>(sizeof(ShimFile)) + g_real->szOsFile;
  g_shim.mxPathname = g_real->mxPathname;
  g_shim.zName = "powercut";
  g_shim.xOpen = v_open;
  g_shim.xDelete = v_delete;
  g_shim.xAccess = v_access;
  g_shim.xFullPathname = v_full_pathname;
  g_shim.xDlOpen = v_dl_open;
  g_shim.xDlError = v_dl_error;
  g_shim.xDlSym = v_dl_sym;
  g_shim.xDlClose = v_dl_close;
  g_shim.xRandomness = v_randomness;
  g_shim.xSleep = v_sleep;
  g_shim.xCurrentTime = v_current_time;
  g_shim.xGetLastError = v_last_error;
  g_shim.xCurrentTimeInt64 = v_current_time64;
  assert_int_equal(sqlite3_vfs_register(&g_shim, 1), SQLITE_OK);
}

void remove_shim() {
  sqlite3_vfs_unregister(&g_shim);
  std::lock_guard<std::mutex> lock(g_mu);
  g_synced.clear();
  g_pending.clear();
}

void write_file(const std::string &path, const std::string &bytes) {
  FILE *f = fopen(path.c_str(), "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  assert_int_equal(fclose(f), 0);
}

std::string read_file(const std::string &path) {
  std::string out;
  FILE *f = fopen(path.c_str(), "rb");
  assert_non_null(f);
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  assert_int_equal(fclose(f), 0);
  return out;
}

// A random part of the page cache reached flash when the power went.
struct Torn {
  std::mt19937 rng;
  unsigned survive_permille;  // chance of each write, and of each sector of it
  bool survives() { return rng() % 1000 < survive_permille; }
};

// Each 512-byte sector of a pending write reached flash, or not, at random;
// a truncation happened, or not. Applied in the order they were made.
void write_back_at_random(std::string &image, const std::vector<Pending> &pending, Torn &torn) {
  for (const Pending &p : pending) {
    if (!torn.survives()) continue;
    if (p.truncate) {
      image.resize(static_cast<size_t>(p.offset));
      continue;
    }
    size_t at = static_cast<size_t>(p.offset);
    for (size_t i = 0; i < p.bytes.size();) {
      size_t sector_end = (at + i) / 512 * 512 + 512;
      size_t n = std::min(p.bytes.size() - i, sector_end - (at + i));
      if (torn.survives()) {
        if (image.size() < at + i + n) image.resize(at + i + n, '\0');
        image.replace(at + i, n, p.bytes, i, n);
      }
      i += n;
    }
  }
}

// The power goes now: `to` gets each database file of `from` as of its last
// sync (a file never synced is not there) and, with `torn`, a random part of
// what was written since; every other file as it is (the agent's own files,
// the identity, are written with their own fsync and rename, which
// test_identity covers).
void cut_power(const std::string &from, const std::string &to, Torn *torn = nullptr) {
  assert_int_equal(mkdir(to.c_str(), 0700), 0);
  std::map<std::string, std::string> images;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    std::string prefix = from + "/";
    for (const auto &[path, bytes] : g_synced) {
      if (path.compare(0, prefix.size(), prefix) == 0) images[path.substr(prefix.size())] = bytes;
    }
    for (const auto &[path, pending] : g_pending) {
      if (!torn || path.compare(0, prefix.size(), prefix) != 0) continue;
      std::string &image = images[path.substr(prefix.size())];  // a file never synced starts empty
      write_back_at_random(image, pending, *torn);
    }
  }
  DIR *d = opendir(from.c_str());
  assert_non_null(d);
  while (dirent *e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name.rfind("cohort.db", 0) == 0) continue;
    write_file(to + "/" + name, read_file(from + "/" + name));
  }
  closedir(d);
  for (const auto &[name, bytes] : images) write_file(to + "/" + name, bytes);
}

// The `i` property of every event in the agent's history.
std::set<int> history_of(cohort_agent *a) {
  std::set<int> seen;
  co::Json h = call_ok(a, "history.get", "{\"limit\":1000,\"name\":\"Tick\"}");
  const cJSON *events = cJSON_GetObjectItemCaseSensitive(h.get(), "events");
  for (const cJSON *e = events ? events->child : nullptr; e; e = e->next) {
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(e, "properties");
    double i = test::num(props, "i");
    if (i < 0 || !seen.insert(static_cast<int>(i)).second) fail_msg("history holds a bad or repeated event");
  }
  return seen;
}

void track(cohort_agent *a, int i) {
  std::string params = "{\"name\":\"Tick\",\"properties\":{\"i\":" + std::to_string(i) + "}}";
  call_ok(a, "track", params.c_str());
}

// Cuts the power under the agent on `data` (`torn`: see cut_power) and opens
// what is left: a clean database (nothing moved aside as corrupt) and a
// history that is events 1..n, n returned (no holes, no event that was not
// acknowledged); -1 when the consent granted before the first event is not there.
int after_power_cut(const std::string &data, int acknowledged, Torn *torn = nullptr) {
  test::TempDir after;
  std::string restored = after.path + "/data";
  cut_power(data, restored, torn);
  cohort_agent *b = nullptr;
  std::string config = "{\"data_dir\":\"" + restored +
                       "\",\"api.ccs_url\":\"http://127.0.0.1:9\",\"api.contextual_url\":\"http://127.0.0.1:9\","
                       "\"clock.trust\":\"system\"}";
  assert_int_equal(cohort_open(config.c_str(), &b), COHORT_OK);
  co::Json status = call_ok(b, "status");
  bool consent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(status.get(), "consent"));
  std::set<int> seen = history_of(b);
  cohort_close(b);
  DIR *d = opendir(restored.c_str());
  assert_non_null(d);
  while (dirent *e = readdir(d)) {
    if (strstr(e->d_name, "corrupt"))
      fail_msg("power cut after event %d: database moved aside as corrupt", acknowledged);
  }
  closedir(d);
  int n = static_cast<int>(seen.size());
  if (!consent) {
    if (n > 0) fail_msg("power cut after event %d: events kept without the consent before them", acknowledged);
    return -1;
  }
  if (n > acknowledged || (n > 0 && (*seen.begin() != 1 || *seen.rbegin() != n))) {
    fail_msg("power cut after event %d: the history is not a prefix of the acknowledged events", acknowledged);
  }
  return n;
}

// The sync interval (2 s by default) passes on the agent's clock; its worker
// wakes (sync.now is any call that wakes it) and syncs. Waiting for the
// worker's thread is bounded by real time, never measured. Returns what a
// power cut then keeps.
int after_sync_interval(test::AgentFixture &f, int acknowledged) {
  f.clock.advance_ms(2001);
  call_ok(f.agent, "sync.now", "{\"timeout_ms\":0}");
  int kept = -1;
  for (int tries = 0; (kept = after_power_cut(f.dir.path + "/data", acknowledged)) < acknowledged && tries < 1000;
       ++tries) {
    usleep(10000);
  }
  return kept;
}

// The shim for one test: declared first, it outlives the agents of the test.
struct Shim {
  Shim() { install_shim(); }
  ~Shim() { remove_shim(); }
  Shim(const Shim &) = delete;
  Shim &operator=(const Shim &) = delete;
};

const std::set<int> kCuts = {0, 1, 2, 7, 31, 64, 100, 127, 128, 129, 199, 240};

}  // namespace

// storage.sync_interval_ms 0: every commit is synced before it is answered.
// Events tracked one at a time (a box's pace: one commit each); the power is
// cut after a spread of them, including right after the consent that comes
// first, the first event and the last.
UNIT_TEST(every_acknowledged_event_survives_with_sync_interval_0) {
  Shim shim;
  test::AgentFixture f;
  f.open_with("\"storage.sync_interval_ms\":0");
  Torn torn{std::mt19937(1), 500};
  call_ok(f.agent, "consent.set", "{\"granted\":true}");
  for (int i = 0; i <= *kCuts.rbegin(); ++i) {
    if (i > 0) track(f.agent, i);
    if (!kCuts.count(i)) continue;
    if (after_power_cut(f.dir.path + "/data", i) != i) fail_msg("power cut after event %d: events lost", i);
    if (after_power_cut(f.dir.path + "/data", i, &torn) != i) {
      fail_msg("power cut after event %d, torn writes: events lost", i);
    }
  }
}

// The default (2 s): whatever the moment of the cut, the database opens clean
// and holds a prefix of the acknowledged events; once the interval has passed
// after the last of them (the worker syncs the WAL), it holds them all.
UNIT_TEST(default_interval_bounds_what_a_power_cut_loses) {
  Shim shim;
  test::AgentFixture f;
  f.open_with("");
  Torn torn{std::mt19937(2), 0};
  call_ok(f.agent, "consent.set", "{\"granted\":true}");
  assert_int_equal(after_sync_interval(f, 0), 0);
  int synced = 0;
  for (int i = 1; i <= *kCuts.rbegin(); ++i) {
    track(f.agent, i);
    if (!kCuts.count(i)) continue;
    assert_true(after_power_cut(f.dir.path + "/data", i) >= synced);  // what was synced stays
    // Whatever else reached the flash, all of it, most of it, or torn.
    for (unsigned permille : {1000u, 990u, 900u, 500u}) {
      torn.survive_permille = permille;
      int kept = after_power_cut(f.dir.path + "/data", i, &torn);
      if (kept < synced || (permille == 1000 && kept != i)) {
        fail_msg("power cut after event %d, %u/1000 of unsynced sectors written: %d kept", i, permille, kept);
      }
    }
    int kept = after_sync_interval(f, i);
    if (kept != i) fail_msg("power cut 2 s after event %d: %d of its events kept", i, kept);
    synced = i;
  }
}

// The WAL cannot be synced (fsync fails: a failing flash): the agent goes
// on in memory and says so in status, as for any storage fault, keeps every
// event, and writes all of it back when the disk works again.
UNIT_TEST(a_failed_sync_moves_the_agent_to_memory) {
  Shim shim;
  test::AgentFixture f;
  f.open_with("");
  call_ok(f.agent, "consent.set", "{\"granted\":true}");
  for (int i = 1; i <= 5; ++i) track(f.agent, i);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_failing_wal_syncs = 1;
  }
  f.clock.advance_ms(2001);
  call_ok(f.agent, "sync.now", "{\"timeout_ms\":5000}");
  co::Json status = call_ok(f.agent, "status");
  assert_string_equal(test::str(status.get(), "storage").c_str(), "degraded");
  std::string why = test::str(status.get(), "storage_error");
  if (why.find("cannot sync") == std::string::npos || why.find("cohort.db-wal") == std::string::npos) {
    fail_msg("storage_error does not say what failed: %s", why.c_str());
  }
  track(f.agent, 6);
  assert_int_equal(history_of(f.agent).size(), 6);
  // The disk works again: the next retry (30 s) writes everything back.
  f.clock.advance_ms(30001);
  call_ok(f.agent, "sync.now", "{\"timeout_ms\":5000}");
  status = call_ok(f.agent, "status");
  assert_string_equal(test::str(status.get(), "storage").c_str(), "ok");
  track(f.agent, 7);
  assert_int_equal(after_sync_interval(f, 7), 7);
}
