// The boots table: a number per boot of the device, its wall-clock offset
// once trusted (events.h backfill_times) and when it was last seen alive.
#pragma once
#include <cstdint>
#include <string>

#include "storage/store.h"

namespace co::storage {

// This boot's number (a new one for a boot never seen).
bool register_boot(Store &store, const std::string &boot_id, int64_t &n);
// Boot n was alive at monotonic time `mono`.
bool note_boot_alive(Store &store, int64_t n, int64_t mono);

}  // namespace co::storage
