// The identity tables: identities (one row per epoch), aliases (the current
// epoch's), and the meta keys user_id and epoch.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "storage/store.h"

namespace co::storage {

struct Alias {
  std::string tag;
  std::string id;
  int64_t priority = 0;
};

// Epoch `epoch` is user_id's, and the current one.
bool record_identity(Store &store, int64_t epoch, const std::string &user_id);
// A new epoch begins: the old one keeps its aliases (a JSON array), the new
// one has none.
bool start_identity(Store &store, int64_t old_epoch, const std::string &old_aliases_json, int64_t epoch,
                    const std::string &user_id);
// The CCS API answered with another user id for the current epoch.
bool adopt_user_id(Store &store, int64_t epoch, const std::string &user_id);
// An earlier epoch's user id and aliases (JSON array); false when unknown.
bool identity_of_epoch(Store &store, int64_t epoch, std::string &user_id, std::string &aliases_json);

// The current aliases, by priority then the order given.
bool read_aliases(Store &store, std::vector<Alias> &out);
bool replace_aliases(Store &store, const std::vector<Alias> &aliases);

// What the old user leaves behind at a reset: cohort state, the stateless
// CCS state, the behavioral cache.
bool forget_user_state(Store &store);

}  // namespace co::storage
