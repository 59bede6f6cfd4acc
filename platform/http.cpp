// What every Transport shares: the default post_all(), which needs nothing
// but post(), so that fakes and wrappers get concurrency for free.
#include <functional>
#include <new>
#include <thread>

#include "platform/http_internal.h"

namespace co::platform {

bool reset_responses(std::vector<HttpResponse> &resps, size_t n) noexcept {
  resps.clear();  // keeps the capacity: a caller that reuses resps allocates nothing
  try {
    resps.resize(n);
  } catch (const std::bad_alloc &) {
    return false;  // resize gives the strong guarantee: still empty
  }
  return true;
}

void fail_out_of_memory(HttpResponse &resp) noexcept {
  resp.status = 0;
  resp.timed_out = false;
  resp.body.clear();
  resp.content_type.clear();
  resp.error = "out of memory";
}

namespace {

// Runs on threads of its own, where an exception would end the process, and
// post_all() promises not to throw anyway.
void post_guarded(Transport &transport, const HttpRequest &req, HttpResponse &resp) noexcept {
  try {
    transport.post(req, resp);
  } catch (const std::bad_alloc &) {
    fail_out_of_memory(resp);
  } catch (...) {
    fail_out_of_memory(resp);
    resp.error = "transport error";  // fits the string's own buffer, as above
  }
}

}  // namespace

void Transport::post_all(const std::vector<HttpRequest> &reqs, std::vector<HttpResponse> &resps) {
  if (!reset_responses(resps, reqs.size()) || reqs.empty()) return;
  std::vector<std::thread> threads;
  try {
    threads.resize(reqs.size());
  } catch (const std::bad_alloc &) {
    // No room to track threads: every request runs below, one after another.
  }
  for (size_t i = 1; i < threads.size(); ++i) {
    try {
      threads[i] = std::thread(post_guarded, std::ref(*this), std::cref(reqs[i]), std::ref(resps[i]));
    } catch (...) {
      // No thread to be had (std::system_error or std::bad_alloc): this one
      // runs on the calling thread below, late rather than never.
    }
  }
  post_guarded(*this, reqs[0], resps[0]);
  for (size_t i = 1; i < reqs.size(); ++i) {
    if (i < threads.size() && threads[i].joinable()) {
      threads[i].join();
    } else {
      post_guarded(*this, reqs[i], resps[i]);
    }
  }
}

}  // namespace co::platform
