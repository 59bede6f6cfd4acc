// COHORT_TRANSPORT=none: libcohort built without libcurl, for a device that
// brings its own. Every request fails at once and says why; everything else
// (events, local cohorts, caches, the socket) works as ever, and the events
// wait in the outbox as they do while the network is down.
#include <new>

#include "platform/http.h"
#include "platform/http_internal.h"

namespace co::platform {
namespace {

const char kNoTransport[] = "built without a transport (COHORT_TRANSPORT=none)";

void fail(HttpResponse &resp) noexcept {
  resp = HttpResponse();
  try {
    resp.error = kNoTransport;
  } catch (const std::bad_alloc &) {
    fail_out_of_memory(resp);
  }
}

class NoTransport final : public Transport {
 public:
  void post(const HttpRequest &, HttpResponse &resp) override { fail(resp); }
  // No thread per request, as the default would start: nothing is sent.
  void post_all(const std::vector<HttpRequest> &reqs, std::vector<HttpResponse> &resps) override {
    if (!reset_responses(resps, reqs.size())) return;
    for (HttpResponse &resp : resps) fail(resp);
  }
};

}  // namespace

std::unique_ptr<Transport> make_curl_transport(const TransportOptions &, Logger &log, std::string &) {
  log.log(LogLevel::warn, "%s: nothing is sent to the APIs; events stay queued", kNoTransport);
  return std::make_unique<NoTransport>();
}

TransportLibrary transport_library() { return {"transport", "none", "none", "(COHORT_TRANSPORT=none)"}; }

}  // namespace co::platform
