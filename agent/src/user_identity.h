// Identity: who the events are about. Owns the Permutive ID (the user id),
// the identity epoch (identity.reset starts the next) and the aliases, with
// their rows in the store and the identity file in data_dir (which outlives a
// lost database). The session and the reset's wider effects (history,
// cohorts, caches) are the agent's (identity.cpp). Guarded by the agent's
// lock (Agent::mu_).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "json.h"
#include "params.h"
#include "platform/crypto.h"
#include "platform/log.h"
#include "storage/identities.h"
#include "storage/store.h"

namespace co {

using Alias = storage::Alias;

constexpr int kMaxAliases = 32;  // every CCS request carries the whole alias set: it stays small
constexpr int64_t kMaxPriority = 1000000;

class Identity {
 public:
  // Before any other call.
  void start(storage::Store &store, platform::Logger &log, platform::Entropy &entropy, std::string data_dir);
  // Reads the identity: the store's; else (a new or lost database) the
  // identity file's, else a new Permutive ID, recorded as the next epoch.
  Outcome load();

  const std::string &user_id() const { return user_id_; }
  int64_t epoch() const { return epoch_; }
  const std::vector<Alias> &aliases() const { return aliases_; }

  // The alias set an identity.set_aliases call makes (the params checked by
  // their declaration; what is left is what they mean): upserted by tag or
  // replacing the set, e-mail addresses hashed, in priority order.
  Outcome next_aliases(const Params &params, std::vector<Alias> &next) const;
  // Stores and takes that set.
  Outcome set_aliases(std::vector<Alias> next);

  // A new epoch `epoch` for user_id, in the caller's transaction (the old
  // epoch keeps its aliases); became() once it is committed.
  bool record_next(int64_t epoch, const std::string &user_id);
  void became(const std::string &user_id, int64_t epoch);
  // The CCS API answered with another user id for the current epoch.
  void adopt(const std::string &user_id);

  // {user_id, aliases} into result.
  void add_json(cJSON *result) const;
  // [{tag, id, priority}] into arr.
  static void add_aliases_json(cJSON *arr, const std::vector<Alias> &aliases);
  // The identity a batch of `epoch` is sent under (into the request body):
  // that epoch's aliases when any were set, else its user id.
  void add_batch_identity(int64_t epoch, cJSON *body);
  // Writes the identity file (false: it could not be written).
  bool save_file() const;

 private:
  Outcome parse_aliases(const Params &params, std::vector<Alias> &out) const;

  storage::Store *store_ = nullptr;
  platform::Logger *log_ = nullptr;
  platform::Entropy *entropy_ = nullptr;
  std::string data_dir_;
  std::string user_id_;
  int64_t epoch_ = 0;
  std::vector<Alias> aliases_;
};

}  // namespace co
