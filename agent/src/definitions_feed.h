// DefinitionsFeed: the fleet's signed cohort definitions
// (cohorts.definitions_url). Owns the public keys that may sign them, what
// the set from the URL in force is (version, SHA-256 of its bytes, ETag),
// when the next fetch is due, and what status says of it. It decides; the
// agent fetches (the requests of requests.h, on its sync worker, without its
// lock), installs and stores. Every member is called under the agent's lock
// (Agent::mu_), and nothing here blocks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "definitions_doc.h"
#include "json.h"
#include "platform/http.h"
#include "platform/signature.h"

namespace co {

class DefinitionsFeed {
 public:
  // The configuration's url, keys and refresh; the keys are read here. False
  // with err (the feed then stays as it was) when a key cannot be used.
  bool configure(const Config &cfg, std::string &err);
  bool enabled() const { return !url_.empty(); }
  const std::string &url() const { return url_; }
  const std::vector<platform::PublicKey> &keys() const { return keys_; }

  // Fetching: due at mono `now` (not before the fleet delay, then every
  // refresh); definitions.reload makes it due at once.
  bool due(int64_t now_mono) const { return enabled() && !fetching_ && now_mono >= next_mono_; }
  int64_t next_due() const { return next_mono_; }
  void defer_until(int64_t mono) { next_mono_ = mono; }
  void fetch_now() { next_mono_ = 0; }
  // A fetch starts: its requests go out with this ETag (and no second fetch
  // starts meanwhile).
  std::string begin_fetch() {
    fetching_ = true;
    return etag_;
  }

  // What a fetch's answers (the document's, the signature's) come to.
  struct Result {
    DefinitionsVerdict verdict = DefinitionsVerdict::refuse;
    std::string reason;       // refuse: why (for status and the log)
    bool failed = false;      // refuse: the server or the network failed (asked again sooner)
    DefinitionsCheck check;   // accept: what to install (check.definitions) and keep
    std::string body, sig;    // accept: the exact bytes, to store with the set
    std::string etag;
  };
  Result judge(const platform::HttpResponse &doc, const platform::HttpResponse &sig) const;

  // After the agent acted on a fetch's result at mono `now` / wall `wall_ms`:
  // accepted (installed and stored), unchanged, or refused (nothing changed);
  // the next fetch is scheduled from the answer's Cache-Control.
  void settle(const Result &r, bool installed, const std::string &install_error, int64_t now_mono, int64_t wall_ms,
              const std::string &cache_control);

  // A set restored at start from what the agent stored: re-verified against
  // the keys configured now; accepted, it is the set in force.
  DefinitionsCheck restore(const std::string &body, const std::string &sig, const std::string &etag,
                           int64_t fetched_wall_ms);
  // Another source put a set in force (a file, definitions.put): the URL's
  // set is no longer what decides, and the next fetch must not be skipped as
  // "unchanged".
  void superseded(const char *source);

  // status.definitions_set: count (given), version, source, url, fetched_at, error, fetches.
  void describe(cJSON *out, size_t count) const;

 private:
  std::string url_;
  std::vector<platform::PublicKey> keys_;
  int64_t refresh_s_ = 3600;
  DefinitionsInForce in_force_;  // the URL's set in force (none: no document from the URL)
  std::string etag_;
  int64_t next_mono_ = 0;
  bool fetching_ = false;
  std::string source_ = "none";  // what put the set in force: url, file, put, none
  int64_t fetched_wall_ms_ = 0;  // the last fetch that came to a verdict (0: none)
  std::string error_;            // the last fetch's refusal or failure ("" after a good one)
  int64_t fetches_ = 0;          // fetches settled since start
};

}  // namespace co
