// cohortctl: the command-line client of cohortd's socket (cohortctl.h says
// how it is made). Output: human-readable by default (aligned "key: value"
// blocks and small tables), the raw result JSON with --json. Exit codes (also
// in --help): 0 ok, 1 the daemon answered an error, 2 usage error, 3 cannot
// connect or socket error, 4 timeout.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "arguments.h"
#include "client.h"
#include "commands.h"

#ifndef COHORTCTL_VERSION
#define COHORTCTL_VERSION "0.1.0"
#endif

using namespace co::cli;

namespace {

// --version: cohortctl's own, the cJSON it runs with, and the daemon's (from
// `status`, when one answers within a second or two: the daemon's libraries
// are in `cohortd --version` on its machine).
int print_version(const Options &opt) {
  printf("cohortctl %s\ncJSON %s\n", COHORTCTL_VERSION, cJSON_Version());
  fflush(stdout);
  Options quick = opt;
  quick.timeout_ms = opt.timeout_ms == 0 || opt.timeout_ms > 2000 ? 2000 : opt.timeout_ms;
  quick.quiet = true;  // a daemon that cannot be reached is said once, below
  Client client(quick);
  Json status;
  int rc = client.call("status", nullptr, status);
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
