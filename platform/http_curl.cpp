#include <curl/curl.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "platform/files.h"
#include "platform/http.h"
#include "platform/http_internal.h"
#include "platform/mutex.h"

namespace co::platform {
namespace {

constexpr size_t kMaxBody = 1 << 20;

// Where device and distribution images keep their CA bundle.
const char *const kCaBundles[] = {
    "/etc/ssl/certs/ca-certificates.crt",  // Debian, Ubuntu, Buildroot, Yocto
    "/etc/pki/tls/certs/ca-bundle.crt",    // Fedora, RHEL
    "/etc/ssl/cert.pem",                   // Alpine, OpenWrt
    "/etc/ssl/ca-bundle.pem",              // openSUSE
    "/system/etc/security/cacerts",        // Android TV (a directory)
};

// What the callbacks write into. They run inside libcurl (C): nothing may
// unwind through it, so running out of memory there aborts the transfer and
// is reported as such.
struct Sink {
  HttpResponse *resp;
  bool out_of_memory;
  size_t max_body;
};

size_t on_body(char *p, size_t size, size_t n, void *user) {
  auto *sink = static_cast<Sink *>(user);
  size_t len = size * n;
  if (sink->resp->body.size() + len > sink->max_body) {  // refuse huge answers
    sink->resp->too_large = true;
    return 0;
  }
  try {
    sink->resp->body.append(p, len);
  } catch (const std::bad_alloc &) {
    sink->out_of_memory = true;
    return 0;
  }
  return len;
}

size_t on_header(char *p, size_t size, size_t n, void *user) {
  auto *sink = static_cast<Sink *>(user);
  size_t len = size * n;
  try {
    std::string line(p, len);
    auto value_of = [&](const char *name) -> std::string {
      size_t nl = strlen(name);
      if (line.size() <= nl || strncasecmp(line.c_str(), name, nl) != 0) return {};
      std::string v = line.substr(nl);
      size_t b = v.find_first_not_of(" \t");
      size_t e = v.find_last_not_of(" \t\r\n");
      return b == std::string::npos ? std::string() : v.substr(b, e - b + 1);
    };
    // Each answer's own (a 1xx before it says nothing of these).
    if (line.rfind("HTTP/", 0) == 0) sink->resp->etag.clear(), sink->resp->cache_control.clear();
    std::string etag = value_of("etag:");
    if (!etag.empty()) sink->resp->etag = etag;
    std::string cc = value_of("cache-control:");
    if (!cc.empty()) sink->resp->cache_control = cc;
    std::string ra = value_of("retry-after:");
    if (!ra.empty() && ra.find_first_not_of("0123456789") == std::string::npos && ra.size() < 10) {
      sink->resp->retry_after_s = std::stoll(ra);
    }
  } catch (const std::bad_alloc &) {
    sink->out_of_memory = true;
    return 0;
  }
  return len;
}

struct SlistFree {
  void operator()(curl_slist *list) const { curl_slist_free_all(list); }
};
using Headers = std::unique_ptr<curl_slist, SlistFree>;

// Appends a header line; throws std::bad_alloc when libcurl cannot (its
// curl_slist_append then returns NULL and keeps the list: never lose it).
void append(Headers &list, const char *line) {
  curl_slist *head = curl_slist_append(list.get(), line);
  if (!head) throw std::bad_alloc();
  static_cast<void>(list.release());
  list.reset(head);
}

int on_progress(void *user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool> *>(user)->load() ? 1 : 0;
}

std::once_flag g_curl_init;

// How long curl_multi_poll() may sleep when nothing happens. abort() wakes it
// at once (curl_multi_wakeup); this only bounds the wait should that fail.
constexpr int kPollMs = 100;

// One request in flight: the easy handle it runs on and what that handle
// points at (its header list and the sink of its callbacks) until the
// transfer is taken out of the multi handle.
struct Transfer {
  size_t slot = 0;  // in the pool of easy handles
  CURL *easy = nullptr;
  Sink sink{nullptr, false, kMaxBody};
  Headers headers;
  bool added = false;  // to the multi handle
  bool done = false;   // its answer or its error is in sink.resp
};

class CurlTransport final : public Transport {
 public:
  CurlTransport(std::string ca_file, std::string ca_path) : ca_file_(std::move(ca_file)), ca_path_(std::move(ca_path)) {}
  ~CurlTransport() override {
    for (CURL *easy : pool_) {
      if (easy) curl_easy_cleanup(easy);
    }
    if (multi_) curl_multi_cleanup(multi_);
  }
  CurlTransport(const CurlTransport &) = delete;
  CurlTransport &operator=(const CurlTransport &) = delete;

  bool init() {
    multi_ = curl_multi_init();
    return multi_ != nullptr;
  }

  void abort() override {
    aborted_ = true;
    curl_multi_wakeup(multi_);  // thread-safe: the one multi call made off the calling thread
  }

  // Never throws: without memory the answer is status 0, "out of memory",
  // like any other failed transfer (this runs on the sync worker thread).
  void post(const HttpRequest &req, HttpResponse &resp) override { perform_all(&req, &resp, 1); }

  void post_all(const std::vector<HttpRequest> &reqs, std::vector<HttpResponse> &resps) override {
    if (reset_responses(resps, reqs.size())) perform_all(reqs.data(), resps.data(), reqs.size());
  }

 private:
  // The one code path of post() and post_all(). One call at a time: the easy
  // handles and the multi handle are not to be shared between threads.
  void perform_all(const HttpRequest *reqs, HttpResponse *resps, size_t n) {
    MutexLock lock(mu_);
    for (size_t i = 0; i < n; ++i) resps[i] = HttpResponse();
    std::vector<Transfer> transfers;
    try {
      transfers.resize(n);  // once: the handles point into it
    } catch (const std::bad_alloc &) {
      for (size_t i = 0; i < n; ++i) fail_out_of_memory(resps[i]);
      return;
    }
    for (size_t i = 0; i < n; ++i) start(transfers[i], i, reqs[i], resps[i]);
    drive(transfers);
    for (Transfer &t : transfers) finish(t);
  }

  // Sets the transfer up on easy handle `slot` and adds it to the multi
  // handle; a transfer that cannot be started is done, with its error.
  void start(Transfer &t, size_t slot, const HttpRequest &req, HttpResponse &resp) CO_REQUIRES(mu_) {
    t.slot = slot;
    t.sink.resp = &resp;
    t.sink.max_body = req.max_body > 0 ? req.max_body : kMaxBody;
    if (aborted_) return;  // left undone: finish() says "aborted"
    try {
      t.easy = easy_at(slot);
      if (!t.easy) throw std::bad_alloc();  // curl_easy_init() fails only for memory
      configure(t, req);
    } catch (const std::bad_alloc &) {
      t.sink.out_of_memory = true;
      t.done = true;
      return;
    }
    CURLMcode mc = curl_multi_add_handle(multi_, t.easy);
    if (mc != CURLM_OK) {
      fail(t, mc);
      return;
    }
    t.added = true;
  }

  // The pool grows to the most requests sent at once and is kept: making an
  // easy handle costs allocations, and a handle kept is one fewer to fail.
  CURL *easy_at(size_t slot) CO_REQUIRES(mu_) {
    if (slot >= pool_.size()) pool_.resize(slot + 1, nullptr);
    if (!pool_[slot]) pool_[slot] = curl_easy_init();
    return pool_[slot];
  }

  // Every transfer gets the same options. Connections are kept alive by the
  // multi handle's cache, which outlives each call, not by the easy handle,
  // so resetting it loses nothing. Throws std::bad_alloc.
  void configure(Transfer &t, const HttpRequest &req) {
    CURL *easy = t.easy;
    curl_easy_reset(easy);
    if (!req.get) append(t.headers, "Content-Type: application/json");
    append(t.headers, "Accept: application/json");
    for (const auto &h : req.headers) append(t.headers, (h.first + ": " + h.second).c_str());
    curl_easy_setopt(easy, CURLOPT_URL, req.url.c_str());
    if (req.get) {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(easy, CURLOPT_POST, 1L);
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req.body.c_str());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t.headers.get());
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_ms));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.timeout_ms));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);         // never SIGALRM/SIGPIPE in the host app
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");  // every encoding libcurl supports
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    if (!ca_file_.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file_.c_str());
    if (!ca_path_.empty()) curl_easy_setopt(easy, CURLOPT_CAPATH, ca_path_.c_str());
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t.sink);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t.sink);
    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &aborted_);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &t);  // from a finished handle back to its transfer
  }

  // Runs the transfers until each is done, or abort() is called. Each has its
  // own deadline (its CURLOPT_TIMEOUT_MS): the slowest decides when this ends.
  void drive(std::vector<Transfer> &transfers) {
    size_t pending = 0;
    for (const Transfer &t : transfers) pending += t.done ? 0 : 1;
    while (pending > 0 && !aborted_) {
      int running = 0;
      CURLMcode mc = curl_multi_perform(multi_, &running);
      if (mc == CURLM_OK) pending -= collect();
      if (mc == CURLM_OK && pending > 0 && !aborted_) mc = curl_multi_poll(multi_, nullptr, 0, kPollMs, nullptr);
      if (mc != CURLM_OK) {
        for (Transfer &t : transfers) {
          if (!t.done) fail(t, mc);
        }
        return;
      }
    }
  }

  // Records the transfers libcurl has finished; returns how many.
  size_t collect() {
    size_t finished = 0;
    int left = 0;
    while (CURLMsg *msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      char *t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      if (!t) continue;
      record(*reinterpret_cast<Transfer *>(t), msg->data.result);
      ++finished;
    }
    return finished;
  }

  // A finished transfer's answer or error.
  void record(Transfer &t, CURLcode rc) {
    HttpResponse &resp = *t.sink.resp;
    t.done = true;
    try {
      if (rc != CURLE_OK && resp.too_large) {
        resp.status = 0;
        resp.body.clear();
        resp.error = "answer over " + std::to_string(t.sink.max_body) + " bytes";
        return;
      }
      if (rc != CURLE_OK) {
        if (rc == CURLE_OUT_OF_MEMORY) t.sink.out_of_memory = true;
        resp.status = 0;
        resp.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        // The progress callback ends transfers once abort() is called.
        resp.error = (rc == CURLE_ABORTED_BY_CALLBACK && aborted_) ? "aborted" : curl_easy_strerror(rc);
        return;
      }
      long code = 0;
      curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &code);
      resp.status = static_cast<int>(code);
      char *ct = nullptr;
      curl_easy_getinfo(t.easy, CURLINFO_CONTENT_TYPE, &ct);
      if (ct) resp.content_type = ct;
    } catch (const std::bad_alloc &) {
      t.sink.out_of_memory = true;
    }
  }

  // A transfer the multi handle failed (it cannot be started or driven).
  void fail(Transfer &t, CURLMcode mc) {
    t.done = true;
    if (mc == CURLM_OUT_OF_MEMORY) {
      t.sink.out_of_memory = true;
      return;
    }
    try {
      t.sink.resp->status = 0;
      t.sink.resp->error = curl_multi_strerror(mc);
    } catch (const std::bad_alloc &) {
      t.sink.out_of_memory = true;
    }
  }

  // Takes the transfer out of the multi handle (its connection, when whole,
  // stays in the cache for the next call) and settles its answer.
  void finish(Transfer &t) CO_REQUIRES(mu_) {
    if (t.added && curl_multi_remove_handle(multi_, t.easy) != CURLM_OK) {
      // Still attached: a handle we cannot reuse. Cleaning it up detaches it.
      curl_easy_cleanup(t.easy);
      pool_[t.slot] = nullptr;
      t.easy = nullptr;
    }
    // The handle keeps its pointers until the next reset; not to the list,
    // which goes with the transfer.
    if (t.easy) curl_easy_setopt(t.easy, CURLOPT_HTTPHEADER, nullptr);
    HttpResponse &resp = *t.sink.resp;
    if (t.sink.out_of_memory) {
      fail_out_of_memory(resp);
    } else if (!t.done) {  // still in flight when abort() was called
      resp.status = 0;
      resp.timed_out = false;
      resp.error = "aborted";
    }
  }

  Mutex mu_;  // one call at a time
  // abort() wakes it from another thread: curl_multi_wakeup() is made for that.
  CURLM *multi_ = nullptr;
  std::vector<CURL *> pool_ CO_GUARDED_BY(mu_);  // easy handles, slot i for the i-th request of a call
  std::string ca_file_;
  std::string ca_path_;
  std::atomic<bool> aborted_{false};
};

}  // namespace

std::unique_ptr<Transport> make_curl_transport(const TransportOptions &opts, Logger &log, std::string &err) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
  // A blocking resolver ignores our deadlines (CURLOPT_NOSIGNAL keeps it from
  // using signals): the watchdog enforces them.
  bool watchdog = opts.watchdog || !(info->features & CURL_VERSION_ASYNCHDNS);
  if (!(info->features & CURL_VERSION_ASYNCHDNS)) {
    log.log(LogLevel::warn, "libcurl resolves names synchronously; a watchdog enforces api.timeout_ms");
  }
  std::string ca_file = opts.ca_file, ca_path;
  if (!ca_file.empty()) {
    if (!file_exists(ca_file)) {
      err = "configuration key \"api.ca_file\": " + ca_file + " does not exist";
      return nullptr;
    }
  } else {
    for (const char *p : kCaBundles) {
      if (!file_exists(p)) continue;
      std::string s = p;
      if (s.rfind("/system/", 0) == 0) ca_path = s; else ca_file = s;
      break;
    }
    if (ca_file.empty() && ca_path.empty()) {
      log.log(LogLevel::warn, "no CA bundle found in the usual places; https will fail until api.ca_file is set");
    }
  }
  auto make = [ca_file, ca_path]() -> std::unique_ptr<Transport> {
    auto t = std::make_unique<CurlTransport>(ca_file, ca_path);
    return t->init() ? std::move(t) : nullptr;
  };
  std::unique_ptr<Transport> t = make();
  if (!t) {
    err = "libcurl could not be initialised";
    return nullptr;
  }
  return watchdog ? make_watchdog_transport(make) : std::move(t);
}

TransportLibrary transport_library() {
  const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
  return {"libcurl", info && info->version ? info->version : "?", LIBCURL_VERSION, info ? info->ssl_version : nullptr};
}

}  // namespace co::platform
