#include "emulator_process.h"

#include <curl/curl.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef COHORT_EMULATOR_PY
#define COHORT_EMULATOR_PY "tests/emulator/emulator.py"
#endif
#ifndef COHORT_PYTHON
#define COHORT_PYTHON "python3"
#endif

namespace bench {

void die(const std::string &what) {
  fprintf(stderr, "bench: %s\n", what.c_str());
  exit(1);
}

Emulator start_emulator(const std::string &dir, const char *api_key, bool stock) {
  std::string port_file = dir + "/emulator.port";
  Emulator e;
  e.pid = fork();
  if (e.pid < 0) die(std::string("fork: ") + strerror(errno));
  if (e.pid == 0) {
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);  // one line per request: too many for a terminal
    }
    if (stock) {
      execlp(COHORT_PYTHON, COHORT_PYTHON, COHORT_EMULATOR_PY, "--port", "0", "--port-file", port_file.c_str(),
             "--api-key", api_key, static_cast<char *>(nullptr));
    } else {
      static const char kWrapper[] =
          "import os, sys\n"
          "path = sys.argv.pop(1)\n"
          "sys.path.insert(0, os.path.dirname(path))\n"
          "import emulator\n"
          "emulator.Handler.disable_nagle_algorithm = True\n"
          "sys.exit(emulator.main(sys.argv[1:]))\n";
      execlp(COHORT_PYTHON, COHORT_PYTHON, "-c", kWrapper, COHORT_EMULATOR_PY, "--port", "0", "--port-file",
             port_file.c_str(), "--api-key", api_key, static_cast<char *>(nullptr));
    }
    _exit(127);
  }
  auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    if (FILE *f = fopen(port_file.c_str(), "r")) {
      int port = 0;
      bool ok = fscanf(f, "%d", &port) == 1 && port > 0;
      fclose(f);
      if (ok) {
        e.url = "http://127.0.0.1:" + std::to_string(port);
        return e;
      }
    }
    int status = 0;
    if (waitpid(e.pid, &status, WNOHANG) == e.pid) die("the emulator exited during start-up (" COHORT_EMULATOR_PY ")");
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(15)) die("the emulator did not start in 15 s");
    usleep(10000);
  }
}

void stop_emulator(Emulator &e) {
  if (e.pid <= 0) return;
  kill(e.pid, SIGTERM);
  int status = 0;
  waitpid(e.pid, &status, 0);
  e.pid = -1;
}

namespace {

size_t on_body(char *p, size_t size, size_t n, void *user) {
  static_cast<std::string *>(user)->append(p, size * n);
  return size * n;
}

int rm_entry(const char *path, const struct stat *, int, struct FTW *) { return remove(path); }

}  // namespace

std::string control(const Emulator &e, const std::string &path, const char *post_body) {
  CURL *c = curl_easy_init();
  if (!c) die("curl_easy_init");
  std::string url = e.url + path, body;
  curl_slist *headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  if (post_body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body);
  CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK || code != 200) die("control " + path + ": " + curl_easy_strerror(rc) + " " + body);
  return body;
}

std::string make_dir(const std::string &parent, const char *name) {
  std::string d = parent + "/" + name;
  if (mkdir(d.c_str(), 0700) != 0) die("mkdir " + d + ": " + strerror(errno));
  return d;
}

void remove_tree(const std::string &root) { nftw(root.c_str(), rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size()) + 0.999999);
  return v[std::min(v.size(), std::max<size_t>(i, 1)) - 1];
}

}  // namespace bench
