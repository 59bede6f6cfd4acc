// The generator of docs/protocol.md's generated blocks (protocol_doc.h).
//
//   gen_protocol_doc              prints every method's block, in the table's order
//   gen_protocol_doc --write PAGE rewrites PAGE's blocks in place (make protocol-doc)
//   gen_protocol_doc --check PAGE says what differs; exit 1 when anything does
//
// It runs on the build machine: it is built with the tests, from the same
// method table as the agent.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "agent.h"
#include "protocol_doc.h"

namespace {

bool read(const char *path, std::string &text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  text = ss.str();
  return true;
}

// Through a temporary file and a rename: an interrupted run leaves the page whole.
bool write(const char *path, const std::string &text) {
  std::string tmp = std::string(path) + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!(out << text) || !out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path) == 0;
}

int usage() {
  fprintf(stderr, "usage: gen_protocol_doc [--write PAGE | --check PAGE]\n");
  return 2;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc == 1) {
    for (const std::string &m : co::Agent::method_names()) {
      printf("### `%s`\n\n", m.c_str());
      for (const std::string &line : protocol_doc::block(m)) printf("%s\n", line.c_str());
      printf("\n");
    }
    return 0;
  }
  if (argc != 3) return usage();
  bool write_mode = strcmp(argv[1], "--write") == 0;
  if (!write_mode && strcmp(argv[1], "--check") != 0) return usage();
  const char *path = argv[2];
  std::string page;
  if (!read(path, page)) {
    fprintf(stderr, "gen_protocol_doc: cannot read %s\n", path);
    return 1;
  }
  protocol_doc::Regenerated r = protocol_doc::regenerate(page);
  if (!r.problems.empty() || !write_mode) {
    fputs(protocol_doc::describe(r, path).c_str(), stderr);
    return r.problems.empty() && r.changes.empty() ? 0 : 1;
  }
  if (r.changes.empty()) {
    printf("%s: every generated block is up to date\n", path);
    return 0;
  }
  if (!write(path, r.text)) {
    fprintf(stderr, "gen_protocol_doc: cannot write %s: %s\n", path, strerror(errno));
    return 1;
  }
  for (const protocol_doc::Change &c : r.changes) {
    printf("%s:%d: %s the block of \"%s\"\n", path, c.line, c.old_lines.empty() ? "added" : "regenerated",
           c.method.c_str());
  }
  return 0;
}
