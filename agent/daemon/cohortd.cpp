// cohortd: the agent as a service. JSON-RPC 2.0, one object per line, over a
// Unix stream socket. Uses only the public header: everything the daemon does
// with the agent goes through cohort_*(). Here: start and stop (the options,
// the configuration, signals, the listening socket, systemd's notifications);
// the poll loop that serves the socket is server.cpp.
#include <cohort/cohort.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include "cjson_owner.h"
#include "log.h"
#include "options.h"
#include "server.h"

using namespace co::daemon;

namespace {

// SIGTERM/SIGINT also reach a thread of their own (stop_watcher): the loop
// may be inside a call that waits for the network, and shutdown must not
// wait for it.
int g_stop_pipe[2] = {-1, -1};

void on_signal(int sig) {
  int saved = errno;
  if (sig == SIGHUP) {
    g_reload = 1;
  } else {
    g_stop = 1;
    ssize_t ignored = write(g_stop_pipe[1], "s", 1);
    (void)ignored;
  }
  ssize_t ignored = write(g_wake[1], "s", 1);
  (void)ignored;
  errno = saved;
}

// Waits for SIGTERM/SIGINT and makes every call waiting on the network
// return at once ("shutting down"), so the loop gets back to its poll and
// ends; 'q' ends it without (the loop ended on its own).
void stop_watcher(cohort_agent *agent) {
  char c = 0;
  ssize_t n;
  do {
    n = read(g_stop_pipe[0], &c, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1 && c == 's') cohort_shutdown(agent);
}

// Reads socket.path, socket.mode and the log settings from the agent's effective configuration.
bool socket_settings(cohort_agent *agent, std::string &path, int &mode) {
  char *res = nullptr;
  if (cohort_call(agent, "config.get", nullptr, &res) != COHORT_OK) return false;
  co::tools::Json doc(cJSON_Parse(res));
  cohort_free(res);
  const cJSON *config = cJSON_GetObjectItemCaseSensitive(doc.get(), "config");
  const cJSON *sock = cJSON_GetObjectItemCaseSensitive(config, "socket");
  const cJSON *log = cJSON_GetObjectItemCaseSensitive(config, "log");
  const cJSON *level = cJSON_GetObjectItemCaseSensitive(log, "level");
  const cJSON *target = cJSON_GetObjectItemCaseSensitive(log, "target");
  log_setup(cJSON_IsString(level) ? level->valuestring : nullptr,
            cJSON_IsString(target) ? target->valuestring : nullptr);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(sock, "path");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(sock, "mode");
  bool ok = cJSON_IsString(p) && cJSON_IsString(m);
  if (ok) {
    path = p->valuestring;
    mode = static_cast<int>(strtol(m->valuestring, nullptr, 8));
  }
  return ok;
}

void set_nonblock(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
}

// Binds the listening socket. A socket file left by a dead daemon is
// replaced; a live daemon on it is an error.
int listen_on(const std::string &path, int mode) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    log_line("error", "socket path too long (%zu bytes): %s", path.size(), path.c_str());
    return -1;
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty() && dir != path) mkdir(dir.c_str(), 0755);
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(probe, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0) {
    close(probe);
    log_line("error", "another cohortd is already listening on %s", path.c_str());
    return -1;
  }
  close(probe);
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      log_line("error", "%s exists and is not a socket; not replacing it", path.c_str());
      return -1;
    }
    unlink(path.c_str());  // stale: its daemon is gone
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  // The mode applies from the first instant: no window with a wider one.
  mode_t old = umask(static_cast<mode_t>(~mode & 0777));
  int rc = bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
  umask(old);
  if (rc != 0 || chmod(path.c_str(), static_cast<mode_t>(mode)) != 0 || listen(fd, SOMAXCONN) != 0) {
    log_line("error", "cannot listen on %s: %s", path.c_str(), strerror(errno));
    close(fd);
    return -1;
  }
  set_nonblock(fd);
  return fd;
}

// Room for kMaxClients connections: the soft limit (often 1024) is raised
// toward the hard one.
void raise_fd_limit() {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = kMaxClients + 64;
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min<rlim_t>(want, rl.rlim_max);
  setrlimit(RLIMIT_NOFILE, &rl);
}

// systemd Type=notify, without libsystemd: one datagram to $NOTIFY_SOCKET.
void sd_notify(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len >= sizeof addr.sun_path) return;
  memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sendto(fd, state, strlen(state), MSG_NOSIGNAL, reinterpret_cast<sockaddr *>(&addr),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  close(fd);
}

}  // namespace

int main(int argc, char **argv) {
  Options opt;
  int rc = parse_args(argc, argv, opt);
  if (rc == 1) return 0;
  if (rc == 2) return 2;
  std::string config, err;
  if (!build_config(opt, config, err)) {
    fprintf(stderr, "cohortd: %s\n", err.c_str());
    return 2;
  }
  if (opt.check_only) {
    // The document and the files it names; nothing is created or changed.
    if (cohort_check_config(config.c_str()) != COHORT_OK) {
      fprintf(stderr, "cohortd: invalid configuration%s: %s\n", config_origin(opt).c_str(),
              cohort_last_error(nullptr));
      return 2;
    }
    // Valid, with notes (one a line) on what is worth knowing.
    std::string notes = cohort_last_error(nullptr);
    for (size_t start = 0; start < notes.size();) {
      size_t nl = notes.find('\n', start);
      if (nl == std::string::npos) nl = notes.size();
      fprintf(stderr, "cohortd: note: %s\n", notes.substr(start, nl - start).c_str());
      start = nl + 1;
    }
    printf("cohortd: configuration OK\n");
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  if (pipe(g_wake) != 0 || pipe(g_stop_pipe) != 0) return 1;
  set_nonblock(g_wake[0]);
  set_nonblock(g_wake[1]);
  set_nonblock(g_stop_pipe[1]);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);

  cohort_agent *agent = nullptr;
  cohort_status st = cohort_open(config.c_str(), &agent);
  if (st != COHORT_OK) {
    fprintf(stderr, "cohortd: cannot start: %s%s%s\n", st == COHORT_ECONFIG ? "invalid configuration" : "",
            st == COHORT_ECONFIG ? (config_origin(opt) + ": ").c_str() : "", cohort_last_error(nullptr));
    return st == COHORT_ECONFIG ? 2 : 1;
  }
  std::string path;
  int mode = 0660;
  if (!socket_settings(agent, path, mode)) {
    cohort_close(agent);
    return 1;
  }
  int listen_fd = listen_on(path, mode);
  if (listen_fd < 0) {
    cohort_close(agent);
    return 1;
  }
  cohort_subscribe(agent, on_cohorts_changed, nullptr);
  std::thread watcher(stop_watcher, agent);
  log_line("info", "cohortd %s listening on %s", COHORT_VERSION_STRING, path.c_str());
  sd_notify("READY=1");
  serve(agent, listen_fd, [&opt](std::string &doc, std::string &reason) { return build_config(opt, doc, reason); });
  sd_notify("STOPPING=1");
  ssize_t ignored = write(g_stop_pipe[1], "q", 1);  // ends the watcher if no signal did
  (void)ignored;
  watcher.join();
  close(listen_fd);
  unlink(path.c_str());
  cohort_subscribe(agent, nullptr, nullptr);
  cohort_close(agent);
  log_line("info", "cohortd stopped");
  return 0;
}
