#include "commands.h"

#include <csignal>
#include <cstring>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "output.h"

namespace co::cli {
namespace {

// Calls method with params (owned; may be null) and prints its result.
int simple(Client &c, const Options &opt, const char *method, cJSON *params, void (*human)(const cJSON *),
           int extra_ms = 0) {
  Json result;
  int rc = c.call(method, params, result, nullptr, extra_ms);
  return rc == kOk ? output(opt, result, human) : rc;
}

void show_identity(const cJSON *r) {
  printf("user_id: %s\n", text_of(field(r, "user_id")).c_str());
  const cJSON *aliases = field(r, "aliases");
  if (!cJSON_IsArray(aliases) || !aliases->child) {
    printf("aliases: none\n");
    return;
  }
  printf("\n");
  std::vector<Row> rows;
  for (const cJSON *e = aliases->child; e; e = e->next) {
    rows.push_back({text_of(field(e, "tag")), text_of(field(e, "id")), text_of(field(e, "priority"))});
  }
  print_table({"TAG", "ID", "PRIORITY"}, rows);
}

int cmd_status(Client &c, const Options &opt, const Args &a) {
  if (int rc = no_args(a)) return rc;
  return simple(c, opt, "status", nullptr, print_block);
}

int cmd_id(Client &c, const Options &opt, const Args &a) {
  if (a.words.size() == 1 && strcmp(a.words[0], "reset") == 0) {
    return simple(c, opt, "identity.reset", nullptr, print_block);
  }
  if (int rc = no_args(a)) return rc;
  return simple(c, opt, "identity.get", nullptr, show_identity);
}

int cmd_aliases(Client &c, const Options &opt, const Args &a) {
  if (a.words.empty()) return usage_error(a.name, "expected set or get");
  std::string sub = a.words[0];
  Args rest{a.name, {a.words.begin() + 1, a.words.end()}};
  if (sub == "get") {
    if (int rc = no_args(rest)) return rc;
    return simple(c, opt, "identity.get", nullptr, show_identity);
  }
  if (sub != "set") return usage_error(a.name, "unknown subcommand \"%s\"", sub.c_str());
  const char *hash = nullptr, *replace = nullptr;
  std::vector<const char *> pairs;
  int rc = kOk;
  if (!take_options(rest, {{"--hash-email", false, &hash}, {"--replace", false, &replace}}, pairs, rc)) return rc;
  if (pairs.empty()) return usage_error(a.name, "expected at least one TAG=ID[:PRIORITY]");
  Json list(cJSON_CreateArray());
  for (const char *p : pairs) {
    const char *eq = strchr(p, '=');
    if (!eq || eq == p || !eq[1]) return usage_error(a.name, "expected TAG=ID[:PRIORITY], got \"%s\"", p);
    std::string tag(p, static_cast<size_t>(eq - p));
    std::string id = eq + 1;
    long long priority = -1;
    size_t colon = id.rfind(':');
    // The priority is what follows the last colon when it is all digits, so
    // ids with colons (amzn1.ask:xyz) stay whole.
    if (colon != std::string::npos && colon > 0 && parse_int(id.c_str() + colon + 1, 0, 1000000, priority)) {
      id.resize(colon);
    } else {
      priority = -1;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "tag", tag.c_str());
    cJSON_AddStringToObject(o, "id", id.c_str());
    if (priority >= 0) cJSON_AddNumberToObject(o, "priority", static_cast<double>(priority));
    // --hash-email: the daemon hashes the address (SHA-256 of the trimmed,
    // lowercased address); the raw address is never stored.
    if (hash && (tag == "email_sha256" || id.find('@') != std::string::npos)) {
      cJSON_AddStringToObject(o, "hash", "sha256");
    }
    cJSON_AddItemToArray(list.get(), o);
  }
  Json params(cJSON_CreateObject());
  cJSON_AddItemToObject(params.get(), "aliases", list.release());
  if (replace) cJSON_AddTrueToObject(params.get(), "replace");
  return simple(c, opt, "identity.set_aliases", params.release(), show_identity);
}

void show_consent(const cJSON *r) {
  printf("consent: %s\n", cJSON_IsTrue(field(r, "consent")) ? "granted" : "not granted");
}

int cmd_consent(Client &c, const Options &opt, const Args &a) {
  if (a.words.empty()) {
    Json result;
    int rc = c.call("status", nullptr, result);
    if (rc != kOk) return rc;
    Json r(cJSON_CreateObject());
    cJSON_AddBoolToObject(r.get(), "consent", cJSON_IsTrue(field(result.get(), "consent")));
    return output(opt, r, show_consent);
  }
  if (a.words.size() != 1) return usage_error(a.name, "expected on or off");
  std::string v = a.words[0];
  bool granted;
  if (v == "on" || v == "true" || v == "yes" || v == "grant") {
    granted = true;
  } else if (v == "off" || v == "false" || v == "no" || v == "withdraw") {
    granted = false;
  } else {
    return usage_error(a.name, "expected on or off, got \"%s\"", v.c_str());
  }
  cJSON *params = cJSON_CreateObject();
  cJSON_AddBoolToObject(params, "granted", granted);
  return simple(c, opt, "consent.set", params, show_consent);
}

int cmd_track(Client &c, const Options &opt, const Args &a) {
  const char *time = nullptr, *view = nullptr;
  std::vector<const char *> rest;
  int rc = kOk;
  if (!take_options(a, {{"--time", true, &time}, {"--view", true, &view}}, rest, rc)) return rc;
  if (rest.empty()) return usage_error(a.name, "NAME is required");
  Json props;
  std::string err = build_properties({rest.begin() + 1, rest.end()}, props);
  if (!err.empty()) return usage_error(a.name, "%s", err.c_str());
  cJSON *params = cJSON_CreateObject();
  cJSON_AddStringToObject(params, "name", rest[0]);
  cJSON_AddItemToObject(params, "properties", props.release());
  if (time) cJSON_AddStringToObject(params, "time", time);
  if (view) cJSON_AddStringToObject(params, "view_id", view);
  return simple(c, opt, "track", params, print_block);
}

int cmd_view(Client &c, const Options &opt, const Args &a) {
  if (a.words.empty()) return usage_error(a.name, "expected start, pause, resume, progress or end");
  std::string sub = a.words[0];
  Args rest{a.name, {a.words.begin() + 1, a.words.end()}};
  if (sub == "start") {
    const char *type = nullptr, *duration = nullptr, *url = nullptr, *event = nullptr;
    std::vector<const char *> words;
    int rc = kOk;
    if (!take_options(rest,
                      {{"--type", true, &type}, {"--duration", true, &duration}, {"--url", true, &url},
                       {"--event", true, &event}},
                      words, rc)) {
      return rc;
    }
    Json props;
    std::string err = build_properties(words, props);
    if (!err.empty()) return usage_error(a.name, "%s", err.c_str());
    cJSON *params = cJSON_CreateObject();
    if (type) cJSON_AddStringToObject(params, "type", type);
    if (event) cJSON_AddStringToObject(params, "event", event);
    if (duration) {
      double d;
      if (!parse_number(duration, d) || d < 0) {
        cJSON_Delete(params);
        return usage_error(a.name, "--duration must be a number of seconds, got \"%s\"", duration);
      }
      cJSON_AddNumberToObject(params, "duration_s", d);
    }
    if (url) cJSON_AddStringToObject(params, "url", url);
    cJSON_AddItemToObject(params, "properties", props.release());
    return simple(c, opt, "view.start", params, print_block);
  }
  const char *method = nullptr;
  if (sub == "pause") method = "view.pause";
  if (sub == "resume") method = "view.resume";
  if (sub == "progress") method = "view.progress";
  if (sub == "end") method = "view.end";
  if (!method) return usage_error(a.name, "unknown subcommand \"%s\"", sub.c_str());
  if (rest.words.empty() || rest.words.size() > 2) return usage_error(a.name, "expected %s VIEW_ID [POSITION]", sub.c_str());
  double pos = -1;
  if (rest.words.size() == 2 && (!parse_number(rest.words[1], pos) || pos < 0)) {
    return usage_error(a.name, "POSITION must be a number of seconds, got \"%s\"", rest.words[1]);
  }
  if (sub == "progress" && rest.words.size() < 2) return usage_error(a.name, "progress needs a POSITION");
  cJSON *params = cJSON_CreateObject();
  cJSON_AddStringToObject(params, "view_id", rest.words[0]);
  if (pos >= 0) cJSON_AddNumberToObject(params, "position_s", pos);
  return simple(c, opt, method, params, print_block);
}

// The names of the local cohorts (definitions.get), for the tables: an id
// alone says little on a screen.
std::vector<std::pair<std::string, std::string>> g_cohort_names;

void learn_names(Client &c) {
  Json defs;
  if (c.call("definitions.get", nullptr, defs, nullptr, 0, true) != kOk) return;
  const cJSON *list = field(defs.get(), "cohorts");
  for (const cJSON *d = cJSON_IsArray(list) ? list->child : nullptr; d; d = d->next) {
    g_cohort_names.emplace_back(cohort_id(d), text_of(field(d, "name")));
  }
}

std::string cohort_name(const std::string &id) {
  for (const auto &n : g_cohort_names) {
    if (n.first == id) return n.second;
  }
  return "-";
}

void show_cohorts(const cJSON *r) {
  const cJSON *all = field(r, "cohorts");
  const cJSON *local = field(r, "local");
  const cJSON *remote = field(r, "remote");
  std::vector<Row> rows;
  std::vector<std::string> seen;
  auto add = [&](const cJSON *e) {
    std::string id = cohort_id(e);
    for (const std::string &s : seen) {
      if (s == id) return;
    }
    seen.push_back(id);
    std::string source;
    if (contains_id(local, id)) source = "local";
    if (contains_id(remote, id)) source += source.empty() ? "remote" : "+remote";
    const cJSON *name = cJSON_IsObject(e) ? field(e, "name") : nullptr;
    rows.push_back({id, source.empty() ? "-" : source, name ? text_of(name) : cohort_name(id)});
  };
  for (const cJSON *list : {all, local, remote}) {
    if (cJSON_IsArray(list)) {
      for (const cJSON *e = list->child; e; e = e->next) add(e);
    }
  }
  if (rows.empty()) {
    printf("cohorts: none\n");
  } else {
    print_table({"COHORT", "SOURCE", "NAME"}, rows);
  }
  if (const cJSON *cached = field(r, "cached")) printf("\ncached: %s\n", text_of(cached).c_str());
}

int cmd_cohorts(Client &c, const Options &opt, const Args &a) {
  if (int rc = no_args(a)) return rc;
  if (!opt.json) learn_names(c);
  return simple(c, opt, "cohorts.get", nullptr, show_cohorts);
}

void platform_table(const cJSON *obj) {
  std::vector<Row> rows;
  if (cJSON_IsObject(obj)) {
    for (const cJSON *p = obj->child; p; p = p->next) rows.push_back({p->string, ids_text(p)});
  }
  if (rows.empty()) {
    printf("(none)\n");
  } else {
    print_table({"PLATFORM", "COHORTS"}, rows);
  }
}

void show_activations(const cJSON *r) {
  platform_table(field(r, "activations"));
  const cJSON *ctx = field(r, "contextual");
  if (cJSON_IsObject(ctx) && ctx->child) {
    printf("\ncontextual:\n");
    platform_table(ctx);
  }
  printf("\nstale: %s\n", text_of(field(r, "stale")).c_str());
}

int cmd_activations(Client &c, const Options &opt, const Args &a) {
  const char *timeout = nullptr, *url = nullptr;
  std::vector<const char *> words;
  int rc = kOk;
  if (!take_options(a, {{"--timeout", true, &timeout}, {"--url", true, &url}}, words, rc)) return rc;
  long long ms = 0;
  if (timeout && !parse_int(timeout, 0, 600000, ms)) {
    return usage_error(a.name, "--timeout must be milliseconds (0-600000), got \"%s\"", timeout);
  }
  Json props;
  if (!words.empty()) {
    std::string err = build_properties(words, props);
    if (!err.empty()) return usage_error(a.name, "%s", err.c_str());
  }
  cJSON *params = cJSON_CreateObject();
  if (timeout) cJSON_AddNumberToObject(params, "timeout_ms", static_cast<double>(ms));
  if (url) cJSON_AddStringToObject(params, "url", url);
  if (props) cJSON_AddItemToObject(params, "page_properties", props.release());
  return simple(c, opt, "activations.get", params, show_activations, static_cast<int>(ms));
}

void show_definitions_put(const cJSON *r) {
  printf("count: %s\n", text_of(field(r, "count")).c_str());
  const cJSON *sums = field(r, "checksums");
  if (cJSON_IsObject(sums) && sums->child) {
    printf("\n");
    std::vector<Row> rows;
    for (const cJSON *s = sums->child; s; s = s->next) rows.push_back({s->string, text_of(s)});
    print_table({"COHORT", "CHECKSUM"}, rows);
  }
}

void show_definitions(const cJSON *r) {
  const cJSON *list = field(r, "cohorts");
  if (!cJSON_IsArray(list) || !list->child) {
    printf("definitions: none\n");
    return;
  }
  std::vector<Row> rows;
  for (const cJSON *e = list->child; e; e = e->next) {
    rows.push_back({cohort_id(e), text_of(field(e, "name")), text_of(field(e, "activations")),
                    text_of(field(e, "checksum"))});
  }
  print_table({"COHORT", "NAME", "ACTIVATIONS", "CHECKSUM"}, rows);
}

int cmd_definitions(Client &c, const Options &opt, const Args &a) {
  if (a.words.empty()) return usage_error(a.name, "expected put FILE, get or reload");
  std::string sub = a.words[0];
  if (sub == "get") {
    if (a.words.size() != 1) return usage_error(a.name, "get takes no argument");
    return simple(c, opt, "definitions.get", nullptr, show_definitions);
  }
  if (sub == "reload") {
    if (a.words.size() != 1) return usage_error(a.name, "reload takes no argument");
    return simple(c, opt, "definitions.reload", nullptr, print_block);
  }
  if (sub != "put") return usage_error(a.name, "unknown subcommand \"%s\"", sub.c_str());
  if (a.words.size() != 2) return usage_error(a.name, "expected put FILE");
  Json doc;
  if (int rc = load_json_file(a, a.words[1], doc)) return rc;
  cJSON *params = nullptr;
  if (cJSON_IsArray(doc.get())) {  // a bare list of cohorts
    params = cJSON_CreateObject();
    cJSON_AddItemToObject(params, "cohorts", doc.release());
  } else if (cJSON_IsObject(doc.get())) {
    params = doc.release();
  } else {
    return usage_error(a.name, "%s: expected {\"cohorts\": [...]}", a.words[1]);
  }
  return simple(c, opt, "definitions.put", params, show_definitions_put);
}

void show_match(const cJSON *r) {
  printf("match: %s\n", text_of(field(r, "match")).c_str());
  for (const cJSON *v = r ? r->child : nullptr; v; v = v->next) {
    if (strcmp(v->string, "match") == 0) continue;
    if (is_scalar(v)) {
      printf("%s: %s\n", v->string, text_of(v).c_str());
    } else {
      printf("%s:\n", v->string);
      print_tree(v, 2);
    }
  }
}

int cmd_preview(Client &c, const Options &opt, const Args &a) {
  if (a.words.size() != 1) return usage_error(a.name, "expected FILE");
  Json doc;
  if (int rc = load_json_file(a, a.words[0], doc)) return rc;
  if (!cJSON_IsObject(doc.get())) return usage_error(a.name, "%s: expected a rule object", a.words[0]);
  // The file holds a rule, or a cohort / params object with a "rule".
  cJSON *rule = cJSON_DetachItemFromObjectCaseSensitive(doc.get(), "rule");
  cJSON *params = cJSON_CreateObject();
  cJSON_AddItemToObject(params, "rule", rule ? rule : doc.release());
  return simple(c, opt, "definitions.preview", params, show_match);
}

int cmd_explain(Client &c, const Options &opt, const Args &a) {
  if (a.words.size() != 1) return usage_error(a.name, "expected a cohort ID");
  cJSON *params = cJSON_CreateObject();
  cJSON_AddStringToObject(params, "cohort_id", a.words[0]);
  return simple(c, opt, "explain", params, show_match);
}

int cmd_sync(Client &c, const Options &opt, const Args &a) {
  const char *timeout = nullptr;
  std::vector<const char *> words;
  int rc = kOk;
  if (!take_options(a, {{"--timeout", true, &timeout}}, words, rc)) return rc;
  if (!words.empty()) return usage_error(a.name, "unexpected argument \"%s\"", words[0]);
  long long ms = 0;
  if (timeout && !parse_int(timeout, 0, 600000, ms)) {
    return usage_error(a.name, "--timeout must be milliseconds (0-600000), got \"%s\"", timeout);
  }
  cJSON *params = cJSON_CreateObject();
  if (timeout) cJSON_AddNumberToObject(params, "timeout_ms", static_cast<double>(ms));
  return simple(c, opt, "sync.now", params, print_block, static_cast<int>(ms));
}

std::string utc_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  time_t t = ts.tv_sec;
  tm parts{};
  gmtime_r(&t, &parts);
  char buf[40];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return buf;
}

int cmd_watch(Client &c, const Options &opt, const Args &a) {
  const char *count = nullptr;
  std::vector<const char *> words;
  int rc = kOk;
  if (!take_options(a, {{"--count", true, &count}}, words, rc)) return rc;
  if (!words.empty()) return usage_error(a.name, "unexpected argument \"%s\"", words[0]);
  long long limit = 0;
  if (count && !parse_int(count, 1, 1LL << 40, limit)) return usage_error(a.name, "--count must be 1 or more");
  cJSON *params = cJSON_CreateObject();
  cJSON *topics = cJSON_AddArrayToObject(params, "topics");
  cJSON_AddItemToArray(topics, cJSON_CreateString("cohorts"));
  Json result;
  rc = c.call("subscribe", params, result);
  if (rc != kOk) return rc;
  // From here SIGINT/SIGTERM end the watch normally (exit 0). No SA_RESTART:
  // the blocking poll returns EINTR and the loop sees the flag.
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // On stderr, so it never mixes with the output; a script may wait for it to
  // know the subscription is in place.
  fprintf(stderr, "cohortctl: watching cohort changes (Ctrl-C to stop)\n");
  fflush(stdout);
  for (long long seen = 0; limit == 0 || seen < limit;) {
    Json note;
    rc = c.next_notification(note);
    if (rc == -1) return kOk;  // interrupted: the normal way to stop
    if (rc != kOk) return rc;
    const cJSON *method = field(note.get(), "method");
    if (strcmp(method->valuestring, "cohorts.changed") != 0) continue;
    const cJSON *p = field(note.get(), "params");
    if (opt.json) {
      printf("%s\n", print_json(p).c_str());
    } else {
      const cJSON *cohorts = field(p, "cohorts");
      std::string moved;
      for (const char *what : {"entered", "exited"}) {
        const cJSON *ids = field(p, what);
        if (cJSON_IsArray(ids) && ids->child) moved += std::string(what) + ": " + ids_text(ids) + "  ";
      }
      printf("%s  %scohorts: %s\n", utc_now().c_str(), moved.c_str(),
             cJSON_IsArray(cohorts) ? (cohorts->child ? ids_text(cohorts).c_str() : "none") : print_json(p).c_str());
    }
    fflush(stdout);
    ++seen;
  }
  return kOk;
}

void show_pretty(const cJSON *r) { printf("%s\n", print_json(r, true).c_str()); }

int cmd_call(Client &c, const Options &opt, const Args &a) {
  if (a.words.empty() || a.words.size() > 2) return usage_error(a.name, "expected METHOD [JSON]");
  cJSON *params = nullptr;
  if (a.words.size() == 2) {
    std::string text = a.words[1];
    if (text == "-") {
      std::string err;
      text.clear();
      if (!read_file("-", text, err)) return usage_error(a.name, "cannot read %s", err.c_str());
    }
    params = cJSON_Parse(text.c_str());
    if (!params) return usage_error(a.name, "params are not valid JSON: %s", a.words[1]);
  }
  return simple(c, opt, a.words[0], params, show_pretty);
}

void show_history(const cJSON *r) {
  const cJSON *events = field(r, "events");
  std::vector<Row> rows;
  if (cJSON_IsArray(events)) {
    for (const cJSON *e = events->child; e; e = e->next) {
      std::string props = print_json(field(e, "properties"));
      if (props.size() > 60) props = props.substr(0, 57) + "...";
      std::string view = text_of(field(e, "view_id"));
      if (view.size() > 8) view = view.substr(0, 8);
      rows.push_back({text_of(field(e, "time")), text_of(field(e, "name")), view, props});
    }
  }
  print_listing(r, {"TIME", "NAME", "VIEW", "PROPERTIES"}, rows, "history: no events");
}

int cmd_history(Client &c, const Options &opt, const Args &a) {
  const char *name = nullptr;
  std::vector<const char *> words;
  int rc = kOk;
  if (!take_options(a, {{"--name", true, &name}}, words, rc)) return rc;
  long long n = 20;
  if (!parse_count(a, words, n, rc)) return rc;
  cJSON *params = cJSON_CreateObject();
  cJSON_AddNumberToObject(params, "limit", static_cast<double>(n));
  if (name) cJSON_AddStringToObject(params, "name", name);
  return simple(c, opt, "history.get", params, show_history);
}

// Each refused batch with the API's own words: why it was refused.
void show_dead_letters(const cJSON *r) {
  const cJSON *letters = field(r, "dead_letters");
  std::vector<Row> rows;
  if (cJSON_IsArray(letters)) {
    for (const cJSON *d = letters->child; d; d = d->next) {
      std::string why = text_of(field(d, "message"));
      if (why.empty()) why = text_of(field(d, "error"));
      std::string cause = text_of(field(d, "cause"));
      if (!cause.empty()) why += " (" + cause + ")";
      rows.push_back({text_of(field(d, "at")), text_of(field(d, "http_status")), text_of(field(d, "events")), why});
    }
  }
  print_listing(r, {"AT", "HTTP", "EVENTS", "WHY"}, rows, "dead letters: none");
}

int cmd_dead_letters(Client &c, const Options &opt, const Args &a) {
  long long n = 20;
  int rc = kOk;
  if (!parse_count(a, a.words, n, rc)) return rc;
  cJSON *params = cJSON_CreateObject();
  cJSON_AddNumberToObject(params, "limit", static_cast<double>(n));
  return simple(c, opt, "dead_letters.get", params, show_dead_letters);
}

void show_reload(const cJSON *r) {
  for (const char *key : {"changed", "restart_required"}) {
    std::string names;
    const cJSON *list = field(r, key);
    for (const cJSON *k = cJSON_IsArray(list) ? list->child : nullptr; k; k = k->next) {
      names += (names.empty() ? "" : ", ") + text_of(k);
    }
    printf("%s: %s\n", key, names.empty() ? "none" : names.c_str());
  }
}

int cmd_reload(Client &c, const Options &opt, const Args &a) {
  if (a.words.size() > 1) return usage_error(a.name, "expected at most one FILE");
  cJSON *params = nullptr;
  if (!a.words.empty()) {
    Json doc;
    if (int rc = load_json_file(a, a.words[0], doc)) return rc;
    if (!cJSON_IsObject(doc.get())) return usage_error(a.name, "%s: expected a configuration object", a.words[0]);
    params = cJSON_CreateObject();
    cJSON_AddItemToObject(params, "config", doc.release());
  }
  return simple(c, opt, "config.reload", params, show_reload);
}

int cmd_config(Client &c, const Options &opt, const Args &a) {
  if (int rc = no_args(a)) return rc;
  Json result;
  int rc = c.call("config.get", nullptr, result);
  if (rc != kOk) return rc;
  if (opt.json) return output(opt, result, print_block);
  print_block(field(result.get(), "config"));
  return kOk;
}

const Command kCommands[] = {
    {"status", "status", "the agent's state: identity, consent, queue, sync, storage",
     "Prints the result of the `status` method: version, user_id, consent, session_id,\n"
     "queue_depth, dead_letters, definitions, last_sync, storage, history.\n",
     cmd_status},
    {"id", "id [reset]", "the Permutive ID and the aliases, or a new identity",
     "  id        identity.get: the user_id and the aliases by priority\n"
     "  id reset  identity.reset: a new Permutive ID (logout, new household member);\n"
     "            the old user's aliases, history and cohort state go\n",
     cmd_id},
    {"aliases", "aliases set TAG=ID[:PRIORITY] ... [--hash-email] [--replace] | aliases get",
     "set the identity's aliases (upsert by tag), or list them",
     "  set      identity.set_aliases. PRIORITY: lower is higher priority (default: the\n"
     "           position). The ID keeps any colons; only a final :DIGITS is the priority.\n"
     "  --hash-email  let the daemon hash e-mail addresses (SHA-256 of the trimmed,\n"
     "           lowercased address) for email_sha256 and any ID containing '@'\n"
     "  --replace     replace the whole set instead of upserting by tag\n"
     "  get      identity.get\n"
     "Example: cohortctl aliases set email_sha256=alice@example.com:0 --hash-email tifa=1234:1\n",
     cmd_aliases},
    {"consent", "consent [on|off]", "grant or withdraw consent (no argument: show it)",
     "consent.set. Withdrawing deletes the outbox, history, cohort state and behavioral caches.\n", cmd_consent},
    {"track", "track NAME [--time ISO8601] [--view VIEW_ID] [KEY=VALUE ... | JSON]", "track one event",
     "Properties as KEY=VALUE pairs or one JSON object. Values that are JSON numbers,\n"
     "true or false, or a JSON array or object, are sent as such; anything else is a\n"
     "string (\"007\" stays a string). Dotted keys nest: video.genre=drama.\n"
     "Example: cohortctl track Pageview title=\"Match of the day\" categories='[\"football\"]' live=true\n",
     cmd_track},
    {"view", "view start [--type TYPE] [--duration S] [--url URL] [--event NAME] [KEY=VALUE ... | JSON]\n"
             "       cohortctl view pause|resume|progress|end VIEW_ID [POSITION]",
     "content views: play and completion events with engagement",
     "  start     view.start; TYPE video (default), audio, or another kind; prints view_id\n"
     "  pause     view.pause   at POSITION seconds (optional)\n"
     "  resume    view.resume  at POSITION seconds (optional)\n"
     "  progress  view.progress at POSITION seconds (required)\n"
     "  end       view.end; prints time_spent_seconds and completion\n",
     cmd_view},
    {"cohorts", "cohorts", "current cohorts: local and remote", "Prints cohorts.get as a table.\n", cmd_cohorts},
    {"activations", "activations [--timeout MS] [--url URL] [KEY=VALUE ... | JSON]",
     "activations per ad platform",
     "activations.get. --timeout: the most the agent may wait for the remote APIs (it\n"
     "answers from cache and local cohorts after that, marked stale). --url and the\n"
     "page properties (KEY=VALUE or JSON) go to the Contextual API.\n",
     cmd_activations},
    {"definitions", "definitions put FILE | definitions get | definitions reload",
     "load or show the local cohort definitions",
     "  put FILE  definitions.put with the document in FILE ({\"cohorts\": [...]}, or a bare\n"
     "            array of cohorts; \"-\" reads stdin). It replaces the whole set.\n"
     "  get       definitions.get: every cohort with its checksum\n"
     "  reload    definitions.reload: the cohorts.definitions file read again or, with\n"
     "            cohorts.definitions_url, the signed document fetched now in the\n"
     "            background (status shows the outcome under definitions_set)\n",
     cmd_definitions},
    {"preview", "preview FILE", "evaluate a rule against this device's history",
     "definitions.preview. FILE holds a rule ({\"logic\": ..., \"conditions\": [...]}) or an\n"
     "object with a \"rule\" (e.g. one cohort of a definitions file); \"-\" reads stdin.\n",
     cmd_preview},
    {"explain", "explain ID", "why this device is (not) in a cohort",
     "explain: each condition of the cohort's rule with its measured value.\n", cmd_explain},
    {"sync", "sync [--timeout MS]", "send queued events to the CCS API now", "sync.now: sent, pending, dead_letters.\n",
     cmd_sync},
    {"watch", "watch [--count N]", "print cohort changes as they happen",
     "Subscribes to the \"cohorts\" topic and prints each cohorts.changed notification\n"
     "(with --json: its params, one JSON per line) until interrupted (exit 0) or, with\n"
     "--count, after N notifications. No timeout applies while waiting.\n",
     cmd_watch},
    {"call", "call METHOD [JSON|-]", "call any method with raw params",
     "Prints the result (pretty JSON; --json: one line). Example:\n"
     "  cohortctl call history.get '{\"limit\": 5, \"name\": \"Videoview\"}'\n",
     cmd_call},
    {"history", "history [N] [--name NAME]", "the newest events of the current user",
     "history.get (an extension): the N newest events (default 20, at most 1000).\n", cmd_history},
    {"config", "config", "the daemon's effective configuration (API key redacted)", "config.get (an extension).\n",
     cmd_config},
    {"reload", "reload [FILE]", "take a new configuration without a restart",
     "config.reload (an extension). Without FILE the agent reads api.key_file again (a\n"
     "rotated key); with FILE, the whole configuration document in it (\"-\" reads stdin).\n"
     "What can change at once does (the API key, URLs, key_in, timeout, client, log\n"
     "level, ...): events kept through a 401/403/404 then leave at once. Keys that\n"
     "need a restart are listed. Sending cohortd SIGHUP reloads its own --config file.\n",
     cmd_reload},
    {"dead-letters", "dead-letters [N]", "batches the CCS API refused, and why",
     "dead_letters.get (an extension): the N newest (default 20) batches refused for\n"
     "good (HTTP 400, 413, 422), with the API's error message and cause. A wrong key\n"
     "or URL never dead-letters: those events stay queued (see status last_sync).\n",
     cmd_dead_letters},
};

}  // namespace

void print_usage(FILE *to) {
  fprintf(to,
          "usage: cohortctl [--socket PATH] [--json] [--timeout MS] COMMAND [ARGS]\n"
          "       cohortctl help [COMMAND] | COMMAND --help | --help | --version\n\n"
          "The command-line client of cohortd, the cohort agent's service (JSON-RPC over\n"
          "a Unix socket).\n\n"
          "Options:\n"
          "  --socket PATH   the daemon's socket (default: $COHORT_SOCKET, else %s)\n"
          "  --json          print the raw result JSON (one line) instead of text\n"
          "  --timeout MS    give up waiting for the daemon after MS milliseconds\n"
          "                  (default %d; 0 waits forever)\n\n"
          "Commands:\n",
          kDefaultSocket, kDefaultTimeoutMs);
  for (const Command &c : kCommands) fprintf(to, "  %-12s %s\n", c.name, c.summary);
  fprintf(to, "  %-12s %s\n", "help", "this help, or a command's: help COMMAND (as COMMAND --help)");
  fprintf(to,
          "\nMore: man 1 cohortctl. --version also asks the daemon for its version.\n"
          "\nExit status:\n"
          "  0  success\n"
          "  1  the daemon answered an error (its message is on stderr)\n"
          "  2  usage error\n"
          "  3  cannot connect to the daemon, or a socket error\n"
          "  4  timed out\n");
}

void print_command_help(const Command &c) {
  printf("usage: cohortctl [OPTIONS] %s\n\n%s.\n\n%s", c.usage, c.summary, c.details);
}

const Command *find_command(const char *name) {
  for (const Command &c : kCommands) {
    if (strcmp(c.name, name) == 0) return &c;
  }
  return nullptr;
}

}  // namespace co::cli
