// A disk that fills up on demand, for the tests of what the agent does when
// SQLite's writes fail.
#pragma once
#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

// A disk that fills up on demand: a VFS over the default one, made the
// default, whose writes to files under `dir` fail with SQLITE_FULL (as on a
// full tmpfs) while `full` is set, and whose next `failing_reads` reads there
// fail with an I/O error. Files elsewhere are untouched.
struct FullDisk {
  static inline std::atomic<bool> full{false};
  static inline std::atomic<int> failing_reads{0};
  static inline std::string dir;
  static inline sqlite3_vfs *real = nullptr;
  static inline sqlite3_vfs vfs;
  static inline sqlite3_io_methods methods;

  struct File {
    sqlite3_file base;
    bool under_dir;
    sqlite3_file *inner() { return reinterpret_cast<sqlite3_file *>(this + 1); }
  };
  static sqlite3_file *in(sqlite3_file *f) { return reinterpret_cast<File *>(f)->inner(); }
  static bool take_failing_read() {
    for (int left = failing_reads.load(); left > 0;) {
      if (failing_reads.compare_exchange_weak(left, left - 1)) return true;
    }
    return false;
  }

  explicit FullDisk(const std::string &under) {
    dir = under;
    full = false;
    failing_reads = 0;
    real = sqlite3_vfs_find(nullptr);
    vfs = *real;
    vfs.zName = "cohort-test-full-disk";
    vfs.szOsFile = static_cast<int>(sizeof(File)) + real->szOsFile;
    vfs.xOpen = [](sqlite3_vfs *, const char *name, sqlite3_file *f, int flags, int *out) {
      File *file = reinterpret_cast<File *>(f);
      file->inner()->pMethods = nullptr;
      int rc = real->xOpen(real, name, file->inner(), flags, out);
      file->under_dir = name && strncmp(name, dir.c_str(), dir.size()) == 0;
      file->base.pMethods = file->inner()->pMethods ? &methods : nullptr;
      return rc;
    };
    methods = sqlite3_io_methods{};
    methods.iVersion = 3;
    methods.xClose = [](sqlite3_file *f) { return in(f)->pMethods->xClose(in(f)); };
    methods.xRead = [](sqlite3_file *f, void *b, int n, sqlite3_int64 o) {
      if (reinterpret_cast<File *>(f)->under_dir && take_failing_read()) return SQLITE_IOERR_READ;
      return in(f)->pMethods->xRead(in(f), b, n, o);
    };
    methods.xWrite = [](sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
      if (full && reinterpret_cast<File *>(f)->under_dir) return SQLITE_FULL;
      return in(f)->pMethods->xWrite(in(f), b, n, o);
    };
    methods.xTruncate = [](sqlite3_file *f, sqlite3_int64 n) { return in(f)->pMethods->xTruncate(in(f), n); };
    methods.xSync = [](sqlite3_file *f, int flags) { return in(f)->pMethods->xSync(in(f), flags); };
    methods.xFileSize = [](sqlite3_file *f, sqlite3_int64 *n) { return in(f)->pMethods->xFileSize(in(f), n); };
    methods.xLock = [](sqlite3_file *f, int l) { return in(f)->pMethods->xLock(in(f), l); };
    methods.xUnlock = [](sqlite3_file *f, int l) { return in(f)->pMethods->xUnlock(in(f), l); };
    methods.xCheckReservedLock = [](sqlite3_file *f, int *r) { return in(f)->pMethods->xCheckReservedLock(in(f), r); };
    methods.xFileControl = [](sqlite3_file *f, int op, void *a) { return in(f)->pMethods->xFileControl(in(f), op, a); };
    methods.xSectorSize = [](sqlite3_file *f) { return in(f)->pMethods->xSectorSize(in(f)); };
    methods.xDeviceCharacteristics = [](sqlite3_file *f) { return in(f)->pMethods->xDeviceCharacteristics(in(f)); };
    methods.xShmMap = [](sqlite3_file *f, int i, int sz, int ext, void volatile **p) {
      return in(f)->pMethods->xShmMap(in(f), i, sz, ext, p);
    };
    methods.xShmLock = [](sqlite3_file *f, int o, int n, int fl) { return in(f)->pMethods->xShmLock(in(f), o, n, fl); };
    methods.xShmBarrier = [](sqlite3_file *f) { in(f)->pMethods->xShmBarrier(in(f)); };
    methods.xShmUnmap = [](sqlite3_file *f, int del) { return in(f)->pMethods->xShmUnmap(in(f), del); };
    methods.xFetch = [](sqlite3_file *f, sqlite3_int64 o, int n, void **p) {
      return in(f)->pMethods->xFetch(in(f), o, n, p);
    };
    methods.xUnfetch = [](sqlite3_file *f, sqlite3_int64 o, void *p) { return in(f)->pMethods->xUnfetch(in(f), o, p); };
    if (sqlite3_vfs_register(&vfs, 1) != SQLITE_OK) abort();
  }
  ~FullDisk() { sqlite3_vfs_unregister(&vfs); }  // the files still open keep their methods
};
