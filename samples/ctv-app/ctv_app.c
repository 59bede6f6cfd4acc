/*
 * A CTV app's view of the agent: link libcohort, open it, and play out a
 * viewing session through the C API — consent, identity, a programme with a
 * pause, its completion, and an ad break asking for activations.
 *
 *   ctv_app DATA_DIR [API_URL]
 *
 * API_URL is where the CCS and Contextual APIs answer (the demo passes the
 * local emulator); without it the APIs are a closed local port and the
 * agent works offline.
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

static void show(cohort_agent *agent, const char *label, const char *method, const char *params) {
  char *out = NULL;
  check(agent, cohort_call(agent, method, params, &out), method);
  printf("  %-14s %s\n", label, out);
  cohort_free(out);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s DATA_DIR [API_URL]\n", argv[0]);
    return 2;
  }
  const char *api = argc > 2 ? argv[2] : "http://127.0.0.1:9";
  char config[2048];
  snprintf(config, sizeof config,
           "{\"data_dir\":\"%s\",\"api\":{\"ccs_url\":\"%s\",\"contextual_url\":\"%s\",\"key\":\"demo-key\"}}",
           argv[1], api, api);
  cohort_agent *agent = NULL;
  if (cohort_open(config, &agent) != COHORT_OK) {
    fprintf(stderr, "cohort_open: %s\n", cohort_last_error(NULL));
    return 1;
  }
  printf("libcohort %s (CTV app, linked)\n", COHORT_VERSION_STRING);
  show(agent, "consent", "consent.set", "{\"granted\":true}");
  show(agent, "identity", "identity.set_aliases",
       "{\"aliases\":[{\"tag\":\"tifa\",\"id\":\"a1b2c3d4-e5f6-7890-abcd-ef1234567890\",\"priority\":1},"
       "{\"tag\":\"email_sha256\",\"id\":\"viewer@example.com\",\"hash\":\"sha256\",\"priority\":0}]}");

  /* The programme starts: play event, CCS and Contextual calls in the background. */
  char *out = NULL;
  check(agent,
        cohort_call(agent, "view.start",
                    "{\"type\":\"video\",\"duration_s\":600,\"url\":\"https://example.com/sport/football/pl-week-20\","
                    "\"properties\":{\"video_id\":\"vid_456\",\"title\":\"Highlights: Premier League Week 20\","
                    "\"categories\":[\"sports\",\"football\"],\"duration_seconds\":600}}",
                    &out),
        "view.start");
  printf("  %-14s %s\n", "view.start", out);
  char view_id[37] = {0};
  const char *p = strstr(out, "\"view_id\":\"");
  if (p) memcpy(view_id, p + 11, 36);
  cohort_free(out);

  char params[256];
  snprintf(params, sizeof params, "{\"view_id\":\"%s\",\"position_s\":120}", view_id);
  show(agent, "pause", "view.pause", params);
  snprintf(params, sizeof params, "{\"view_id\":\"%s\"}", view_id);
  show(agent, "resume", "view.resume", params);
  snprintf(params, sizeof params, "{\"view_id\":\"%s\",\"position_s\":450}", view_id);
  show(agent, "progress", "view.progress", params);
  show(agent, "view.end", "view.end", params);

  /* The ad break: never waits more than its budget. */
  char *ids = NULL;
  int stale = 0;
  check(agent, cohort_activations(agent, "freewheel", 250, &ids, &stale), "activations");
  printf("  %-14s freewheel=%s%s\n", "ad break", ids, stale ? " (stale)" : "");
  cohort_free(ids);
  show(agent, "sync", "sync.now", "{\"timeout_ms\":2000}");
  show(agent, "cohorts", "cohorts.get", NULL);
  show(agent, "activations", "activations.get",
       "{\"url\":\"https://example.com/sport/football/pl-week-20\",\"timeout_ms\":500}");
  show(agent, "status", "status", NULL);
  cohort_close(agent);
  return 0;
}
