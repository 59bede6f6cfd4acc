// File helpers: atomic small-file writes, reads, directories.
#pragma once
#include <string>

namespace co::platform {

// Writes data to path so that a crash leaves either the old or the new file:
// temp file, fsync, rename, fsync of the directory. False + errno on failure.
bool write_file_atomic(const std::string &path, const std::string &data, int mode = 0600);

// Reads a whole file (at most max_bytes). False + errno on failure.
bool read_file(const std::string &path, std::string &out, size_t max_bytes = 1 << 20);

// Creates the directory (and parents) if missing, with mode for new ones.
bool make_dirs(const std::string &path, int mode = 0700);

// True when a file can be created in dir.
bool dir_writable(const std::string &dir);

bool file_exists(const std::string &path);

// This boot's id (/proc/sys/kernel/random/boot_id), or "" where there is none.
std::string boot_id();

}  // namespace co::platform
