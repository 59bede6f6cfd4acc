/*
 * A CTV app's view of the agent: link libcohort, open it, and play out a
 * viewing session through the C API. Prints what it sees.
 *
 *   ctv_app DATA_DIR
 */
#include <cohort/cohort.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *call(cohort_agent *agent, const char *method, const char *params) {
  char *out = NULL;
  cohort_status st = cohort_call(agent, method, params, &out);
  if (st != COHORT_OK) {
    fprintf(stderr, "%s: %s: %s\n", method, cohort_status_str(st), cohort_last_error(agent));
    exit(1);
  }
  return out;
}

static void show(const char *label, char *json) {
  printf("  %-14s %s\n", label, json);
  cohort_free(json);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  char config[1024];
  snprintf(config, sizeof config, "{\"data_dir\":\"%s\"}", argv[1]);
  cohort_agent *agent = NULL;
  if (cohort_open(config, &agent) != COHORT_OK) {
    fprintf(stderr, "cohort_open: %s\n", cohort_last_error(NULL));
    return 1;
  }
  printf("libcohort %s\n", COHORT_VERSION_STRING);
  show("consent", call(agent, "consent.set", "{\"granted\":true}"));
  show("identity", call(agent, "identity.set_aliases",
                        "{\"aliases\":[{\"tag\":\"tifa\",\"id\":\"a1b2c3d4-e5f6-7890-abcd-ef1234567890\","
                        "\"priority\":1},{\"tag\":\"email_sha256\",\"id\":\"viewer@example.com\","
                        "\"hash\":\"sha256\",\"priority\":0}]}"));
  show("track", call(agent, "track",
                     "{\"name\":\"Videoview\",\"properties\":{\"video_id\":\"vid_456\","
                     "\"title\":\"Highlights: Premier League Week 20\","
                     "\"categories\":[\"sports\",\"football\"],\"duration_seconds\":600}}"));
  show("read back", call(agent, "history.get", "{\"limit\":1}"));
  show("status", call(agent, "status", NULL));
  cohort_close(agent);
  return 0;
}
