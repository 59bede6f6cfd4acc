// Logging with levels, to stderr or syslog, with secrets redacted: a line
// never carries the API key or anything shaped like an e-mail address.
#pragma once
#include <atomic>
#include <cstdarg>
#include <string>
#include <vector>

#include "platform/mutex.h"

namespace co::platform {

enum class LogLevel { error = 0, warn = 1, info = 2, debug = 3 };

// "error", "warn", "info", "debug" -> level; false for anything else.
bool parse_log_level(const std::string &name, LogLevel &out);

class Logger {
 public:
  using Sink = void (*)(void *user, LogLevel level, const char *line);

  // Default: warn and above to stderr.
  Logger();
  // The level is read on every call, from any thread, without the lock.
  void set_level(LogLevel level) { level_.store(level, std::memory_order_relaxed); }
  LogLevel level() const { return level_.load(std::memory_order_relaxed); }
  // Replaces the output (stderr by default); nullptr restores stderr.
  void set_sink(Sink sink, void *user);
  void use_syslog(const char *ident);
  // Any later line containing this text has it replaced by "[redacted]".
  void add_secret(const std::string &secret);

  // Never throws: a line that cannot be redacted for lack of memory is
  // replaced by a fixed one, never written unredacted.
  void log(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
  bool enabled(LogLevel level) const { return level <= this->level(); }

 private:
  std::string redact(std::string line) const CO_REQUIRES(mu_);
  void emit(LogLevel level, const char *line) CO_REQUIRES(mu_);

  mutable Mutex mu_;
  std::atomic<LogLevel> level_;
  Sink sink_ CO_GUARDED_BY(mu_) = nullptr;
  void *sink_user_ CO_GUARDED_BY(mu_) = nullptr;
  bool syslog_ CO_GUARDED_BY(mu_) = false;
  std::vector<std::string> secrets_ CO_GUARDED_BY(mu_);
};

// Replaces e-mail-shaped words (x@y.z) by "[email]"; exposed for tests.
std::string redact_emails(const std::string &line);

}  // namespace co::platform

#define CO_LOG(logger, lvl, ...)                                          \
  do {                                                                    \
    if ((logger).enabled(co::platform::LogLevel::lvl))                    \
      (logger).log(co::platform::LogLevel::lvl, __VA_ARGS__);             \
  } while (0)
