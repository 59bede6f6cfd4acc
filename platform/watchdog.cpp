// The deadline watchdog. libcurl built without an asynchronous resolver
// (no CURL_VERSION_ASYNCHDNS: some device builds) resolves names in a blocking
// getaddrinfo() that no timeout interrupts, and a dead DNS server then holds a
// request for minutes. Here each call (one request, or several sent together)
// runs on a thread of its own and the caller waits at most the longest
// timeout_ms plus a grace; a call past that is abandoned: its thread finishes
// on its own with its own copies and its own transport, and the next call gets
// a new transport.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <new>
#include <thread>

#include "platform/http.h"
#include "platform/http_internal.h"
#include "platform/mutex.h"

namespace co::platform {
namespace {

constexpr int64_t kGraceMs = 200;

const char kTimedOut[] = "timed out (the request did not return: name resolution?)";

class WatchdogTransport final : public Transport {
 public:
  explicit WatchdogTransport(std::function<std::unique_ptr<Transport>()> make) : make_(std::move(make)) {}

  void post(const HttpRequest &req, HttpResponse &resp) override {
    resp = HttpResponse();
    std::vector<HttpResponse> resps;
    if (!reset_responses(resps, 1)) {
      fail_out_of_memory(resp);
      return;
    }
    try {
      auto call = std::make_shared<Call>();
      call->reqs.push_back(req);  // the thread's own copy: it may outlive the caller's
      run(call, resps);
    } catch (const std::bad_alloc &) {
      fail_out_of_memory(resps[0]);
    }
    resp = std::move(resps[0]);
  }

  void post_all(const std::vector<HttpRequest> &reqs, std::vector<HttpResponse> &resps) override {
    if (!reset_responses(resps, reqs.size()) || reqs.empty()) return;
    try {
      auto call = std::make_shared<Call>();
      call->reqs = reqs;
      run(call, resps);
    } catch (const std::bad_alloc &) {
      for (HttpResponse &resp : resps) fail_out_of_memory(resp);
    }
  }

  void abort() override {
    aborted_ = true;
    std::shared_ptr<Call> call;
    {
      MutexLock lock(mu_);
      if (inner_) inner_->abort();
      call = current_.lock();
    }
    if (call) {
      std::lock_guard<std::mutex> lock(call->mu);
      call->cv.notify_all();
    }
  }

 private:
  // What a call's thread owns, shared with the caller until it gives up.
  struct Call {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::vector<HttpRequest> reqs;
    std::vector<HttpResponse> resps;
    std::shared_ptr<Transport> transport;
  };

  // Runs the call's requests on a thread of their own and waits for the
  // latest deadline among them plus the grace. resps holds one fresh answer
  // per request. Throws std::bad_alloc.
  void run(const std::shared_ptr<Call> &call, std::vector<HttpResponse> &resps) {
    if (aborted_) {
      for (HttpResponse &resp : resps) resp.error = "aborted";
      return;
    }
    {
      MutexLock lock(mu_);
      if (!inner_) inner_ = std::shared_ptr<Transport>(make_());
      call->transport = inner_;
      current_ = call;
    }
    if (!call->transport) {
      for (HttpResponse &resp : resps) resp.error = "no transport";
      return;
    }
    try {
      std::thread([call] {
        call->transport->post_all(call->reqs, call->resps);
        std::lock_guard<std::mutex> lock(call->mu);
        call->done = true;
        call->cv.notify_all();
      }).detach();
    } catch (...) {  // no thread to be had: the requests run here, unguarded
      call->transport->post_all(call->reqs, resps);
      return;
    }
    if (wait(*call)) {
      resps = std::move(call->resps);
      return;
    }
    abandon(*call);
    // The inner transport answers all at once or not at all: nothing of it is
    // ours to read while its thread may still write.
    for (HttpResponse &resp : resps) {
      resp.timed_out = !aborted_;
      resp.error = aborted_ ? "aborted" : kTimedOut;
    }
  }

  // True when the call's thread finished before the deadline and before
  // abort() gave up on it.
  bool wait(Call &call) {
    int64_t longest = 0;
    for (const HttpRequest &req : call.reqs) longest = std::max(longest, req.timeout_ms);
    std::unique_lock<std::mutex> lock(call.mu);
    call.cv.wait_for(lock, std::chrono::milliseconds(longest + kGraceMs), [&] { return call.done || aborted_.load(); });
    return call.done;
  }

  // Leaves the call's transport to its thread; the next call gets a new one.
  void abandon(Call &call) {
    {
      MutexLock lock(mu_);
      if (inner_ == call.transport) inner_.reset();
    }
    call.transport->abort();
  }

  std::function<std::unique_ptr<Transport>()> make_;
  Mutex mu_;
  std::shared_ptr<Transport> inner_ CO_GUARDED_BY(mu_);  // the transport calls share until one is abandoned
  std::weak_ptr<Call> current_ CO_GUARDED_BY(mu_);       // the call abort() wakes
  std::atomic<bool> aborted_{false};
};

}  // namespace

std::unique_ptr<Transport> make_watchdog_transport(std::function<std::unique_ptr<Transport>()> make) {
  return std::make_unique<WatchdogTransport>(std::move(make));
}

}  // namespace co::platform
