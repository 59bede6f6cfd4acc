#include "client.h"

#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace co::cli {
namespace {

constexpr size_t kMaxAnswer = 64u << 20;  // a history of 1000 large events fits
constexpr int kMethodNotFound = -32601;

volatile sig_atomic_t g_interrupted = 0;

// A connection or daemon error on stderr (nothing when quiet).
void complain(bool quiet, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void complain(bool quiet, const char *fmt, ...) {
  if (quiet) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

bool expired(int64_t deadline) { return deadline > 0 && now_ms() >= deadline; }

// True when this process is in group gid (effective or supplementary).
bool in_group(gid_t gid) {
  if (getegid() == gid) return true;
  int n = getgroups(0, nullptr);
  if (n <= 0) return false;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  n = getgroups(n, groups.data());
  for (int i = 0; i < n; ++i) {
    if (groups[static_cast<size_t>(i)] == gid) return true;
  }
  return false;
}

// What to say when connect() is refused for permission: which file refuses
// (the socket, or a directory on the way that this user may not enter), its
// group and mode, and what to do about it.
std::string permission_problem(const std::string &path) {
  std::string denied = path;
  for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (access(dir.c_str(), X_OK) != 0 && errno == EACCES) {
      denied = dir;
      break;
    }
  }
  struct stat st {};
  if (stat(denied.c_str(), &st) != 0) {
    return "permission denied on " + path + ": run as root, or as a user of the socket's group";
  }
  const struct group *entry = getgrgid(st.st_gid);
  std::string group = entry ? entry->gr_name : std::to_string(st.st_gid);
  char mode[8];
  snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  std::string what = "permission denied on " + denied + " (group " + group + ", mode " + mode + "): ";
  bool dir = denied != path;
  if (!(st.st_mode & (dir ? S_IXGRP : S_IWGRP))) {
    // Joining the group would not help: its mode keeps the group out too.
    return what + "its group may not " + (dir ? "enter it" : "connect") + "; run as root, or change its mode" +
           (dir ? "" : " (socket.mode)");
  }
  if (!in_group(st.st_gid)) return what + "add your user to the group " + group + ", or run as root";
  // In the group, and the group may: the owner's bits, an ACL or a security module refuse.
  return what + "your user is in the group " + group + ", yet refused (its owner bits, an ACL?); run as root";
}

}  // namespace

void on_interrupt(int) { g_interrupted = 1; }

Connection::~Connection() {
  if (fd_ >= 0) close(fd_);
}

int Connection::open(const std::string &path, int64_t deadline) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    complain(quiet_, "cohortctl: socket path \"%s\" is empty or too long\n", path.c_str());
    return kSocketError;
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  for (;;) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) return fail("socket", path);
    if (connect(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0) return kOk;
    // Not "is cohortd running?": it may well be; this user may not reach it.
    if (errno == EACCES || errno == EPERM) {
      complain(quiet_, "cohortctl: %s\n", permission_problem(path).c_str());
      return kSocketError;
    }
    // A full backlog answers EAGAIN on a non-blocking Unix socket: retry
    // until the deadline rather than fail a busy daemon.
    if (errno != EAGAIN && errno != EINTR) {
      complain(quiet_, "cohortctl: cannot connect to %s: %s (is cohortd running? --socket or $COHORT_SOCKET)\n",
               path.c_str(), strerror(errno));
      return kSocketError;
    }
    close(fd_);
    fd_ = -1;
    if (expired(deadline)) {
      complain(quiet_, "cohortctl: timed out connecting to %s\n", path.c_str());
      return kTimeout;
    }
    usleep(5000);
  }
}

int Connection::send_line(const std::string &line, int64_t deadline) {
  std::string data = line + "\n";
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      int rc = wait_for(POLLOUT, deadline);
      if (rc != kOk) return rc;
      continue;
    }
    return fail("send", "");
  }
  return kOk;
}

int Connection::read_line(std::string &line, int64_t deadline, bool interruptible) {
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      line.assign(buf_, 0, nl);
      buf_.erase(0, nl + 1);
      return kOk;
    }
    if (buf_.size() > kMaxAnswer) {
      complain(quiet_, "cohortctl: answer longer than %zu bytes\n", kMaxAnswer);
      return kSocketError;
    }
    char chunk[65536];
    ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buf_.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      complain(quiet_, "cohortctl: the daemon closed the connection\n");
      return kSocketError;
    }
    if (errno == EINTR || errno == EAGAIN) {
      if (interruptible && g_interrupted) return -1;
      int rc = wait_for(POLLIN, deadline, interruptible);
      if (rc != kOk) return rc;
      continue;
    }
    return fail("recv", "");
  }
}

int Connection::wait_for(short events, int64_t deadline, bool interruptible) {
  for (;;) {
    int wait = -1;
    if (deadline > 0) {
      int64_t left = deadline - now_ms();
      if (left <= 0) {
        complain(quiet_, "cohortctl: timed out waiting for the daemon\n");
        return kTimeout;
      }
      wait = static_cast<int>(left);
    }
    pollfd p{fd_, events, 0};
    int n = poll(&p, 1, wait);
    if (n > 0) return kOk;
    if (n < 0 && errno == EINTR) {
      if (interruptible && g_interrupted) return -1;
      continue;
    }
    if (n < 0) return fail("poll", "");
  }
}

int Connection::fail(const char *what, const std::string &path) const {
  complain(quiet_, "cohortctl: %s%s%s: %s\n", what, path.empty() ? "" : " ", path.c_str(), strerror(errno));
  return kSocketError;
}

int64_t Client::deadline(int extra_ms) const {
  if (opt_.timeout_ms == 0) return 0;
  return now_ms() + opt_.timeout_ms + extra_ms;
}

int Client::connect(int extra_ms) {
  if (connected_) return kOk;
  int rc = conn_.open(opt_.socket_path, deadline(extra_ms));
  connected_ = rc == kOk;
  return rc;
}

int Client::call(const char *method, cJSON *params_owned, Json &result, int *code, int extra_ms,
                 bool quiet_missing) {
  Json params(params_owned);
  int rc = connect(extra_ms);
  if (rc != kOk) return rc;
  int64_t until = deadline(extra_ms);
  Json req(cJSON_CreateObject());
  cJSON_AddStringToObject(req.get(), "jsonrpc", "2.0");
  cJSON_AddStringToObject(req.get(), "method", method);
  if (params) cJSON_AddItemToObject(req.get(), "params", params.release());
  int id = ++next_id_;
  cJSON_AddNumberToObject(req.get(), "id", id);
  rc = conn_.send_line(print_json(req.get()), until);
  if (rc != kOk) return rc;
  for (;;) {
    std::string line;
    rc = conn_.read_line(line, until);
    if (rc != kOk) return rc;
    Json answer(cJSON_Parse(line.c_str()));
    if (!cJSON_IsObject(answer.get())) {
      complain(opt_.quiet, "cohortctl: malformed answer from the daemon: %.200s\n", line.c_str());
      return kSocketError;
    }
    const cJSON *aid = field(answer.get(), "id");
    if (!cJSON_IsNumber(aid)) {
      // A notification (after `subscribe`) or an error about no request
      // in particular (e.g. a refused line).
      if (field(answer.get(), "error")) return report_error(method, field(answer.get(), "error"), code, false);
      continue;
    }
    if (aid->valuedouble != id) continue;
    if (const cJSON *err = field(answer.get(), "error")) return report_error(method, err, code, quiet_missing);
    cJSON *res = cJSON_DetachItemFromObjectCaseSensitive(answer.get(), "result");
    if (!res) {
      complain(opt_.quiet, "cohortctl: answer without result or error: %.200s\n", line.c_str());
      return kSocketError;
    }
    result = Json(res);
    return kOk;
  }
}

int Client::next_notification(Json &note) {
  for (;;) {
    std::string line;
    int rc = conn_.read_line(line, 0, true);
    if (rc != kOk) return rc;
    Json msg(cJSON_Parse(line.c_str()));
    if (cJSON_IsObject(msg.get()) && cJSON_IsString(field(msg.get(), "method"))) {
      note = std::move(msg);
      return kOk;
    }
  }
}

int Client::report_error(const char *method, const cJSON *err, int *code_out, bool quiet_missing) const {
  const cJSON *code = field(err, "code");
  const cJSON *msg = field(err, "message");
  int c = cJSON_IsNumber(code) ? static_cast<int>(code->valuedouble) : 0;
  if (code_out) *code_out = c;
  if (c == kMethodNotFound) {
    if (!quiet_missing) {
      complain(opt_.quiet, "cohortctl: %s: this cohortd does not implement the method (%d)\n", method, c);
    }
  } else {
    complain(opt_.quiet, "cohortctl: %s: %s (%d)\n", method, cJSON_IsString(msg) ? msg->valuestring : "error", c);
  }
  return kDaemonError;
}

}  // namespace co::cli
