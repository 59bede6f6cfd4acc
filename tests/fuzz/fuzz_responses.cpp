// Fuzz target: how the agent takes the CCS and Contextual API answers
// (sync.cpp: build_batch, settle_batch, settle_contextual, merge_activations,
// the caches).
// The input is the answer: byte 0 picks the HTTP status, byte 1 the content
// type, Retry-After, a timeout and which of four agents (stateful or
// stateless, activations merged or not) runs; byte 2 who gets the answer (the
// CCS API, the Contextual API or both; the other one answers well) and how
// many events are queued; the rest is the body.
//
// Each input tracks events (the APIs still unreachable), moves the fake clock
// past any back-off, Retry-After and the contextual TTL, asks
// activations.get for a URL (a Contextual call, and the CCS pass of what is
// queued, with this input's answer), runs sync.now, then reads
// activations.get and cohorts.get. The agents are kept across inputs (see
// fuzz_agent.h), so a cached answer meets the next one.
//
// Beyond not crashing: a 2xx JSON object empties the outbox, is cached (its
// cohorts and activations are what cohorts.get and activations.get give back)
// and its user_id is adopted (an answer without activations is named in
// activations.get's `missing`); a 400, 413 or 422 is dead-lettered; anything
// else, a wrong key or URL (401, 403, 404, 405, ...) included, keeps the
// events queued and marks activations stale; answers
// are de-duplicated per platform; the stateless state goes back as it came
// (the one from before a consent withdrawal only on a request built before it);
// and no request carries the API key outside its header, or user data to the
// Contextual API.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fuzz_agent.h"

namespace {

constexpr int64_t kInputStepMs = 301LL * 1000;        // past the back-off cap (5 min)
constexpr int64_t kRetryAfterStepMs = 3601LL * 1000;  // past the Retry-After and wrong-key caps (1 h)
constexpr int kWaitMs = 10000;                        // a real stall shows as a libFuzzer timeout
constexpr int kPurgeEvery = 512;                      // consent withdrawal empties dead letters and history
const char kApiKey[] = "sk_fuzz_0123456789";
const char kUrl[] = "https://example.com/shows/pl-highlights/";

const int kStatuses[] = {200, 200, 200, 201, 204, 299, 400, 401, 403, 404, 408, 413, 422, 429, 500, 502,
                         503, 504, 0,   0,   100, 199, 300, 302, 304, 399, 418, 499, 505, 599, 600, 999};
const char *const kContentTypes[] = {
    "application/json", "application/json; charset=utf-8", "application/problem+json", "",
    "text/html",        "text/plain; charset=utf-8",       "Application/JSON",         "application/x-ndjson"};
const int64_t kRetryAfter[] = {-1, 0, 120, 100000};
// Events queued per input: mostly few (each is a transaction and may wake the
// worker), sometimes more than one batch of 10.
const int kEvents[] = {0, 1, 1, 1, 2, 2, 3, 11};

const char kGoodCcs[] = R"({"user_id":"2008c38f-dece-4570-976d-87593ed001c3","cohorts":["12345","67890","1001"],)"
                        R"("activations":{"freewheel":["12345","67890"],"dfp":["12345","67890","1001"]}})";
const char kGoodContextual[] = R"({"cohorts":["99999"],"activations":{"freewheel":["99999"],"dfp":["88888","12345"]}})";

const char kDefinitions[] = R"({"cohorts":[
{"id":"1001","activations":["dfp","freewheel"],"rule":{"logic":"AND","conditions":[
 {"type":"event","event_type":"Videoview","operator":"gte","value":1,"window_hours":2}]}}]})";

[[noreturn]] void broken(const char *what, const std::string &detail) {
  fuzz::fail(what, detail);
}

struct Answer {
  co::platform::HttpResponse resp;
  co::Json body;  // parsed, when the agent must take it (a 2xx JSON object)
  bool taken = false;
  bool refused = false;       // 400, 413, 422: the batch is dead-lettered
  bool config_fault = false;  // another 4xx but 408/429: kept, backing off up to an hour
};

// Media types are case-insensitive (RFC 9110, 8.3.1).
bool is_json(std::string type) {
  for (char &c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type.find("json") != std::string::npos;
}

// What a stateless agent keeps of an answer's state: a UserState object.
bool well_formed_state(const cJSON *st) {
  return cJSON_IsObject(st) && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(st, "internal_state")) &&
         cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(st, "external_state"));
}

Answer make_answer(int status, const std::string &content_type, int64_t retry_after, bool timed_out,
                   const std::string &body) {
  Answer a;
  a.resp.status = status;
  a.resp.content_type = content_type;
  a.resp.retry_after_s = retry_after;
  a.resp.body = body;
  if (status == 0) {
    a.resp.timed_out = timed_out;
    a.resp.error = timed_out ? "Operation timed out after 100 milliseconds" : "Couldn't connect to server";
  }
  if (status >= 200 && status < 300 && is_json(content_type)) {
    a.body = co::json_parse(body);
    a.taken = cJSON_IsObject(a.body.get());
    if (!a.taken) a.body.reset();
  }
  a.refused = status == 400 || status == 413 || status == 422;
  a.config_fault = !a.refused && status >= 400 && status < 500 && status != 408 && status != 429;
  return a;
}

std::vector<std::string> strings_of(const cJSON *arr) {
  std::vector<std::string> out;
  for (const cJSON *v = cJSON_IsArray(arr) ? arr->child : nullptr; v; v = v->next) {
    if (cJSON_IsString(v)) out.push_back(v->valuestring);
  }
  return out;
}

bool contains(const cJSON *arr, const std::string &id) {
  for (const std::string &s : strings_of(arr)) {
    if (s == id) return true;
  }
  return false;
}

// Every id of every platform list in `from` is in the same platform's list of `in`.
void require_activations(const cJSON *in, const cJSON *from, const char *what, const std::string &doc) {
  for (const cJSON *plat = cJSON_IsObject(from) ? from->child : nullptr; plat; plat = plat->next) {
    if (!cJSON_IsArray(plat)) continue;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(in, plat->string);
    for (const std::string &id : strings_of(plat)) {
      if (!contains(list, id)) broken(what, "\"" + std::string(plat->string) + "\": \"" + id + "\" missing in " + doc);
    }
  }
}

void require_unique(const cJSON *arr, const char *what, const std::string &doc) {
  std::vector<std::string> ids = strings_of(arr);
  if (!cJSON_IsArray(arr) || ids.size() != static_cast<size_t>(cJSON_GetArraySize(arr))) broken(what, doc);
  for (size_t i = 0; i < ids.size(); ++i) {
    for (size_t j = i + 1; j < ids.size(); ++j) {
      if (ids[i] == ids[j]) broken(what, "duplicate \"" + ids[i] + "\" in " + doc);
    }
  }
}

// activations.get: an object of platform -> unique ids, twice, and the flag.
void check_activations_shape(const cJSON *result, const std::string &doc) {
  for (const char *key : {"activations", "contextual"}) {
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(result, key);
    if (!cJSON_IsObject(obj)) broken("activations.get shape", doc);
    for (const cJSON *plat = obj->child; plat; plat = plat->next) require_unique(plat, "activations list", doc);
  }
  if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(result, "stale"))) broken("activations.get stale", doc);
  const cJSON *missing = cJSON_GetObjectItemCaseSensitive(result, "missing");
  if (!cJSON_IsArray(missing)) broken("activations.get missing", doc);
  for (const cJSON *m = missing->child; m; m = m->next) {
    if (!cJSON_IsString(m) || (strcmp(m->valuestring, "behavioral") && strcmp(m->valuestring, "contextual"))) {
      broken("activations.get missing names an unknown source", doc);
    }
  }
}

class ResponsesRig : public fuzz::Rig {
 public:
  ResponsesRig(bool stateless, bool merge) : Rig([this](const auto &req, auto &resp) { answer(req, resp); }) {
    std::string path = dir.path + "/cohorts.json";
    FILE *f = std::fopen(path.c_str(), "w");
    if (!f || std::fputs(kDefinitions, f) < 0 || std::fclose(f) != 0) broken("cannot write", path);
    std::string config =
        std::string(R"({"data_dir":"@DIR@/data","consent":{"required":false},)") +
        R"("api":{"key":"sk_fuzz_0123456789","ccs_url":"http://ccs.test","contextual_url":"http://ctx.test",)" +
        R"("timeout_ms":100,"mode":")" + (stateless ? "stateless" : "stateful") + R"("},)" +
        R"("cache":{"behavioral_ttl_s":5400,"contextual_ttl_s":60},)" +
        R"("history":{"max_events":100},"queue":{"max_events":50},)" +
        R"("cohorts":{"definitions":"@DIR@/cohorts.json"},"activations":{"merge":)" + (merge ? "true" : "false") +
        R"(},"log":{"level":"debug"}})";
    stateless_ = stateless;
    open(config);
  }

  // How far the next input moves the clock: past whatever this one's answer
  // asked to wait (bigger steps cost retention scans and session renewals).
  int64_t step_ms = kRetryAfterStepMs;

  void set_answers(const Answer *ccs, const Answer *ctx) {
    std::lock_guard<std::mutex> lock(mu_);
    ccs_ = ccs;
    ctx_ = ctx;
  }
  // Consent withdrawn at wall time `at_ms` (the clock moves on before the
  // next event): the agent forgets the state. A request it built just before
  // may still go out after, and its answer is not kept; the time of its
  // events tells it apart.
  void forget_state(int64_t at_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    forgotten_ = state_;
    state_.clear();
    withdrawn_at_ms_ = at_ms;
  }

 private:
  // On the agent's worker thread.
  void answer(const co::platform::HttpRequest &req, co::platform::HttpResponse &resp) {
    if (req.url.find(kApiKey) != std::string::npos) broken("API key in a URL", req.url);
    bool key_header = false;
    for (const auto &h : req.headers) key_header |= h.first == "X-Api-Key" && h.second == kApiKey;
    if (!key_header) broken("request without its X-Api-Key header", req.url);
    co::Json body = co::json_parse(req.body);
    if (!cJSON_IsObject(body.get())) broken("request body is not a JSON object", req.body);
    std::lock_guard<std::mutex> lock(mu_);
    bool ccs = req.url.rfind("http://ccs.test/ccs/v1/segmentation", 0) == 0;
    bool built_before_withdrawal = false;
    if (ccs) {
      built_before_withdrawal = check_ccs_request(body.get(), req.body);
    } else if (req.url == "http://ctx.test/ctx/v1/segment") {
      check_contextual_request(body.get(), req.body);
    } else {
      broken("request to an unexpected URL", req.url);
    }
    const Answer *a = ccs ? ccs_ : ctx_;
    if (!a) {
      // Between inputs (the worker's own timer): a closed port.
      resp.status = 0;
      resp.error = "Couldn't connect to server";
      return;
    }
    resp = a->resp;
    // The state of a taken stateless answer is what the next request carries
    // back (a malformed one is not kept); a refused batch drops it, since a
    // state the server refuses would poison every later batch. The agent
    // drops the answer to a request built before a consent withdrawal.
    if (built_before_withdrawal) return;
    const cJSON *state = ccs && a->taken ? cJSON_GetObjectItemCaseSensitive(a->body.get(), "state") : nullptr;
    if (well_formed_state(state)) state_ = co::json_print(state);
    if (ccs && a->refused) state_.clear();
  }

  // True for a request built before the last consent withdrawal.
  bool check_ccs_request(const cJSON *body, const std::string &text) {
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(body, "events");
    int n = cJSON_GetArraySize(events);
    if (!cJSON_IsArray(events) || n < 1 || n > 10) broken("CCS batch not of 1-10 events", text);
    const cJSON *time = cJSON_GetObjectItemCaseSensitive(events->child, "time");
    int64_t at = 0;
    if (!cJSON_IsString(time) || !co::parse_iso8601(time->valuestring, at)) broken("CCS event time", text);
    // Events are at most weeks older than the withdrawal, or later (the
    // fake wall clock wraps yearly): compare along the circle.
    int64_t after = ((at - withdrawn_at_ms_) % fuzz::Clock::kWrap + fuzz::Clock::kWrap) % fuzz::Clock::kWrap;
    bool before = withdrawn_at_ms_ >= 0 && !(after > 0 && after < fuzz::Clock::kWrap / 2);
    bool user = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "user_id"));
    if (!user && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(body, "aliases"))) {
      broken("CCS request identity", text);
    }
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(body, "state");
    std::string sent = state ? co::json_print(state) : "";
    const std::string &expect = before ? forgotten_ : state_;
    if (stateless_ && sent != expect) broken("stateless state not sent back as received", expect + " vs " + text);
    if (!stateless_ && state) broken("state sent in stateful mode", text);
    return before;
  }

  static void check_contextual_request(const cJSON *body, const std::string &text) {
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(body, "url");
    if (!cJSON_IsString(url) || strcmp(url->valuestring, kUrl) != 0) broken("contextual url", text);
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(body, "page_properties"))) broken("page_properties", text);
    if (cJSON_GetObjectItemCaseSensitive(body, "user_id") || cJSON_GetObjectItemCaseSensitive(body, "aliases") ||
        cJSON_GetObjectItemCaseSensitive(body, "events")) {
      broken("user data sent to the Contextual API", text);
    }
  }

  std::mutex mu_;
  const Answer *ccs_ = nullptr;
  const Answer *ctx_ = nullptr;
  std::string state_;      // the last stateless state handed out
  std::string forgotten_;  // the one before the last consent withdrawal
  int64_t withdrawn_at_ms_ = -1;
  bool stateless_ = false;
};

ResponsesRig &rig(int which) {
  static ResponsesRig r0(false, true), r1(true, true), r2(false, false), r3(true, false);
  ResponsesRig *rigs[] = {&r0, &r1, &r2, &r3};
  return *rigs[which & 3];
}

void run(ResponsesRig &r, const Answer &ccs, const Answer &ctx, int events, bool merge) {
  // 1. Events, queued while the remote APIs are unreachable: the first wakes
  // the worker, whose failure then holds the others back (one CCS pass per
  // input instead of one per event, each of them a transaction).
  for (int i = 0; i < events; ++i) {
    r.call("track", R"({"name":"Videoview","properties":{"video_id":"vid_)" + std::to_string(i) +
                        R"(","categories":["football"],"duration_seconds":600}})");
  }

  // 2. The clock moves past any back-off; the answers are in place.
  r.clock.advance_ms(r.step_ms);
  r.step_ms = ccs.resp.retry_after_s > 250 || ccs.config_fault ? kRetryAfterStepMs : kInputStepMs;
  r.set_answers(&ccs, &ctx);

  // 3. A Contextual call for the URL, and the CCS pass for what is queued.
  std::string params = "{\"timeout_ms\":" + std::to_string(kWaitMs) + ",\"url\":\"" + kUrl +
                       "\",\"page_properties\":{\"video\":{\"video_id\":\"vid_456\",\"categories\":[\"football\"]}}}";
  co::Json first = r.call("activations.get", params);
  std::string doc = co::json_print(first.get());
  check_activations_shape(first.get(), doc);
  const cJSON *ctx_acts = ctx.taken ? cJSON_GetObjectItemCaseSensitive(ctx.body.get(), "activations") : nullptr;
  if (ctx.taken) {
    require_activations(cJSON_GetObjectItemCaseSensitive(first.get(), "contextual"), ctx_acts, "contextual answer",
                        doc);
    if (merge) {
      require_activations(cJSON_GetObjectItemCaseSensitive(first.get(), "activations"), ctx_acts, "merged", doc);
    }
  } else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(first.get(), "stale"))) {
    broken("no contextual answer, yet not stale", doc);
  }

  // 4. sync.now: what is left goes (a retry, after a failure).
  co::Json sync = r.call("sync.now", "{\"timeout_ms\":" + std::to_string(kWaitMs) + "}");
  doc = co::json_print(sync.get());
  double pending = cJSON_GetObjectItemCaseSensitive(sync.get(), "pending")->valuedouble;
  double dead = cJSON_GetObjectItemCaseSensitive(sync.get(), "dead_letters")->valuedouble;
  if (events > 0) {
    if ((ccs.taken || ccs.refused) && pending != 0) broken("a final answer left events queued", doc);
    if (!ccs.taken && !ccs.refused && pending == 0) broken("events left without a final answer", doc);
    if (ccs.refused) {
      // The dead letters are bounded (the oldest go): the newest is this one.
      co::Json dl = r.call("dead_letters.get", "{\"limit\":1}");
      const cJSON *newest = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(dl.get(), "dead_letters"), 0);
      const cJSON *code = cJSON_GetObjectItemCaseSensitive(newest, "http_status");
      if (dead < 1 || !cJSON_IsNumber(code) || code->valuedouble != ccs.resp.status) {
        broken("a refused batch was not dead-lettered", doc + " " + co::json_print(dl.get()));
      }
    }
  }

  // 5. What the caller reads now: the cached answers.
  co::Json acts = r.call("activations.get", "{\"timeout_ms\":0}");
  doc = co::json_print(acts.get());
  check_activations_shape(acts.get(), doc);
  co::Json cohorts = r.call("cohorts.get", "");
  std::string cdoc = co::json_print(cohorts.get());
  const cJSON *all = cJSON_GetObjectItemCaseSensitive(cohorts.get(), "cohorts");
  require_unique(all, "cohorts.get", cdoc);
  for (const char *part : {"local", "remote"}) {
    for (const std::string &id : strings_of(cJSON_GetObjectItemCaseSensitive(cohorts.get(), part))) {
      if (!contains(all, id)) broken("cohorts.get: a part is missing from the union", cdoc);
    }
  }
  if (events == 0 || !ccs.taken) return;
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(acts.get(), "stale"))) broken("stale after a good answer", doc);
  const cJSON *answer = ccs.body.get();
  bool had_activations = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(answer, "activations"));
  if (contains(cJSON_GetObjectItemCaseSensitive(acts.get(), "missing"), "behavioral") == had_activations) {
    broken("activations.get missing does not say whether the CCS answer had activations", doc);
  }
  require_activations(cJSON_GetObjectItemCaseSensitive(acts.get(), "activations"),
                      cJSON_GetObjectItemCaseSensitive(answer, "activations"), "CCS activations", doc);
  const cJSON *expect = cJSON_GetObjectItemCaseSensitive(answer, "cohorts");
  if (!cJSON_IsArray(expect)) {
    expect = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(answer, "state"), "cohorts");
  }
  if (strings_of(cJSON_GetObjectItemCaseSensitive(cohorts.get(), "remote")) != strings_of(expect) ||
      !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cohorts.get(), "cached"))) {
    broken("cohorts.get does not give the cached answer back", cdoc + " for " + ccs.resp.body);
  }
  const cJSON *uid = cJSON_GetObjectItemCaseSensitive(answer, "user_id");
  if (cJSON_IsString(uid) && co::platform::is_uuid(uid->valuestring)) {
    co::Json id = r.call("identity.get", "");
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(id.get(), "user_id");
    if (!cJSON_IsString(now) || strcmp(now->valuestring, uid->valuestring) != 0) {
      broken("the CCS user_id was not adopted", co::json_print(id.get()));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  static uint64_t inputs = 0;
  int status = kStatuses[data[0] % (sizeof kStatuses / sizeof kStatuses[0])];
  std::string content_type = kContentTypes[data[1] & 7];
  int which = (data[1] >> 3) & 3;
  int64_t retry_after = kRetryAfter[(data[1] >> 5) & 3];
  bool timed_out = data[1] & 0x80;
  int route = data[2] & 3;  // 1: CCS only, 2: Contextual only, else both
  int events = kEvents[(data[2] >> 2) & 7];
  std::string body(reinterpret_cast<const char *>(data) + 3, size - 3);

  Answer fuzzed = make_answer(status, content_type, retry_after, timed_out, body);
  Answer good_ccs = make_answer(200, "application/json", -1, false, kGoodCcs);
  Answer good_ctx = make_answer(200, "application/json", -1, false, kGoodContextual);
  const Answer &ccs = route == 2 ? good_ccs : fuzzed;
  const Answer &ctx = route == 1 ? good_ctx : fuzzed;

  ResponsesRig &r = rig(which);
  run(r, ccs, ctx, events, which < 2);
  if (++inputs % kPurgeEvery == 0) {
    r.call("consent.set", "{\"granted\":false}");
    r.forget_state(r.clock.wall_ms());
    r.call("consent.set", "{\"granted\":true}");
    r.clock.advance_ms(1000);
  }
  // The worker may wake on its own timer between inputs: not with these answers.
  r.set_answers(nullptr, nullptr);
  return 0;
}
