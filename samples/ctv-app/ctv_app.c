/*
 * A CTV app's view of the agent: link libcohort, open it with the local
 * cohort definitions, subscribe to membership changes, and play out an
 * evening through the C API — consent, identity, three football episodes
 * watched to the end, an ad break asking for activations, and why one
 * cohort holds.
 *
 *   ctv_app DATA_DIR [API_URL [DEFINITIONS]]
 *
 * API_URL is where the CCS and Contextual APIs answer (the demo passes the
 * local emulator); without it the APIs are a closed local port and the
 * agent works offline. DEFINITIONS is a cohort definitions file
 * (samples/definitions/cohorts.json).
 */
#include <cohort/cohort.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(cohort_agent *agent, cohort_status st, const char *what) {
  if (st != COHORT_OK) {
    fprintf(stderr, "%s: %s: %s\n", what, cohort_status_str(st), cohort_last_error(agent));
    exit(1);
  }
}

/* Calls a method; its result in *out (free with cohort_free). The caller owns
 * the pointer: returned from here, GCC 12 at -O2 takes it for one that may
 * point at this function's own local (its address went to cohort_call). */
static void call(cohort_agent *agent, const char *method, const char *params, char **out) {
  *out = NULL;
  check(agent, cohort_call(agent, method, params, out), method);
}

/* Calls a method for its effect only. */
static void run(cohort_agent *agent, const char *method, const char *params) {
  char *out;
  call(agent, method, params, &out);
  cohort_free(out);
}

/* The text of "key":<value> in a JSON result, up to the value's end (a
 * sample's shortcut: the app needs a field or two, not a JSON library). */
static void field(const char *json, const char *key, char *buf, size_t size) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  const char *p = strstr(json, pattern);
  buf[0] = '\0';
  if (!p) return;
  p += strlen(pattern);
  size_t n = 0;
  int depth = 0, quoted = 0; /* inside a string, brackets and commas are text */
  for (; p[n] && n + 1 < size; ++n) {
    if (p[n] == '\\' && quoted && p[n + 1] && n + 2 < size) {
      ++n;
      continue;
    }
    if (p[n] == '"') quoted = !quoted;
    if (quoted) continue;
    if (p[n] == '[' || p[n] == '{') ++depth;
    if ((p[n] == ']' || p[n] == '}') && depth-- == 0) break;
    if (p[n] == ',' && depth == 0) break;
  }
  if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {  /* a string: its text */
    ++p;
    n -= 2;
  }
  memcpy(buf, p, n);
  buf[n] = '\0';
}

/* Local cohorts enter and leave as the events arrive: the agent calls this
 * on the thread that caused the change (here, inside the app's own call).
 * The lines wait until the step that caused them is printed. */
static char changes[1024];

static void on_cohorts_changed(void *user, const char *cohorts_json) {
  (void)user;
  char entered[256], exited[256], line[600];
  field(cohorts_json, "entered", entered, sizeof entered);
  field(cohorts_json, "exited", exited, sizeof exited);
  snprintf(line, sizeof line, "%s%s%s%s%s", strcmp(entered, "[]") ? "    -> entered " : "",
           strcmp(entered, "[]") ? entered : "", strcmp(exited, "[]") ? "    -> left " : "",
           strcmp(exited, "[]") ? exited : "", "\n");
  if (strlen(changes) + strlen(line) < sizeof changes) strcat(changes, line);
}

static void print_changes(void) {
  fputs(changes, stdout);
  changes[0] = '\0';
}

/* One episode: play event, the player's progress, the completion with the
 * engagement the agent measured. */
static void watch(cohort_agent *agent, int episode, int watched_s) {
  char params[768], view_id[37];
  snprintf(params, sizeof params,
           "{\"video_id\":\"pl-wk20-%d\",\"title\":\"Premier League Week 20, match %d\","
           "\"categories\":[\"sports\",\"football\"],\"series\":\"Match of the Week\",\"episode\":%d}",
           episode, episode, episode);
  check(agent, cohort_view_start(agent, "video", params, 600, view_id), "view.start");
  printf("  Videoview          match %d of 3, football (600 s)\n", episode);
  print_changes();
  snprintf(params, sizeof params, "{\"view_id\":\"%s\",\"position_s\":%d}", view_id, watched_s);
  run(agent, "view.progress", params);
  char *out;
  call(agent, "view.end", params, &out);
  char completion[32];
  field(out, "completion", completion, sizeof completion);
  printf("  VideoCompletion    match %d: percentage_watched %s\n", episode, completion);
  print_changes();
  cohort_free(out);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s DATA_DIR [API_URL [DEFINITIONS]]\n", argv[0]);
    return 2;
  }
  const char *api = argc > 2 ? argv[2] : "http://127.0.0.1:9";
  char config[4096];
  /* clock.trust "system": a TV whose clock is set from boot (or this demo on
   * any machine) stamps events at once; README, "Device realities". */
  snprintf(config, sizeof config,
           "{\"data_dir\":\"%s\",\"api\":{\"ccs_url\":\"%s\",\"contextual_url\":\"%s\",\"key\":\"demo-key\"},"
           "\"clock\":{\"trust\":\"system\"}%s%s%s}",
           argv[1], api, api, argc > 3 ? ",\"cohorts\":{\"definitions\":\"" : "", argc > 3 ? argv[3] : "",
           argc > 3 ? "\"}" : "");
  cohort_agent *agent = NULL;
  if (cohort_open(config, &agent) != COHORT_OK) {
    fprintf(stderr, "cohort_open: %s\n", cohort_last_error(NULL));
    return 1;
  }
  char *out;
  call(agent, "status", NULL, &out);
  char definitions[16];
  field(out, "definitions", definitions, sizeof definitions);
  printf("libcohort %s, linked by a CTV app: %s local cohort definitions\n", COHORT_VERSION_STRING, definitions);
  cohort_free(out);
  check(agent, cohort_subscribe(agent, on_cohorts_changed, NULL), "subscribe");

  run(agent, "consent.set", "{\"granted\":true}");
  printf("  consent            granted\n");
  run(agent, "identity.set_aliases",
      "{\"aliases\":[{\"tag\":\"tifa\",\"id\":\"a1b2c3d4-e5f6-7890-abcd-ef1234567890\"},"
      "{\"tag\":\"email_sha256\",\"id\":\"viewer@example.com\",\"hash\":\"sha256\",\"priority\":0}]}");
  printf("  identity           email_sha256 (hashed on the device), tifa\n");

  for (int episode = 1; episode <= 3; ++episode) watch(agent, episode, 570);

  /* The ad break: never waits more than its budget. The CCS answer to the
   * events just sent and the Contextual answer for the page come in time. */
  call(agent, "activations.get",
       "{\"timeout_ms\":1500,\"url\":\"https://example.com/sport/football/pl-week-20\","
       "\"page_properties\":{\"video\":{\"title\":\"Premier League Week 20\",\"categories\":[\"sports\",\"football\"]}}}",
       &out);
  char acts[512], stale[8];
  field(out, "activations", acts, sizeof acts);
  field(out, "stale", stale, sizeof stale);
  printf("  ad break           %s%s\n", acts, strcmp(stale, "true") == 0 ? " (stale)" : "");
  cohort_free(out);

  if (argc > 3) { /* why Binge watchers (samples/definitions) holds */
    call(agent, "explain", "{\"cohort_id\":\"1002\"}", &out);
    char match[8], why[256];
    field(out, "match", match, sizeof match);
    field(out, "text", why, sizeof why);
    printf("  explain 1002       %s: %s\n", strcmp(match, "true") == 0 ? "in" : "not in", why);
    cohort_free(out);
    /* The modeled cohort: its probability, then each feature's contribution. */
    call(agent, "explain", "{\"cohort_id\":\"1005\"}", &out);
    field(out, "match", match, sizeof match);
    field(out, "text", why, sizeof why);
    printf("  explain 1005       %s: %s\n", strcmp(match, "true") == 0 ? "in" : "not in", why);
    for (const char *f = strstr(out, "\"features\":"); f && (f = strstr(f, "\"name\":")); ++f) {
      char name[64];
      field(f, "name", name, sizeof name);
      field(f, "text", why, sizeof why);
      printf("    %-16s %s\n", name, why);
    }
    cohort_free(out);
  }
  cohort_close(agent);
  return 0;
}
