// cohortctl: the command-line client of cohortd's socket (JSON-RPC 2.0, one
// object per line). It talks only the socket protocol of the contract, so it
// works against any cohortd of the same protocol, and links nothing of the
// agent: cJSON for the JSON, plain POSIX for the socket.
//
// Output: human-readable by default (aligned "key: value" blocks and small
// tables), the raw result JSON with --json. Exit codes (also in --help):
// 0 ok, 1 the daemon answered an error, 2 usage error, 3 cannot connect or
// socket error, 4 timeout.
#include <cjson/cJSON.h>

#include <cerrno>
#include <cstdarg>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

#ifndef COHORTCTL_VERSION
#define COHORTCTL_VERSION "0.1.0"
#endif

namespace {

enum Exit { kOk = 0, kDaemonError = 1, kUsage = 2, kSocketError = 3, kTimeout = 4 };

constexpr const char *kDefaultSocket = "/run/cohort/cohortd.sock";
constexpr int kDefaultTimeoutMs = 5000;
constexpr size_t kMaxAnswer = 64u << 20;  // a history of 1000 large events fits
constexpr int kMethodNotFound = -32601;

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

// Set while asking the daemon for its version (--version): a daemon that
// cannot be reached is said once, briefly, not with the connection's errors.
bool g_quiet = false;

// A connection or daemon error on stderr (nothing when quiet).
void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void complain(const char *fmt, ...) {
  if (g_quiet) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

// ---- small utilities

// Owns one cJSON tree.
class Json {
 public:
  explicit Json(cJSON *p = nullptr) : p_(p) {}
  ~Json() { cJSON_Delete(p_); }
  Json(const Json &) = delete;
  Json &operator=(const Json &) = delete;
  Json(Json &&o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  Json &operator=(Json &&o) noexcept {
    if (this != &o) {
      cJSON_Delete(p_);
      p_ = o.p_;
      o.p_ = nullptr;
    }
    return *this;
  }
  cJSON *get() const { return p_; }
  cJSON *release() {
    cJSON *p = p_;
    p_ = nullptr;
    return p;
  }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  cJSON *p_;
};

std::string print_json(const cJSON *v, bool pretty = false) {
  char *s = pretty ? cJSON_Print(v) : cJSON_PrintUnformatted(v);
  if (!s) return "null";
  std::string out(s);
  cJSON_free(s);
  return out;
}

const cJSON *field(const cJSON *obj, const char *key) { return cJSON_GetObjectItemCaseSensitive(obj, key); }

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Prints a usage error and returns kUsage.
int usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int usage_error(const char *command, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (command) {
    fprintf(stderr, "cohortctl %s: %s (see cohortctl %s --help)\n", command, msg, command);
  } else {
    fprintf(stderr, "cohortctl: %s (see cohortctl --help)\n", msg);
  }
  return kUsage;
}

bool parse_int(const char *s, long long lo, long long hi, long long &out) {
  if (!s || !*s) return false;
  char *end = nullptr;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return false;
  out = v;
  return true;
}

bool parse_number(const char *s, double &out) {
  if (!s || !*s) return false;
  char *end = nullptr;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !std::isfinite(v)) return false;
  out = v;
  return true;
}

// True when s is a JSON number by the JSON grammar: "42", "-1.5", "2e3" are;
// "007", "+1", "0x10", "1." and "inf" are not (they stay strings, so
// zero-padded codes such as a postcode keep their zeros).
bool is_json_number(const char *s) {
  const char *p = s;
  if (*p == '-') ++p;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    while (*p >= '0' && *p <= '9') ++p;
  } else {
    return false;
  }
  if (*p == '.') {
    ++p;
    if (!(*p >= '0' && *p <= '9')) return false;
    while (*p >= '0' && *p <= '9') ++p;
  }
  if (*p == 'e' || *p == 'E') {
    ++p;
    if (*p == '+' || *p == '-') ++p;
    if (!(*p >= '0' && *p <= '9')) return false;
    while (*p >= '0' && *p <= '9') ++p;
  }
  return *p == '\0';
}

// The value of a k=v argument: numbers, true and false as JSON scalars, a
// valid JSON array or object as itself, anything else as a string.
cJSON *kv_value(const char *v) {
  if (strcmp(v, "true") == 0) return cJSON_CreateTrue();
  if (strcmp(v, "false") == 0) return cJSON_CreateFalse();
  if (is_json_number(v)) return cJSON_CreateNumber(strtod(v, nullptr));
  if (*v == '[' || *v == '{') {
    cJSON *parsed = cJSON_ParseWithOpts(v, nullptr, 1);
    if (parsed) return parsed;
  }
  return cJSON_CreateString(v);
}

// Builds an object from `k=v ...` (dotted keys nest: video.genre=drama) or
// from a single JSON object argument. Returns an empty string on success,
// else the usage message.
std::string build_properties(const std::vector<const char *> &args, Json &out) {
  out = Json(cJSON_CreateObject());
  if (args.size() == 1 && args[0][0] == '{') {
    Json doc(cJSON_ParseWithOpts(args[0], nullptr, 1));
    if (!cJSON_IsObject(doc.get())) return std::string("not a JSON object: ") + args[0];
    out = std::move(doc);
    return "";
  }
  for (const char *arg : args) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return std::string("expected KEY=VALUE or one JSON object, got \"") + arg + "\"";
    std::string key(arg, static_cast<size_t>(eq - arg));
    cJSON *parent = out.get();
    size_t start = 0;
    for (;;) {
      size_t dot = key.find('.', start);
      std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (part.empty()) return "empty name in key \"" + key + "\"";
      cJSON *existing = cJSON_GetObjectItemCaseSensitive(parent, part.c_str());
      if (dot == std::string::npos) {
        if (existing) return "key \"" + key + "\" given twice";
        cJSON_AddItemToObject(parent, part.c_str(), kv_value(eq + 1));
        break;
      }
      if (!existing) {
        existing = cJSON_AddObjectToObject(parent, part.c_str());
      } else if (!cJSON_IsObject(existing)) {
        return "key \"" + key + "\" nests under \"" + key.substr(0, dot) + "\", which has a value";
      }
      parent = existing;
      start = dot + 1;
    }
  }
  return "";
}

bool read_file(const char *path, std::string &out, std::string &err) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    err = std::string(path) + ": " + strerror(errno);
    return false;
  }
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  bool ok = !ferror(f);
  if (!ok) err = std::string(path) + ": read error";
  if (f != stdin) fclose(f);
  return ok;
}

// ---- human-readable output

std::string number_text(double d) {
  char buf[64];
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
    snprintf(buf, sizeof buf, "%.0f", d);
  } else {
    snprintf(buf, sizeof buf, "%.6g", d);
  }
  return buf;
}

bool is_scalar(const cJSON *v) { return !cJSON_IsObject(v) && !cJSON_IsArray(v); }

bool all_scalars(const cJSON *arr) {
  for (const cJSON *e = arr->child; e; e = e->next) {
    if (!is_scalar(e)) return false;
  }
  return true;
}

// One value as text: null "-", booleans yes/no, arrays of scalars joined.
std::string text_of(const cJSON *v) {
  if (!v || cJSON_IsNull(v)) return "-";
  if (cJSON_IsTrue(v)) return "yes";
  if (cJSON_IsFalse(v)) return "no";
  if (cJSON_IsString(v)) return *v->valuestring ? v->valuestring : "-";
  if (cJSON_IsNumber(v)) return number_text(v->valuedouble);
  if (cJSON_IsArray(v) && all_scalars(v)) {
    if (!v->child) return "-";
    std::string s;
    for (const cJSON *e = v->child; e; e = e->next) s += (s.empty() ? "" : ", ") + text_of(e);
    return s;
  }
  return print_json(v);
}

// An aligned block of "key: value" lines; nested objects flatten to dotted
// keys, arrays of objects print one compact JSON per line beneath their key.
void flatten(const cJSON *obj, const std::string &prefix, std::vector<std::pair<std::string, std::string>> &rows) {
  for (const cJSON *v = obj->child; v; v = v->next) {
    std::string key = prefix + v->string;
    if (cJSON_IsObject(v) && v->child) {
      flatten(v, key + ".", rows);
    } else if (cJSON_IsArray(v) && !all_scalars(v)) {
      rows.emplace_back(key, "");
      for (const cJSON *e = v->child; e; e = e->next) rows.emplace_back("", "  " + print_json(e));
    } else {
      rows.emplace_back(key, cJSON_IsObject(v) ? "-" : text_of(v));
    }
  }
}

void print_block(const cJSON *obj) {
  std::vector<std::pair<std::string, std::string>> rows;
  if (cJSON_IsObject(obj)) flatten(obj, "", rows);
  size_t width = 0;
  for (const auto &r : rows) width = r.first.size() > width ? r.first.size() : width;
  for (const auto &r : rows) {
    if (r.first.empty()) {
      printf("%s\n", r.second.c_str());
    } else {
      printf("%s:%*s %s\n", r.first.c_str(), static_cast<int>(width - r.first.size()), "", r.second.c_str());
    }
  }
}

using Row = std::vector<std::string>;

void print_table(const Row &headers, const std::vector<Row> &rows) {
  std::vector<size_t> width(headers.size(), 0);
  for (size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const Row &r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = r[i].size() > width[i] ? r[i].size() : width[i];
  }
  auto line = [&](const Row &r) {
    std::string s;
    for (size_t i = 0; i < headers.size(); ++i) {
      const std::string &cell = i < r.size() ? r[i] : std::string();
      s += cell;
      if (i + 1 < headers.size()) s += std::string(width[i] - cell.size() + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    printf("%s\n", s.c_str());
  };
  line(headers);
  for (const Row &r : rows) line(r);
}

// A tree of unknown shape (explain, preview): indented, YAML-like.
void print_tree(const cJSON *v, int indent) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (cJSON_IsObject(v)) {
    for (const cJSON *c = v->child; c; c = c->next) {
      if (is_scalar(c) || (cJSON_IsArray(c) && all_scalars(c)) || (cJSON_IsObject(c) && !c->child)) {
        printf("%s%s: %s\n", pad.c_str(), c->string, cJSON_IsObject(c) ? "-" : text_of(c).c_str());
      } else {
        printf("%s%s:\n", pad.c_str(), c->string);
        print_tree(c, indent + 2);
      }
    }
  } else if (cJSON_IsArray(v)) {
    for (const cJSON *e = v->child; e; e = e->next) {
      if (is_scalar(e)) {
        printf("%s- %s\n", pad.c_str(), text_of(e).c_str());
      } else {
        printf("%s-\n", pad.c_str());
        print_tree(e, indent + 2);
      }
    }
  } else {
    printf("%s%s\n", pad.c_str(), text_of(v).c_str());
  }
}

// The id of a cohort entry that is either "1001" or {"id": "1001", ...}.
std::string cohort_id(const cJSON *e) {
  if (cJSON_IsString(e)) return e->valuestring;
  if (cJSON_IsNumber(e)) return number_text(e->valuedouble);
  const cJSON *id = field(e, "id");
  if (!id) id = field(e, "cohort_id");
  return id ? text_of(id) : print_json(e);
}

bool contains_id(const cJSON *arr, const std::string &id) {
  if (!cJSON_IsArray(arr)) return false;
  for (const cJSON *e = arr->child; e; e = e->next) {
    if (cohort_id(e) == id) return true;
  }
  return false;
}

std::string ids_text(const cJSON *arr) {
  if (!cJSON_IsArray(arr) || !arr->child) return "-";
  std::string s;
  for (const cJSON *e = arr->child; e; e = e->next) s += (s.empty() ? "" : ", ") + cohort_id(e);
  return s;
}

// ---- the connection

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

struct Options {
  std::string socket_path;
  bool json = false;
  int timeout_ms = kDefaultTimeoutMs;  // 0: wait forever
};

class Connection {
 public:
  ~Connection() {
    if (fd_ >= 0) close(fd_);
  }

  // Connects within the deadline; kOk, kSocketError or kTimeout (message printed).
  int open(const std::string &path, int64_t deadline) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
      complain("cohortctl: socket path \"%s\" is empty or too long\n", path.c_str());
      return kSocketError;
    }
    memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    for (;;) {
      fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd_ < 0) return fail("socket", path);
      if (connect(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0) return kOk;
      // Not "is cohortd running?": it may well be; this user may not reach it.
      if (errno == EACCES || errno == EPERM) {
        complain("cohortctl: %s\n", permission_problem(path).c_str());
        return kSocketError;
      }
      // A full backlog answers EAGAIN on a non-blocking Unix socket: retry
      // until the deadline rather than fail a busy daemon.
      if (errno != EAGAIN && errno != EINTR) {
        complain("cohortctl: cannot connect to %s: %s (is cohortd running? --socket or $COHORT_SOCKET)\n",
                 path.c_str(), strerror(errno));
        return kSocketError;
      }
      close(fd_);
      fd_ = -1;
      if (expired(deadline)) {
        complain("cohortctl: timed out connecting to %s\n", path.c_str());
        return kTimeout;
      }
      usleep(5000);
    }
  }

  int send_line(const std::string &line, int64_t deadline) {
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

  // One line (without its newline). kOk, kSocketError (EOF too), kTimeout;
  // -1 when interrupted by a signal while interruptible.
  int read_line(std::string &line, int64_t deadline, bool interruptible = false) {
    for (;;) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        line.assign(buf_, 0, nl);
        buf_.erase(0, nl + 1);
        return kOk;
      }
      if (buf_.size() > kMaxAnswer) {
        complain("cohortctl: answer longer than %zu bytes\n", kMaxAnswer);
        return kSocketError;
      }
      char chunk[65536];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) {
        complain("cohortctl: the daemon closed the connection\n");
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

 private:
  static bool expired(int64_t deadline) { return deadline > 0 && now_ms() >= deadline; }

  int wait_for(short events, int64_t deadline, bool interruptible = false) {
    for (;;) {
      int wait = -1;
      if (deadline > 0) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
          complain("cohortctl: timed out waiting for the daemon\n");
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

  static int fail(const char *what, const std::string &path) {
    complain("cohortctl: %s%s%s: %s\n", what, path.empty() ? "" : " ", path.c_str(), strerror(errno));
    return kSocketError;
  }

  int fd_ = -1;
  std::string buf_;
};

class Client {
 public:
  explicit Client(const Options &opt) : opt_(opt) {}

  int64_t deadline(int extra_ms = 0) const {
    if (opt_.timeout_ms == 0) return 0;
    return now_ms() + opt_.timeout_ms + extra_ms;
  }

  int connect(int extra_ms = 0) {
    if (connected_) return kOk;
    int rc = conn_.open(opt_.socket_path, deadline(extra_ms));
    connected_ = rc == kOk;
    return rc;
  }

  // Calls one method. On kOk `result` holds the result; on kDaemonError the
  // daemon's message went to stderr and `code` holds the JSON-RPC code.
  // params may be null. extra_ms stretches the deadline (for calls that
  // carry their own timeout).
  int call(const char *method, cJSON *params_owned, Json &result, int *code = nullptr, int extra_ms = 0,
           bool quiet_missing = false) {
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
        complain("cohortctl: malformed answer from the daemon: %.200s\n", line.c_str());
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
        complain("cohortctl: answer without result or error: %.200s\n", line.c_str());
        return kSocketError;
      }
      result = Json(res);
      return kOk;
    }
  }

  // Reads the next notification; kOk, kSocketError, or -1 when interrupted.
  int next_notification(Json &note) {
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

 private:
  static int report_error(const char *method, const cJSON *err, int *code_out, bool quiet_missing) {
    const cJSON *code = field(err, "code");
    const cJSON *msg = field(err, "message");
    int c = cJSON_IsNumber(code) ? static_cast<int>(code->valuedouble) : 0;
    if (code_out) *code_out = c;
    if (c == kMethodNotFound) {
      if (!quiet_missing) {
        complain("cohortctl: %s: this cohortd does not implement the method (%d)\n", method, c);
      }
    } else {
      complain("cohortctl: %s: %s (%d)\n", method, cJSON_IsString(msg) ? msg->valuestring : "error", c);
    }
    return kDaemonError;
  }

  const Options &opt_;
  Connection conn_;
  bool connected_ = false;
  int next_id_ = 0;
};

// ---- commands

struct Args {
  const char *name;                 // command name, for messages
  std::vector<const char *> words;  // arguments after the command
};

using Handler = int (*)(Client &, const Options &, const Args &);

struct Command {
  const char *name;
  const char *usage;
  const char *summary;
  const char *details;
  Handler run;
};

// Splits "--opt VALUE" options out of the arguments. Returns false (after a
// usage message) on an unknown option or a missing value.
struct OptSpec {
  const char *name;
  bool takes_value;
  const char **value;  // set when seen (value, or "" for a flag)
};

bool take_options(const Args &a, std::vector<OptSpec> specs, std::vector<const char *> &rest, int &rc) {
  bool literal = false;
  for (size_t i = 0; i < a.words.size(); ++i) {
    const char *w = a.words[i];
    if (!literal && strcmp(w, "--") == 0) {
      literal = true;
      continue;
    }
    if (literal || strncmp(w, "--", 2) != 0) {
      rest.push_back(w);
      continue;
    }
    bool found = false;
    for (OptSpec &s : specs) {
      if (strcmp(w, s.name) != 0) continue;
      found = true;
      if (!s.takes_value) {
        *s.value = "";
      } else if (i + 1 < a.words.size()) {
        *s.value = a.words[++i];
      } else {
        rc = usage_error(a.name, "%s needs a value", w);
        return false;
      }
    }
    if (!found) {
      rc = usage_error(a.name, "unknown option %s", w);
      return false;
    }
  }
  return true;
}

int output(const Options &opt, const Json &result, void (*human)(const cJSON *)) {
  if (opt.json) {
    printf("%s\n", print_json(result.get()).c_str());
  } else {
    human(result.get());
  }
  return kOk;
}

int simple(Client &c, const Options &opt, const char *method, cJSON *params, void (*human)(const cJSON *),
           int extra_ms = 0) {
  Json result;
  int rc = c.call(method, params, result, nullptr, extra_ms);
  return rc == kOk ? output(opt, result, human) : rc;
}

int no_args(const Args &a) {
  if (!a.words.empty()) return usage_error(a.name, "unexpected argument \"%s\"", a.words[0]);
  return kOk;
}

void show_identity(const cJSON *r) {
  printf("user_id: %s\n", text_of(field(r, "user_id")).c_str());
  const cJSON *aliases = field(r, "aliases");
  if (!cJSON_IsArray(aliases) || !aliases->child) {
    printf("aliases: none\n");
    return;
  }
  printf("\n");
  std::vector<Row> rows;
  for (const cJSON *e = aliases->child; e; e = e->next) {
    rows.push_back({text_of(field(e, "tag")), text_of(field(e, "id")), text_of(field(e, "priority"))});
  }
  print_table({"TAG", "ID", "PRIORITY"}, rows);
}

int cmd_status(Client &c, const Options &opt, const Args &a) {
  if (int rc = no_args(a)) return rc;
  return simple(c, opt, "status", nullptr, print_block);
}

int cmd_id(Client &c, const Options &opt, const Args &a) {
  if (a.words.size() == 1 && strcmp(a.words[0], "reset") == 0) {
    return simple(c, opt, "identity.reset", nullptr, print_block);
  }
  if (int rc = no_args(a)) return rc;
  return simple(c, opt, "identity.get", nullptr, show_identity);
}

int cmd_aliases(Client &c, const Options &opt, const Args &a) {
  if (a.words.empty()) return usage_error(a.name, "expected set or get");
  std::string sub = a.words[0];
  Args rest{a.name, {a.words.begin() + 1, a.words.end()}};
  if (sub == "get") {
    if (int rc = no_args(rest)) return rc;
    return simple(c, opt, "identity.get", nullptr, show_identity);
  }
  if (sub != "set") return usage_error(a.name, "unknown subcommand \"%s\"", sub.c_str());
  const char *hash = nullptr, *replace = nullptr;
  std::vector<const char *> pairs;
  int rc = kOk;
  if (!take_options(rest, {{"--hash-email", false, &hash}, {"--replace", false, &replace}}, pairs, rc)) return rc;
  if (pairs.empty()) return usage_error(a.name, "expected at least one TAG=ID[:PRIORITY]");
  Json list(cJSON_CreateArray());
  for (const char *p : pairs) {
    const char *eq = strchr(p, '=');
    if (!eq || eq == p || !eq[1]) return usage_error(a.name, "expected TAG=ID[:PRIORITY], got \"%s\"", p);
    std::string tag(p, static_cast<size_t>(eq - p));
    std::string id = eq + 1;
    long long priority = -1;
    size_t colon = id.rfind(':');
    // The priority is what follows the last colon when it is all digits, so
    // ids with colons (amzn1.ask:xyz) stay whole.
    if (colon != std::string::npos && colon > 0 && parse_int(id.c_str() + colon + 1, 0, 1000000, priority)) {
      id.resize(colon);
    } else {
      priority = -1;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tag", tag.c_str());
    cJSON_AddStringToObject(o, "id", id.c_str());
    if (priority >= 0) cJSON_AddNumberToObject(o, "priority", static_cast<double>(priority));
    // --hash-email: the daemon hashes the address (SHA-256 of the trimmed,
    // lowercased address); the raw address is never stored.
    if (hash && (tag == "email_sha256" || id.find('@') != std::string::npos)) {
      cJSON_AddStringToObject(o, "hash", "sha256");
    }
    cJSON_AddItemToArray(list.get(), o);
  }
  Json params(cJSON_CreateObject());
  cJSON_AddItemToObject(params.get(), "aliases", list.release());
  if (replace) cJSON_AddTrueToObject(params.get(), "replace");
  return simple(c, opt, "identity.set_aliases", params.release(), show_identity);
}

void show_consent(const cJSON *r) {
  printf("consent: %s\n", cJSON_IsTrue(field(r, "consent")) ? "granted" : "not granted");
}

int cmd_consent(Client &c, const Options &opt, const Args &a) {
  if (a.words.empty()) {
    Json result;
    int rc = c.call("status", nullptr, result);
    if (rc != kOk) return rc;
    Json r(cJSON_CreateObject());
    cJSON_AddBoolToObject(r.get(), "consent", cJSON_IsTrue(field(result.get(), "consent")));
    return output(opt, r, show_consent);
  }
  if (a.words.size() != 1) return usage_error(a.name, "expected on or off");
  std::string v = a.words[0];
  bool granted;
  if (v == "on" || v == "true" || v == "yes" || v == "grant") {
    granted = true;
  } else if (v == "off" || v == "false" || v == "no" || v == "withdraw") {
    granted = false;
  } else {
    return usage_error(a.name, "expected on or off, got \"%s\"", v.c_str());
  }
  cJSON *params = cJSON_CreateObject();
  cJSON_AddBoolToObject(params, "granted", granted);
  return simple(c, opt, "consent.set", params, show_consent);
}

int cmd_track(Client &c, const Options &opt, const Args &a) {
  const char *time = nullptr, *view = nullptr;
  std::vector<const char *> rest;
  int rc = kOk;
  if (!take_options(a, {{"--time", true, &time}, {"--view", true, &view}}, rest, rc)) return rc;
  if (rest.empty()) return usage_error(a.name, "NAME is required");
  Json props;
  std::string err = build_properties({rest.begin() + 1, rest.end()}, props);
  if (!err.empty()) return usage_error(a.name, "%s", err.c_str());
  cJSON *params = cJSON_CreateObject();
  cJSON_AddStringToObject(params, "name", rest[0]);
  cJSON_AddItemToObject(params, "properties", props.release());
  if (time) cJSON_AddStringToObject(params, "time", time);
  if (view) cJSON_AddStringToObject(params, "view_id", view);
  return simple(c, opt, "track", params, print_block);
}

int cmd_view(Client &c, const Options &opt, const Args &a) {
  if (a.words.empty()) return usage_error(a.name, "expected start, pause, resume, progress or end");
  std::string sub = a.words[0];
  Args rest{a.name, {a.words.begin() + 1, a.words.end()}};
  if (sub == "start") {
    const char *type = nullptr, *duration = nullptr, *url = nullptr, *event = nullptr;
    std::vector<const char *> words;
    int rc = kOk;
    if (!take_options(rest,
                      {{"--type", true, &type}, {"--duration", true, &duration}, {"--url", true, &url},
                       {"--event", true, &event}},
                      words, rc)) {
      return rc;
    }
    Json props;
    std::string err = build_properties(words, props);
    if (!err.empty()) return usage_error(a.name, "%s", err.c_str());
    cJSON *params = cJSON_CreateObject();
    if (type) cJSON_AddStringToObject(params, "type", type);
    if (event) cJSON_AddStringToObject(params, "event", event);
    if (duration) {
      double d;
      if (!parse_number(duration, d) || d < 0) {
        cJSON_Delete(params);
        return usage_error(a.name, "--duration must be a number of seconds, got \"%s\"", duration);
      }
      cJSON_AddNumberToObject(params, "duration_s", d);
    }
    if (url) cJSON_AddStringToObject(params, "url", url);
    cJSON_AddItemToObject(params, "properties", props.release());
    return simple(c, opt, "view.start", params, print_block);
  }
  const char *method = nullptr;
  if (sub == "pause") method = "view.pause";
  if (sub == "resume") method = "view.resume";
  if (sub == "progress") method = "view.progress";
  if (sub == "end") method = "view.end";
  if (!method) return usage_error(a.name, "unknown subcommand \"%s\"", sub.c_str());
  if (rest.words.empty() || rest.words.size() > 2) return usage_error(a.name, "expected %s VIEW_ID [POSITION]", sub.c_str());
  double pos = -1;
  if (rest.words.size() == 2 && (!parse_number(rest.words[1], pos) || pos < 0)) {
    return usage_error(a.name, "POSITION must be a number of seconds, got \"%s\"", rest.words[1]);
  }
  if (sub == "progress" && rest.words.size() < 2) return usage_error(a.name, "progress needs a POSITION");
  cJSON *params = cJSON_CreateObject();
  cJSON_AddStringToObject(params, "view_id", rest.words[0]);
  if (pos >= 0) cJSON_AddNumberToObject(params, "position_s", pos);
  return simple(c, opt, method, params, print_block);
}

// The names of the local cohorts (definitions.get), for the tables: an id
// alone says little on a screen.
std::vector<std::pair<std::string, std::string>> g_cohort_names;

void learn_names(Client &c) {
  Json defs;
  if (c.call("definitions.get", nullptr, defs, nullptr, 0, true) != kOk) return;
  const cJSON *list = field(defs.get(), "cohorts");
  for (const cJSON *d = cJSON_IsArray(list) ? list->child : nullptr; d; d = d->next) {
    g_cohort_names.emplace_back(cohort_id(d), text_of(field(d, "name")));
  }
}

std::string cohort_name(const std::string &id) {
  for (const auto &n : g_cohort_names) {
    if (n.first == id) return n.second;
  }
  return "-";
}

void show_cohorts(const cJSON *r) {
  const cJSON *all = field(r, "cohorts");
  const cJSON *local = field(r, "local");
  const cJSON *remote = field(r, "remote");
  std::vector<Row> rows;
  std::vector<std::string> seen;
  auto add = [&](const cJSON *e) {
    std::string id = cohort_id(e);
    for (const std::string &s : seen) {
      if (s == id) return;
    }
    seen.push_back(id);
    std::string source;
    if (contains_id(local, id)) source = "local";
    if (contains_id(remote, id)) source += source.empty() ? "remote" : "+remote";
    const cJSON *name = cJSON_IsObject(e) ? field(e, "name") : nullptr;
    rows.push_back({id, source.empty() ? "-" : source, name ? text_of(name) : cohort_name(id)});
  };
  for (const cJSON *list : {all, local, remote}) {
    if (cJSON_IsArray(list)) {
      for (const cJSON *e = list->child; e; e = e->next) add(e);
    }
  }
  if (rows.empty()) {
    printf("cohorts: none\n");
  } else {
    print_table({"COHORT", "SOURCE", "NAME"}, rows);
  }
  if (const cJSON *cached = field(r, "cached")) printf("\ncached: %s\n", text_of(cached).c_str());
}

int cmd_cohorts(Client &c, const Options &opt, const Args &a) {
  if (int rc = no_args(a)) return rc;
  if (!opt.json) learn_names(c);
  return simple(c, opt, "cohorts.get", nullptr, show_cohorts);
}

void platform_table(const cJSON *obj) {
  std::vector<Row> rows;
  if (cJSON_IsObject(obj)) {
    for (const cJSON *p = obj->child; p; p = p->next) rows.push_back({p->string, ids_text(p)});
  }
  if (rows.empty()) {
    printf("(none)\n");
  } else {
    print_table({"PLATFORM", "COHORTS"}, rows);
  }
}

void show_activations(const cJSON *r) {
  platform_table(field(r, "activations"));
  const cJSON *ctx = field(r, "contextual");
  if (cJSON_IsObject(ctx) && ctx->child) {
    printf("\ncontextual:\n");
    platform_table(ctx);
  }
  printf("\nstale: %s\n", text_of(field(r, "stale")).c_str());
}

int cmd_activations(Client &c, const Options &opt, const Args &a) {
  const char *timeout = nullptr, *url = nullptr;
  std::vector<const char *> words;
  int rc = kOk;
  if (!take_options(a, {{"--timeout", true, &timeout}, {"--url", true, &url}}, words, rc)) return rc;
  long long ms = 0;
  if (timeout && !parse_int(timeout, 0, 600000, ms)) {
    return usage_error(a.name, "--timeout must be milliseconds (0-600000), got \"%s\"", timeout);
  }
  Json props;
  if (!words.empty()) {
    std::string err = build_properties(words, props);
    if (!err.empty()) return usage_error(a.name, "%s", err.c_str());
  }
  cJSON *params = cJSON_CreateObject();
  if (timeout) cJSON_AddNumberToObject(params, "timeout_ms", static_cast<double>(ms));
  if (url) cJSON_AddStringToObject(params, "url", url);
  if (props) cJSON_AddItemToObject(params, "page_properties", props.release());
  return simple(c, opt, "activations.get", params, show_activations, static_cast<int>(ms));
}

void show_definitions_put(const cJSON *r) {
  printf("count: %s\n", text_of(field(r, "count")).c_str());
  const cJSON *sums = field(r, "checksums");
  if (cJSON_IsObject(sums) && sums->child) {
    printf("\n");
    std::vector<Row> rows;
    for (const cJSON *s = sums->child; s; s = s->next) rows.push_back({s->string, text_of(s)});
    print_table({"COHORT", "CHECKSUM"}, rows);
  }
}

void show_definitions(const cJSON *r) {
  const cJSON *list = field(r, "cohorts");
  if (!cJSON_IsArray(list) || !list->child) {
    printf("definitions: none\n");
    return;
  }
  std::vector<Row> rows;
  for (const cJSON *e = list->child; e; e = e->next) {
    rows.push_back({cohort_id(e), text_of(field(e, "name")), text_of(field(e, "activations")),
                    text_of(field(e, "checksum"))});
  }
  print_table({"COHORT", "NAME", "ACTIVATIONS", "CHECKSUM"}, rows);
}

// Reads a JSON document from FILE ("-": stdin); a usage error when it is not JSON.
int load_json_file(const Args &a, const char *path, Json &doc) {
  std::string text, err;
  if (!read_file(path, text, err)) return usage_error(a.name, "cannot read %s", err.c_str());
  doc = Json(cJSON_Parse(text.c_str()));
  if (!doc) {
    const char *at = cJSON_GetErrorPtr();
    size_t offset = at && at >= text.c_str() && at <= text.c_str() + text.size() ? static_cast<size_t>(at - text.c_str()) : 0;
    return usage_error(a.name, "%s: not valid JSON (near byte %zu)", path, offset);
  }
  return kOk;
}

int cmd_definitions(Client &c, const Options &opt, const Args &a) {
  if (a.words.empty()) return usage_error(a.name, "expected put FILE or get");
  std::string sub = a.words[0];
  if (sub == "get") {
    if (a.words.size() != 1) return usage_error(a.name, "get takes no argument");
    return simple(c, opt, "definitions.get", nullptr, show_definitions);
  }
  if (sub != "put") return usage_error(a.name, "unknown subcommand \"%s\"", sub.c_str());
  if (a.words.size() != 2) return usage_error(a.name, "expected put FILE");
  Json doc;
  if (int rc = load_json_file(a, a.words[1], doc)) return rc;
  cJSON *params = nullptr;
  if (cJSON_IsArray(doc.get())) {  // a bare list of cohorts
    params = cJSON_CreateObject();
    cJSON_AddItemToObject(params, "cohorts", doc.release());
  } else if (cJSON_IsObject(doc.get())) {
    params = doc.release();
  } else {
    return usage_error(a.name, "%s: expected {\"cohorts\": [...]}", a.words[1]);
  }
  return simple(c, opt, "definitions.put", params, show_definitions_put);
}

void show_match(const cJSON *r) {
  printf("match: %s\n", text_of(field(r, "match")).c_str());
  for (const cJSON *v = r ? r->child : nullptr; v; v = v->next) {
    if (strcmp(v->string, "match") == 0) continue;
    if (is_scalar(v)) {
      printf("%s: %s\n", v->string, text_of(v).c_str());
    } else {
      printf("%s:\n", v->string);
      print_tree(v, 2);
    }
  }
}

int cmd_preview(Client &c, const Options &opt, const Args &a) {
  if (a.words.size() != 1) return usage_error(a.name, "expected FILE");
  Json doc;
  if (int rc = load_json_file(a, a.words[0], doc)) return rc;
  if (!cJSON_IsObject(doc.get())) return usage_error(a.name, "%s: expected a rule object", a.words[0]);
  // The file holds a rule, or a cohort / params object with a "rule".
  cJSON *rule = cJSON_DetachItemFromObjectCaseSensitive(doc.get(), "rule");
  cJSON *params = cJSON_CreateObject();
  cJSON_AddItemToObject(params, "rule", rule ? rule : doc.release());
  return simple(c, opt, "definitions.preview", params, show_match);
}

int cmd_explain(Client &c, const Options &opt, const Args &a) {
  if (a.words.size() != 1) return usage_error(a.name, "expected a cohort ID");
  cJSON *params = cJSON_CreateObject();
  cJSON_AddStringToObject(params, "cohort_id", a.words[0]);
  return simple(c, opt, "explain", params, show_match);
}

int cmd_sync(Client &c, const Options &opt, const Args &a) {
  const char *timeout = nullptr;
  std::vector<const char *> words;
  int rc = kOk;
  if (!take_options(a, {{"--timeout", true, &timeout}}, words, rc)) return rc;
  if (!words.empty()) return usage_error(a.name, "unexpected argument \"%s\"", words[0]);
  long long ms = 0;
  if (timeout && !parse_int(timeout, 0, 600000, ms)) {
    return usage_error(a.name, "--timeout must be milliseconds (0-600000), got \"%s\"", timeout);
  }
  cJSON *params = cJSON_CreateObject();
  if (timeout) cJSON_AddNumberToObject(params, "timeout_ms", static_cast<double>(ms));
  return simple(c, opt, "sync.now", params, print_block, static_cast<int>(ms));
}

std::string utc_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  time_t t = ts.tv_sec;
  tm parts{};
  gmtime_r(&t, &parts);
  char buf[40];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return buf;
}

int cmd_watch(Client &c, const Options &opt, const Args &a) {
  const char *count = nullptr;
  std::vector<const char *> words;
  int rc = kOk;
  if (!take_options(a, {{"--count", true, &count}}, words, rc)) return rc;
  if (!words.empty()) return usage_error(a.name, "unexpected argument \"%s\"", words[0]);
  long long limit = 0;
  if (count && !parse_int(count, 1, 1LL << 40, limit)) return usage_error(a.name, "--count must be 1 or more");
  cJSON *params = cJSON_CreateObject();
  cJSON *topics = cJSON_AddArrayToObject(params, "topics");
  cJSON_AddItemToArray(topics, cJSON_CreateString("cohorts"));
  Json result;
  rc = c.call("subscribe", params, result);
  if (rc != kOk) return rc;
  // From here SIGINT/SIGTERM end the watch normally (exit 0). No SA_RESTART:
  // the blocking poll returns EINTR and the loop sees the flag.
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // On stderr, so it never mixes with the output; a script may wait for it to
  // know the subscription is in place.
  fprintf(stderr, "cohortctl: watching cohort changes (Ctrl-C to stop)\n");
  fflush(stdout);
  for (long long seen = 0; limit == 0 || seen < limit;) {
    Json note;
    rc = c.next_notification(note);
    if (rc == -1) return kOk;  // interrupted: the normal way to stop
    if (rc != kOk) return rc;
    const cJSON *method = field(note.get(), "method");
    if (strcmp(method->valuestring, "cohorts.changed") != 0) continue;
    const cJSON *p = field(note.get(), "params");
    if (opt.json) {
      printf("%s\n", print_json(p).c_str());
    } else {
      const cJSON *cohorts = field(p, "cohorts");
      std::string moved;
      for (const char *what : {"entered", "exited"}) {
        const cJSON *ids = field(p, what);
        if (cJSON_IsArray(ids) && ids->child) moved += std::string(what) + ": " + ids_text(ids) + "  ";
      }
      printf("%s  %scohorts: %s\n", utc_now().c_str(), moved.c_str(),
             cJSON_IsArray(cohorts) ? (cohorts->child ? ids_text(cohorts).c_str() : "none") : print_json(p).c_str());
    }
    fflush(stdout);
    ++seen;
  }
  return kOk;
}

void show_pretty(const cJSON *r) { printf("%s\n", print_json(r, true).c_str()); }

int cmd_call(Client &c, const Options &opt, const Args &a) {
  if (a.words.empty() || a.words.size() > 2) return usage_error(a.name, "expected METHOD [JSON]");
  cJSON *params = nullptr;
  if (a.words.size() == 2) {
    std::string text = a.words[1];
    if (text == "-") {
      std::string err;
      text.clear();
      if (!read_file("-", text, err)) return usage_error(a.name, "cannot read %s", err.c_str());
    }
    params = cJSON_Parse(text.c_str());
    if (!params) return usage_error(a.name, "params are not valid JSON: %s", a.words[1]);
  }
  return simple(c, opt, a.words[0], params, show_pretty);
}

// A listing's table (or what to say when it is empty), then its total.
void print_listing(const cJSON *r, const Row &headers, const std::vector<Row> &rows, const char *empty) {
  if (rows.empty()) {
    printf("%s\n", empty);
  } else {
    print_table(headers, rows);
  }
  if (const cJSON *total = field(r, "total")) printf("\ntotal: %s\n", text_of(total).c_str());
}

// The optional N of a listing command: how many, 1 to 1000 (n keeps its
// default when none is given). False with rc set on a usage error.
bool parse_count(const Args &a, const std::vector<const char *> &words, long long &n, int &rc) {
  if (words.size() > 1) {
    rc = usage_error(a.name, "expected at most one N");
    return false;
  }
  if (!words.empty() && !parse_int(words[0], 1, 1000, n)) {
    rc = usage_error(a.name, "N must be 1 to 1000, got \"%s\"", words[0]);
    return false;
  }
  return true;
}

void show_history(const cJSON *r) {
  const cJSON *events = field(r, "events");
  std::vector<Row> rows;
  if (cJSON_IsArray(events)) {
    for (const cJSON *e = events->child; e; e = e->next) {
      std::string props = print_json(field(e, "properties"));
      if (props.size() > 60) props = props.substr(0, 57) + "...";
      std::string view = text_of(field(e, "view_id"));
      if (view.size() > 8) view = view.substr(0, 8);
      rows.push_back({text_of(field(e, "time")), text_of(field(e, "name")), view, props});
    }
  }
  print_listing(r, {"TIME", "NAME", "VIEW", "PROPERTIES"}, rows, "history: no events");
}

int cmd_history(Client &c, const Options &opt, const Args &a) {
  const char *name = nullptr;
  std::vector<const char *> words;
  int rc = kOk;
  if (!take_options(a, {{"--name", true, &name}}, words, rc)) return rc;
  long long n = 20;
  if (!parse_count(a, words, n, rc)) return rc;
  cJSON *params = cJSON_CreateObject();
  cJSON_AddNumberToObject(params, "limit", static_cast<double>(n));
  if (name) cJSON_AddStringToObject(params, "name", name);
  return simple(c, opt, "history.get", params, show_history);
}

// Each refused batch with the API's own words: why it was refused.
void show_dead_letters(const cJSON *r) {
  const cJSON *letters = field(r, "dead_letters");
  std::vector<Row> rows;
  if (cJSON_IsArray(letters)) {
    for (const cJSON *d = letters->child; d; d = d->next) {
      std::string why = text_of(field(d, "message"));
      if (why.empty()) why = text_of(field(d, "error"));
      std::string cause = text_of(field(d, "cause"));
      if (!cause.empty()) why += " (" + cause + ")";
      rows.push_back({text_of(field(d, "at")), text_of(field(d, "http_status")), text_of(field(d, "events")), why});
    }
  }
  print_listing(r, {"AT", "HTTP", "EVENTS", "WHY"}, rows, "dead letters: none");
}

int cmd_dead_letters(Client &c, const Options &opt, const Args &a) {
  long long n = 20;
  int rc = kOk;
  if (!parse_count(a, a.words, n, rc)) return rc;
  cJSON *params = cJSON_CreateObject();
  cJSON_AddNumberToObject(params, "limit", static_cast<double>(n));
  return simple(c, opt, "dead_letters.get", params, show_dead_letters);
}

void show_reload(const cJSON *r) {
  for (const char *key : {"changed", "restart_required"}) {
    std::string names;
    const cJSON *list = field(r, key);
    for (const cJSON *k = cJSON_IsArray(list) ? list->child : nullptr; k; k = k->next) {
      names += (names.empty() ? "" : ", ") + text_of(k);
    }
    printf("%s: %s\n", key, names.empty() ? "none" : names.c_str());
  }
}

int cmd_reload(Client &c, const Options &opt, const Args &a) {
  if (a.words.size() > 1) return usage_error(a.name, "expected at most one FILE");
  cJSON *params = nullptr;
  if (!a.words.empty()) {
    Json doc;
    if (int rc = load_json_file(a, a.words[0], doc)) return rc;
    if (!cJSON_IsObject(doc.get())) return usage_error(a.name, "%s: expected a configuration object", a.words[0]);
    params = cJSON_CreateObject();
    cJSON_AddItemToObject(params, "config", doc.release());
  }
  return simple(c, opt, "config.reload", params, show_reload);
}

int cmd_config(Client &c, const Options &opt, const Args &a) {
  if (int rc = no_args(a)) return rc;
  Json result;
  int rc = c.call("config.get", nullptr, result);
  if (rc != kOk) return rc;
  if (opt.json) return output(opt, result, print_block);
  print_block(field(result.get(), "config"));
  return kOk;
}

const Command kCommands[] = {
    {"status", "status", "the agent's state: identity, consent, queue, sync, storage",
     "Prints the result of the `status` method: version, user_id, consent, session_id,\n"
     "queue_depth, dead_letters, definitions, last_sync, storage, history.\n",
     cmd_status},
    {"id", "id [reset]", "the Permutive ID and the aliases, or a new identity",
     "  id        identity.get: the user_id and the aliases by priority\n"
     "  id reset  identity.reset: a new Permutive ID (logout, new household member);\n"
     "            the old user's aliases, history and cohort state go\n",
     cmd_id},
    {"aliases", "aliases set TAG=ID[:PRIORITY] ... [--hash-email] [--replace] | aliases get",
     "set the identity's aliases (upsert by tag), or list them",
     "  set      identity.set_aliases. PRIORITY: lower is higher priority (default: the\n"
     "           position). The ID keeps any colons; only a final :DIGITS is the priority.\n"
     "  --hash-email  let the daemon hash e-mail addresses (SHA-256 of the trimmed,\n"
     "           lowercased address) for email_sha256 and any ID containing '@'\n"
     "  --replace     replace the whole set instead of upserting by tag\n"
     "  get      identity.get\n"
     "Example: cohortctl aliases set email_sha256=alice@example.com:0 --hash-email tifa=1234:1\n",
     cmd_aliases},
    {"consent", "consent [on|off]", "grant or withdraw consent (no argument: show it)",
     "consent.set. Withdrawing deletes the outbox, history, cohort state and behavioral caches.\n", cmd_consent},
    {"track", "track NAME [--time ISO8601] [--view VIEW_ID] [KEY=VALUE ... | JSON]", "track one event",
     "Properties as KEY=VALUE pairs or one JSON object. Values that are JSON numbers,\n"
     "true or false, or a JSON array or object, are sent as such; anything else is a\n"
     "string (\"007\" stays a string). Dotted keys nest: video.genre=drama.\n"
     "Example: cohortctl track Pageview title=\"Match of the day\" categories='[\"football\"]' live=true\n",
     cmd_track},
    {"view", "view start [--type TYPE] [--duration S] [--url URL] [--event NAME] [KEY=VALUE ... | JSON]\n"
             "       cohortctl view pause|resume|progress|end VIEW_ID [POSITION]",
     "content views: play and completion events with engagement",
     "  start     view.start; TYPE video (default), audio, or another kind; prints view_id\n"
     "  pause     view.pause   at POSITION seconds (optional)\n"
     "  resume    view.resume  at POSITION seconds (optional)\n"
     "  progress  view.progress at POSITION seconds (required)\n"
     "  end       view.end; prints time_spent_seconds and completion\n",
     cmd_view},
    {"cohorts", "cohorts", "current cohorts: local and remote", "Prints cohorts.get as a table.\n", cmd_cohorts},
    {"activations", "activations [--timeout MS] [--url URL] [KEY=VALUE ... | JSON]",
     "activations per ad platform",
     "activations.get. --timeout: the most the agent may wait for the remote APIs (it\n"
     "answers from cache and local cohorts after that, marked stale). --url and the\n"
     "page properties (KEY=VALUE or JSON) go to the Contextual API.\n",
     cmd_activations},
    {"definitions", "definitions put FILE | definitions get", "load or show the local cohort definitions",
     "  put FILE  definitions.put with the document in FILE ({\"cohorts\": [...]}, or a bare\n"
     "            array of cohorts; \"-\" reads stdin). It replaces the whole set.\n"
     "  get       definitions.get: every cohort with its checksum\n",
     cmd_definitions},
    {"preview", "preview FILE", "evaluate a rule against this device's history",
     "definitions.preview. FILE holds a rule ({\"logic\": ..., \"conditions\": [...]}) or an\n"
     "object with a \"rule\" (e.g. one cohort of a definitions file); \"-\" reads stdin.\n",
     cmd_preview},
    {"explain", "explain ID", "why this device is (not) in a cohort",
     "explain: each condition of the cohort's rule with its measured value.\n", cmd_explain},
    {"sync", "sync [--timeout MS]", "send queued events to the CCS API now", "sync.now: sent, pending, dead_letters.\n",
     cmd_sync},
    {"watch", "watch [--count N]", "print cohort changes as they happen",
     "Subscribes to the \"cohorts\" topic and prints each cohorts.changed notification\n"
     "(with --json: its params, one JSON per line) until interrupted (exit 0) or, with\n"
     "--count, after N notifications. No timeout applies while waiting.\n",
     cmd_watch},
    {"call", "call METHOD [JSON|-]", "call any method with raw params",
     "Prints the result (pretty JSON; --json: one line). Example:\n"
     "  cohortctl call history.get '{\"limit\": 5, \"name\": \"Videoview\"}'\n",
     cmd_call},
    {"history", "history [N] [--name NAME]", "the newest events of the current user",
     "history.get (an extension): the N newest events (default 20, at most 1000).\n", cmd_history},
    {"config", "config", "the daemon's effective configuration (API key redacted)", "config.get (an extension).\n",
     cmd_config},
    {"reload", "reload [FILE]", "take a new configuration without a restart",
     "config.reload (an extension). Without FILE the agent reads api.key_file again (a\n"
     "rotated key); with FILE, the whole configuration document in it (\"-\" reads stdin).\n"
     "What can change at once does (the API key, URLs, key_in, timeout, client, log\n"
     "level, ...): events kept through a 401/403/404 then leave at once. Keys that\n"
     "need a restart are listed. Sending cohortd SIGHUP reloads its own --config file.\n",
     cmd_reload},
    {"dead-letters", "dead-letters [N]", "batches the CCS API refused, and why",
     "dead_letters.get (an extension): the N newest (default 20) batches refused for\n"
     "good (HTTP 400, 413, 422), with the API's error message and cause. A wrong key\n"
     "or URL never dead-letters: those events stay queued (see status last_sync).\n",
     cmd_dead_letters},
};

void print_usage(FILE *to) {
  fprintf(to,
          "usage: cohortctl [--socket PATH] [--json] [--timeout MS] COMMAND [ARGS]\n"
          "       cohortctl help [COMMAND] | COMMAND --help | --help | --version\n\n"
          "The command-line client of cohortd, the cohort agent's service (JSON-RPC over\n"
          "a Unix socket).\n\n"
          "Options:\n"
          "  --socket PATH   the daemon's socket (default: $COHORT_SOCKET, else %s)\n"
          "  --json          print the raw result JSON (one line) instead of text\n"
          "  --timeout MS    give up waiting for the daemon after MS milliseconds\n"
          "                  (default %d; 0 waits forever)\n\n"
          "Commands:\n",
          kDefaultSocket, kDefaultTimeoutMs);
  for (const Command &c : kCommands) fprintf(to, "  %-12s %s\n", c.name, c.summary);
  fprintf(to, "  %-12s %s\n", "help", "this help, or a command's: help COMMAND (as COMMAND --help)");
  fprintf(to,
          "\nMore: man 1 cohortctl. --version also asks the daemon for its version.\n"
          "\nExit status:\n"
          "  0  success\n"
          "  1  the daemon answered an error (its message is on stderr)\n"
          "  2  usage error\n"
          "  3  cannot connect to the daemon, or a socket error\n"
          "  4  timed out\n");
}

void print_command_help(const Command &c) {
  printf("usage: cohortctl [OPTIONS] %s\n\n%s.\n\n%s", c.usage, c.summary, c.details);
}

const Command *find_command(const char *name) {
  for (const Command &c : kCommands) {
    if (strcmp(c.name, name) == 0) return &c;
  }
  return nullptr;
}

// --version: cohortctl's own, the cJSON it runs with, and the daemon's (from
// `status`, when one answers within a second or two: the daemon's libraries
// are in `cohortd --version` on its machine).
int print_version(const Options &opt) {
  printf("cohortctl %s\ncJSON %s\n", COHORTCTL_VERSION, cJSON_Version());
  fflush(stdout);
  Options quick = opt;
  quick.timeout_ms = opt.timeout_ms == 0 || opt.timeout_ms > 2000 ? 2000 : opt.timeout_ms;
  g_quiet = true;
  Client client(quick);
  Json status;
  int rc = client.call("status", nullptr, status);
  g_quiet = false;
  const cJSON *version = field(status.get(), "version");
  if (rc == kOk && cJSON_IsString(version)) {
    printf("cohortd %s (on %s)\n", version->valuestring, opt.socket_path.c_str());
  } else {
    printf("cohortd: no answer on %s\n", opt.socket_path.c_str());
  }
  return kOk;
}

}  // namespace

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);  // belt and braces: every send also uses MSG_NOSIGNAL
  Options opt;
  const char *env = getenv("COHORT_SOCKET");
  opt.socket_path = env && *env ? env : kDefaultSocket;

  int i = 1;
  bool version = false;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      print_usage(stdout);
      return kOk;
    } else if (a == "--version") {
      version = true;
    } else if (a == "--json") {
      opt.json = true;
    } else if (a == "--socket" || a == "--timeout") {
      if (i + 1 >= argc) return usage_error(nullptr, "%s needs a value", a.c_str());
      const char *v = argv[++i];
      if (a == "--socket") {
        opt.socket_path = v;
      } else {
        long long ms;
        if (!parse_int(v, 0, 86400000, ms)) return usage_error(nullptr, "--timeout must be milliseconds, got \"%s\"", v);
        opt.timeout_ms = static_cast<int>(ms);
      }
    } else if (a.rfind("--socket=", 0) == 0) {
      opt.socket_path = a.substr(9);
    } else {
      return usage_error(nullptr, "unknown option %s", a.c_str());
    }
  }
  if (version) return print_version(opt);
  if (i >= argc) return usage_error(nullptr, "no command given");
  // help [COMMAND]: as --help, or as COMMAND --help.
  if (strcmp(argv[i], "help") == 0) {
    if (i + 1 >= argc || strcmp(argv[i + 1], "help") == 0) {
      print_usage(stdout);
      return kOk;
    }
    if (i + 2 < argc) return usage_error(nullptr, "help takes one COMMAND");
    const Command *about = find_command(argv[i + 1]);
    if (!about) return usage_error(nullptr, "unknown command \"%s\"", argv[i + 1]);
    print_command_help(*about);
    return kOk;
  }
  const Command *cmd = find_command(argv[i]);
  if (!cmd) return usage_error(nullptr, "unknown command \"%s\"", argv[i]);
  Args args{cmd->name, {}};
  for (int j = i + 1; j < argc; ++j) {
    if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
      print_command_help(*cmd);
      return kOk;
    }
    // --json is accepted after the command too (it cannot mean anything else).
    if (strcmp(argv[j], "--json") == 0) {
      opt.json = true;
      continue;
    }
    args.words.push_back(argv[j]);
  }

  Client client(opt);
  int rc = cmd->run(client, opt, args);
  fflush(stdout);
  return rc;
}
