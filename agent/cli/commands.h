// The commands: one function per command (its words into a call, its result
// into lines), and the table that names them with their help.
#pragma once
#include <cstdio>

#include "arguments.h"
#include "client.h"

namespace co::cli {

using Handler = int (*)(Client &, const Options &, const Args &);

struct Command {
  const char *name;
  const char *usage;
  const char *summary;
  const char *details;
  Handler run;
};

// The command of that name, or nullptr.
const Command *find_command(const char *name);
// `cohortctl --help`: the options, every command, the exit codes.
void print_usage(FILE *to);
// `cohortctl COMMAND --help`.
void print_command_help(const Command &c);

}  // namespace co::cli
