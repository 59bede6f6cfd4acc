// Counts what this process's SQLite databases ask of the disk: the syncs
// (fsync/fdatasync through xSync) and the bytes written, by file (database,
// WAL), through a VFS around the default one, registered as the default
// before the agent opens its store. What a benchmark reports as "fsyncs per
// event" or "bytes to the WAL per event" is this count, not an estimate.
#pragma once

#include <cstdint>

namespace bench {

struct Io {
  uint64_t syncs = 0;
  uint64_t db_bytes = 0;   // written to the database file (checkpoints)
  uint64_t wal_bytes = 0;  // written to the WAL (commits)
  uint64_t other_bytes = 0;
};

// Registers the counting VFS as SQLite's default (once; later calls do nothing).
void count_io();
// What was counted since the process started (zeros before count_io()).
Io io();
Io operator-(const Io &a, const Io &b);
// Bytes this process caused to be written to storage (/proc/self/io
// write_bytes: what the kernel was given, in pages), or -1.
long long process_write_bytes();

}  // namespace bench
