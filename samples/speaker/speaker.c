/*
 * A smart-speaker integration of the cohort agent in plain C: POSIX sockets,
 * no JSON library. Requests are built with snprintf (the content is fixed,
 * so nothing needs escaping); answers are printed as they come.
 *
 * It plays out one listening session: consent, the assistant's advertising
 * id as an alias, a podcast episode (audio view) with progress, a pause and a
 * resume, its end, then the cohorts and the activations for an audio ad
 * break (a cohortd without those methods answers -32601, which is reported,
 * not fatal).
 *
 *   speaker_c [SOCKET]      default: $COHORT_SOCKET, else /run/cohort/cohortd.sock
 *
 * Exit status: 0 ok, 1 the daemon answered an unexpected error, 2 usage,
 * 3 cannot talk to the daemon.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/cohort/cohortd.sock"
#define STATION_URL "smartspeaker://station/wnyc/podcast/radiolab/episode/412"
#define EPISODE                                                                                  \
  "{\"podcast\":{\"show\":\"Radiolab\",\"episode\":\"412\",\"title\":\"The Sound of Football\"," \
  "\"publisher\":\"WNYC Studios\",\"genre\":\"science\",\"categories\":[\"science\",\"sport\","  \
  "\"football\"],\"language\":\"en\"},\"device\":{\"kind\":\"smart_speaker\",\"input\":\"voice\"}," \
  "\"station\":\"wnyc\"}"
#define PODCAST_PAGE                                                                             \
  "{\"show\":\"Radiolab\",\"episode\":\"412\",\"title\":\"The Sound of Football\","              \
  "\"genre\":\"science\",\"categories\":[\"science\",\"sport\",\"football\"]}"

enum { EXIT_DAEMON_ERROR = 1, EXIT_USAGE = 2, EXIT_SOCKET = 3 };

static int fd = -1;
static int next_id = 1;
static char inbuf[1 << 20];
static size_t inlen = 0;

/* One answer line into `line` (NUL-terminated, without the newline). */
static int read_line(char *line, size_t cap) {
  for (;;) {
    char *nl = memchr(inbuf, '\n', inlen);
    if (nl) {
      size_t n = (size_t)(nl - inbuf);
      if (n >= cap) n = cap - 1; /* a longer answer is truncated for printing */
      memcpy(line, inbuf, n);
      line[n] = '\0';
      inlen -= (size_t)(nl - inbuf) + 1;
      memmove(inbuf, nl + 1, inlen);
      return 0;
    }
    if (inlen == sizeof inbuf) {
      fprintf(stderr, "speaker: answer too long\n");
      return -1;
    }
    ssize_t r = recv(fd, inbuf + inlen, sizeof inbuf - inlen, 0);
    if (r > 0) {
      inlen += (size_t)r;
    } else if (r == 0) {
      fprintf(stderr, "speaker: cohortd closed the connection\n");
      return -1;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      fprintf(stderr, "speaker: no answer from cohortd within 10 s\n");
      return -1;
    } else if (errno != EINTR) {
      fprintf(stderr, "speaker: recv: %s\n", strerror(errno));
      return -1;
    }
  }
}

static int send_all(const char *data, size_t len) {
  while (len > 0) {
    ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "speaker: send: %s\n", strerror(errno));
      return -1;
    }
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

/* The JSON-RPC error code of an answer line, or 0 when it is a result. */
static long error_code(const char *line) {
  const char *e = strstr(line, "\"error\":{\"code\":");
  return e ? strtol(e + strlen("\"error\":{\"code\":"), NULL, 10) : 0;
}

/*
 * Calls a method; params is a JSON object text or NULL. The answer line goes
 * to `answer` and stdout. Returns 0 on a result, the JSON-RPC error code on
 * an error answer, or 1 on a socket failure (never a JSON-RPC code).
 */
static long call(const char *step, const char *method, const char *params, char *answer, size_t cap) {
  char request[4096];
  int id = next_id++;
  int n;
  if (params) {
    n = snprintf(request, sizeof request, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":%s}\n", id,
                 method, params);
  } else {
    n = snprintf(request, sizeof request, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"}\n", id, method);
  }
  if (n < 0 || (size_t)n >= sizeof request) {
    fprintf(stderr, "speaker: request for %s too long\n", method);
    return 1;
  }
  if (send_all(request, (size_t)n) != 0 || read_line(answer, cap) != 0) return 1;
  printf("%-22s %s\n", step, answer);
  fflush(stdout);
  return error_code(answer);
}

/* A method every cohortd has: any error ends the session. */
static int must(const char *step, const char *method, const char *params, char *answer, size_t cap) {
  long rc = call(step, method, params, answer, cap);
  if (rc == 1) return EXIT_SOCKET;
  if (rc != 0) {
    fprintf(stderr, "speaker: %s failed (%ld)\n", method, rc);
    return EXIT_DAEMON_ERROR;
  }
  return 0;
}

/* A method a cohortd may not have yet: -32601 is reported, not fatal. */
static int optional(const char *step, const char *method, const char *params, char *answer, size_t cap) {
  long rc = call(step, method, params, answer, cap);
  if (rc == 1) return EXIT_SOCKET;
  if (rc == -32601) {
    printf("%-22s (%s is not implemented by this cohortd)\n", "", method);
    return 0;
  }
  if (rc != 0) {
    fprintf(stderr, "speaker: %s failed (%ld)\n", method, rc);
    return EXIT_DAEMON_ERROR;
  }
  return 0;
}

static int session(void) {
  static char answer[1 << 16];
  char params[2048];
  char view_id[37];
  int rc;

  if ((rc = must("consent", "consent.set", "{\"granted\":true}", answer, sizeof answer))) return rc;
  if ((rc = must("alias", "identity.set_aliases",
                 "{\"aliases\":[{\"tag\":\"alexa_advertising_id\",\"id\":\"amzn1.ask.adid.0f6e3c4a-speaker-demo\","
                 "\"priority\":0}]}",
                 answer, sizeof answer))) {
    return rc;
  }
  snprintf(params, sizeof params, "{\"type\":\"audio\",\"url\":\"%s\",\"duration_s\":1800,\"properties\":%s}",
           STATION_URL, EPISODE);
  if ((rc = must("view.start", "view.start", params, answer, sizeof answer))) return rc;
  const char *v = strstr(answer, "\"view_id\":\"");
  if (!v || strlen(v) < strlen("\"view_id\":\"") + 36) {
    fprintf(stderr, "speaker: no view_id in the answer\n");
    return EXIT_DAEMON_ERROR;
  }
  memcpy(view_id, v + strlen("\"view_id\":\""), 36);
  view_id[36] = '\0';

  /* Progress as the player reports it, a pause while the listener talks to
   * the assistant, a resume, and the episode left before its end. */
  static const struct {
    const char *method;
    int position;
  } steps[] = {{"view.progress", 300}, {"view.progress", 600}, {"view.pause", 620},
               {"view.resume", 620},   {"view.progress", 1200}, {"view.end", 1440}};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; ++i) {
    snprintf(params, sizeof params, "{\"view_id\":\"%s\",\"position_s\":%d}", view_id, steps[i].position);
    if ((rc = must(steps[i].method, steps[i].method, params, answer, sizeof answer))) return rc;
  }

  /* The ad break. */
  if ((rc = optional("cohorts.get", "cohorts.get", NULL, answer, sizeof answer))) return rc;
  snprintf(params, sizeof params, "{\"timeout_ms\":200,\"url\":\"%s\",\"page_properties\":%s}", STATION_URL,
           PODCAST_PAGE);
  return optional("activations.get", "activations.get", params, answer, sizeof answer);
}

int main(int argc, char **argv) {
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    fprintf(stderr, "usage: %s [SOCKET]\n", argv[0]);
    return EXIT_USAGE;
  }
  const char *env = getenv("COHORT_SOCKET");
  const char *path = argc == 2 ? argv[1] : (env && *env ? env : DEFAULT_SOCKET);
  signal(SIGPIPE, SIG_IGN);

  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) {
    fprintf(stderr, "speaker: socket path too long: %s\n", path);
    return EXIT_USAGE;
  }
  strcpy(addr.sun_path, path);
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    fprintf(stderr, "speaker: cannot connect to %s: %s\n", path, strerror(errno));
    return EXIT_SOCKET;
  }
  /* Never hang on a stuck daemon: 10 s per answer. */
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  printf("speaker_c: listening session on %s\n", path);
  int rc = session();
  close(fd);
  return rc;
}
