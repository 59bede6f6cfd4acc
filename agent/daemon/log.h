// cohortd's own log lines (the library writes its own): they follow log.level
// and log.target as the library's do, once the daemon has read them from the
// agent's effective configuration. Until then: warn and above, to stderr.
#pragma once

namespace co::daemon {

// level: "error", "warn", "info" or "debug". To stderr as "cohortd LEVEL: ...",
// or to syslog.
void log_line(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// log.level (a name above; anything else keeps the level) and log.target
// ("syslog": the daemon's lines go to syslog from now on). Either may be null.
void log_setup(const char *level, const char *target);

}  // namespace co::daemon
