// cohortd's command line, and the configuration document it makes: the
// --config file (or embedded defaults), with --data-dir and --socket on top.
#pragma once
#include <string>

namespace co::daemon {

struct Options {
  std::string config_file;
  std::string data_dir;
  std::string socket_path;
  bool check_only = false;
};

// 0 ok, 1 exit 0 (help/version printed), 2 usage error (said on stderr).
int parse_args(int argc, char **argv, Options &o);

// The configuration document: the file (if any) with the command line on top.
// At start and again on SIGHUP; false with err saying why (a syntax error
// with the file's name, line and column).
bool build_config(const Options &o, std::string &out, std::string &err);

// Where a configuration error comes from, for its message: " in FILE", or "".
std::string config_origin(const Options &o);

}  // namespace co::daemon
