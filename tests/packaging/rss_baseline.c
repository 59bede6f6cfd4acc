/* The floor under cohortd's RSS on a target: a program that only links the
 * target's libcurl and initialises it (as the agent's transport does), then
 * reports its own memory. scripts/footprint.sh builds it beside cohortd and
 * prints cohortd's RSS above it. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 1;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "VmRSS:", 6) || !strncmp(line, "RssAnon:", 8) || !strncmp(line, "RssFile:", 8)) {
      fputs(line, stdout);
    }
  }
  fclose(f);
  curl_global_cleanup();
  return 0;
}
