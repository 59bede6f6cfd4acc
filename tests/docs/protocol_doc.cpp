#include "protocol_doc.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "agent.h"

namespace protocol_doc {
namespace {

bool starts_with(const std::string &s, const char *prefix) {
  return s.compare(0, strlen(prefix), prefix) == 0;
}

const char kBeginPrefix[] = "<!-- generated:params ";
const char kBeginSuffix[] = " -->";

// A params table row: "| a | b | |" (an empty cell as "|").
std::string row(const std::vector<std::string> &cells) {
  std::string out = "|";
  for (const std::string &c : cells) out += c.empty() ? " |" : " " + c + " |";
  return out;
}

// The method a begin marker names ("" when the line is not one).
std::string marker_method(const std::string &line) {
  size_t head = strlen(kBeginPrefix), tail = strlen(kBeginSuffix);
  if (!starts_with(line, kBeginPrefix) || line.size() <= head + tail ||
      line.compare(line.size() - tail, tail, kBeginSuffix) != 0) {
    return std::string();
  }
  std::string name = line.substr(head, line.size() - head - tail);
  return name.find(' ') == std::string::npos ? name : std::string();
}

// The method of a "### `name`" heading ("" for another heading).
std::string heading_method(const std::string &line) {
  size_t open = line.find('`'), close = line.rfind('`');
  if (!starts_with(line, "### `") || close != line.size() - 1 || close <= open + 1) return std::string();
  return line.substr(open + 1, close - open - 1);
}

std::vector<std::string> split(const std::string &text) {
  std::vector<std::string> lines;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return lines;
}

}  // namespace

const char *const kEndMarker = "<!-- end generated -->";

std::string type_text(const co::Param &p) {
  // How the page names each type (an array by what it holds, below).
  static const std::pair<co::ParamType, const char *> kNames[] = {
      {co::ParamType::string, "string"},   {co::ParamType::integer, "integer"}, {co::ParamType::number, "number"},
      {co::ParamType::boolean, "boolean"}, {co::ParamType::object, "object"},   {co::ParamType::uuid, "UUID"},
  };
  std::string t = "array";
  for (const auto &n : kNames) {
    if (n.first == p.type) t = n.second;
  }
  if (p.type == co::ParamType::array && p.items == co::ParamType::string) t = "array of strings";
  if (p.type == co::ParamType::array && p.items == co::ParamType::object) t = "array of objects";
  return p.nullable ? t + " or null" : t;
}

std::string default_text(const co::Param &p) {
  if (p.required) return "required";
  if (p.default_doc) return p.default_doc;
  switch (p.default_kind) {
    case co::Param::Default::integer:
      return "`" + std::to_string(p.default_integer) + "`";
    case co::Param::Default::number:
      return "`" + co::limit_text(p.default_number) + "`";
    case co::Param::Default::boolean:
      return p.default_boolean ? "`true`" : "`false`";
    case co::Param::Default::string:
      return std::string("`\"") + p.default_string + "\"`";
    case co::Param::Default::none:
      break;
  }
  return "—";  // absent means absent
}

std::string limits_text(const co::Param &p) {
  if (p.format == co::ParamFormat::name) return "1–64 of `A-Z a-z 0-9 _`";
  std::string unit = p.type == co::ParamType::string ? " bytes" : p.type == co::ParamType::array ? " entries" : "";
  bool counted = !unit.empty();
  if (p.has_min && p.has_max) return co::limit_text(p.min) + "–" + co::limit_text(p.max) + unit;
  if (p.has_min && p.type == co::ParamType::array && p.min == 1) return "non-empty";
  if (p.has_min) return counted ? "at least " + co::limit_text(p.min) + unit : co::limit_text(p.min) + " or more";
  if (p.has_max) return "at most " + co::limit_text(p.max) + unit;
  return std::string();
}

std::string begin_marker(const std::string &method) {
  return kBeginPrefix + method + kBeginSuffix;
}

std::vector<std::string> block(const std::string &method) {
  const co::ParamList *params = co::Agent::method_params(method.c_str());
  std::vector<std::string> out{begin_marker(method)};
  if (!params) return out;  // no such method: regenerate() says so
  if (params->size == 0) {
    out.emplace_back("No params: any is refused.");
  } else {
    out.emplace_back("| param | type | default | limits |");
    out.emplace_back("| --- | --- | --- | --- |");
    std::string members;  // the arrays whose objects' members are declared too
    for (const co::Param &p : *params) {
      out.push_back(row({"`" + std::string(p.name) + "`", type_text(p), default_text(p), limits_text(p)}));
      if (!p.fields) continue;
      members += std::string(members.empty() ? "" : ", ") + "`" + p.name + "[i]`";
      for (const co::Param &m : *p.fields) {
        std::string name = std::string(p.name) + "[i]." + m.name;
        out.push_back(row({"`" + name + "`", type_text(m), default_text(m), limits_text(m)}));
      }
    }
    out.emplace_back("");
    out.push_back(members.empty() ? "Other params: refused."
                                  : "Other params, and other members of an " + members + " object: refused.");
  }
  if (co::Agent::method_waits(method.c_str())) {
    out.emplace_back("");
    out.emplace_back("Waits on the network: it holds only its own connection meanwhile.");
  }
  out.emplace_back(kEndMarker);
  return out;
}

Regenerated regenerate(const std::string &page) {
  Regenerated r;
  std::vector<std::string> in = split(page);
  std::vector<std::string> out;
  auto problem = [&](size_t i, const std::string &what) { r.problems.push_back(std::to_string(i + 1) + ": " + what); };
  std::vector<std::string> methods = co::Agent::method_names();
  std::set<std::string> known(methods.begin(), methods.end()), done;
  // Where a method without a block gets one: after its heading (the index in
  // out, and its line in the page), or at the end of "## Methods".
  std::map<std::string, std::pair<size_t, size_t>> heading;
  size_t methods_end = std::string::npos, methods_end_line = 0;
  bool in_methods = false, in_code = false;
  std::string section;
  for (size_t i = 0; i < in.size(); ++i) {
    const std::string &line = in[i];
    if (starts_with(line, "```")) in_code = !in_code;
    if (in_code) {
      out.push_back(line);
      continue;
    }
    if (starts_with(line, "## ")) {
      if (in_methods) methods_end = out.size(), methods_end_line = i;
      in_methods = line == "## Methods";
      section.clear();
    } else if (starts_with(line, "### ")) {
      section = in_methods ? heading_method(line) : std::string();
      if (!section.empty()) heading.emplace(section, std::make_pair(out.size() + 1, i));
    } else if (line == kEndMarker) {
      problem(i, "an end marker without a begin marker");
    } else if (starts_with(line, "<!-- generated")) {
      std::string m = marker_method(line);
      size_t end = i + 1;
      while (end < in.size() && in[end] != kEndMarker && !starts_with(in[end], "<!-- generated")) ++end;
      if (m.empty()) {
        problem(i, "a begin marker is " + begin_marker("METHOD") + ": " + line);
      } else if (end == in.size() || in[end] != kEndMarker) {
        problem(i, "the block of \"" + m + "\" has no end marker (" + kEndMarker + ")");
      } else if (!known.count(m)) {
        problem(i, "a block of \"" + m + "\", which is not a method of the agent");
      } else if (!done.insert(m).second) {
        problem(i, "a second block of \"" + m + "\"");
      } else if (m != section) {
        problem(i, "the block of \"" + m + "\" is not in its section (### `" + m + "` under ## Methods)");
      } else {
        std::vector<std::string> now = block(m);
        std::vector<std::string> old(in.begin() + static_cast<long>(i) + 1, in.begin() + static_cast<long>(end));
        std::vector<std::string> body(now.begin() + 1, now.end() - 1);
        if (old != body) r.changes.push_back({m, static_cast<int>(i) + 1, old, body});
        out.insert(out.end(), now.begin(), now.end());
        i = end;
        continue;
      }
    }
    out.push_back(line);
  }
  if (in_methods) methods_end = out.size(), methods_end_line = in.size();
  // The methods without a block, in the table's order.
  std::map<size_t, std::vector<std::string>> added;
  for (const std::string &m : methods) {
    if (done.count(m)) continue;
    std::vector<std::string> now = block(m);
    auto h = heading.find(m);
    if (h != heading.end()) {
      std::vector<std::string> &at = added[h->second.first];
      at.emplace_back("");
      at.insert(at.end(), now.begin(), now.end());
      r.changes.push_back({m, static_cast<int>(h->second.second) + 1, {}, now});
    } else if (methods_end == std::string::npos) {
      r.problems.push_back("no \"## Methods\" section to add \"" + m + "\" to");
    } else {
      std::vector<std::string> &at = added[methods_end];
      at.push_back("### `" + m + "`");
      at.emplace_back("");
      at.insert(at.end(), now.begin(), now.end());
      at.emplace_back("");
      r.changes.push_back({m, static_cast<int>(methods_end_line) + 1, {}, now});
    }
  }
  for (size_t i = 0; i <= out.size(); ++i) {
    auto a = added.find(i);
    if (a != added.end()) {
      for (const std::string &l : a->second) r.text += l + "\n";
    }
    if (i < out.size()) r.text += out[i] + "\n";
  }
  if (!page.empty() && page.back() != '\n' && !r.text.empty()) r.text.pop_back();
  return r;
}

std::string describe(const Regenerated &r, const std::string &path) {
  std::string out;
  for (const std::string &p : r.problems) out += path + ":" + p + "\n";
  for (const Change &c : r.changes) {
    out += path + ":" + std::to_string(c.line) + ": method \"" + c.method + "\": " +
           (c.old_lines.empty() ? "no generated block; it would be:\n" : "not as the method table makes it:\n") +
           diff(c.old_lines, c.new_lines);
  }
  if (!r.problems.empty()) out += "fix the markers by hand, then run `make protocol-doc`\n";
  if (r.problems.empty() && !r.changes.empty()) out += "run `make protocol-doc` to regenerate " + path + "\n";
  return out;
}

std::string diff(const std::vector<std::string> &a, const std::vector<std::string> &b) {
  // The longest common subsequence, by the usual table (blocks are short).
  std::vector<std::vector<size_t>> lcs(a.size() + 1, std::vector<size_t>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;) {
    for (size_t k = b.size(); k-- > 0;) {
      lcs[i][k] = a[i] == b[k] ? lcs[i + 1][k + 1] + 1 : std::max(lcs[i + 1][k], lcs[i][k + 1]);
    }
  }
  std::string out;
  size_t i = 0, k = 0;
  while (i < a.size() || k < b.size()) {
    if (i < a.size() && k < b.size() && a[i] == b[k]) {
      ++i, ++k;
    } else if (i < a.size() && (k == b.size() || lcs[i + 1][k] >= lcs[i][k + 1])) {
      out += "-" + a[i++] + "\n";
    } else {
      out += "+" + b[k++] + "\n";
    }
  }
  return out;
}

}  // namespace protocol_doc
