// docs/protocol.md against the agent, so the two cannot drift apart:
// - every method of the method table (Agent::kMethods) has its section, a
//   "### `name`" heading under "## Methods", with an example request of it;
// - every such section names a method of the table, once;
// - each section's params table ("| param | type | default | |") is the
//   method's declared params (Agent::method_params), row for row in their
//   order: the name (an array's objects' members as `name[i].member`), the
//   type, the default ("required" for a required param) and, in the last
//   column, the limits, each as written below (doc_type, doc_default,
//   doc_limits); a method that declares none has no table and says "No
//   params"; no section says its other params are ignored (all are refused);
// - every example request (the lines of a ```json block right after a
//   "**Request**" label) runs through cohort_rpc() on a fresh agent, in the
//   order of the page, without a -32600 / -32601 / -32602 error, and a
//   notification (no id) gets no answer;
// - every error example (a "**Bad request**" block, then its "**Answer**"
//   block, line for line) still gets the code shown;
// - every status of COHORT_STATUS_TABLE is in the status table with its value;
// - every other JSON line of a ```json block parses.
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <map>

#include "agent.h"
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
  std::vector<Line> sections;      // under "## Methods": the method named by each "### `...`"
  std::map<std::string, std::vector<Line>> param_rows;  // each method section's params table, header included
  std::map<std::string, std::string> section_text;      // each method section's lines outside ``` blocks
  std::vector<Line> requests;      // example requests
  std::vector<Line> bad_requests;  // error examples...
  std::vector<Line> bad_answers;   // ...and the answers shown for them, in the same order
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
      bool header = starts_with(line, "| param | type | default |");
      std::vector<Line> &rows = doc.param_rows[section];
      if (header || (!rows.empty() && starts_with(line, "| `") && rows.back().no == no - 1)) {
        rows.push_back({no, section, line});
      } else if (!rows.empty() && starts_with(line, "| ---") && rows.back().no == no - 1) {
        rows.push_back({no, section, ""});  // the separator: keeps the rows contiguous
      }
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

// ---- The params tables against the declarations.

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(' ');
  size_t e = s.find_last_not_of(' ');
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// The cells of a table row: "| a | b |" -> {"a", "b"}.
std::vector<std::string> cells(const std::string &row) {
  std::vector<std::string> out;
  size_t at = row.find('|');
  while (at != std::string::npos) {
    size_t next = row.find('|', at + 1);
    if (next == std::string::npos) break;
    out.push_back(trim(row.substr(at + 1, next - at - 1)));
    at = next;
  }
  return out;
}

// How the page writes a param's type: string, integer, number, boolean,
// object, UUID, array (of strings / of objects), and "or null" when null
// stands for absent.
std::string doc_type(const co::Param &p) {
  std::string t;
  switch (p.type) {
    case co::ParamType::string: t = "string"; break;
    case co::ParamType::integer: t = "integer"; break;
    case co::ParamType::number: t = "number"; break;
    case co::ParamType::boolean: t = "boolean"; break;
    case co::ParamType::object: t = "object"; break;
    case co::ParamType::uuid: t = "UUID"; break;
    case co::ParamType::array:
      t = p.items == co::ParamType::string ? "array of strings" : p.items == co::ParamType::object ? "array of objects"
                                                                                                  : "array";
      break;
  }
  return p.nullable ? t + " or null" : t;
}

// Its default: "required", the described default, the literal one in
// backticks as JSON (`20`, `"video"`, `false`), or "—" (absent means absent).
std::string doc_default(const co::Param &p) {
  if (p.required) return "required";
  if (p.default_doc) return p.default_doc;
  switch (p.default_kind) {
    case co::Param::Default::integer: return "`" + std::to_string(p.default_integer) + "`";
    case co::Param::Default::number: return "`" + co::limit_text(p.default_number) + "`";
    case co::Param::Default::boolean: return p.default_boolean ? "`true`" : "`false`";
    case co::Param::Default::string: return std::string("`\"") + p.default_string + "\"`";
    case co::Param::Default::none: break;
  }
  return "—";
}

// Its limits, as the last column must say them ("" for none): 1–1000,
// 0 or more, 1–2048 bytes, at most 32 entries, non-empty, 1–64 of `A-Z a-z 0-9 _`.
std::string doc_limits(const co::Param &p) {
  if (p.format == co::ParamFormat::name) return "1–64 of `A-Z a-z 0-9 _`";
  std::string unit = p.type == co::ParamType::string ? " bytes" : p.type == co::ParamType::array ? " entries" : "";
  bool counted = !unit.empty();
  if (p.has_min && p.has_max) return co::limit_text(p.min) + "–" + co::limit_text(p.max) + unit;
  if (p.has_min && p.type == co::ParamType::array && p.min == 1) return "non-empty";
  if (p.has_min) return counted ? "at least " + co::limit_text(p.min) + unit : co::limit_text(p.min) + " or more";
  if (p.has_max) return "at most " + co::limit_text(p.max) + unit;
  return "";
}

struct Declared {
  std::string name;  // as the page writes it: `aliases[i].tag`
  const co::Param *param;
};

// A method's params in order, an array's objects' members right after it.
std::vector<Declared> declared(const co::ParamList &list) {
  std::vector<Declared> out;
  for (const co::Param &p : list) {
    out.push_back({p.name, &p});
    if (p.fields) {
      for (const co::Param &m : *p.fields) out.push_back({std::string(p.name) + "[i]." + m.name, &m});
    }
  }
  return out;
}

UNIT_TEST(params_tables_match_the_declarations) {
  Doc doc = read_doc();
  std::vector<std::string> problems;
  for (const std::string &m : co::Agent::method_names()) {
    const co::ParamList *list = co::Agent::method_params(m.c_str());
    assert_non_null(list);
    std::vector<Declared> want = declared(*list);
    std::vector<Line> rows;
    for (const Line &r : doc.param_rows[m]) {
      if (starts_with(r.text, "| `")) rows.push_back(r);
    }
    std::string in = "method \"" + m + "\": ";
    if (want.empty()) {
      if (!doc.param_rows[m].empty()) problems.push_back(in + "declares no params but its section has a params table");
      if (doc.section_text[m].find("No params") == std::string::npos) {
        problems.push_back(in + "declares no params: its section must say \"No params\"");
      }
      continue;
    }
    if (doc.param_rows[m].empty()) {
      problems.push_back(in + "has no params table (| param | type | default | |)");
      continue;
    }
    if (doc.section_text[m].find("Other params") == std::string::npos) {
      problems.push_back(in + "its section must say what becomes of other params (\"Other params: refused.\")");
    }
    for (size_t i = 0; i < std::max(want.size(), rows.size()); ++i) {
      if (i >= rows.size()) {
        problems.push_back(in + "param `" + want[i].name + "` is declared but has no row in its params table");
        continue;
      }
      std::vector<std::string> c = cells(rows[i].text);
      std::string at = where(rows[i].no) + in;
      if (i >= want.size()) {
        problems.push_back(at + "row " + (c.empty() ? rows[i].text : c[0]) + " is not a declared param");
        continue;
      }
      const Declared &d = want[i];
      if (c.size() != 4) {
        problems.push_back(at + "a params row has 4 cells: " + rows[i].text);
        continue;
      }
      if (c[0] != "`" + d.name + "`") {
        problems.push_back(at + "row " + c[0] + " where the declaration has `" + d.name + "` (same params, same order)");
        continue;
      }
      if (c[1] != doc_type(*d.param)) problems.push_back(at + c[0] + ": type \"" + c[1] + "\", declared \"" + doc_type(*d.param) + "\"");
      if (c[2] != doc_default(*d.param)) {
        problems.push_back(at + c[0] + ": default \"" + c[2] + "\", declared \"" + doc_default(*d.param) + "\"");
      }
      std::string limits = doc_limits(*d.param);
      if (!limits.empty() && c[3].find(limits) == std::string::npos) {
        problems.push_back(at + c[0] + ": the limits \"" + limits + "\" are not in \"" + c[3] + "\"");
      }
    }
  }
  // No method ignores what it does not declare.
  for (const auto &section : doc.section_text) {
    for (const char *ignored : {"params: ignored", "params:\nignored", "(other params: ignored)", "Other params: ignored"}) {
      if (section.second.find(ignored) != std::string::npos) {
        problems.push_back("method \"" + section.first + "\": says other params are ignored; every method refuses them");
        break;
      }
    }
  }
  report(problems);
}

// The checker itself: a declaration and a row that differ are caught.
UNIT_TEST(params_check_catches_a_difference) {
  const co::Param limit = co::Param::integer("limit").range(1, 1000).def(20);
  assert_string_equal(doc_type(limit).c_str(), "integer");
  assert_string_equal(doc_default(limit).c_str(), "`20`");
  assert_string_equal(doc_limits(limit).c_str(), "1–1000");
  const co::Param other = co::Param::integer("limit").range(1, 500).def(20);
  assert_string_not_equal(doc_limits(other).c_str(), "1–1000");
  assert_string_equal(doc_default(co::Param::string("type").def("video")).c_str(), "`\"video\"`");
  assert_string_equal(doc_default(co::Param::boolean("replace").def(false)).c_str(), "`false`");
  assert_string_equal(doc_default(co::Param::string("x").must()).c_str(), "required");
  assert_string_equal(doc_default(co::Param::string("x")).c_str(), "—");
  assert_string_equal(doc_type(co::Param::uuid("view_id").or_null()).c_str(), "UUID or null");
  assert_string_equal(doc_type(co::Param::array("topics").of_strings()).c_str(), "array of strings");
  assert_string_equal(doc_limits(co::Param::array("topics").at_least(1)).c_str(), "non-empty");
  assert_string_equal(doc_limits(co::Param::array("a").at_most(32)).c_str(), "at most 32 entries");
  assert_string_equal(doc_limits(co::Param::string("url").range(1, 2048)).c_str(), "1–2048 bytes");
  assert_string_equal(doc_limits(co::Param::number("d").range(0, 1e9)).c_str(), "0–1e9");
  assert_string_equal(doc_limits(co::Param::number("p").at_least(0)).c_str(), "0 or more");
  std::vector<std::string> c = cells("| `limit` | integer | `20` | 1–1000 |");
  assert_int_equal(c.size(), 4);
  assert_string_equal(c[0].c_str(), "`limit`");
  assert_string_equal(c[3].c_str(), "1–1000");
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
