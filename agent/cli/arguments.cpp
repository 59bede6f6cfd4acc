#include "arguments.h"

#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace co::cli {
namespace {

// True when s is a JSON number by the JSON grammar: "42", "-1.5", "2e3" are;
// "007", "+1", "0x10", "1." and "inf" are not (they stay strings, so
// zero-padded codes such as a postcode keep their zeros).
bool is_json_number(const char *s) {
  const char *p = s;
  if (*p == '-') ++p;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    while (*p >= '0' && *p <= '9') ++p;
  } else {
    return false;
  }
  if (*p == '.') {
    ++p;
    if (!(*p >= '0' && *p <= '9')) return false;
    while (*p >= '0' && *p <= '9') ++p;
  }
  if (*p == 'e' || *p == 'E') {
    ++p;
    if (*p == '+' || *p == '-') ++p;
    if (!(*p >= '0' && *p <= '9')) return false;
    while (*p >= '0' && *p <= '9') ++p;
  }
  return *p == '\0';
}

// The value of a k=v argument: numbers, true and false as JSON scalars, a
// valid JSON array or object as itself, anything else as a string.
cJSON *kv_value(const char *v) {
  if (strcmp(v, "true") == 0) return cJSON_CreateTrue();
  if (strcmp(v, "false") == 0) return cJSON_CreateFalse();
  if (is_json_number(v)) return cJSON_CreateNumber(strtod(v, nullptr));
  if (*v == '[' || *v == '{') {
    cJSON *parsed = cJSON_ParseWithOpts(v, nullptr, 1);
    if (parsed) return parsed;
  }
  return cJSON_CreateString(v);
}

}  // namespace

int usage_error(const char *command, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (command) {
    fprintf(stderr, "cohortctl %s: %s (see cohortctl %s --help)\n", command, msg, command);
  } else {
    fprintf(stderr, "cohortctl: %s (see cohortctl --help)\n", msg);
  }
  return kUsage;
}

bool take_options(const Args &a, std::vector<OptSpec> specs, std::vector<const char *> &rest, int &rc) {
  bool literal = false;
  for (size_t i = 0; i < a.words.size(); ++i) {
    const char *w = a.words[i];
    if (!literal && strcmp(w, "--") == 0) {
      literal = true;
      continue;
    }
    if (literal || strncmp(w, "--", 2) != 0) {
      rest.push_back(w);
      continue;
    }
    bool found = false;
    for (OptSpec &s : specs) {
      if (strcmp(w, s.name) != 0) continue;
      found = true;
      if (!s.takes_value) {
        *s.value = "";
      } else if (i + 1 < a.words.size()) {
        *s.value = a.words[++i];
      } else {
        rc = usage_error(a.name, "%s needs a value", w);
        return false;
      }
    }
    if (!found) {
      rc = usage_error(a.name, "unknown option %s", w);
      return false;
    }
  }
  return true;
}

int no_args(const Args &a) {
  if (!a.words.empty()) return usage_error(a.name, "unexpected argument \"%s\"", a.words[0]);
  return kOk;
}

bool parse_int(const char *s, long long lo, long long hi, long long &out) {
  if (!s || !*s) return false;
  char *end = nullptr;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return false;
  out = v;
  return true;
}

bool parse_number(const char *s, double &out) {
  if (!s || !*s) return false;
  char *end = nullptr;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !std::isfinite(v)) return false;
  out = v;
  return true;
}

bool parse_count(const Args &a, const std::vector<const char *> &words, long long &n, int &rc) {
  if (words.size() > 1) {
    rc = usage_error(a.name, "expected at most one N");
    return false;
  }
  if (!words.empty() && !parse_int(words[0], 1, 1000, n)) {
    rc = usage_error(a.name, "N must be 1 to 1000, got \"%s\"", words[0]);
    return false;
  }
  return true;
}

std::string build_properties(const std::vector<const char *> &args, Json &out) {
  out = Json(cJSON_CreateObject());
  if (args.size() == 1 && args[0][0] == '{') {
    Json doc(cJSON_ParseWithOpts(args[0], nullptr, 1));
    if (!cJSON_IsObject(doc.get())) return std::string("not a JSON object: ") + args[0];
    out = std::move(doc);
    return "";
  }
  for (const char *arg : args) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return std::string("expected KEY=VALUE or one JSON object, got \"") + arg + "\"";
    std::string key(arg, static_cast<size_t>(eq - arg));
    cJSON *parent = out.get();
    size_t start = 0;
    for (;;) {
      size_t dot = key.find('.', start);
      std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (part.empty()) return "empty name in key \"" + key + "\"";
      cJSON *existing = cJSON_GetObjectItemCaseSensitive(parent, part.c_str());
      if (dot == std::string::npos) {
        if (existing) return "key \"" + key + "\" given twice";
        cJSON_AddItemToObject(parent, part.c_str(), kv_value(eq + 1));
        break;
      }
      if (!existing) {
        existing = cJSON_AddObjectToObject(parent, part.c_str());
      } else if (!cJSON_IsObject(existing)) {
        return "key \"" + key + "\" nests under \"" + key.substr(0, dot) + "\", which has a value";
      }
      parent = existing;
      start = dot + 1;
    }
  }
  return "";
}

bool read_file(const char *path, std::string &out, std::string &err) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    err = std::string(path) + ": " + strerror(errno);
    return false;
  }
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  bool ok = !ferror(f);
  if (!ok) err = std::string(path) + ": read error";
  if (f != stdin) fclose(f);
  return ok;
}

int load_json_file(const Args &a, const char *path, Json &doc) {
  std::string text, err;
  if (!read_file(path, text, err)) return usage_error(a.name, "cannot read %s", err.c_str());
  doc = Json(cJSON_Parse(text.c_str()));
  if (!doc) {
    const char *at = cJSON_GetErrorPtr();
    size_t offset = at && at >= text.c_str() && at <= text.c_str() + text.size() ? static_cast<size_t>(at - text.c_str()) : 0;
    return usage_error(a.name, "%s: not valid JSON (near byte %zu)", path, offset);
  }
  return kOk;
}

}  // namespace co::cli
