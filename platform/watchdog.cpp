// The deadline watchdog. libcurl built without an asynchronous resolver
// (no CURL_VERSION_ASYNCHDNS: some device builds) resolves names in a blocking
// getaddrinfo() that no timeout interrupts, and a dead DNS server then holds a
// request for minutes. Here each request runs on a thread of its own and the
// caller waits at most timeout_ms plus a grace; a request past that is
// abandoned: its thread finishes on its own with its own copies and its own
// transport, and the next request gets a new transport.
#include <chrono>
#include <condition_variable>
#include <thread>

#include "platform/http.h"

namespace co::platform {
namespace {

constexpr int64_t kGraceMs = 200;

class WatchdogTransport final : public Transport {
 public:
  explicit WatchdogTransport(std::function<std::unique_ptr<Transport>()> make) : make_(std::move(make)) {}

  void post(const HttpRequest &req, HttpResponse &resp) override {
    auto call = std::make_shared<Call>();
    call->req = req;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!inner_) inner_ = std::shared_ptr<Transport>(make_());
      call->transport = inner_;
      current_ = call;
    }
    resp = HttpResponse();
    if (!call->transport) {
      resp.error = "no transport";
      return;
    }
    try {
      std::thread([call] {
        call->transport->post(call->req, call->resp);
        std::lock_guard<std::mutex> lock(call->mu);
        call->done = true;
        call->cv.notify_all();
      }).detach();
    } catch (...) {  // no thread to be had: the request runs here, unguarded
      call->transport->post(req, resp);
      return;
    }
    std::unique_lock<std::mutex> lock(call->mu);
    call->cv.wait_for(lock, std::chrono::milliseconds(req.timeout_ms + kGraceMs),
                      [&] { return call->done || aborted_.load(); });
    if (call->done) {
      resp = std::move(call->resp);
      return;
    }
    lock.unlock();
    {
      std::lock_guard<std::mutex> guard(mu_);
      if (inner_ == call->transport) inner_.reset();  // left to its thread
    }
    call->transport->abort();
    resp.timed_out = !aborted_;
    resp.error = aborted_ ? "aborted" : "timed out (the request did not return: name resolution?)";
  }

  void abort() override {
    aborted_ = true;
    std::shared_ptr<Call> call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (inner_) inner_->abort();
      call = current_.lock();
    }
    if (call) {
      std::lock_guard<std::mutex> lock(call->mu);
      call->cv.notify_all();
    }
  }

 private:
  struct Call {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    HttpRequest req;
    HttpResponse resp;
    std::shared_ptr<Transport> transport;
  };

  std::function<std::unique_ptr<Transport>()> make_;
  std::mutex mu_;
  std::shared_ptr<Transport> inner_;
  std::weak_ptr<Call> current_;
  std::atomic<bool> aborted_{false};
};

}  // namespace

std::unique_ptr<Transport> make_watchdog_transport(std::function<std::unique_ptr<Transport>()> make) {
  return std::make_unique<WatchdogTransport>(std::move(make));
}

}  // namespace co::platform
