// The configuration reference, generated from the one key table of
// agent/src/config.cpp (kKeys: name, type, range or allowed values, default,
// description), so the documentation cannot drift from what the agent takes.
// This program is built with that file compiled with COHORT_CONFIG_DOCS (the
// descriptions are not in the library a device runs).
//
//   config_reference --keys                         every key, one a line
//   config_reference --man PAGE [-o OUT]            PAGE (cohortd.json.5) with its key list regenerated
//   config_reference --markdown README SAMPLE [-o OUT]
//                                                   README with its key table regenerated ("value
//                                                   here" from the SAMPLE configuration)
//
// The generated part of a page sits between two marker lines, kept in the
// output: the rest of the page is its own (hand-written) source. Without -o
// the result goes to stdout. The docs_man test fails when a page in the tree
// differs from what this prints; `cmake --build BUILD --target regen-docs`
// rewrites them.
#include <cjson/cJSON.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "config.h"

namespace {

const char kManBegin[] = ".\\\" BEGIN generated from agent/src/config.cpp (kKeys): edit the table there";
const char kManEnd[] = ".\\\" END generated";
const char kMdBegin[] =
    "<!-- BEGIN generated from agent/src/config.cpp (kKeys): edit the table there, then run "
    "`cmake --build BUILD --target regen-docs` -->";
const char kMdEnd[] = "<!-- END generated -->";

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "config_reference: %s\n", message.c_str());
  std::exit(1);
}

std::string read(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The text with the lines between `begin` and `end` (kept) replaced by body.
std::string splice(const std::string &text, const std::string &path, const char *begin, const char *end,
                   const std::string &body) {
  size_t b = text.find(std::string(begin) + "\n");
  size_t e = text.find(std::string(end) + "\n");
  if (b == std::string::npos || e == std::string::npos || e < b) {
    die(path + ": the marker lines are missing:\n" + begin + "\n" + end);
  }
  size_t body_start = b + std::strlen(begin) + 1;
  return text.substr(0, body_start) + body + text.substr(e);
}

std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

// ---- roff (man(7))

// One UTF-8 character of the descriptions as roff; the few the table uses.
const char *roff_special(const std::string &text, size_t &i) {
  static const struct {
    const char *utf8;
    const char *roff;
  } kMap[] = {{"\xE2\x80\x94", "\\(em"},
              {"\xE2\x80\x93", "\\(en"},
              {"\xE2\x89\xA4", "\\(<="},
              {"\xE2\x89\xA5", "\\(>="},
              {"\xE2\x80\xA6", "\\&..."}};
  for (const auto &m : kMap) {
    size_t n = std::strlen(m.utf8);
    if (text.compare(i, n, m.utf8) == 0) {
      i += n - 1;
      return m.roff;
    }
  }
  return nullptr;
}

// Text with `code` spans as roff: code in bold (its hyphens are minus signs,
// as in options), one sentence per line (man(7) style), escapes where roff
// needs them.
std::string roff_text(const std::string &text) {
  std::string out;
  bool code = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool line_start = out.empty() || out.back() == '\n';
    if (c == '`') {
      out += code ? "\\fR" : "\\fB";
      code = !code;
      continue;
    }
    if (static_cast<unsigned char>(c) >= 0x80) {
      const char *r = roff_special(text, i);
      if (!r) die("a character the generator has no roff for in: " + text);
      out += r;
      continue;
    }
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-' && code) {
      out += "\\-";
    } else if (c == ' ' && !code && i > 0 && (text[i - 1] == '.' || text[i - 1] == '?' || text[i - 1] == '!') &&
               i + 1 < text.size() && text[i + 1] != ' ') {
      out += '\n';  // a new sentence on a new line
    } else {
      out += c;
    }
  }
  if (code) die("an unclosed ` in: " + text);
  // Source lines of at most 80 bytes (roff fills them again), none starting
  // with a control character.
  std::string wrapped;
  for (const std::string &line : split(out, '\n')) {
    std::string rest = line;
    while (rest.size() > 80) {
      size_t cut = rest.rfind(' ', 80);
      if (cut == std::string::npos || cut == 0) break;
      wrapped += rest.substr(0, cut) + "\n";
      rest = rest.substr(cut + 1);
      if (!rest.empty() && (rest[0] == '.' || rest[0] == '\'')) rest = "\\&" + rest;
    }
    wrapped += rest + "\n";
  }
  wrapped.pop_back();
  return wrapped;
}

std::string roff_choices(const std::string &choices) {
  std::vector<std::string> all = split(choices, '|');
  std::string out = all.size() > 2 ? "one of " : "either ";
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0) out += all.size() > 2 ? ", " : " or ";
    out += "\\fB" + all[i] + "\\fR";
  }
  return out;
}

// The type of a key in words: "integer, 1 to 600000", "\fBheader\fR or \fBquery\fR", "string (path)".
std::string type_words(const co::ConfigKeyInfo &k, bool roff) {
  if (!k.choices.empty()) {
    if (roff) return roff_choices(k.choices);
    std::string out;
    for (const std::string &c : split(k.choices, '|')) out += (out.empty() ? "`" : " | `") + c + "`";
    return out;
  }
  if (k.kind == "integer") {
    std::string range = std::to_string(k.min) + (roff ? "\\(en" : "–") + std::to_string(k.max);
    return "integer " + range;
  }
  if (!k.type.empty()) return roff ? roff_text(k.type) : k.type;
  return k.kind;
}

std::string default_words(const co::ConfigKeyInfo &k, bool roff) {
  if (k.default_json.empty()) return "";
  std::string v = k.default_json;
  // A string's default shown as its text; a mode keeps its quotes (it is written as a string).
  if (k.kind == "string" && v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
  return roff ? "\\fB" + roff_text(v) + "\\fR" : "`" + v + "`";
}

// Whether config.reload (SIGHUP) applies a change at once.
std::string reload_words(const co::ConfigKeyInfo &k) {
  return k.reloadable ? "A change applies on reload (`SIGHUP`, `config.reload`)." : "A change needs a restart.";
}

std::string man_keys(const std::vector<co::ConfigKeyInfo> &keys) {
  std::string out;
  for (const co::ConfigKeyInfo &k : keys) {
    if (k.help.empty()) die("key " + k.name + " has no description");
    std::string def = default_words(k, true);
    std::string type = type_words(k, true);
    if (!type.empty()) type[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(type[0])));
    out += ".TP\n.B " + k.name + "\n";
    out += type + "; " + (def.empty() ? "unset by default" : "default " + def) + ".\n";
    out += roff_text(reload_words(k)) + "\n.br\n";
    out += roff_text(k.help) + "\n";
  }
  return out;
}

// ---- Markdown

std::string md_cell(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// A sample value as the table shows it: `value` (a mode keeps its quotes,
// an empty string is "unset").
std::string md_value(const co::ConfigKeyInfo &k, const cJSON *v) {
  if (!v) return "—";
  if (cJSON_IsString(v)) {
    if (!*v->valuestring) return "`\"\"` (unset)";
    return k.kind == "mode" ? std::string("`\"") + v->valuestring + "\"`" : std::string("`") + v->valuestring + "`";
  }
  char *text = cJSON_PrintUnformatted(v);
  std::string out = std::string("`") + (text ? text : "?") + "`";
  cJSON_free(text);
  return out;
}

// The sample configuration's value of a key, flat or nested.
const cJSON *sample_value(const cJSON *doc, const std::string &name) {
  if (const cJSON *flat = cJSON_GetObjectItemCaseSensitive(doc, name.c_str())) return flat;
  const cJSON *at = doc;
  for (const std::string &part : split(name, '.')) {
    at = cJSON_GetObjectItemCaseSensitive(at, part.c_str());
    if (!at) return nullptr;
  }
  return at;
}

std::string md_table(const std::vector<co::ConfigKeyInfo> &keys, const cJSON *sample) {
  std::string out =
      "| key | type | value here | default | what it does |\n"
      "| --- | --- | --- | --- | --- |\n";
  for (const co::ConfigKeyInfo &k : keys) {
    if (k.help.empty()) die("key " + k.name + " has no description");
    std::string def = default_words(k, false);
    out += "| `" + k.name + "` | " + md_cell(type_words(k, false)) + " | " +
           md_cell(md_value(k, sample_value(sample, k.name))) + " | " + (def.empty() ? "unset" : md_cell(def)) + " | " +
           md_cell(k.help) + " " + reload_words(k) + " |\n";
  }
  return out;
}

void emit(const std::string &text, const std::string &out_path) {
  if (out_path.empty()) {
    std::cout << text;
    return;
  }
  // Unchanged: not rewritten (its time stamp stays).
  std::ifstream old(out_path, std::ios::binary);
  if (old) {
    std::ostringstream s;
    s << old.rdbuf();
    if (s.str() == text) return;
  }
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) die("cannot write " + out_path);
}

void usage() {
  std::fprintf(stderr,
               "usage: config_reference --keys\n"
               "       config_reference --man PAGE [-o OUT]\n"
               "       config_reference --markdown README SAMPLE_JSON [-o OUT]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string out_path;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-o" && i + 1 < args.size()) {
      out_path = args[i + 1];
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      break;
    }
  }
  std::vector<co::ConfigKeyInfo> keys = co::config_reference();
  if (args.size() == 1 && args[0] == "--keys") {
    for (const co::ConfigKeyInfo &k : keys) std::printf("%s\n", k.name.c_str());
    return 0;
  }
  if (args.size() == 2 && args[0] == "--man") {
    emit(splice(read(args[1]), args[1], kManBegin, kManEnd, man_keys(keys)), out_path);
    return 0;
  }
  if (args.size() == 3 && args[0] == "--markdown") {
    std::string sample_text = read(args[2]);
    cJSON *sample = cJSON_Parse(sample_text.c_str());
    if (!cJSON_IsObject(sample)) die(args[2] + ": not a JSON object");
    emit(splice(read(args[1]), args[1], kMdBegin, kMdEnd, md_table(keys, sample)), out_path);
    cJSON_Delete(sample);
    return 0;
  }
  usage();
}
