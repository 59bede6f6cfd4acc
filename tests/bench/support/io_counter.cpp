#include "io_counter.h"

#include <sqlite3.h>

#include <atomic>
#include <cstdio>
#include <cstring>

namespace bench {
namespace {

std::atomic<uint64_t> g_syncs{0};
std::atomic<uint64_t> g_bytes[3];  // Kind
sqlite3_vfs *g_real = nullptr;
sqlite3_vfs g_vfs;

// The file as the counting VFS hands it out: ours first, the real one after.
enum Kind { kDb, kWal, kOther };
struct File {
  sqlite3_file base;
  Kind kind;
  sqlite3_file *real;
};

sqlite3_file *real(sqlite3_file *f) { return reinterpret_cast<File *>(f)->real; }

int x_close(sqlite3_file *f) { return real(f)->pMethods->xClose(real(f)); }
int x_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) { return real(f)->pMethods->xRead(real(f), b, n, o); }
int x_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
  g_bytes[reinterpret_cast<File *>(f)->kind].fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  return real(f)->pMethods->xWrite(real(f), b, n, o);
}
int x_truncate(sqlite3_file *f, sqlite3_int64 n) { return real(f)->pMethods->xTruncate(real(f), n); }
int x_sync(sqlite3_file *f, int flags) {
  g_syncs.fetch_add(1, std::memory_order_relaxed);
  return real(f)->pMethods->xSync(real(f), flags);
}
int x_size(sqlite3_file *f, sqlite3_int64 *n) { return real(f)->pMethods->xFileSize(real(f), n); }
int x_lock(sqlite3_file *f, int l) { return real(f)->pMethods->xLock(real(f), l); }
int x_unlock(sqlite3_file *f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
int x_check(sqlite3_file *f, int *out) { return real(f)->pMethods->xCheckReservedLock(real(f), out); }
int x_control(sqlite3_file *f, int op, void *arg) { return real(f)->pMethods->xFileControl(real(f), op, arg); }
int x_sector(sqlite3_file *f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_device(sqlite3_file *f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
int x_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **p) {
  return real(f)->pMethods->xShmMap(real(f), pg, sz, extend, p);
}
int x_shm_lock(sqlite3_file *f, int o, int n, int flags) { return real(f)->pMethods->xShmLock(real(f), o, n, flags); }
void x_shm_barrier(sqlite3_file *f) { real(f)->pMethods->xShmBarrier(real(f)); }
int x_shm_unmap(sqlite3_file *f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
int x_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p) { return real(f)->pMethods->xFetch(real(f), o, n, p); }
int x_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) { return real(f)->pMethods->xUnfetch(real(f), o, p); }

const sqlite3_io_methods kMethods = {3,        x_close,   x_read,        x_write,      x_truncate, x_sync,
                                     x_size,   x_lock,    x_unlock,      x_check,      x_control,  x_sector,
                                     x_device, x_shm_map, x_shm_lock,    x_shm_barrier, x_shm_unmap, x_fetch,
                                     x_unfetch};

int v_open(sqlite3_vfs *, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags) {
  File *file = reinterpret_cast<File *>(f);
  file->real = reinterpret_cast<sqlite3_file *>(file + 1);
  file->kind = (flags & SQLITE_OPEN_MAIN_DB) ? kDb : (flags & SQLITE_OPEN_WAL) ? kWal : kOther;
  int rc = g_real->xOpen(g_real, name, file->real, flags, out_flags);
  // SQLite calls xClose only when pMethods is set: set it only on success.
  file->base.pMethods = rc == SQLITE_OK && file->real->pMethods ? &kMethods : nullptr;
  return rc;
}

int v_delete(sqlite3_vfs *, const char *name, int dir_sync) { return g_real->xDelete(g_real, name, dir_sync); }
int v_access(sqlite3_vfs *, const char *name, int flags, int *out) { return g_real->xAccess(g_real, name, flags, out); }
int v_full(sqlite3_vfs *, const char *name, int n, char *out) { return g_real->xFullPathname(g_real, name, n, out); }
int v_random(sqlite3_vfs *, int n, char *out) { return g_real->xRandomness(g_real, n, out); }
int v_sleep(sqlite3_vfs *, int us) { return g_real->xSleep(g_real, us); }
int v_time(sqlite3_vfs *, double *out) { return g_real->xCurrentTime(g_real, out); }
int v_error(sqlite3_vfs *, int n, char *out) { return g_real->xGetLastError(g_real, n, out); }
int v_time64(sqlite3_vfs *, sqlite3_int64 *out) { return g_real->xCurrentTimeInt64(g_real, out); }

}  // namespace

void count_io() {
  if (g_real) return;
  g_real = sqlite3_vfs_find(nullptr);
  memset(&g_vfs, 0, sizeof g_vfs);
  g_vfs.iVersion = 2;
  g_vfs.szOsFile = static_cast<int>(sizeof(File)) + g_real->szOsFile;
  g_vfs.mxPathname = g_real->mxPathname;
  g_vfs.zName = "bench-io-counter";
  g_vfs.xOpen = v_open;
  g_vfs.xDelete = v_delete;
  g_vfs.xAccess = v_access;
  g_vfs.xFullPathname = v_full;
  g_vfs.xRandomness = v_random;
  g_vfs.xSleep = v_sleep;
  g_vfs.xCurrentTime = v_time;
  g_vfs.xGetLastError = v_error;
  g_vfs.xCurrentTimeInt64 = v_time64;
  sqlite3_vfs_register(&g_vfs, 1);
}

long long process_write_bytes() {
  FILE *f = fopen("/proc/self/io", "r");
  if (!f) return -1;
  char line[128];
  long long v = -1;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "write_bytes: %lld", &v) == 1) break;
  }
  fclose(f);
  return v;
}

Io io() {
  Io r;
  r.syncs = g_syncs.load(std::memory_order_relaxed);
  r.db_bytes = g_bytes[kDb].load(std::memory_order_relaxed);
  r.wal_bytes = g_bytes[kWal].load(std::memory_order_relaxed);
  r.other_bytes = g_bytes[kOther].load(std::memory_order_relaxed);
  return r;
}

Io operator-(const Io &a, const Io &b) {
  return {a.syncs - b.syncs, a.db_bytes - b.db_bytes, a.wal_bytes - b.wal_bytes, a.other_bytes - b.other_bytes};
}

}  // namespace bench
