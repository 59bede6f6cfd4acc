// Caches: the remote answers the agent keeps (the CCS answer under
// "behavioral", each page's contextual answer under "ctx:<url>"), in memory
// and in the store's cache table, each with its deadline on the monotonic
// clock, so a wall-clock jump neither expires nor revives one. Owns the
// entries; the time comes from the caller. Guarded by the agent's lock
// (Agent::mu_).
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "json.h"
#include "platform/log.h"
#include "storage/store.h"

namespace co {

struct CacheEntry {
  Json body;
  int64_t expires_mono = 0;
  // What the store holds: the body's text and its deadline (the same answer
  // again moves only the deadline in memory, see Caches::put).
  std::string stored_text;
  int64_t stored_expires_mono = 0;
  bool valid(int64_t now_mono) const { return body && now_mono < expires_mono; }
};

class Caches {
 public:
  static constexpr size_t kMaxContextual = 256;
  // The same answer again is written to the store only once its stored
  // deadline is this far behind (or half the TTL, when shorter): a server
  // that confirms the same cohorts with every batch costs the flash a page
  // per batch otherwise. After a restart such an answer expires at most this
  // much earlier than it would have, never later.
  static constexpr int64_t kRestoreAfterMs = 3600 * 1000;

  // Before any other call: the store they are kept in, and this boot's
  // number there (boots.h).
  void start(storage::Store &store, platform::Logger &log, int64_t boot);
  // Keeps `body` under `key` until ttl_s from now (a store that fails is
  // logged: the answer is still kept in memory). The same body as the one
  // stored is written again only as kRestoreAfterMs says.
  void put(const std::string &key, const char *kind, Json body, int64_t ttl_s, int64_t now_mono);
  // The entry under key while valid, else NULL.
  const CacheEntry *get(const std::string &key, int64_t now_mono) const;
  // Dropped from memory (the store's rows went in the caller's transaction).
  void forget(const std::string &key) { entries_.erase(key); }
  // Expired entries leave memory and the store, and the contextual ones are
  // bounded in number, the soonest to expire going first.
  void prune(int64_t now_mono);
  // Reads the stored entries at start, each with the time it had left, never
  // more than its TTL: on this boot's clock, or from an earlier boot, what
  // was left when that boot was last seen alive.
  void load(int64_t now_mono, int64_t behavioral_ttl_s, int64_t contextual_ttl_s);

 private:
  storage::Store *store_ = nullptr;
  platform::Logger *log_ = nullptr;
  int64_t boot_ = 0;
  std::map<std::string, CacheEntry> entries_;
};

}  // namespace co
