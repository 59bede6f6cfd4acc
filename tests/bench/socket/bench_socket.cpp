// bench_socket: cohortd as a client sees it. Starts a real cohortd (in a
// scratch directory) and measures, over its Unix socket:
//   * `track` requests per second, 1 and 16 clients, request-response
//     (one request in flight per client) and pipelined (a window of requests
//     in flight per client);
//   * cold start: process spawn to the first answered request, median of 10,
//     on a fresh data directory (first boot) and on an existing one (restart);
//   * cohortd's resident memory (VmRSS) idle and after 50k tracked events;
//   * beside the request-response figures, the machine's own floor: a line
//     echoed by a process that does nothing else, one in flight.
// Prints figures; no pass/fail.
//
//   bench_socket [PATH/TO/cohortd] [EVENTS]      (default: the build's cohortd, 50000)
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#ifndef COHORTD_PATH
#define COHORTD_PATH "cohortd"
#endif

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

[[noreturn]] void die(const char *what) {
  fprintf(stderr, "bench_socket: %s: %s\n", what, strerror(errno));
  exit(1);
}

std::string g_cohortd = COHORTD_PATH;

struct Daemon {
  pid_t pid = -1;
  std::string socket_path;
};

Daemon spawn(const std::string &dir) {
  Daemon d;
  d.socket_path = dir + "/cohortd.sock";
  std::string data = dir + "/data";
  // The remote APIs are a closed local port: this measures the socket and the
  // device side only, and never reaches past this machine.
  std::string config = dir + "/cohortd.json";
  if (FILE *f = fopen(config.c_str(), "w")) {
    fputs("{\"api\":{\"ccs_url\":\"http://127.0.0.1:9\",\"contextual_url\":\"http://127.0.0.1:9\"}}", f);
    fclose(f);
  }
  d.pid = fork();
  if (d.pid < 0) die("fork");
  if (d.pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
      dup2(null, 2);
    }
    execl(g_cohortd.c_str(), g_cohortd.c_str(), "--config", config.c_str(), "--data-dir", data.c_str(), "--socket",
          d.socket_path.c_str(), static_cast<char *>(nullptr));
    _exit(127);
  }
  return d;
}

void stop(Daemon &d) {
  if (d.pid <= 0) return;
  kill(d.pid, SIGTERM);
  int status = 0;
  waitpid(d.pid, &status, 0);
  d.pid = -1;
}

// Connects, retrying while the daemon starts; -1 after 10 s.
int connect_to(const Daemon &d) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", d.socket_path.c_str());
  auto t0 = Clock::now();
  for (;;) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0) return fd;
    close(fd);
    int status;
    if (waitpid(d.pid, &status, WNOHANG) == d.pid) {
      fprintf(stderr, "bench_socket: cohortd exited during start-up (%s)\n", g_cohortd.c_str());
      exit(1);
    }
    if (ms_since(t0) > 10000) return -1;
    usleep(200);
  }
}

// A connection that counts answer lines.
class Conn {
 public:
  explicit Conn(int fd) : fd_(fd) {}
  ~Conn() { close(fd_); }

  void send_all(const char *data, size_t len) {
    while (len > 0) {
      ssize_t n = send(fd_, data, len, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        die("send");
      }
      data += n;
      len -= static_cast<size_t>(n);
    }
  }

  // Waits for `count` answer lines; counts those that are errors.
  void read_answers(int count) {
    for (;;) {
      while (count > 0) {
        size_t nl = buf_.find('\n', pos_);
        if (nl == std::string::npos) break;
        if (memmem(buf_.data() + pos_, nl - pos_, "\"error\"", 7)) ++errors;
        pos_ = nl + 1;
        --count;
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      if (count == 0) return;
      char chunk[65536];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        fprintf(stderr, "bench_socket: connection lost\n");
        exit(1);
      }
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  void call(const std::string &line) {
    send_all(line.data(), line.size());
    read_answers(1);
  }

  long errors = 0;

 private:
  int fd_;
  std::string buf_;
  size_t pos_ = 0;
};

std::atomic<long> g_seq{0};

std::string track_line() {
  long n = g_seq++;
  char buf[256];
  snprintf(buf, sizeof buf,
           "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"track\",\"params\":{\"name\":\"Pageview\","
           "\"properties\":{\"title\":\"Match of the day\",\"categories\":[\"sport\",\"football\"],\"n\":%ld}}}\n",
           n, n);
  return buf;
}

// `events` tracks over `conn`, at most `window` in flight. Returns errors.
long drive(const Daemon &d, long events, int window) {
  int fd = connect_to(d);
  if (fd < 0) die("connect");
  Conn c(fd);
  long sent = 0, answered = 0;
  while (answered < events) {
    std::string batch;
    while (sent < events && sent - answered < window) {
      batch += track_line();
      ++sent;
    }
    if (!batch.empty()) c.send_all(batch.data(), batch.size());
    // Read at least one answer, and as many as make room for half a window.
    long want = std::max(1L, std::min(sent - answered, static_cast<long>(window / 2)));
    c.read_answers(static_cast<int>(want));
    answered += want;
  }
  return c.errors;
}

double track_rate(const Daemon &d, int clients, long events, int window) {
  std::vector<std::thread> threads;
  std::atomic<long> errors{0};
  auto t0 = Clock::now();
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      long mine = events / clients + (i < events % clients ? 1 : 0);
      errors += drive(d, mine, window);
    });
  }
  for (auto &t : threads) t.join();
  double secs = ms_since(t0) / 1000.0;
  if (errors) fprintf(stderr, "bench_socket: %ld error answers\n", errors.load());
  return static_cast<double>(events) / secs;
}

// The floor under any request-response figure on this machine: a line of a
// track request's size bounced off a child process that only echoes it, over
// a Unix stream socket, one in flight. No daemon, no JSON, no storage.
double echo_round_trips(long n) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) die("socketpair");
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    char buf[4096];
    for (;;) {
      ssize_t got = read(sv[1], buf, sizeof buf);
      if (got <= 0 || write(sv[1], buf, static_cast<size_t>(got)) != got) _exit(0);
    }
  }
  close(sv[1]);
  std::string line = track_line();
  char buf[4096];
  auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) {
    if (write(sv[0], line.data(), line.size()) != static_cast<ssize_t>(line.size())) die("echo write");
    size_t back = 0;
    while (back < line.size()) {
      ssize_t got = read(sv[0], buf, sizeof buf);
      if (got <= 0) die("echo read");
      back += static_cast<size_t>(got);
    }
  }
  double secs = ms_since(t0) / 1000.0;
  close(sv[0]);
  waitpid(pid, nullptr, 0);
  return static_cast<double>(n) / secs;
}

long rss_kib(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, nullptr, 10);
  }
  fclose(f);
  return kib;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void remove_tree(const std::string &dir) {
  std::string cmd = "rm -rf '" + dir + "'";
  if (system(cmd.c_str()) != 0) fprintf(stderr, "bench_socket: cannot remove %s\n", dir.c_str());
}

// Spawn to the first answered `status`, in ms.
double cold_start(const std::string &dir) {
  auto t0 = Clock::now();
  Daemon d = spawn(dir);
  int fd = connect_to(d);
  if (fd < 0) die("connect");
  {
    Conn c(fd);
    c.call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}\n");
  }
  double ms = ms_since(t0);
  stop(d);
  return ms;
}

std::string make_dir() {
  char tmpl[] = "/tmp/cohort-bench-XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp");
  return tmpl;
}

}  // namespace

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc > 1) g_cohortd = argv[1];
  long total = argc > 2 ? strtol(argv[2], nullptr, 10) : 50000;
  if (total < 1000) total = 1000;
  if (access(g_cohortd.c_str(), X_OK) != 0) {
    fprintf(stderr, "bench_socket: no cohortd at %s (pass its path as the first argument)\n", g_cohortd.c_str());
    return 1;
  }
  printf("cohortd: %s\n", g_cohortd.c_str());

  // Cold start: a first boot (no database yet), then restarts of the same one.
  std::vector<double> first, again;
  for (int i = 0; i < 10; ++i) {
    std::string dir = make_dir();
    first.push_back(cold_start(dir));
    remove_tree(dir);
  }
  std::string dir = make_dir();
  cold_start(dir);
  for (int i = 0; i < 10; ++i) again.push_back(cold_start(dir));
  printf("%-42s %9.1f ms (median of 10)\n", "cold start to first answer, first boot", median(first));
  printf("%-42s %9.1f ms (median of 10)\n", "cold start to first answer, restart", median(again));

  Daemon d = spawn(dir);
  {
    int fd = connect_to(d);
    if (fd < 0) die("connect");
    Conn c(fd);
    c.call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"consent.set\",\"params\":{\"granted\":true}}\n");
    c.call("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"status\"}\n");
  }
  usleep(100000);
  printf("%-42s %9ld KiB\n", "RSS idle", rss_kib(d.pid));

  // The four rates; together they track `total` events.
  long rr1 = total / 10, pipe1 = total * 3 / 10, rr16 = total * 3 / 10;
  long pipe16 = total - rr1 - pipe1 - rr16;
  printf("%-42s %9.0f req/s (%ld events)\n", "track, 1 client, request-response", track_rate(d, 1, rr1, 1), rr1);
  printf("%-42s %9.0f round trips/s (the floor: no daemon)\n", "  echo over a Unix socket, 1 in flight", echo_round_trips(rr1));
  printf("%-42s %9.0f req/s (%ld events)\n", "track, 1 client, pipelined (window 64)", track_rate(d, 1, pipe1, 64),
         pipe1);
  printf("%-42s %9.0f req/s (%ld events)\n", "track, 16 clients, request-response", track_rate(d, 16, rr16, 1),
         rr16);
  printf("%-42s %9.0f req/s (%ld events)\n", "track, 16 clients, pipelined (window 16)",
         track_rate(d, 16, pipe16, 16), pipe16);
  char label[64];
  snprintf(label, sizeof label, "RSS after %ld tracked events", total);
  printf("%-42s %9ld KiB\n", label, rss_kib(d.pid));

  stop(d);
  remove_tree(dir);
  return 0;
}
