// docs/protocol.md against the agent, so the two cannot drift apart:
// - every method of the method table (Agent::kMethods) has its section, a
//   "### `name`" heading under "## Methods", with an example request of it;
// - every such section names a method of the table, once;
// - each method's generated block (its params table: name, type, default,
//   limits; what becomes of other params; whether it waits on the network)
//   is what tests/docs/protocol_doc.h makes from the table: a difference
//   names the method, shows the diff and says to run `make protocol-doc`;
// - a hand-written note on a param ("- `name`: ...") names a declared one,
//   and no section says its other params are ignored (all are refused);
// - every example request (the lines of a ```json block right after a
//   "**Request**" label) runs through cohort_rpc() on a fresh agent, in the
//   order of the page, without a -32600 / -32601 / -32602 error, and a
//   notification (no id) gets no answer;
// - every error example (a "**Bad request**" block, then its "**Answer**"
//   block, line for line) still gets the code shown;
// - every status of COHORT_STATUS_TABLE is in the status table with its value;
// - every other JSON line of a ```json block parses.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <map>

#include "agent.h"
#include "protocol_doc.h"
#include "test_util.h"
#include "unit_test.h"

#ifndef COHORT_PROTOCOL_DOC
#error "COHORT_PROTOCOL_DOC must be the path of docs/protocol.md"
#endif

namespace {

struct Line {
  int no = 0;
  std::string section;  // the method section it is in ("" outside "## Methods")
  std::string text;
};

struct Doc {
  std::string text;
  std::vector<Line> sections;                       // under "## Methods": the method named by each "### `...`"
  std::map<std::string, std::string> section_text;  // each method section's lines outside ``` blocks
  std::vector<Line> requests;                       // example requests
  std::vector<Line> bad_requests;                   // error examples...
  std::vector<Line> bad_answers;                    // ...and the answers shown for them, in the same order
  std::vector<std::string> problems;
};

bool starts_with(const std::string &s, const char *prefix) {
  return s.compare(0, strlen(prefix), prefix) == 0;
}

std::string where(int no) {
  return std::string(COHORT_PROTOCOL_DOC) + ":" + std::to_string(no) + ": ";
}

Doc read_doc() {
  Doc doc;
  std::ifstream in(COHORT_PROTOCOL_DOC);
  if (!in) fail_msg("cannot read %s", COHORT_PROTOCOL_DOC);
  std::stringstream ss;
  ss << in.rdbuf();
  doc.text = ss.str();

  enum class Role { none, request, bad_request, answer };
  bool in_methods = false;
  std::string section;
  Role pending = Role::none;  // the label just read, for the block that follows it
  bool in_block = false;
  bool json_block = false;
  Role block = Role::none;
  bool after_bad = false;  // the last block closed was a "**Bad request**" one
  std::istringstream lines(doc.text);
  std::string line;
  for (int no = 1; std::getline(lines, line); ++no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (in_block) {
      if (starts_with(line, "```")) {
        in_block = false;
        after_bad = block == Role::bad_request;
        continue;
      }
      if (!json_block) continue;
      bool request_line = starts_with(line, "{\"jsonrpc\"") || starts_with(line, "[");
      switch (block) {
        case Role::request:
          if (request_line) {
            doc.requests.push_back({no, section, line});
          } else if (!line.empty()) {
            doc.problems.push_back(where(no) + "a Request block holds request lines only");
          }
          break;
        case Role::bad_request:
          if (!line.empty()) doc.bad_requests.push_back({no, section, line});
          break;
        case Role::answer:
          if (after_bad && !line.empty()) doc.bad_answers.push_back({no, section, line});
          break;
        case Role::none:
          break;
      }
      // Everything shown as JSON parses, but the malformed examples.
      if (block != Role::bad_request && (starts_with(line, "{") || starts_with(line, "[")) && !co::json_parse(line)) {
        doc.problems.push_back(where(no) + "not valid JSON: " + line);
      }
      continue;
    }
    if (starts_with(line, "```")) {
      in_block = true;
      json_block = line == "```json";
      block = json_block ? pending : Role::none;
      if (block != Role::answer) after_bad = false;
      pending = Role::none;
      continue;
    }
    pending = Role::none;  // a label applies to the block right after it
    if (!section.empty() && !starts_with(line, "### ")) {
      doc.section_text[section] += line + "\n";
    }
    if (starts_with(line, "## ")) {
      in_methods = line == "## Methods";
      section.clear();
    } else if (starts_with(line, "### ")) {
      section.clear();
      if (!in_methods) continue;
      // Under "## Methods", every heading is a method's: ### `name`
      size_t open = line.find('`'), close = line.rfind('`');
      if (!starts_with(line, "### `") || close != line.size() - 1 || close <= open + 1 ||
          line.find('`', open + 1) != close) {
        doc.problems.push_back(where(no) + "a heading under \"## Methods\" must be ### `method`: " + line);
        continue;
      }
      section = line.substr(open + 1, close - open - 1);
      doc.sections.push_back({no, section, line});
    } else if (line == "**Request**") {
      pending = Role::request;
    } else if (line == "**Bad request**") {
      pending = Role::bad_request;
    } else if (starts_with(line, "**Answer**")) {
      pending = Role::answer;
    }
  }
  if (in_block) doc.problems.push_back("a ``` block is not closed");
  return doc;
}

void report(const std::vector<std::string> &problems) {
  for (const std::string &p : problems) print_error("%s\n", p.c_str());
  if (!problems.empty()) fail_msg("%zu problem(s) in %s", problems.size(), COHORT_PROTOCOL_DOC);
}

// The error codes in an answer (an object or a batch's array).
std::vector<std::pair<int, std::string>> errors_of(const cJSON *answer) {
  std::vector<std::pair<int, std::string>> out;
  auto one = [&](const cJSON *a) {
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(a, "error");
    if (err) out.emplace_back(static_cast<int>(test::num(err, "code")), test::str(err, "message"));
  };
  if (cJSON_IsArray(answer)) {
    for (const cJSON *a = answer->child; a; a = a->next) one(a);
  } else {
    one(answer);
  }
  return out;
}

// The answer to one line, as cohort_rpc gives it (NULL: none).
co::Json rpc(cohort_agent *agent, const std::string &line, std::string &raw) {
  char *out = nullptr;
  cohort_status st = cohort_rpc(agent, line.data(), line.size(), &out, nullptr);
  if (st != COHORT_OK) fail_msg("cohort_rpc failed on %s: %s", line.c_str(), cohort_status_str(st));
  raw = out ? out : "";
  co::Json j = out ? co::json_parse(out) : nullptr;
  cohort_free(out);
  if (!raw.empty() && !j) fail_msg("the answer to %s is not JSON: %s", line.c_str(), raw.c_str());
  return j;
}

bool documented(const std::vector<Line> &sections, const std::string &name) {
  for (const Line &s : sections) {
    if (s.section == name) return true;
  }
  return false;
}

UNIT_TEST(every_method_has_a_section) {
  Doc doc = read_doc();
  std::vector<std::string> problems = doc.problems;
  std::vector<std::string> methods = co::Agent::method_names();
  assert_true(methods.size() > 10);
  for (const std::string &m : methods) {
    if (!documented(doc.sections, m)) {
      problems.push_back("method \"" + m + "\" has no section (### `" + m + "` under ## Methods)");
      continue;
    }
    bool example = false;
    for (const Line &r : doc.requests) {
      co::Json req = co::json_parse(r.text);
      example = example || (r.section == m && test::str(req.get(), "method") == m);
    }
    if (!example) {
      problems.push_back("method \"" + m + "\" has no example request (a **Request** block in its section)");
    }
  }
  report(problems);
}

UNIT_TEST(every_section_is_a_method) {
  Doc doc = read_doc();
  std::vector<std::string> problems;
  std::vector<std::string> methods = co::Agent::method_names();
  for (size_t i = 0; i < doc.sections.size(); ++i) {
    const Line &s = doc.sections[i];
    bool known = false;
    for (const std::string &m : methods) known = known || m == s.section;
    if (!known) problems.push_back(where(s.no) + "\"" + s.section + "\" is not a method of the agent");
    for (size_t k = 0; k < i; ++k) {
      if (doc.sections[k].section == s.section) problems.push_back(where(s.no) + "\"" + s.section + "\" again");
    }
  }
  report(problems);
}

UNIT_TEST(example_requests_run) {
  Doc doc = read_doc();
  assert_true(doc.requests.size() >= co::Agent::method_names().size());
  test::AgentFixture f;
  f.open_with("");
  std::vector<std::string> problems;
  for (const Line &r : doc.requests) {
    co::Json req = co::json_parse(r.text);
    if (!req) {
      problems.push_back(where(r.no) + "not valid JSON");
      continue;
    }
    // An example filed under a method calls that method.
    if (!r.section.empty() && test::str(req.get(), "method") != r.section) {
      problems.push_back(where(r.no) + "an example in the section of \"" + r.section + "\" calls another method");
    }
    std::string raw;
    co::Json answer = rpc(f.agent, r.text, raw);
    bool notification = cJSON_IsObject(req.get()) && !cJSON_GetObjectItemCaseSensitive(req.get(), "id");
    if (notification) {
      if (answer) problems.push_back(where(r.no) + "a notification was answered: " + raw);
      continue;
    }
    if (!answer) {
      problems.push_back(where(r.no) + "no answer");
      continue;
    }
    for (const auto &e : errors_of(answer.get())) {
      if (e.first == -32600 || e.first == -32601 || e.first == -32602) {
        problems.push_back(where(r.no) + "error " + std::to_string(e.first) + " (" + e.second + ") for " + r.text);
      }
    }
  }
  report(problems);
}

UNIT_TEST(error_examples_keep_their_codes) {
  Doc doc = read_doc();
  assert_true(!doc.bad_requests.empty());
  if (doc.bad_requests.size() != doc.bad_answers.size()) {
    fail_msg("%zu error example(s) but %zu answer(s) shown for them", doc.bad_requests.size(), doc.bad_answers.size());
  }
  test::AgentFixture f;
  f.open_with("");
  std::vector<std::string> problems;
  for (size_t i = 0; i < doc.bad_requests.size(); ++i) {
    const Line &r = doc.bad_requests[i];
    co::Json shown = co::json_parse(doc.bad_answers[i].text);
    std::vector<std::pair<int, std::string>> expected = errors_of(shown.get());
    if (expected.size() != 1) {
      problems.push_back(where(doc.bad_answers[i].no) + "the answer shown is not one error");
      continue;
    }
    std::string raw;
    co::Json answer = rpc(f.agent, r.text, raw);
    std::vector<std::pair<int, std::string>> got;
    if (answer) got = errors_of(answer.get());
    if (got.size() != 1 || got[0].first != expected[0].first) {
      problems.push_back(where(r.no) + "expected error " + std::to_string(expected[0].first) + ", got " +
                         (raw.empty() ? "no answer" : raw));
    }
  }
  report(problems);
}

// ---- The generated blocks (tests/docs/protocol_doc.h).

// Each method's block is what the method table makes: its params table,
// what becomes of other params, whether it waits. On a difference the
// message names the method, shows the diff and says to run
// `make protocol-doc`.
UNIT_TEST(the_page_is_as_generated) {
  Doc doc = read_doc();
  protocol_doc::Regenerated r = protocol_doc::regenerate(doc.text);
  std::string what = protocol_doc::describe(r, COHORT_PROTOCOL_DOC);
  if (!what.empty()) {
    print_error("%s", what.c_str());
    fail_msg("%s is not as generated from the method table", COHORT_PROTOCOL_DOC);
  }
  assert_string_equal(r.text.c_str(), doc.text.c_str());
}

// A note on a param ("- `name`: ...", written by hand after the block)
// names a param the method declares: a renamed param leaves no stale note.
UNIT_TEST(notes_name_declared_params) {
  Doc doc = read_doc();
  std::vector<std::string> problems;
  for (const auto &section : doc.section_text) {
    const co::ParamList *list = co::Agent::method_params(section.first.c_str());
    if (!list) continue;  // every_section_is_a_method says so
    std::vector<std::string> names;
    for (const co::Param &p : *list) {
      names.emplace_back(p.name);
      if (p.fields) {
        for (const co::Param &m : *p.fields) names.push_back(std::string(p.name) + "[i]." + m.name);
      }
    }
    std::istringstream lines(section.second);
    std::string line;
    while (std::getline(lines, line)) {
      if (!starts_with(line, "- `")) continue;
      size_t close = line.find("`:", 3);
      if (close == std::string::npos) continue;
      std::string name = line.substr(3, close - 3);
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        problems.push_back("method \"" + section.first + "\": a note on `" + name + "`, which it does not declare");
      }
    }
  }
  report(problems);
}

// No method ignores what it does not declare.
UNIT_TEST(no_section_says_params_are_ignored) {
  Doc doc = read_doc();
  std::vector<std::string> problems;
  for (const auto &section : doc.section_text) {
    for (const char *ignored :
         {"params: ignored", "params:\nignored", "(other params: ignored)", "Other params: ignored"}) {
      if (section.second.find(ignored) != std::string::npos) {
        problems.push_back("method \"" + section.first +
                           "\": says other params are ignored; every method refuses them");
        break;
      }
    }
  }
  report(problems);
}

// How a declaration is written: a different limit writes differently.
UNIT_TEST(params_are_written_from_the_declaration) {
  using protocol_doc::default_text;
  using protocol_doc::limits_text;
  using protocol_doc::type_text;
  const co::Param limit = co::Param::integer("limit").range(1, 1000).def(20);
  assert_string_equal(type_text(limit).c_str(), "integer");
  assert_string_equal(default_text(limit).c_str(), "`20`");
  assert_string_equal(limits_text(limit).c_str(), "1–1000");
  const co::Param other = co::Param::integer("limit").range(1, 500).def(20);
  assert_string_not_equal(limits_text(other).c_str(), "1–1000");
  assert_string_equal(default_text(co::Param::string("type").def("video")).c_str(), "`\"video\"`");
  assert_string_equal(default_text(co::Param::boolean("replace").def(false)).c_str(), "`false`");
  assert_string_equal(default_text(co::Param::string("x").must()).c_str(), "required");
  assert_string_equal(default_text(co::Param::string("x")).c_str(), "—");
  assert_string_equal(default_text(co::Param::string("time").def_doc("now")).c_str(), "now");
  assert_string_equal(type_text(co::Param::uuid("view_id").or_null()).c_str(), "UUID or null");
  assert_string_equal(type_text(co::Param::array("topics").of_strings()).c_str(), "array of strings");
  assert_string_equal(limits_text(co::Param::array("topics").at_least(1)).c_str(), "non-empty");
  assert_string_equal(limits_text(co::Param::array("a").at_most(32)).c_str(), "at most 32 entries");
  assert_string_equal(limits_text(co::Param::string("url").range(1, 2048)).c_str(), "1–2048 bytes");
  assert_string_equal(limits_text(co::Param::number("d").range(0, 1e9)).c_str(), "0–1e9");
  assert_string_equal(limits_text(co::Param::number("p").at_least(0)).c_str(), "0 or more");
  assert_string_equal(limits_text(co::Param::string("x")).c_str(), "");
}

// The page as generated, with one block's text replaced.
std::string with_replaced(const std::string &page, const std::string &method, const std::string &from,
                          const std::string &to) {
  size_t at = page.find(protocol_doc::begin_marker(method));
  assert_true(at != std::string::npos);
  size_t end = page.find(protocol_doc::kEndMarker, at);
  size_t hit = page.find(from, at);
  if (hit == std::string::npos || hit > end) fail_msg("\"%s\" is not in the block of %s", from.c_str(), method.c_str());
  return page.substr(0, hit) + to + page.substr(hit + from.size());
}

// A page whose block differs from the table (a default changed in the
// table, the page not regenerated) is caught, named, and regenerated back.
UNIT_TEST(a_stale_block_is_caught_and_regenerated) {
  std::string page = protocol_doc::regenerate(read_doc().text).text;
  assert_true(protocol_doc::regenerate(page).changes.empty());
  std::string stale =
      with_replaced(page, "history.get", "| `limit` | integer | `20` |", "| `limit` | integer | `25` |");
  protocol_doc::Regenerated r = protocol_doc::regenerate(stale);
  assert_true(r.problems.empty());
  assert_int_equal(r.changes.size(), 1);
  assert_string_equal(r.changes[0].method.c_str(), "history.get");
  std::string what = protocol_doc::describe(r, "protocol.md");
  for (const char *expected : {"method \"history.get\"", "\n-| `limit` | integer | `25` | 1–1000 |\n",
                               "\n+| `limit` | integer | `20` | 1–1000 |\n", "run `make protocol-doc`"}) {
    if (what.find(expected) == std::string::npos) fail_msg("\"%s\" is not in:\n%s", expected, what.c_str());
  }
  assert_string_equal(r.text.c_str(), page.c_str());
}

// A method without a block gets one: after its heading, or in a new
// section at the end of "## Methods".
UNIT_TEST(a_method_without_a_block_gets_one) {
  std::string page = protocol_doc::regenerate(read_doc().text).text;
  std::string begin = protocol_doc::begin_marker("explain");
  size_t at = page.find(begin);
  size_t end = page.find(protocol_doc::kEndMarker, at) + strlen(protocol_doc::kEndMarker) + 1;
  std::string without_block = page.substr(0, at) + page.substr(end);
  protocol_doc::Regenerated r = protocol_doc::regenerate(without_block);
  assert_int_equal(r.changes.size(), 1);
  assert_true(r.changes[0].old_lines.empty());
  size_t heading = r.text.find("### `explain`\n");
  assert_true(heading != std::string::npos);
  assert_int_equal(r.text.find(begin), heading + strlen("### `explain`\n\n"));
  assert_true(protocol_doc::regenerate(r.text).changes.empty());

  size_t section = page.find("### `explain`\n");
  size_t next = page.find("\n### ", section) + 1;
  std::string without_section = page.substr(0, section) + page.substr(next);
  r = protocol_doc::regenerate(without_section);
  assert_int_equal(r.changes.size(), 1);
  size_t added = r.text.find("### `explain`\n\n" + begin);
  assert_true(added != std::string::npos);
  assert_true(added < r.text.find("\n## Notifications"));
  assert_true(added > r.text.find("### `dead_letters.get`"));
  assert_true(protocol_doc::regenerate(r.text).changes.empty());
}

// What regenerating cannot fix is a problem, and the page is not to be written.
UNIT_TEST(bad_markers_are_problems) {
  std::string page = protocol_doc::regenerate(read_doc().text).text;
  std::string end = std::string(protocol_doc::kEndMarker) + "\n";
  std::vector<std::pair<std::string, std::string>> cases = {
      {with_replaced(page, "explain", protocol_doc::begin_marker("explain"), protocol_doc::begin_marker("explane")),
       "\"explane\", which is not a method"},
      {with_replaced(page, "explain", end, ""), "has no end marker"},
      {with_replaced(page, "explain", protocol_doc::begin_marker("explain"), protocol_doc::begin_marker("sync.now")),
       "is not in its section"},
      {page + "\n" + protocol_doc::begin_marker("status") + "\n" + end, "a second block of \"status\""},
      {page + "\n" + end, "an end marker without a begin marker"},
      {with_replaced(page, "explain", protocol_doc::begin_marker("explain"), "<!-- generated:params -->"),
       "a begin marker is"},
  };
  for (const auto &c : cases) {
    protocol_doc::Regenerated r = protocol_doc::regenerate(c.first);
    std::string what = protocol_doc::describe(r, "protocol.md");
    if (r.problems.empty() || what.find(c.second) == std::string::npos) {
      fail_msg("expected a problem \"%s\", got:\n%s", c.second.c_str(), what.c_str());
    }
  }
}

UNIT_TEST(every_status_is_in_the_table) {
  Doc doc = read_doc();
  std::vector<std::string> problems;
#define COHORT_X_ROW(name, value, message)                                          \
  if (doc.text.find("| `" #name "` | " #value " |") == std::string::npos) {         \
    problems.push_back("status " #name " (" #value ") is not in the status table"); \
  }
  COHORT_STATUS_TABLE(COHORT_X_ROW)
#undef COHORT_X_ROW
  report(problems);
}

}  // namespace
