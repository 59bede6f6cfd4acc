// The socket client: a connection to cohortd, one JSON-RPC call at a time,
// and the notifications that follow a subscription. Errors are said on stderr
// (unless Options::quiet) and returned as exit codes.
#pragma once
#include <cstdint>
#include <string>

#include "cohortctl.h"

namespace co::cli {

// SIGINT/SIGTERM while a read may be interrupted (watch): that read returns -1.
void on_interrupt(int);

// One connection to the daemon's socket, a line at a time.
class Connection {
 public:
  explicit Connection(bool quiet) : quiet_(quiet) {}
  ~Connection();
  Connection(const Connection &) = delete;
  Connection &operator=(const Connection &) = delete;

  // Connects within the deadline; kOk, kSocketError or kTimeout (message printed).
  int open(const std::string &path, int64_t deadline);
  int send_line(const std::string &line, int64_t deadline);
  // One line (without its newline). kOk, kSocketError (EOF too), kTimeout;
  // -1 when interrupted by a signal while interruptible.
  int read_line(std::string &line, int64_t deadline, bool interruptible = false);

 private:
  int wait_for(short events, int64_t deadline, bool interruptible = false);
  int fail(const char *what, const std::string &path) const;

  bool quiet_;
  int fd_ = -1;
  std::string buf_;
};

class Client {
 public:
  explicit Client(const Options &opt) : opt_(opt), conn_(opt.quiet) {}

  // Calls one method. On kOk `result` holds the result; on kDaemonError the
  // daemon's message went to stderr and `code` holds the JSON-RPC code.
  // params may be null. extra_ms stretches the deadline (for calls that
  // carry their own timeout).
  int call(const char *method, cJSON *params_owned, Json &result, int *code = nullptr, int extra_ms = 0,
           bool quiet_missing = false);
  // Reads the next notification; kOk, kSocketError, or -1 when interrupted.
  int next_notification(Json &note);

 private:
  int64_t deadline(int extra_ms = 0) const;
  int connect(int extra_ms = 0);
  int report_error(const char *method, const cJSON *err, int *code_out, bool quiet_missing) const;

  const Options &opt_;
  Connection conn_;
  bool connected_ = false;
  int next_id_ = 0;
};

}  // namespace co::cli
