/*
 * cohort agent — the on-device audience agent.
 *
 * This header is the whole public surface of libcohort. It is C, and it is the
 * documentation: every function says who owns what it returns and what may
 * call it when.
 *
 * Threads: every function may be called from any thread at any time; calls on
 * one agent are serialised inside. Network I/O never runs on the caller's
 * thread, except inside a call that was given a timeout, and never past it.
 *
 * JSON: every *_json argument is a UTF-8 JSON text; every *_json result is a
 * NUL-terminated UTF-8 JSON text that the caller frees with cohort_free().
 *
 * Errors: every function that can fail returns a cohort_status. After a
 * failure, cohort_last_error() gives a message that names what was wrong (the
 * field, the key, the cohort). A call that fails changes nothing.
 */
#ifndef COHORT_COHORT_H
#define COHORT_COHORT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COHORT_VERSION_MAJOR 0
#define COHORT_VERSION_MINOR 1
#define COHORT_VERSION_PATCH 0
#define COHORT_VERSION_STRING "0.1.0"
/* One number that grows with every release: 10000*major + 100*minor + patch. */
#define COHORT_VERSION_NUMBER \
  (COHORT_VERSION_MAJOR * 10000 + COHORT_VERSION_MINOR * 100 + COHORT_VERSION_PATCH)

#if defined(COHORT_BUILDING) && defined(__GNUC__)
#define COHORT_API __attribute__((visibility("default")))
#else
#define COHORT_API
#endif

/*
 * The status table: value, name, message. The values never change once
 * released; new statuses are only ever appended.
 */
#define COHORT_STATUS_TABLE(X)                                                   \
  X(COHORT_OK, 0, "success")                                                     \
  X(COHORT_EINVAL, 1, "invalid argument")                                        \
  X(COHORT_EJSON, 2, "malformed JSON")                                           \
  X(COHORT_ENOMETHOD, 3, "unknown method")                                       \
  X(COHORT_ENOMEM, 4, "out of memory")                                           \
  X(COHORT_ENOTFOUND, 5, "not found")                                            \
  X(COHORT_ESTATE, 6, "not allowed in the current state")                        \
  X(COHORT_ECONFIG, 7, "invalid configuration")                                  \
  X(COHORT_ESTORAGE, 8, "storage error")                                         \
  X(COHORT_EIO, 9, "file system error")                                          \
  X(COHORT_ERULES, 10, "invalid cohort definitions")                             \
  X(COHORT_ECONSENT, 11, "consent not granted")                                  \
  X(COHORT_ETIMEOUT, 12, "timed out")                                            \
  X(COHORT_ENETWORK, 13, "network error")                                        \
  X(COHORT_EREMOTE, 14, "remote API error")                                      \
  X(COHORT_ECLOSED, 15, "agent is closing")                                      \
  X(COHORT_EINTERNAL, 16, "internal error")

typedef enum {
#define COHORT_X_ENUM(name, value, message) name = value,
  COHORT_STATUS_TABLE(COHORT_X_ENUM)
#undef COHORT_X_ENUM
} cohort_status;

typedef struct cohort_agent cohort_agent;

/*
 * Opens an agent. config_json is the configuration document (see README:
 * "Configuration"); NULL or "{}" takes every embedded default. On success
 * *out owns the agent until cohort_close(). On failure *out is NULL and the
 * message is available from cohort_last_error(NULL).
 */
COHORT_API cohort_status cohort_open(const char *config_json, cohort_agent **out);

/* Flushes what is pending, stops background work (bounded: at most 2 s), and
 * frees the agent. Calls other threads are making on it return first: one
 * waiting on the network (sync.now, activations.get, cohort_activations)
 * at once, with COHORT_ECLOSED ("shutting down"); a later call is refused the
 * same way. Not from a subscriber callback. NULL is a harmless no-op. */
COHORT_API void cohort_close(cohort_agent *agent);

/* Begins closing without freeing, from any thread: what cohort_close does
 * first (waiting calls return COHORT_ECLOSED at once, later calls are
 * refused, background sync stops; a request in flight is abandoned and its
 * events stay queued for the next start). For a service that shuts down on a
 * signal while its main thread may be inside a call; cohort_close still
 * frees the agent. NULL is a harmless no-op. */
COHORT_API void cohort_shutdown(cohort_agent *agent);

/*
 * Calls one method of the agent: the same methods, params and results as the
 * socket protocol (docs/protocol.md). params_json may be NULL for
 * methods without params. On success *result_json is a JSON object owned by
 * the caller (free with cohort_free). On failure *result_json is NULL.
 */
COHORT_API cohort_status cohort_call(cohort_agent *agent, const char *method,
                                     const char *params_json, char **result_json);

/* Frees a string returned by this library. NULL is a no-op. */
COHORT_API void cohort_free(void *p);

/* The fixed message of a status; never NULL, owned by the library. */
COHORT_API const char *cohort_status_str(cohort_status s);

/*
 * The name of a status as COHORT_STATUS_TABLE spells it, e.g. "COHORT_EINVAL":
 * what the socket protocol puts in an error's data.status. "COHORT_UNKNOWN"
 * for a value not in the table. Never NULL; a static string owned by the
 * library. Thread-safe; needs no agent.
 */
COHORT_API const char *cohort_status_name(cohort_status s);

/*
 * The message of the last failure on this thread for this agent (or of the
 * last cohort_open failure when agent is NULL). Owned by the library; valid
 * until the next call on the same agent from the same thread. Empty when the
 * last call succeeded (except the notes of cohort_check_config).
 */
COHORT_API const char *cohort_last_error(cohort_agent *agent);

/* ---- Typed shortcuts for the hot paths an app calls per frame or per ad break. */

/* Tracks one event. properties_json: a JSON object, or NULL for none. */
COHORT_API cohort_status cohort_track(cohort_agent *agent, const char *name,
                                      const char *properties_json);

/*
 * Starts a content view and emits its play event. type: "video", "audio" or
 * another kind (NULL = "video"). duration_s <= 0 means unknown (live).
 * view_id receives the new view's UUID, NUL-terminated.
 */
COHORT_API cohort_status cohort_view_start(cohort_agent *agent, const char *type,
                                           const char *properties_json, double duration_s,
                                           char view_id[37]);

/* Ends a view and emits its completion event. position_s < 0: the last known position. */
COHORT_API cohort_status cohort_view_end(cohort_agent *agent, const char *view_id,
                                         double position_s);

/*
 * The activations for one ad platform (e.g. "dfp"), as comma-separated cohort
 * ids in *csv_ids (caller frees with cohort_free; "" when none). Waits for a
 * fresh remote answer at most timeout_ms; otherwise answers from the freshest
 * valid cache and local cohorts and sets *stale to 1. stale may be NULL.
 */
COHORT_API cohort_status cohort_activations(cohort_agent *agent, const char *platform,
                                            int timeout_ms, char **csv_ids, int *stale);

/*
 * Called with {"cohorts":[...]} each time local cohort membership changes. It
 * runs on an agent thread, must not block, and may call back into the agent.
 * fn NULL unsubscribes. One subscriber per agent.
 */
typedef void (*cohort_changed_fn)(void *user, const char *cohorts_json);
COHORT_API cohort_status cohort_subscribe(cohort_agent *agent, cohort_changed_fn fn, void *user);

/* ---- For services: the socket protocol, and configuration checks. */

/* Topics a connection subscribed to (see cohort_rpc). */
#define COHORT_TOPIC_COHORTS 1u

/*
 * Handles one JSON-RPC 2.0 request (or batch) as received on the socket
 * (docs/protocol.md):
 * line is the request without its newline, len its length. On COHORT_OK,
 * *response_json is the answer line without newline (caller frees with
 * cohort_free), or NULL when there is nothing to answer (notifications).
 * Errors in the request are answered as JSON-RPC errors (-32700 bad JSON,
 * -32600 invalid request, -32601 unknown method, -32602 bad params with a
 * message naming the field, -32000 minus the cohort_status for the rest),
 * still with COHORT_OK. topics, if not NULL, receives the COHORT_TOPIC_*
 * bits a successful `subscribe` in this request asked for (0 otherwise).
 */
COHORT_API cohort_status cohort_rpc(cohort_agent *agent, const char *line, size_t len,
                                    char **response_json, unsigned *topics);

/*
 * Group commit: handles n request lines as cohort_rpc does, in order, and
 * commits what they store once, after the last (a line whose method waits for
 * the network commits what came before it first). responses[i] and topics[i]
 * (topics may be NULL) are what cohort_rpc would give for lines[i]; answer
 * none of them before this returns, since an answer promises durability. If a
 * commit fails, every line of the batch is answered with a storage error
 * (-32000 minus COHORT_ESTORAGE) and the agent reloads its state from disk, as
 * after a crash. Returns COHORT_OK, or an error with no responses set.
 */
COHORT_API cohort_status cohort_rpc_batch(cohort_agent *agent, size_t n, const char *const *lines,
                                          const size_t *lens, char **responses, unsigned *topics);

/*
 * The answer to a request line that could not be handled at all: cohort_rpc or
 * cohort_rpc_batch failed for it with `status` (e.g. COHORT_ECLOSED while the
 * agent closes, COHORT_ENOMEM). Each request of the line that is not a
 * notification gets the JSON-RPC error that cohort_rpc gives for that status:
 * code -32000 minus the status, data.status its cohort_status_name(), `message`
 * (NULL: "shutting down" for COHORT_ECLOSED, else cohort_status_str()), and the
 * request's id as written (null when it has none that can be read); a batch
 * line gets an array. *response_json is the answer line without newline
 * (caller frees with cohort_free), or NULL when there is nothing to answer
 * (notifications only). COHORT_EINVAL when line or response_json is NULL or
 * status is COHORT_OK. Needs no agent; thread-safe.
 */
COHORT_API cohort_status cohort_rpc_error(const char *line, size_t len, cohort_status status,
                                          const char *message, char **response_json);

/*
 * 1 when the request line (or a request of a batch line) calls a method that
 * may wait on the network (sync.now, activations.get), else 0. A service
 * runs such a line with cohort_rpc on a thread of its own, so that one
 * caller's wait (an ad break's budget, a sync.now) holds no other caller.
 * Cheap for the lines that do not: no parse unless a waiting method's name
 * is in the text. Needs no agent; thread-safe.
 */
COHORT_API int cohort_rpc_waits(const char *line, size_t len);

/*
 * Validates a configuration document without opening anything: no file is
 * created or changed (files are only read). Beyond the document (syntax, with
 * the line and column of an error; unknown keys, with the nearest known one;
 * a key given twice; types and ranges), the files it names:
 * cohorts.definitions and api.ca_file must be readable files, and
 * api.key_file, when it exists, must be readable and hold a valid key. On
 * failure the message is in cohort_last_error(NULL). On COHORT_OK,
 * cohort_last_error(NULL) holds notes, one a line, on what is valid but worth
 * knowing (an api.key_file that does not exist yet), or "" when there are none.
 */
COHORT_API cohort_status cohort_check_config(const char *config_json);

/* ---- Versions: of the library loaded at run time, and of what it runs with. */

/*
 * The version of the library loaded at run time, e.g. "0.1.0": what
 * COHORT_VERSION_STRING was when it was built. An app compares it with the
 * COHORT_VERSION_STRING of the header it was compiled against. Never NULL;
 * a static string owned by the library. Thread-safe; needs no agent.
 */
COHORT_API const char *cohort_version(void);

/* The same as a number, 10000*major + 100*minor + patch (COHORT_VERSION_NUMBER
 * of the library's build). Thread-safe; needs no agent. */
COHORT_API int cohort_version_number(void);

/*
 * How this library was built and what it runs with, one "name version" per
 * line, as `curl -V` shows it: libcohort (compiler, architecture, debug or
 * release), then the libcurl (with its TLS library), SQLite, mbed TLS and
 * cJSON loaded at run time, each followed by "(built with X)" when the
 * version it was compiled against differs. For --version outputs and bug
 * reports; the format is for people, not for parsing. Never NULL; a static
 * string owned by the library. Thread-safe; needs no agent.
 */
COHORT_API const char *cohort_build_info(void);

#ifdef __cplusplus
}
#endif
#endif /* COHORT_COHORT_H */
