#include "options.h"

#include <cohort/cohort.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "cjson_owner.h"

namespace co::daemon {
namespace {

using tools::Json;
using tools::JsonText;

constexpr size_t kMaxConfigFile = 1u << 20;

void usage(FILE *to) {
  fprintf(to,
          "usage: cohortd [--config FILE] [--data-dir DIR] [--socket PATH] [--check-config]\n"
          "       cohortd --help | --version\n\n"
          "Runs the cohort agent as a service: JSON-RPC 2.0 over a Unix socket.\n"
          "  --config FILE    configuration (JSON; keys: man 5 cohortd.json); without it,\n"
          "                   embedded defaults\n"
          "  --data-dir DIR   overrides data_dir\n"
          "  --socket PATH    overrides socket.path\n"
          "  --check-config   validate the configuration and the files it names, change\n"
          "                   nothing, and exit (0 valid, 2 invalid)\n"
          "  --version        the versions of cohortd, libcohort and the libraries in use\n"
          "Signals: SIGTERM/SIGINT flush and exit; SIGHUP reloads the configuration file (a\n"
          "rotated api.key_file, corrected URLs: what can change without a restart) and\n"
          "the cohort definitions. More: man 8 cohortd.\n");
}

// cohortd's version, then the library's build and run-time information
// (its transport, SQLite, mbed TLS, cJSON), as `curl -V` does.
void print_version() {
  printf("cohortd %s", COHORT_VERSION_STRING);
  // The library loaded may not be the one cohortd was built with.
  if (strcmp(cohort_version(), COHORT_VERSION_STRING) != 0) printf(" (libcohort %s loaded)", cohort_version());
  printf("\n%s\n", cohort_build_info());
}

// Removes every spelling of a key (nested and flat, each time it is given)
// from the document.
void drop_key(cJSON *doc, const char *section, const char *key) {
  std::string flat = std::string(section) + "." + key;
  while (cJSON_GetObjectItemCaseSensitive(doc, flat.c_str())) cJSON_DeleteItemFromObjectCaseSensitive(doc, flat.c_str());
  for (cJSON *sec = doc->child; sec; sec = sec->next) {
    if (!cJSON_IsObject(sec) || !sec->string || strcmp(sec->string, section) != 0) continue;
    while (cJSON_GetObjectItemCaseSensitive(sec, key)) cJSON_DeleteItemFromObjectCaseSensitive(sec, key);
  }
}

// Reads the configuration file; false with err naming it and the reason.
bool read_config_file(const std::string &path, std::string &text, std::string &err) {
  FILE *f = fopen(path.c_str(), "rb");
  if (!f) {
    err = "cannot read configuration " + path + ": " + strerror(errno);
    return false;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0 && text.size() <= kMaxConfigFile) text.append(buf, n);
  int read_errno = ferror(f) ? errno : 0;
  fclose(f);
  if (read_errno) {
    err = "cannot read configuration " + path + ": " + strerror(read_errno);  // a directory: EISDIR
    return false;
  }
  if (text.size() > kMaxConfigFile) {
    err = "configuration " + path + ": larger than 1 MiB";
    return false;
  }
  if (text.find('\0') != std::string::npos) {
    err = "configuration " + path + ": holds a NUL byte (not a JSON text)";
    return false;
  }
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    err = "configuration " + path + ": the file is empty (an empty object, {}, takes every default)";
    return false;
  }
  return true;
}

}  // namespace

int parse_args(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string &dst) {
      if (i + 1 >= argc) {
        fprintf(stderr, "cohortd: %s needs a value\n", a.c_str());
        return false;
      }
      dst = argv[++i];
      return true;
    };
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 1;
    } else if (a == "--version") {
      print_version();
      return 1;
    } else if (a == "--config") {
      if (!value(o.config_file)) return 2;
    } else if (a == "--data-dir") {
      if (!value(o.data_dir)) return 2;
    } else if (a == "--socket") {
      if (!value(o.socket_path)) return 2;
    } else if (a == "--check-config") {
      o.check_only = true;
    } else {
      fprintf(stderr, "cohortd: unknown option %s (see --help)\n", a.c_str());
      return 2;
    }
  }
  return 0;
}

bool build_config(const Options &o, std::string &out, std::string &err) {
  Json doc;
  if (!o.config_file.empty()) {
    std::string text;
    if (!read_config_file(o.config_file, text, err)) return false;
    const char *end = nullptr;
    doc.reset(cJSON_ParseWithOpts(text.c_str(), &end, 1));  // one document, nothing after it
    if (!doc) {
      // The library says where: line and column.
      bool located = cohort_check_config(text.c_str()) != COHORT_OK;
      err = o.config_file + ": " + (located ? cohort_last_error(nullptr) : "configuration is not valid JSON");
      return false;
    }
    if (!cJSON_IsObject(doc.get())) {
      err = o.config_file + ": configuration must be a JSON object";
      return false;
    }
    if (o.data_dir.empty() && o.socket_path.empty()) {
      // Nothing to put on top: the library reads the file's own text (the
      // lines and columns of its messages are the file's).
      out = std::move(text);
      return true;
    }
  } else {
    doc.reset(cJSON_CreateObject());
  }
  if (!o.data_dir.empty()) {
    while (cJSON_GetObjectItemCaseSensitive(doc.get(), "data_dir")) {
      cJSON_DeleteItemFromObjectCaseSensitive(doc.get(), "data_dir");
    }
    cJSON_AddStringToObject(doc.get(), "data_dir", o.data_dir.c_str());
  }
  if (!o.socket_path.empty()) {
    drop_key(doc.get(), "socket", "path");
    cJSON_AddStringToObject(doc.get(), "socket.path", o.socket_path.c_str());
  }
  JsonText s = tools::json_text(doc.get());
  if (!s) {
    err = "out of memory";
    return false;
  }
  out = s.get();
  return true;
}

std::string config_origin(const Options &o) {
  return o.config_file.empty() ? std::string() : " in " + o.config_file;
}

}  // namespace co::daemon
