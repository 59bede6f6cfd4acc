// A command's words: its options, its numbers, and KEY=VALUE pairs or JSON
// made into the params of its call. A bad word is a usage error: said on
// stderr with the command's name, exit code kUsage.
#pragma once
#include <string>
#include <vector>

#include "cohortctl.h"

namespace co::cli {

struct Args {
  const char *name;                 // command name, for messages
  std::vector<const char *> words;  // arguments after the command
};

// Prints a usage error and returns kUsage.
int usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Splits "--opt VALUE" options out of the arguments. Returns false (after a
// usage message) on an unknown option or a missing value.
struct OptSpec {
  const char *name;
  bool takes_value;
  const char **value;  // set when seen (value, or "" for a flag)
};
bool take_options(const Args &a, std::vector<OptSpec> specs, std::vector<const char *> &rest, int &rc);

// kOk when there are no words, else a usage error.
int no_args(const Args &a);
bool parse_int(const char *s, long long lo, long long hi, long long &out);
bool parse_number(const char *s, double &out);
// The optional N of a listing command: how many, 1 to 1000 (n keeps its
// default when none is given). False with rc set on a usage error.
bool parse_count(const Args &a, const std::vector<const char *> &words, long long &n, int &rc);

// Builds an object from `k=v ...` (dotted keys nest: video.genre=drama) or
// from a single JSON object argument. Returns an empty string on success,
// else the usage message.
std::string build_properties(const std::vector<const char *> &args, Json &out);

// The whole of a file ("-": stdin); false with err naming it.
bool read_file(const char *path, std::string &out, std::string &err);
// Reads a JSON document from FILE ("-": stdin); a usage error when it is not JSON.
int load_json_file(const Args &a, const char *path, Json &doc);

}  // namespace co::cli
