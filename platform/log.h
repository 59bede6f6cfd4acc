// Logging with levels, to stderr or syslog, with secrets redacted: a line
// never carries the API key or anything shaped like an e-mail address.
#pragma once
#include <cstdarg>
#include <mutex>
#include <string>
#include <vector>

namespace co::platform {

enum class LogLevel { error = 0, warn = 1, info = 2, debug = 3 };

// "error", "warn", "info", "debug" -> level; false for anything else.
bool parse_log_level(const std::string &name, LogLevel &out);

class Logger {
 public:
  using Sink = void (*)(void *user, LogLevel level, const char *line);

  // Default: warn and above to stderr.
  Logger();
  void set_level(LogLevel level) { level_ = level; }
  LogLevel level() const { return level_; }
  // Replaces the output (stderr by default); nullptr restores stderr.
  void set_sink(Sink sink, void *user);
  void use_syslog(const char *ident);
  // Any later line containing this text has it replaced by "[redacted]".
  void add_secret(const std::string &secret);

  // Never throws: a line that cannot be redacted for lack of memory is
  // replaced by a fixed one, never written unredacted.
  void log(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
  bool enabled(LogLevel level) const { return level <= level_; }

 private:
  std::string redact(std::string line) const;
  void emit(LogLevel level, const char *line);  // under mu_

  mutable std::mutex mu_;
  LogLevel level_;
  Sink sink_ = nullptr;
  void *sink_user_ = nullptr;
  bool syslog_ = false;
  std::vector<std::string> secrets_;
};

// Replaces e-mail-shaped words (x@y.z) by "[email]"; exposed for tests.
std::string redact_emails(const std::string &line);

}  // namespace co::platform

#define CO_LOG(logger, lvl, ...)                                          \
  do {                                                                    \
    if ((logger).enabled(co::platform::LogLevel::lvl))                    \
      (logger).log(co::platform::LogLevel::lvl, __VA_ARGS__);             \
  } while (0)
