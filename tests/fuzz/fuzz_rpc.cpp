// Fuzz target: the JSON-RPC line handler (co::rpc, what cohort_rpc and so
// cohortd run for every socket line). The input is split on '\n' into lines,
// each handed to the handler of one agent kept across inputs, so sequences of
// methods are exercised (consent.set, track, view.*, definitions.put, explain
// ...). Each line moves the fake clock one second; a line "#N" moves it N
// seconds instead of being sent, so time-driven paths (session and view
// expiry, retention, rule windows) are reachable, and "#u" / "#s" make the
// clock report itself unsynchronised / synchronised. The wall clock starts,
// and comes back every fake year, three weeks before what the agent takes for
// plausible: events wait for a trusted clock and get their times back-filled.
// "@VIEW@" in a line stands for the view_id of the last answer that had one
// (view ids are random: a fuzzer could never guess one). The remote APIs fail
// like a closed port.
//
// Beyond not crashing: every answer is one JSON-RPC 2.0 response (or a batch
// of them) as the contract shapes it, every request the agent sends is
// well-formed with the API key only in its header, notifications are JSON,
// and the status counters stay within the configured bounds.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "api_internal.h"
#include "fuzz_agent.h"

namespace {

constexpr int64_t kLineStepMs = 1000;
constexpr int64_t kMaxJumpS = 40LL * 86400;
constexpr int64_t kMaxHistory = 200;
constexpr int64_t kMaxQueue = 100;
constexpr size_t kRecentLines = 400;
const char kApiKey[] = "sk_fuzz_0123456789";

const char kConfig[] = R"({"data_dir":"@DIR@/data",
"api":{"key":"sk_fuzz_0123456789","ccs_url":"http://127.0.0.1:9","contextual_url":"http://127.0.0.1:9","timeout_ms":1},
"session":{"inactivity_timeout_s":120},
"history":{"max_events":200,"retention_days":7},
"queue":{"max_events":100},
"cohorts":{"definitions":"@DIR@/cohorts.json"},
"log":{"level":"debug"}})";

// What definitions.reload reads.
const char kDefinitions[] = R"({"cohorts":[
{"id":"1001","name":"Football fans","activations":["dfp","freewheel"],"rule":{"logic":"AND","conditions":[
 {"type":"event","event_type":"Videoview","where":[{"property":"categories","operator":"contains","value":"football"}],
  "operator":"gte","value":2,"window_days":30},
 {"type":"aggregate","event_type":"VideoCompletion","property":"percentage_watched","metric":"max","operator":"gte",
  "value":0.5,"window":"session"}]}},
{"id":"1002","activations":["adswizz_keyvalue"],"rule":{"logic":"OR","conditions":[
 {"type":"recency","event_type":"AudioPlay","operator":"lte","window_days":1},
 {"type":"cohort","cohort_id":"1001","state":"entered","window_minutes":10}]}}]})";

[[noreturn]] void broken(const char *what, const std::string &detail) {
  fuzz::fail(what, detail);
}

// The remote APIs: a closed port. Each request is checked on the way.
void closed_port(const co::platform::HttpRequest &req, co::platform::HttpResponse &resp) {
  if (req.url.find(kApiKey) != std::string::npos) broken("API key in a URL", req.url);
  bool key_header = false;
  for (const auto &h : req.headers) key_header |= h.first == "X-Api-Key" && h.second == kApiKey;
  if (!key_header) broken("request without its X-Api-Key header", req.url);
  co::Json body = co::json_parse(req.body);
  if (!cJSON_IsObject(body.get())) broken("request body is not a JSON object", req.body);
  if (req.url.find("/ccs/") != std::string::npos) {
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(body.get(), "events");
    int n = cJSON_GetArraySize(events);
    if (!cJSON_IsArray(events) || n < 1 || n > 10) broken("CCS batch not of 1-10 events", req.body);
  } else if (cJSON_GetObjectItemCaseSensitive(body.get(), "user_id") ||
             cJSON_GetObjectItemCaseSensitive(body.get(), "aliases")) {
    broken("user data sent to the Contextual API", req.body);
  }
  resp.status = 0;
  resp.error = "Couldn't connect to server";
}

void on_change(void *, const char *json) {
  co::Json note = co::json_parse(json ? json : "");
  for (const char *key : {"cohorts", "entered", "exited"}) {
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(note.get(), key))) broken("cohorts.changed", json ? json : "");
  }
}

// The agent of every input: opened at the first one, closed at a normal exit.
struct RpcRig : fuzz::Rig {
  RpcRig() : Rig(closed_port) {
    std::string path = dir.path + "/cohorts.json";
    FILE *f = std::fopen(path.c_str(), "w");
    if (!f || std::fputs(kDefinitions, f) < 0 || std::fclose(f) != 0) broken("cannot write", path);
    plausible_after_ms = fuzz::Clock::kWallBase + 21LL * 86400000;
    open(kConfig);
    agent->subscribe(on_change, nullptr);
  }
};

// The waiting methods (activations.get, sync.now) block up to their
// timeout_ms on a condition of the worker thread, in real time. A valid
// timeout becomes 0 so one input cannot stall the fuzzer for a minute;
// invalid ones (negative, fractional, huge) stay, for the validation paths.
// sync.now without one would wait up to its default 5 s: it gets a 0.
// (activations.get defaults to api.timeout_ms, 1 ms here.)
bool clamp_one(cJSON *req) {
  const cJSON *method = cJSON_GetObjectItemCaseSensitive(req, "method");
  if (!cJSON_IsString(method)) return false;
  bool sync = strcmp(method->valuestring, "sync.now") == 0;
  if (!sync && strcmp(method->valuestring, "activations.get") != 0) return false;
  cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params");
  if (sync && (!params || cJSON_IsNull(params))) {
    cJSON_DeleteItemFromObjectCaseSensitive(req, "params");
    params = cJSON_AddObjectToObject(req, "params");
  }
  if (!cJSON_IsObject(params)) return false;
  cJSON *timeout = cJSON_GetObjectItemCaseSensitive(params, "timeout_ms");
  if (!timeout) return sync && cJSON_AddNumberToObject(params, "timeout_ms", 0);
  int64_t t = 0;
  if (!co::json_is_integer(timeout, t) || t <= 0 || t > (sync ? 600000 : 60000)) return false;
  cJSON_SetNumberValue(timeout, 0);
  return true;
}

void clamp_waits(std::string &line) {
  if (line.find("timeout_ms") == std::string::npos && line.find("sync.now") == std::string::npos) return;
  co::Json req = co::json_parse(line);
  bool changed = false;
  if (cJSON_IsArray(req.get())) {
    for (cJSON *r = req->child; r; r = r->next) changed |= clamp_one(r);
  } else if (cJSON_IsObject(req.get())) {
    changed = clamp_one(req.get());
  }
  if (changed) line = co::json_print(req.get());
}

void check_response(const cJSON *r, const std::string &text) {
  const cJSON *version = cJSON_GetObjectItemCaseSensitive(r, "jsonrpc");
  if (!cJSON_IsString(version) || strcmp(version->valuestring, "2.0") != 0)
    broken("response without jsonrpc 2.0", text);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
  if (!id || !(cJSON_IsString(id) || cJSON_IsNumber(id) || cJSON_IsNull(id))) broken("response id", text);
  const cJSON *result = cJSON_GetObjectItemCaseSensitive(r, "result");
  const cJSON *error = cJSON_GetObjectItemCaseSensitive(r, "error");
  if (!result == !error) broken("response needs exactly one of result and error", text);
  if (result && !cJSON_IsObject(result)) broken("result is not an object", text);
  if (error) {
    int64_t code = 0;
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
    if (!co::json_is_integer(cJSON_GetObjectItemCaseSensitive(error, "code"), code) || code >= 0) {
      broken("error code", text);
    }
    if (!cJSON_IsString(message) || !*message->valuestring) broken("error message", text);
  }
}

// The view_id of the last answer that had one.
std::string g_view_id = "00000000-0000-4000-8000-000000000000";

void remember_view(const cJSON *r) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "result"), "view_id");
  if (cJSON_IsString(id)) g_view_id = id->valuestring;
}

void send_line(fuzz::Rig &r, std::string line) {
  for (size_t at; (at = line.find("@VIEW@")) != std::string::npos;) line.replace(at, 6, g_view_id);
  clamp_waits(line);
  // An exact-size copy: a read past the line's end is caught, not masked by
  // the next line or a terminating NUL.
  std::unique_ptr<char[]> buf(new char[line.size()]);
  memcpy(buf.get(), line.data(), line.size());
  std::string response;
  unsigned topics = 0;
  cohort_status st = co::rpc(*r.agent, buf.get(), line.size(), response, topics);
  if (st != COHORT_OK) broken("rpc status", cohort_status_str(st));
  if (response.empty()) return;  // notifications only
  co::Json out = co::json_parse(response);
  if (cJSON_IsArray(out.get()) && out->child) {
    for (const cJSON *one = out->child; one; one = one->next) {
      check_response(one, response);
      remember_view(one);
    }
  } else if (cJSON_IsObject(out.get())) {
    check_response(out.get(), response);
    remember_view(out.get());
  } else {
    broken("response is not a JSON object or a non-empty array", response);
  }
}

// The lines sent last, across inputs: a broken counter may come from an
// earlier input than the one that shows it.
std::deque<std::string> g_recent;

void remember_line(const std::string &line) {
  g_recent.push_back(line);
  if (g_recent.size() > kRecentLines) g_recent.pop_front();
}

// COHORT_FUZZ_PARANOID=1: check the counters after every line, not only at
// the end of each input (slower; to find the line that breaks them).
bool paranoid() {
  static const bool on = std::getenv("COHORT_FUZZ_PARANOID") != nullptr;
  return on;
}

// The counters status reports stay within the bounds of the configuration,
// every queued event is also in the history, and nothing is kept without
// consent.
void check_bounds(fuzz::Rig &r) {
  co::Json st = r.call("status", "");
  int64_t queue = -1, history = -1;
  co::json_is_integer(cJSON_GetObjectItemCaseSensitive(st.get(), "queue_depth"), queue);
  co::json_is_integer(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st.get(), "history"), "events"),
                      history);
  bool consent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st.get(), "consent"));
  if (queue < 0 || queue > kMaxQueue || history < 0 || history > kMaxHistory || queue > history ||
      (!consent && (queue != 0 || history != 0))) {
    std::fprintf(stderr, "the last %zu lines sent, oldest first:\n", g_recent.size());
    for (const std::string &line : g_recent) std::fprintf(stderr, "%s\n", line.c_str());
    broken("status counters", co::json_print(st.get()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static RpcRig r;
  const char *p = reinterpret_cast<const char *>(data);
  const char *end = p + size;
  while (p <= end) {
    const char *nl = static_cast<const char *>(memchr(p, '\n', static_cast<size_t>(end - p)));
    if (!nl) nl = end;
    std::string line(p, nl);
    p = nl + 1;
    if (!line.empty() && line[0] == '#') {
      if (line.size() > 1 && (line[1] == 's' || line[1] == 'u')) {
        r.clock.set_synced(line[1] == 's');
        continue;
      }
      int64_t s = std::strtoll(line.c_str() + 1, nullptr, 10);
      r.clock.advance_ms((s < 0 ? 0 : s > kMaxJumpS ? kMaxJumpS : s) * 1000);
      continue;
    }
    r.clock.advance_ms(kLineStepMs);
    remember_line(line);
    send_line(r, std::move(line));
    if (paranoid()) check_bounds(r);
  }
  check_bounds(r);
  return 0;
}
