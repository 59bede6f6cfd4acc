// The dead_letters table: batches the CCS API refused for good.
#pragma once
#include <cstdint>
#include <string_view>

#include "storage/rows.h"
#include "storage/store.h"

namespace co::storage {

// Adds one, keeping the newest `keep`.
bool add_dead_letter(Store &store, int64_t at_ms, int64_t http_status, std::string_view error, std::string_view payload,
                     int64_t keep);
bool count_dead_letters(Store &store, int64_t &n);
// The newest first, at most `limit`: id, at_ms, http_status, error, payload.
bool read_dead_letters(Store &store, int64_t limit, const Rows &fn);

}  // namespace co::storage
