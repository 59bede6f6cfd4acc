// The agent's side of the fleet's signed cohort definitions
// (cohorts.definitions_url; DefinitionsFeed decides): the set kept from the
// last fetch restored at start before any network, fetches on the sync
// worker without the agent's lock (no caller ever waits on one), and an
// accepted set put in force with look-back, stored with its signature, in one
// transaction.
#include <cstdlib>

#include "agent.h"
#include "requests.h"

namespace co {
namespace {

// Where the last accepted document from the URL is kept (meta), exactly as
// fetched: it is verified again at every start.
constexpr const char *kDocKey = "definitions_url_doc";
constexpr const char *kSigKey = "definitions_url_sig";
constexpr const char *kEtagKey = "definitions_url_etag";
constexpr const char *kFromKey = "definitions_url";        // the URL it came from
constexpr const char *kFetchedKey = "definitions_url_at";  // when (Unix ms)

}  // namespace

bool Agent::restore_fetched_definitions() {
  if (!feed_.enabled()) return false;
  std::string from, body, sig, etag, at;
  if (!store_.get_meta(kFromKey, from) || from != feed_.url() || !store_.get_meta(kDocKey, body) ||
      !store_.get_meta(kSigKey, sig)) {
    return false;
  }
  store_.get_meta(kEtagKey, etag);
  store_.get_meta(kFetchedKey, at);
  // A damaged time reads as none (strtoll: no exception at start).
  DefinitionsCheck check = feed_.restore(body, sig, etag, strtoll(at.c_str(), nullptr, 10));
  if (check.verdict != DefinitionsVerdict::accept) {
    CO_LOG(*log_, error, "the stored definitions from %s no longer verify (%s); not used", feed_.url().c_str(),
           check.reason.c_str());
    return false;
  }
  Outcome applied = apply_definitions(check.definitions, false);
  if (!applied.ok()) {
    CO_LOG(*log_, error, "the stored definitions from %s: %s; not used", feed_.url().c_str(), applied.message.c_str());
    return false;
  }
  return true;
}

// On the sync worker, with the lock held on entry and exit; released while
// the document and its signature are fetched (post_all never throws).
void Agent::fetch_definitions() {
  std::vector<platform::HttpRequest> reqs = definitions_requests(cfg_, feed_.begin_fetch(), kMaxDefinitionsDocBytes);
  std::vector<platform::HttpResponse> resps;
  mu_.unlock();
  transport_->post_all(reqs, resps);
  mu_.lock();
  if (stop_) return;
  if (resps.size() != 2) resps.resize(2);  // no memory for the answers: judged as failed
  DefinitionsFeed::Result r = feed_.judge(resps[0], resps[1]);
  Outcome installed = COHORT_OK;
  if (r.verdict == DefinitionsVerdict::accept) {
    installed = install_definitions(r.check.definitions, {{kDocKey, r.body},
                                                          {kSigKey, r.sig},
                                                          {kEtagKey, r.etag},
                                                          {kFromKey, feed_.url()},
                                                          {kFetchedKey, std::to_string(now_wall())}});
    if (installed.ok()) {
      CO_LOG(*log_, info, "definitions version %lld from %s: %zu cohorts", static_cast<long long>(r.check.version),
             feed_.url().c_str(), cohorts_.definitions().size());
    }
  }
  if (r.verdict == DefinitionsVerdict::refuse) {
    CO_LOG(*log_, warn, "definitions from %s refused: %s; the set in force stays", feed_.url().c_str(),
           r.reason.c_str());
  }
  feed_.settle(r, installed.ok(), installed.message, clock_->mono_ms(), now_wall(), resps[0].cache_control);
}

Outcome Agent::reload_definitions_url(cJSON *result) {
  feed_.fetch_now();
  wake_ = true;  // not wake_worker(true): that would also cut the CCS back-off short
  wake_cv_.notify_one();
  json_add_number(result, "count", static_cast<double>(cohorts_.definitions().size()));
  json_add_string(result, "source", feed_.url().c_str());
  json_add_bool(result, "fetching", true);
  return COHORT_OK;
}

}  // namespace co
