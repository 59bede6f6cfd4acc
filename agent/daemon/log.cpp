#include "log.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <syslog.h>

namespace co::daemon {
namespace {

const char *const kLevels[] = {"error", "warn", "info", "debug"};
int g_log_level = 1;
bool g_syslog = false;

}  // namespace

void log_line(const char *level, const char *fmt, ...) {
  int rank = 0;
  while (rank < 3 && strcmp(kLevels[rank], level) != 0) ++rank;
  if (rank > g_log_level) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (g_syslog) {
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    syslog(prio[rank], "%s", buf);
  } else {
    fprintf(stderr, "cohortd %s: %s\n", level, buf);
  }
}

void log_setup(const char *level, const char *target) {
  for (int i = 0; level && i < 4; ++i) {
    if (strcmp(level, kLevels[i]) == 0) g_log_level = i;
  }
  if (target && strcmp(target, "syslog") == 0) {
    openlog("cohortd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    g_syslog = true;
  }
}

}  // namespace co::daemon
