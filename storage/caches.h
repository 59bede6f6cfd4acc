// The cache table: remote answers with their deadline on a boot's monotonic
// clock (see schema.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/rows.h"
#include "storage/store.h"

namespace co::storage {

bool put_cache(Store &store, std::string_view key, const char *kind, int64_t boot, int64_t expires_mono,
               std::string_view body);
bool delete_cache(Store &store, std::string_view key);
// Every entry: key, kind, boot, time left when its boot was last seen alive
// (expires_mono - alive_mono), expires_mono, body.
bool read_caches(Store &store, const Rows &fn);
// Moves an entry of another boot onto boot `boot`'s clock.
bool rebase_cache(Store &store, std::string_view key, int64_t boot, int64_t expires_mono);

}  // namespace co::storage
