#include <atomic>
#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <cerrno>
#include <chrono>
#include <set>
#include <string>
#include <sys/random.h>
#include <unistd.h>

#include "platform/clock.h"
#include "platform/crypto.h"
#include "platform/files.h"
#include "platform/http.h"
#include "platform/log.h"
#include "test_util.h"

using namespace co::platform;

static void uuid_100k_unique_and_well_formed(void **) {
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

static void sha256_known_answers(void **) {
  assert_string_equal(sha256_hex("").c_str(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_string_equal(sha256_hex("abc").c_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert_string_equal(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").c_str(),
                      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  std::string million(1000000, 'a');
  assert_string_equal(sha256_hex(million).c_str(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void is_uuid_rejects_malformed(void **) {
  assert_true(is_uuid("2008c38f-dece-4570-976d-87593ed001c3"));
  assert_true(is_uuid("2008C38F-DECE-4570-976D-87593ED001C3"));
  assert_false(is_uuid("2008c38f-dece-4570-976d-87593ed001c"));
  assert_false(is_uuid("2008c38fdece-4570-976d-87593ed001c3a"));
  assert_false(is_uuid("2008c38f-dece-4570-976d-87593ed001cg"));
  assert_false(is_uuid(""));
}

static void fake_entropy_is_deterministic(void **) {
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

static void entropy_never_blocks_on_an_uninitialised_pool(void **) {
  unsigned char buf[64] = {0};
  assert_int_equal(co::platform::read_os_entropy(buf, sizeof buf, pool_not_ready), 0);
  assert_true(g_getrandom_calls >= 1);
  assert_false(g_blocking_call);
  int nonzero = 0;
  for (unsigned char b : buf) nonzero += b != 0;
  assert_true(nonzero > 32);  // filled, not left as it was
}

static void fake_clock_advances(void **) {
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

static void atomic_write_and_read(void **) {
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

static void log_redacts_secrets_and_emails(void **) {
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
static void missing_ca_file_is_an_error_naming_the_path(void **) {
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
static void a_peer_reset_does_not_raise_sigpipe(void **) {
  void (*before)(int) = signal(SIGPIPE, SIG_DFL);
  int srv = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  assert_int_equal(bind(srv, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
  assert_int_equal(listen(srv, 4), 0);
  assert_int_equal(getsockname(srv, reinterpret_cast<sockaddr *>(&addr), &len), 0);
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
  req.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/ccs/v1/segmentation";
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

static void log_level_names(void **) {
  LogLevel l;
  assert_true(parse_log_level("debug", l));
  assert_int_equal(static_cast<int>(l), static_cast<int>(LogLevel::debug));
  assert_false(parse_log_level("verbose", l));
}

// The watchdog: a transport that ignores its deadline (a blocking resolver)
// is abandoned at timeout_ms plus a grace, and the next request gets a new one.
static void watchdog_enforces_the_deadline(void **) {
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

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(uuid_100k_unique_and_well_formed),
      cmocka_unit_test(sha256_known_answers),
      cmocka_unit_test(is_uuid_rejects_malformed),
      cmocka_unit_test(fake_entropy_is_deterministic),
      cmocka_unit_test(entropy_never_blocks_on_an_uninitialised_pool),
      cmocka_unit_test(fake_clock_advances),
      cmocka_unit_test(atomic_write_and_read),
      cmocka_unit_test(log_redacts_secrets_and_emails),
      cmocka_unit_test(log_level_names),
      cmocka_unit_test(missing_ca_file_is_an_error_naming_the_path),
      cmocka_unit_test(a_peer_reset_does_not_raise_sigpipe),
      cmocka_unit_test(watchdog_enforces_the_deadline),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
