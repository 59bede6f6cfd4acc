#include "definitions_feed.h"

#include <algorithm>

#include "iso8601.h"

namespace co {
namespace {

// A fetch that failed (the server, the network): tried again sooner than a
// refresh, never in a tight loop.
constexpr int64_t kRetryFailedS = 15 * 60;

std::string transport_failure(const char *what, const platform::HttpResponse &r) {
  if (r.timed_out) return std::string(what) + ": no answer in time";
  if (r.status == 0) return std::string(what) + ": " + (r.error.empty() ? "no answer" : r.error);
  return std::string(what) + ": HTTP " + std::to_string(r.status);
}

}  // namespace

bool DefinitionsFeed::configure(const Config &cfg, std::string &err) {
  std::vector<platform::PublicKey> keys;
  if (!cfg.cohorts_definitions_url.empty()) {
    platform::SignatureStatus st = platform::load_public_keys(cfg.cohorts_public_keys, &keys);
    if (!st.ok) {
      err = "cohorts.public_keys: " + st.reason;
      return false;
    }
  }
  if (cfg.cohorts_definitions_url != url_) {
    // Another URL is another stream of versions: nothing of the old one holds.
    in_force_ = {};
    etag_.clear();
    next_mono_ = 0;
    error_.clear();
  }
  url_ = cfg.cohorts_definitions_url;
  keys_ = std::move(keys);
  refresh_s_ = cfg.cohorts_refresh_s;
  return true;
}

DefinitionsFeed::Result DefinitionsFeed::judge(const platform::HttpResponse &doc,
                                               const platform::HttpResponse &sig) const {
  Result r;
  r.etag = doc.etag.empty() ? etag_ : doc.etag;
  if (doc.status == 304) {
    r.verdict = DefinitionsVerdict::unchanged;
    return r;
  }
  if (doc.too_large) {
    r.reason = "document over " + std::to_string(kMaxDefinitionsDocBytes) + " bytes (4 MiB)";
    return r;
  }
  if (doc.status != 200 || sig.status != 200) {
    r.failed = true;
    r.reason = doc.status != 200 ? transport_failure("document", doc) : transport_failure("signature (.sig)", sig);
    return r;
  }
  r.check = check_definitions_doc(doc.body, sig.body, keys_, in_force_);
  r.verdict = r.check.verdict;
  r.reason = r.check.reason;
  if (r.verdict == DefinitionsVerdict::accept) {
    r.body = doc.body;
    r.sig = sig.body;
  }
  return r;
}

void DefinitionsFeed::settle(const Result &r, bool installed, const std::string &install_error, int64_t now_mono,
                             int64_t wall_ms, const std::string &cache_control) {
  fetching_ = false;
  fetched_wall_ms_ = wall_ms;
  ++fetches_;
  switch (r.verdict) {
    case DefinitionsVerdict::accept:
      if (installed) {
        in_force_ = {r.check.version, r.check.sha256};
        etag_ = r.etag;
        source_ = "url";
        error_.clear();
      } else {
        error_ = "version " + std::to_string(r.check.version) + " not put in force: " + install_error;
      }
      break;
    case DefinitionsVerdict::unchanged:
      etag_ = r.etag;
      error_.clear();
      break;
    case DefinitionsVerdict::refuse:
      error_ = r.reason;
      break;
  }
  // A document judged (taken, unchanged or refused for what it says) waits
  // for the next refresh; a server or network that failed is asked again sooner.
  int64_t wait_s = next_definitions_fetch_s(refresh_s_, cache_control);
  if (r.failed) wait_s = std::min(wait_s, kRetryFailedS);
  next_mono_ = now_mono + wait_s * 1000;
}

DefinitionsCheck DefinitionsFeed::restore(const std::string &body, const std::string &sig, const std::string &etag,
                                          int64_t fetched_wall_ms) {
  DefinitionsCheck check = check_definitions_doc(body, sig, keys_, DefinitionsInForce{});
  if (check.verdict != DefinitionsVerdict::accept) return check;
  in_force_ = {check.version, check.sha256};
  etag_ = etag;
  source_ = "url";
  fetched_wall_ms_ = fetched_wall_ms;
  return check;
}

void DefinitionsFeed::superseded(const char *source) { source_ = source; }

void DefinitionsFeed::describe(cJSON *out, size_t count) const {
  json_add_number(out, "count", static_cast<double>(count));
  json_add_string(out, "source", source_.c_str());
  if (in_force_.version && source_ == "url") {
    json_add_number(out, "version", static_cast<double>(*in_force_.version));
  } else {
    json_add_null(out, "version");
  }
  if (url_.empty()) json_add_null(out, "url");
  else json_add_string(out, "url", url_.c_str());
  if (fetched_wall_ms_ > 0) json_add_string(out, "fetched_at", format_iso8601(fetched_wall_ms_).c_str());
  else json_add_null(out, "fetched_at");
  if (error_.empty()) json_add_null(out, "error");
  else json_add_string(out, "error", error_.c_str());
  json_add_number(out, "fetches", static_cast<double>(fetches_));
}

}  // namespace co
