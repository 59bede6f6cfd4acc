// The transport's GET of a document (signed cohort definitions): the request
// as sent (GET, no body, the caller's If-None-Match), the answer's ETag and
// Cache-Control, a 304, and an answer past max_body refused whole.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "platform/http.h"
#include "platform/log.h"
#include "unit_test.h"

using co::platform::HttpRequest;
using co::platform::HttpResponse;

namespace {

// Answers one connection with `answer` (the raw HTTP text) and keeps the
// request's head for the test to read.
class OneShotServer {
 public:
  explicit OneShotServer(std::string answer) : answer_(std::move(answer)) {
    listen_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(listen_, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
    assert_int_equal(listen(listen_, 4), 0);
    socklen_t len = sizeof a;
    getsockname(listen_, reinterpret_cast<sockaddr *>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    shutdown(listen_, SHUT_RDWR);
    thread_.join();
    close(listen_);
  }
  std::string url(const char *path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  // The request's head (after the transfer: the thread wrote it before answering).
  const std::string &head() const { return head_; }

 private:
  void serve() {
    int fd = accept(listen_, nullptr, nullptr);
    if (fd < 0) return;
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    head_ = in.substr(0, in.find("\r\n\r\n"));
    size_t off = 0;
    while (off < answer_.size()) {
      ssize_t n = send(fd, answer_.data() + off, answer_.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(fd);
  }

  std::string answer_;
  std::string head_;
  int listen_ = -1;
  int port_ = 0;
  std::thread thread_;
};

HttpResponse fetch(const std::string &url, size_t max_body, const char *if_none_match) {
  co::platform::Logger log;
  std::string err;
  auto transport = co::platform::make_curl_transport(co::platform::TransportOptions{}, log, err);
  assert_non_null(transport.get());
  HttpRequest req;
  req.url = url;
  req.get = true;
  req.timeout_ms = 10000;
  req.max_body = max_body;
  if (if_none_match) req.headers.emplace_back("If-None-Match", if_none_match);
  HttpResponse resp;
  transport->post(req, resp);
  return resp;
}

}  // namespace

UNIT_TEST(get_sends_no_body_and_reads_etag_and_cache_control) {
  std::string doc = "{\"version\":2,\"cohorts\":[]}";
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: \"v2\"\r\n"
                       "Cache-Control: public, max-age=600\r\nContent-Length: " +
                       std::to_string(doc.size()) + "\r\nConnection: close\r\n\r\n" + doc);
  HttpResponse r = fetch(server.url("/defs/cohorts.json"), 0, "\"v1\"");
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body.c_str(), doc.c_str());
  assert_string_equal(r.etag.c_str(), "\"v2\"");
  assert_string_equal(r.cache_control.c_str(), "public, max-age=600");
  assert_true(server.head().rfind("GET /defs/cohorts.json HTTP/1.1\r\n", 0) == 0);
  assert_non_null(strcasestr(server.head().c_str(), "\r\nIf-None-Match: \"v1\""));
  assert_null(strcasestr(server.head().c_str(), "Content-Type"));
  assert_null(strcasestr(server.head().c_str(), "Content-Length"));
}

UNIT_TEST(not_modified_is_a_304_with_no_body) {
  OneShotServer server("HTTP/1.1 304 Not Modified\r\nETag: \"v2\"\r\nConnection: close\r\n\r\n");
  HttpResponse r = fetch(server.url("/defs/cohorts.json"), 0, "\"v2\"");
  assert_int_equal(r.status, 304);
  assert_true(r.body.empty());
  assert_string_equal(r.etag.c_str(), "\"v2\"");
}

UNIT_TEST(an_answer_past_max_body_is_refused_whole) {
  std::string big(5000, 'x');
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n"
                       "Connection: close\r\n\r\n" +
                       big);
  HttpResponse r = fetch(server.url("/big"), 1000, nullptr);
  assert_int_equal(r.status, 0);
  assert_true(r.too_large);
  assert_true(r.body.empty());
  assert_string_equal(r.error.c_str(), "answer over 1000 bytes");
}
