// How the named read operations of storage/ hand out their rows: a callback
// per row, given the statement positioned on it (columns as each operation
// documents); it returns false to stop early. The SQL stays here, the
// reading of a row with whoever needs it.
#pragma once
#include <functional>
#include <string_view>

#include "storage/store.h"

namespace co::storage {

using Rows = std::function<bool(const Stmt &row)>;

// Steps q through its rows into fn; true when it ran to the end or fn stopped
// it, false on an error.
bool each_row(Stmt &q, const Rows &fn);

// The rows of sql (no parameters) into fn.
bool read_all(Store &store, const char *sql, const Rows &fn);

// Runs q (no rows wanted): true when it completed.
bool run(Stmt &q);
// Runs sql with `key` as its one parameter.
bool run_for_key(Store &store, const char *sql, std::string_view key);

}  // namespace co::storage
