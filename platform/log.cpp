#include "platform/log.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <new>
#include <syslog.h>

namespace co::platform {

bool parse_log_level(const std::string &name, LogLevel &out) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; ++i) {
    if (name == names[i]) {
      out = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

Logger::Logger() : level_(LogLevel::warn) {}

void Logger::set_sink(Sink sink, void *user) {
  MutexLock lock(mu_);
  sink_ = sink;
  sink_user_ = user;
}

void Logger::use_syslog(const char *ident) {
  MutexLock lock(mu_);
  openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
  syslog_ = true;
}

void Logger::add_secret(const std::string &secret) {
  if (secret.empty()) return;
  MutexLock lock(mu_);
  // Each reload names the key again: keep one copy.
  if (std::find(secrets_.begin(), secrets_.end(), secret) == secrets_.end()) secrets_.push_back(secret);
}

static bool email_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
         c == '+' || c == '%';
}

std::string redact_emails(const std::string &line) {
  std::string out;
  out.reserve(line.size());
  size_t i = 0;
  while (i < line.size()) {
    size_t at = line.find('@', i);
    if (at == std::string::npos) break;
    size_t start = at;
    while (start > i && email_char(line[start - 1])) --start;
    size_t end = at + 1;
    bool dot = false;
    while (end < line.size() && email_char(line[end])) dot |= line[end++] == '.';
    if (start < at && end > at + 1 && dot) {
      out.append(line, i, start - i);
      out += "[email]";
    } else {
      out.append(line, i, end - i);
    }
    i = end;
  }
  out.append(line, i, std::string::npos);
  return out;
}

std::string Logger::redact(std::string line) const {
  for (const auto &s : secrets_) {
    for (size_t pos; (pos = line.find(s)) != std::string::npos;) line.replace(pos, s.size(), "[redacted]");
  }
  return redact_emails(line);
}

void Logger::log(LogLevel level, const char *fmt, ...) {
  if (!enabled(level)) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  MutexLock lock(mu_);
  std::string line;
  try {
    line = redact(buf);
  } catch (const std::bad_alloc &) {
    emit(level, "(a log line was dropped: out of memory)");
    return;
  }
  emit(level, line.c_str());
}

void Logger::emit(LogLevel level, const char *line) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  if (sink_) {
    sink_(sink_user_, level, line);
  } else if (syslog_) {
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    syslog(prio[static_cast<int>(level)], "%s", line);
  } else {
    fprintf(stderr, "cohort %s: %s\n", names[static_cast<int>(level)], line);
  }
}

}  // namespace co::platform
