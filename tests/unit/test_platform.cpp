#include <algorithm>
#include <atomic>
#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <poll.h>
#include <memory>
#include <set>
#include <string>
#include <sys/random.h>
#include <unistd.h>
#include <vector>

#include "platform/clock.h"
#include "platform/crypto.h"
#include "platform/files.h"
#include "platform/http.h"
#include "platform/log.h"
#include "platform/sha256.h"
#include "test_util.h"
#include "unit_test.h"

using namespace co::platform;

UNIT_TEST(uuid_100k_unique_and_well_formed) {
  auto entropy = make_system_entropy();
  std::set<std::string> seen;
  for (int i = 0; i < 100000; ++i) {
    std::string u = uuid4(*entropy);
    assert_int_equal(u.size(), 36);
    assert_true(is_uuid(u));
    assert_int_equal(u[14], '4');  // version 4
    assert_true(u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');  // RFC 4122 variant
    for (char c : u) assert_false(c >= 'A' && c <= 'F');
    assert_true(seen.insert(u).second);
  }
}

UNIT_TEST(sha256_known_answers) {
  assert_string_equal(sha256_hex("").c_str(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_string_equal(sha256_hex("abc").c_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert_string_equal(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").c_str(),
                      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  std::string million(1000000, 'a');
  assert_string_equal(sha256_hex(million).c_str(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

UNIT_TEST(is_uuid_rejects_malformed) {
  assert_true(is_uuid("2008c38f-dece-4570-976d-87593ed001c3"));
  assert_true(is_uuid("2008C38F-DECE-4570-976D-87593ED001C3"));
  assert_false(is_uuid("2008c38f-dece-4570-976d-87593ed001c"));
  assert_false(is_uuid("2008c38fdece-4570-976d-87593ed001c3a"));
  assert_false(is_uuid("2008c38f-dece-4570-976d-87593ed001cg"));
  assert_false(is_uuid(""));
}

UNIT_TEST(fake_entropy_is_deterministic) {
  FakeEntropy a(7), b(7), c(8);
  assert_string_equal(uuid4(a).c_str(), uuid4(b).c_str());
  FakeEntropy d(7);
  assert_string_not_equal(uuid4(d).c_str(), uuid4(c).c_str());
}

// Early boot: the kernel's pool is not initialised yet, so getrandom would
// block without GRND_NONBLOCK (and says EAGAIN with it). Start-up must not wait
// on it: every call is non-blocking, and the bytes come from /dev/urandom.
static int g_getrandom_calls = 0;
static bool g_blocking_call = false;
static ssize_t pool_not_ready(void *, size_t, unsigned flags) {
  ++g_getrandom_calls;
  if ((flags & GRND_NONBLOCK) == 0) g_blocking_call = true;  // would hang a real boot
  errno = EAGAIN;
  return -1;
}

UNIT_TEST(entropy_never_blocks_on_an_uninitialised_pool) {
  unsigned char buf[64] = {0};
  assert_int_equal(co::platform::read_os_entropy(buf, sizeof buf, pool_not_ready), 0);
  assert_true(g_getrandom_calls >= 1);
  assert_false(g_blocking_call);
  int nonzero = 0;
  for (unsigned char b : buf) nonzero += b != 0;
  assert_true(nonzero > 32);  // filled, not left as it was
}

UNIT_TEST(fake_clock_advances) {
  FakeClock clock(1000, 5);
  clock.advance_ms(250);
  assert_int_equal(clock.wall_ms(), 1250);
  assert_int_equal(clock.mono_ms(), 255);
  clock.set_wall_ms(0);  // a wall jump leaves the monotonic clock alone
  assert_int_equal(clock.mono_ms(), 255);
  Clock &sys = system_clock();
  int64_t m1 = sys.mono_ms(), m2 = sys.mono_ms();
  assert_true(m2 >= m1);
  assert_true(sys.wall_ms() > 1600000000000LL);
}

UNIT_TEST(atomic_write_and_read) {
  test::TempDir dir;
  std::string path = dir.path + "/sub/dir/file";
  assert_true(make_dirs(dir.path + "/sub/dir"));
  assert_true(write_file_atomic(path, "one"));
  assert_true(write_file_atomic(path, "two"));
  std::string out;
  assert_true(read_file(path, out));
  assert_string_equal(out.c_str(), "two");
  assert_false(file_exists(path + ".tmp"));
  assert_false(read_file(dir.path + "/missing", out));
  assert_false(read_file(path, out, 2));  // over the size cap
}

struct Captured {
  std::string lines;
};

static void capture(void *user, LogLevel, const char *line) {
  static_cast<Captured *>(user)->lines += std::string(line) + "\n";
}

UNIT_TEST(log_redacts_secrets_and_emails) {
  Logger log;
  Captured cap;
  log.set_sink(capture, &cap);
  log.set_level(LogLevel::debug);
  log.add_secret("sk_live_123456");
  log.log(LogLevel::info, "key=%s mail=%s", "sk_live_123456", "John.Doe+tv@example.co.uk");
  assert_null(strstr(cap.lines.c_str(), "sk_live_123456"));
  assert_null(strstr(cap.lines.c_str(), "example.co.uk"));
  assert_non_null(strstr(cap.lines.c_str(), "[redacted]"));
  assert_non_null(strstr(cap.lines.c_str(), "[email]"));
  cap.lines.clear();
  log.set_level(LogLevel::warn);
  CO_LOG(log, debug, "hidden");
  assert_true(cap.lines.empty());
  assert_string_equal(redact_emails("a @ b, x@y").c_str(), "a @ b, x@y");
}

// api.ca_file that does not exist: a start-up error that names the path,
// not a TLS failure on every sync later.
UNIT_TEST(missing_ca_file_is_an_error_naming_the_path) {
  co::platform::Logger log;
  co::platform::TransportOptions opts;
  opts.ca_file = "/nonexistent/cohort-test/ca.pem";
  std::string err;
  assert_null(co::platform::make_curl_transport(opts, log, err).get());
  assert_non_null(strstr(err.c_str(), "api.ca_file"));
  assert_non_null(strstr(err.c_str(), "/nonexistent/cohort-test/ca.pem"));
}

// An app that links the library owns its signal handlers: SIGPIPE stays at its
// default (terminate) here, and a server that takes the connection and
// resets it while a large body is being written must not kill the process.
// A listening socket on 127.0.0.1, an ephemeral port (returned in port).
static int listen_on_loopback(int backlog, int &port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  assert_int_equal(bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
  assert_int_equal(listen(fd, backlog), 0);
  assert_int_equal(getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len), 0);
  port = ntohs(addr.sin_port);
  return fd;
}

UNIT_TEST(a_peer_reset_does_not_raise_sigpipe) {
  void (*before)(int) = signal(SIGPIPE, SIG_DFL);
  int port = 0;
  int srv = listen_on_loopback(4, port);
  std::thread server([srv] {
    for (int i = 0; i < 3; ++i) {
      int c = accept(srv, nullptr, nullptr);
      if (c < 0) return;
      linger l{1, 0};  // close with a reset
      setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      close(c);
    }
  });
  co::platform::Logger log;
  std::string err;
  auto transport = co::platform::make_curl_transport(co::platform::TransportOptions{}, log, err);
  assert_non_null(transport.get());
  co::platform::HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/ccs/v1/segmentation";
  req.body.assign(4 << 20, 'x');  // more than the socket buffers take at once
  req.timeout_ms = 5000;
  for (int i = 0; i < 3; ++i) {
    co::platform::HttpResponse resp;
    transport->post(req, resp);
    assert_int_equal(resp.status, 0);  // an error, and the process still here
  }
  shutdown(srv, SHUT_RDWR);
  close(srv);
  server.join();
  signal(SIGPIPE, before);
}

UNIT_TEST(log_level_names) {
  LogLevel l;
  assert_true(parse_log_level("debug", l));
  assert_int_equal(static_cast<int>(l), static_cast<int>(LogLevel::debug));
  assert_false(parse_log_level("verbose", l));
}

// The watchdog: a transport that ignores its deadline (a blocking resolver)
// is abandoned at timeout_ms plus a grace, and the next request gets a new one.
UNIT_TEST(watchdog_enforces_the_deadline) {
  std::atomic<int> made{0};
  std::atomic<bool> release{false};
  auto transport = co::platform::make_watchdog_transport([&]() -> std::unique_ptr<co::platform::Transport> {
    auto fake = std::make_unique<co::platform::FakeTransport>();
    bool hangs = made++ == 0;  // the first one hangs (until released), later ones answer
    fake->set_handler([hangs, &release](const co::platform::HttpRequest &, co::platform::HttpResponse &r) {
      for (int i = 0; hangs && i < 3000 && !release; ++i) usleep(1000);
      r.status = 200;
      r.body = "{}";
    });
    return fake;
  });
  co::platform::HttpRequest req;
  req.timeout_ms = 100;
  co::platform::HttpResponse resp;
  auto t0 = std::chrono::steady_clock::now();
  transport->post(req, resp);
  // Generous against a 3 s hang: the deadline, not the transport, decided.
  assert_true(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(2500));
  assert_int_equal(resp.status, 0);
  assert_true(resp.timed_out);
  transport->post(req, resp);
  assert_int_equal(resp.status, 200);
  assert_int_equal(made.load(), 2);
  release = true;  // the abandoned thread finishes on its own
  usleep(20000);
}

// ---- post_all -------------------------------------------------------------

// A small HTTP/1.1 server on 127.0.0.1 (an ephemeral port) run by a thread of
// its own. It reads whole requests (bodies by Content-Length) and answers each
// with 200 and {"path":"<its path>"} on the same, kept-alive connection, but
//   - holds every answer until `hold` requests have arrived (then sends them
//     all, and each later one at once): a transport that waits for one answer
//     before sending the next request never gets its first;
//   - never answers a request whose path starts with /hang.
// It counts the connections it accepted, and tells of each request that
// arrives (wait_for_requests): tests order themselves on it, not on a clock.
class TestServer {
 public:
  explicit TestServer(int hold = 1) : hold_(hold) {
    listen_ = listen_on_loopback(8, port_);
    assert_int_equal(pipe(wake_), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~TestServer() {
    char c = 0;
    if (write(wake_[1], &c, 1) != 1) std::abort();
    thread_.join();
    close(listen_);
    close(wake_[0]);
    close(wake_[1]);
  }
  TestServer(const TestServer &) = delete;
  TestServer &operator=(const TestServer &) = delete;

  std::string url(const std::string &path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

  int accepted() {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
  }

  // Waits until n requests have arrived. The limit only keeps a broken
  // transport from hanging the test: false means they never came.
  bool wait_for_requests(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return received_ >= n; });
  }

 private:
  struct Conn {
    int fd;
    std::string in;
  };

  void serve() {
    std::vector<Conn> conns;
    std::vector<std::pair<int, std::string>> held;  // connection, path
    for (;;) {
      std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listen_, POLLIN, 0}};
      for (const Conn &c : conns) fds.push_back({c.fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents) break;
      if (fds[1].revents & POLLIN) {
        int fd = accept(listen_, nullptr, nullptr);
        if (fd >= 0) {
          conns.push_back({fd, {}});
          std::lock_guard<std::mutex> lock(mu_);
          ++accepted_;
        }
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        Conn &c = conns[i - 2];
        if (!read_from(c)) {
          for (auto &h : held) {
            if (h.first == c.fd) h.first = -1;  // the client gave up on it
          }
          close(c.fd);
          c.fd = -1;
          continue;
        }
        std::string path;
        while (take_request(c.in, path)) arrived(c.fd, path, held);
      }
      conns.erase(std::remove_if(conns.begin(), conns.end(), [](const Conn &c) { return c.fd < 0; }), conns.end());
    }
    for (const Conn &c : conns) close(c.fd);
  }

  static bool read_from(Conn &c) {
    char buf[4096];
    ssize_t n = read(c.fd, buf, sizeof buf);
    if (n <= 0) return false;
    c.in.append(buf, static_cast<size_t>(n));
    return true;
  }

  // Takes one whole request off the front of `in`; false when there is none yet.
  static bool take_request(std::string &in, std::string &path) {
    size_t end = in.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    std::string head = in.substr(0, end);
    for (char &ch : head) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
    size_t length = 0;
    size_t cl = head.find("\r\ncontent-length:");
    if (cl != std::string::npos) length = std::stoul(head.substr(cl + 17));
    if (in.size() < end + 4 + length) return false;
    size_t sp = in.find(' ');
    path = in.substr(sp + 1, in.find(' ', sp + 1) - sp - 1);
    in.erase(0, end + 4 + length);
    return true;
  }

  void arrived(int fd, const std::string &path, std::vector<std::pair<int, std::string>> &held) {
    int received;
    {
      std::lock_guard<std::mutex> lock(mu_);
      received = ++received_;
      cv_.notify_all();
    }
    if (path.rfind("/hang", 0) == 0) return;
    held.emplace_back(fd, path);
    if (received < hold_) return;
    for (const auto &h : held) {
      if (h.first >= 0) answer(h.first, h.second);
    }
    held.clear();
  }

  static void answer(int fd, const std::string &path) {
    std::string body = "{\"path\":\"" + path + "\"}";
    std::string text = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body;
    if (send(fd, text.data(), text.size(), MSG_NOSIGNAL) < 0) return;  // the client gave up: its business
  }

  int hold_;
  int listen_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  int accepted_ = 0;
  int received_ = 0;
};

static std::unique_ptr<Transport> curl_transport(bool watchdog) {
  Logger log;
  std::string err;
  TransportOptions opts;
  opts.watchdog = watchdog;
  auto transport = make_curl_transport(opts, log, err);
  assert_non_null(transport.get());
  return transport;
}

static HttpRequest request_to(const std::string &url, int64_t timeout_ms) {
  HttpRequest req;
  req.url = url;
  req.body = "{}";
  req.timeout_ms = timeout_ms;
  return req;
}

// The server answers neither request before it has both: only a transport
// that sends them together gets the two answers (one at a time, the first
// would wait in vain for its 5 s). Each answer names its request's path, so
// the order of the responses is checked too.
static void post_all_sends_together(bool watchdog) {
  TestServer server(2);
  auto transport = curl_transport(watchdog);
  std::vector<HttpRequest> reqs{request_to(server.url("/a"), 5000), request_to(server.url("/b"), 5000)};
  std::vector<HttpResponse> resps(5);  // resized: a caller may reuse its vector
  transport->post_all(reqs, resps);
  assert_int_equal(resps.size(), 2);
  for (size_t i = 0; i < 2; ++i) {
    assert_int_equal(resps[i].status, 200);
    assert_false(resps[i].timed_out);
    assert_string_equal(resps[i].error.c_str(), "");
    assert_string_equal(resps[i].content_type.c_str(), "application/json");
  }
  assert_string_equal(resps[0].body.c_str(), "{\"path\":\"/a\"}");
  assert_string_equal(resps[1].body.c_str(), "{\"path\":\"/b\"}");
  assert_int_equal(server.accepted(), 2);
}

UNIT_TEST(curl_post_all_sends_together) {
  post_all_sends_together(false);
}

UNIT_TEST(watchdog_post_all_sends_together) {
  post_all_sends_together(true);
}

// Each request keeps its own deadline: the one that is never answered times
// out without holding back the one that is (which comes first in the list
// or not).
UNIT_TEST(curl_post_all_deadlines_are_per_request) {
  TestServer silent, prompt;
  auto transport = curl_transport(false);
  std::vector<HttpRequest> reqs{request_to(silent.url("/hang"), 300), request_to(prompt.url("/fast"), 20000)};
  std::vector<HttpResponse> resps;
  transport->post_all(reqs, resps);
  assert_int_equal(resps.size(), 2);
  assert_int_equal(resps[0].status, 0);
  assert_true(resps[0].timed_out);
  assert_string_not_equal(resps[0].error.c_str(), "");
  assert_int_equal(resps[1].status, 200);
  assert_false(resps[1].timed_out);
  assert_string_equal(resps[1].body.c_str(), "{\"path\":\"/fast\"}");
}

// abort() from another thread once both requests are at the server (which
// never answers them): post_all returns, both "aborted", not timed out; and
// the transport stays aborted.
static void post_all_returns_on_abort(bool watchdog) {
  TestServer server;
  auto transport = curl_transport(watchdog);
  std::vector<HttpRequest> reqs{request_to(server.url("/hang/1"), 20000), request_to(server.url("/hang/2"), 20000)};
  std::vector<HttpResponse> resps;
  std::thread aborter([&] {
    if (server.wait_for_requests(2)) transport->abort();
  });
  transport->post_all(reqs, resps);
  aborter.join();
  assert_int_equal(resps.size(), 2);
  for (const HttpResponse &resp : resps) {
    assert_int_equal(resp.status, 0);
    assert_false(resp.timed_out);
    assert_string_equal(resp.error.c_str(), "aborted");
  }
  transport->post_all(reqs, resps);
  assert_int_equal(resps.size(), 2);
  for (const HttpResponse &resp : resps) assert_string_equal(resp.error.c_str(), "aborted");
  HttpResponse one;
  transport->post(reqs[0], one);
  assert_string_equal(one.error.c_str(), "aborted");
}

UNIT_TEST(curl_post_all_returns_on_abort) {
  post_all_returns_on_abort(false);
}

UNIT_TEST(watchdog_post_all_returns_on_abort) {
  post_all_returns_on_abort(true);
}

// The connection outlives a call: post_all, post and post_all again over the
// one connection the server accepted.
UNIT_TEST(curl_post_all_keeps_the_connection_alive) {
  TestServer server;
  auto transport = curl_transport(false);
  std::vector<HttpRequest> reqs{request_to(server.url("/ka"), 5000)};
  std::vector<HttpResponse> resps;
  transport->post_all(reqs, resps);
  assert_int_equal(resps.size(), 1);
  assert_int_equal(resps[0].status, 200);
  HttpResponse resp;
  transport->post(reqs[0], resp);
  assert_int_equal(resp.status, 200);
  transport->post_all(reqs, resps);
  assert_int_equal(resps[0].status, 200);
  assert_int_equal(server.accepted(), 1);
  std::vector<HttpResponse> none(3);
  transport->post_all({}, none);
  assert_true(none.empty());
}

// Every handler arrives before any may leave.
class Barrier {
 public:
  explicit Barrier(int count) : count_(count) {}
  // False when the others never came (the limit only keeps the test from
  // hanging when the handlers run one after another).
  bool arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mu_);
    ++arrived_;
    cv_.notify_all();
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return arrived_ >= count_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_;
  int arrived_ = 0;
};

// The default post_all (here FakeTransport's): the handlers run at the same
// time, and each response answers the request at its index.
UNIT_TEST(default_post_all_runs_handlers_together) {
  FakeTransport fake;
  Barrier barrier(3);
  std::atomic<int> met{0};
  fake.set_handler([&](const HttpRequest &req, HttpResponse &resp) {
    if (barrier.arrive_and_wait()) ++met;
    resp.status = 200;
    resp.body = req.body;
  });
  std::vector<HttpRequest> reqs(3);
  for (size_t i = 0; i < reqs.size(); ++i) reqs[i].body = std::to_string(i);
  std::vector<HttpResponse> resps;
  Transport &transport = fake;
  transport.post_all(reqs, resps);
  assert_int_equal(met.load(), 3);
  assert_int_equal(resps.size(), 3);
  for (size_t i = 0; i < reqs.size(); ++i) {
    assert_int_equal(resps[i].status, 200);
    assert_string_equal(resps[i].body.c_str(), reqs[i].body.c_str());
  }
  assert_int_equal(fake.sent().size(), 3);
  transport.post_all({}, resps);
  assert_true(resps.empty());
}

// The watchdog gives up on post_all by the longest deadline plus the grace
// (here the inner transport hangs until released): every response timed out,
// and the next call gets a new transport.
UNIT_TEST(watchdog_post_all_enforces_the_deadline) {
  std::atomic<int> made{0};
  std::atomic<bool> release{false};
  auto transport = make_watchdog_transport([&]() -> std::unique_ptr<Transport> {
    auto fake = std::make_unique<FakeTransport>();
    bool hangs = made++ == 0;
    fake->set_handler([hangs, &release](const HttpRequest &, HttpResponse &r) {
      for (int i = 0; hangs && i < 20000 && !release; ++i) usleep(1000);
      r.status = 200;
    });
    return fake;
  });
  std::vector<HttpRequest> reqs{request_to("http://a/", 50), request_to("http://b/", 100)};
  std::vector<HttpResponse> resps;
  transport->post_all(reqs, resps);
  assert_int_equal(resps.size(), 2);
  for (const HttpResponse &resp : resps) {
    assert_int_equal(resp.status, 0);
    assert_true(resp.timed_out);
    assert_non_null(strstr(resp.error.c_str(), "timed out"));
  }
  bool first_released = release;  // the deadline, not the hang's own end, decided
  assert_false(first_released);
  transport->post_all(reqs, resps);
  assert_int_equal(resps[0].status, 200);
  assert_int_equal(resps[1].status, 200);
  assert_int_equal(made.load(), 2);
  release = true;  // the abandoned thread finishes on its own
  usleep(20000);
}
