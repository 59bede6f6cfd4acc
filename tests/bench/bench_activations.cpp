// The ad-break shortcut through the C API: cohort_activations("dfp", 0, ...)
// on an agent with 200 local cohorts the device is in (each activated on dfp
// and xandr) and a cached CCS answer (50 more cohorts on dfp, 10 of them also
// local), so each call merges both lists. The CCS API is a tiny HTTP server in
// this process that answers once, before the measurement; timeout 0: nothing
// is waited for. Prints us per call (median, p99, mean), and the same call
// made as activations.get through cohort_call (JSON text in and out) for
// reference. Figures only; no pass/fail.
//
//   bench_activations [CALLS]        (default 20000)
#include <cohort/cohort.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string &what) {
  fprintf(stderr, "bench_activations: %s\n", what.c_str());
  exit(1);
}

// Answers every request with one JSON body, then closes the connection.
class TinyApi {
 public:
  explicit TinyApi(std::string body) : body_(std::move(body)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
      die("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~TinyApi() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  int answered() const { return answered_; }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string in;
      char buf[4096];
      size_t need = std::string::npos;
      while (need == std::string::npos || in.size() < need) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        size_t end = in.find("\r\n\r\n");
        if (need == std::string::npos && end != std::string::npos) {
          size_t at = in.find("ontent-Length:");
          need = end + 4 + (at != std::string::npos && at < end ? strtoul(in.c_str() + at + 14, nullptr, 10) : 0);
        }
      }
      std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                        std::to_string(body_.size()) + "\r\n\r\n" + body_;
      if (write(c, out.data(), out.size()) < 0) {
      }
      close(c);
      ++answered_;
    }
  }
  std::string body_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
  std::thread thread_;
};

void call(cohort_agent *a, const char *method, const std::string &params) {
  char *out = nullptr;
  if (cohort_call(a, method, params.c_str(), &out) != COHORT_OK) die(std::string(method) + ": " + cohort_last_error(a));
  cohort_free(out);
}

struct Figures {
  double median, p99, mean;
};

template <typename F>
Figures measure(int n, F &&one) {
  for (int i = 0; i < n / 10 + 1; ++i) one();  // warm-up
  std::vector<double> us(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    one();
    us[static_cast<size_t>(i)] = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  }
  double sum = 0;
  for (double v : us) sum += v;
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)], sum / n};
}

}  // namespace

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  if (n < 1) die("CALLS must be 1 or more");
  char tmpl[] = "/tmp/cohort-bench-XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp");
  std::string dir = tmpl;

  // The cached CCS answer: 50 cohorts on dfp (r000-r039, and 10 of the local ones).
  std::string remote;
  for (int i = 0; i < 50; ++i) {
    char id[16];
    snprintf(id, sizeof id, i < 40 ? "r%03d" : "c%03d", i < 40 ? i : i * 3);
    remote += std::string(remote.empty() ? "" : ",") + "\"" + id + "\"";
  }
  TinyApi api("{\"user_id\":\"2008c38f-dece-4570-976d-87593ed001c3\",\"cohorts\":[" + remote +
              "],\"activations\":{\"dfp\":[" + remote + "],\"freewheel\":[\"r001\"]}}");
  std::string url = "http://127.0.0.1:" + std::to_string(api.port());
  std::string cfg = "{\"data_dir\":\"" + dir + "\",\"consent\":{\"required\":false},"
                    "\"api\":{\"key\":\"sk_bench\",\"ccs_url\":\"" + url + "\",\"contextual_url\":\"" + url + "\"},"
                    "\"sync\":{\"initial_delay_s\":0},\"clock\":{\"trust\":\"system\"}}";
  cohort_agent *a = nullptr;
  if (cohort_open(cfg.c_str(), &a) != COHORT_OK) die(std::string("open: ") + cohort_last_error(nullptr));

  // 200 local cohorts, each entered by one Pageview.
  std::string defs = "{\"cohorts\":[";
  for (int i = 0; i < 200; ++i) {
    char id[16];
    snprintf(id, sizeof id, "c%03d", i);
    defs += std::string(i ? "," : "") + "{\"id\":\"" + id + "\",\"name\":\"Cohort " + id +
            "\",\"activations\":[\"dfp\",\"xandr\"],\"rule\":{\"logic\":\"AND\",\"conditions\":[{\"type\":\"event\","
            "\"event_type\":\"Pageview\",\"operator\":\"gte\",\"value\":1,\"window_days\":30}]}}";
  }
  defs += "]}";
  call(a, "definitions.put", defs);
  if (cohort_track(a, "Pageview", "{\"title\":\"Home\"}") != COHORT_OK) die("track");
  call(a, "sync.now", "{\"timeout_ms\":5000}");  // the CCS answer, cached
  if (api.answered() < 1) die("the CCS API was not asked");

  char *csv = nullptr;
  int stale = -1;
  if (cohort_activations(a, "dfp", 0, &csv, &stale) != COHORT_OK) die(std::string("activations: ") + cohort_last_error(a));
  size_t ids = csv && *csv ? static_cast<size_t>(std::count(csv, csv + strlen(csv), ',')) + 1 : 0;
  cohort_free(csv);
  if (ids != 240) die("expected 240 ids on dfp (200 local + 40 remote), got " + std::to_string(ids));

  Figures f = measure(n, [&] {
    char *out = nullptr;
    if (cohort_activations(a, "dfp", 0, &out, &stale) != COHORT_OK) die("activations");
    cohort_free(out);
  });
  printf("cohort_activations(\"dfp\", 0), 200 local cohorts + cached CCS answer (%zu ids, stale %d): "
         "%d calls, median %.1f us, p99 %.1f us, mean %.1f us per call\n",
         ids, stale, n, f.median, f.p99, f.mean);
  Figures g = measure(n, [&] {
    char *out = nullptr;
    if (cohort_call(a, "activations.get", "{\"timeout_ms\":0}", &out) != COHORT_OK) die("activations.get");
    cohort_free(out);
  });
  printf("cohort_call(\"activations.get\", {\"timeout_ms\":0}) (JSON text in and out, for reference): "
         "%d calls, median %.1f us, p99 %.1f us, mean %.1f us per call\n",
         n, g.median, g.p99, g.mean);
  cohort_close(a);
  std::string rm = "rm -rf '" + dir + "'";
  return system(rm.c_str()) == 0 ? 0 : 1;
}
