// What every part of cohortctl shares: its exit codes, its global options,
// and the two cJSON helpers every part uses.
//
// cohortctl is the command-line client of cohortd's socket (JSON-RPC 2.0, one
// object per line). It talks only the socket protocol of the contract, so it
// works against any cohortd of the same protocol, and links nothing of the
// agent: cJSON for the JSON, plain POSIX for the socket. Its parts:
//   client.h     the connection: connect, one JSON-RPC call, notifications
//   output.h     how results print: blocks, tables, trees, or --json
//   arguments.h  the command line's words into JSON params
//   commands.h   one function per command, and the command table
//   cohortctl.cpp  main: the global options, then the command
#pragma once
#include <string>

#include "cjson_owner.h"

namespace co::cli {

using tools::Json;

// Exit codes (also in --help): 0 ok, 1 the daemon answered an error, 2 usage
// error, 3 cannot connect or socket error, 4 timeout.
enum Exit { kOk = 0, kDaemonError = 1, kUsage = 2, kSocketError = 3, kTimeout = 4 };

constexpr const char *kDefaultSocket = "/run/cohort/cohortd.sock";
constexpr int kDefaultTimeoutMs = 5000;

struct Options {
  std::string socket_path;
  bool json = false;
  int timeout_ms = kDefaultTimeoutMs;  // 0: wait forever
  bool quiet = false;  // connection and daemon errors not printed (--version asks quietly)
};

inline const cJSON *field(const cJSON *obj, const char *key) { return cJSON_GetObjectItemCaseSensitive(obj, key); }

// Compact (or indented) JSON text; "null" when cJSON cannot print it.
std::string print_json(const cJSON *v, bool pretty = false);

}  // namespace co::cli
