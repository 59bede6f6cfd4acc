// The generated part of docs/protocol.md, made from the method table
// (Agent::kMethods): for each method, a block between
//
//   <!-- generated:params NAME -->
//   ...
//   <!-- end generated -->
//
// that holds its params table (name, type, default, limits, from the
// declarations of params.h), what becomes of other params, and whether it
// waits on the network. Everything outside the blocks is written by hand.
// gen_protocol_doc rewrites the blocks in place (make protocol-doc);
// tests/unit/test_protocol_doc.cpp fails when the page differs from what
// this makes.
#pragma once
#include <string>
#include <vector>

#include "params.h"

namespace protocol_doc {

// How the page writes a param: its type ("UUID or null", "array of
// strings"), its default ("required", `20`, "—"), its limits ("1–1000",
// "at most 32 entries"; "" for none).
std::string type_text(const co::Param &p);
std::string default_text(const co::Param &p);
std::string limits_text(const co::Param &p);

// The lines of a method's block, markers included.
std::vector<std::string> block(const std::string &method);
std::string begin_marker(const std::string &method);
extern const char *const kEndMarker;

// A block of the page that is not as generated (old empty: the method had
// none, and one was added).
struct Change {
  std::string method;
  int line = 0;  // of the block's begin marker in the page (or where it was added)
  std::vector<std::string> old_lines, new_lines;
};

// The page with every block as the method table makes it. A method without
// a block gets one: right after its "### `name`" heading, or in a new section
// at the end of "## Methods". problems: what regenerating cannot fix (a
// block of no method, a block twice or outside its method's section, a
// marker not closed); the text is then not to be written.
struct Regenerated {
  std::string text;
  std::vector<Change> changes;
  std::vector<std::string> problems;
};
Regenerated regenerate(const std::string &page);

// What is wrong with the page at path, for people: each problem, and each
// change with the method it belongs to and its diff, then how to fix it; ""
// when the page is as generated.
std::string describe(const Regenerated &r, const std::string &path);

// The lines that differ, as a diff writes them ("-old", "+new").
std::string diff(const std::vector<std::string> &old_lines, const std::vector<std::string> &new_lines);

}  // namespace protocol_doc
