#include <curl/curl.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>

#include "platform/files.h"
#include "platform/http.h"

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
};

size_t on_body(char *p, size_t size, size_t n, void *user) {
  auto *sink = static_cast<Sink *>(user);
  size_t len = size * n;
  if (sink->resp->body.size() + len > kMaxBody) return 0;  // refuse huge answers
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

class CurlTransport final : public Transport {
 public:
  CurlTransport(std::string ca_file, std::string ca_path) : ca_file_(std::move(ca_file)), ca_path_(std::move(ca_path)) {}
  ~CurlTransport() override {
    if (easy_) curl_easy_cleanup(easy_);
  }
  CurlTransport(const CurlTransport &) = delete;
  CurlTransport &operator=(const CurlTransport &) = delete;

  bool init() {
    easy_ = curl_easy_init();
    return easy_ != nullptr;
  }

  void abort() override { aborted_ = true; }

  // Never throws: without memory the answer is status 0, "out of memory",
  // like any other failed transfer (this runs on the sync worker thread).
  void post(const HttpRequest &req, HttpResponse &resp) override {
    std::lock_guard<std::mutex> lock(mu_);
    resp = HttpResponse();
    if (aborted_) {
      resp.error = "aborted";
      return;
    }
    Sink sink{&resp, false};
    try {
      perform(req, sink);
    } catch (const std::bad_alloc &) {
      sink.out_of_memory = true;
    }
    if (sink.out_of_memory) {
      resp.status = 0;
      resp.timed_out = false;
      resp.body.clear();
      resp.content_type.clear();
      resp.error = "out of memory";  // short enough to need no allocation
    }
  }

 private:
  void perform(const HttpRequest &req, Sink &sink) {
    HttpResponse &resp = *sink.resp;
    // The handle is reused so the connection is kept alive between requests.
    curl_easy_reset(easy_);
    Headers headers;
    append(headers, "Content-Type: application/json");
    append(headers, "Accept: application/json");
    for (const auto &h : req.headers) append(headers, (h.first + ": " + h.second).c_str());
    curl_easy_setopt(easy_, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(easy_, CURLOPT_POST, 1L);
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, req.body.c_str());
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_ms));
    curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.timeout_ms));
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);         // never SIGALRM/SIGPIPE in the host app
    curl_easy_setopt(easy_, CURLOPT_ACCEPT_ENCODING, "");  // every encoding libcurl supports
    curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy_, CURLOPT_FOLLOWLOCATION, 0L);
    if (!ca_file_.empty()) curl_easy_setopt(easy_, CURLOPT_CAINFO, ca_file_.c_str());
    if (!ca_path_.empty()) curl_easy_setopt(easy_, CURLOPT_CAPATH, ca_path_.c_str());
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy_, CURLOPT_HEADERDATA, &sink);
    curl_easy_setopt(easy_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy_, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(easy_, CURLOPT_XFERINFODATA, &aborted_);
    CURLcode rc = curl_easy_perform(easy_);
    // The handle keeps pointers to the list and the sink until the next reset.
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, nullptr);
    if (rc != CURLE_OK) {
      if (rc == CURLE_OUT_OF_MEMORY) sink.out_of_memory = true;
      resp.status = 0;
      resp.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
      resp.error = curl_easy_strerror(rc);
      return;
    }
    long code = 0;
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &code);
    resp.status = static_cast<int>(code);
    char *ct = nullptr;
    curl_easy_getinfo(easy_, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) resp.content_type = ct;
  }

  std::mutex mu_;
  CURL *easy_ = nullptr;
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

}  // namespace co::platform
