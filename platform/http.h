// The HTTP transport seam: one POST (or a GET of a document) with a deadline. The real one is libcurl
// (keep-alive, compression, TLS verification always on), unless the build has
// none (COHORT_TRANSPORT=none); tests use a fake.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "platform/log.h"

namespace co::platform {

struct HttpRequest {
  std::string url;
  std::string body;  // JSON (POST)
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t timeout_ms = 300;
  bool get = false;         // a GET (no body) instead of a POST: a document to fetch
  size_t max_body = 0;      // the longest answer taken; 0: 1 MiB
};

struct HttpResponse {
  int status = 0;           // 0: no HTTP answer (see error)
  std::string body;
  std::string content_type;
  int64_t retry_after_s = -1;  // from Retry-After, when given as seconds
  std::string etag;            // ETag, as given (quotes and W/ kept)
  std::string cache_control;   // Cache-Control, as given
  bool timed_out = false;
  bool too_large = false;   // the answer passed max_body (status 0, error says so)
  std::string error;        // transport error, "" when an answer arrived
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends the request; returns when answered, failed, or at the deadline.
  virtual void post(const HttpRequest &req, HttpResponse &resp) = 0;
  // Sends every request at once and returns when each has been answered, has
  // failed, or has reached its own timeout_ms; resps is resized to reqs.size()
  // and resps[i] answers reqs[i]. abort() makes it return promptly (every
  // request still in flight then fails with error "aborted"). Never throws:
  // without memory a request fails with status 0 and error "out of memory"
  // (and when not even resps can be sized, it is left empty).
  // The default runs each request through post() on a thread of its own (the
  // first on the calling thread), for fakes; libcurl overrides it with one
  // multi handle (http_curl.cpp).
  virtual void post_all(const std::vector<HttpRequest> &reqs, std::vector<HttpResponse> &resps);
  // Makes an in-flight post() or post_all() return promptly (shutdown).
  // Thread-safe.
  virtual void abort() {}
};

struct TransportOptions {
  std::string ca_file;  // extra CA bundle; "" = the system's
  bool watchdog = false;  // force the deadline watchdog (it is on by itself without async DNS)
};

// The build's transport (COHORT_TRANSPORT). curl: libcurl; returns nullptr
// with err set when libcurl cannot be initialised or the CA file is unusable.
// none (http_none.cpp, a build without libcurl): a transport whose every
// request fails at once with error "built without a transport
// (COHORT_TRANSPORT=none)"; events then stay queued.
std::unique_ptr<Transport> make_curl_transport(const TransportOptions &opts, Logger &log, std::string &err);

// The library behind make_curl_transport(), for build information (as
// `curl -V` shows its own): its name, the version loaded at run time, the one
// built against, and its TLS library (nullptr: none). Static strings.
struct TransportLibrary {
  const char *name;
  const char *version;
  const char *built_with;
  const char *tls;
};
TransportLibrary transport_library();

// Wraps transports made by `make` so that post() returns by timeout_ms plus a
// short grace whatever the inner one does (watchdog.cpp).
std::unique_ptr<Transport> make_watchdog_transport(std::function<std::unique_ptr<Transport>()> make);

// For tests: answers from a script and records what was sent. post_all() is
// the default one: the handler is called from several threads at once.
class FakeTransport final : public Transport {
 public:
  using Handler = std::function<void(const HttpRequest &, HttpResponse &)>;
  void set_handler(Handler h) {
    MutexLock lock(mu_);
    handler_ = std::move(h);
  }
  void post(const HttpRequest &req, HttpResponse &resp) override {
    Handler h;
    {
      MutexLock lock(mu_);
      sent_.push_back(req);
      h = handler_;
    }
    if (h) {
      h(req, resp);
    } else {
      resp.status = 200;
      resp.body = "{}";
      resp.content_type = "application/json";
    }
  }
  std::vector<HttpRequest> sent() {
    MutexLock lock(mu_);
    return sent_;
  }
  void abort() override { aborted_ = true; }
  bool aborted() const { return aborted_; }

 private:
  Mutex mu_;
  Handler handler_ CO_GUARDED_BY(mu_);
  std::vector<HttpRequest> sent_ CO_GUARDED_BY(mu_);
  std::atomic<bool> aborted_{false};
};

}  // namespace co::platform
