#include "sender.h"

#include <algorithm>
#include <cctype>

#include "iso8601.h"
#include "requests.h"

namespace co {
namespace {

using sync_plan::Verdict;

// status.last_sync.error for a configuration fault.
const char *config_fault_name(int status) {
  switch (status) {
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    default:
      return "rejected";
  }
}

const char *config_fault_hint(int status) {
  return status == 401 || status == 403 ? "check api.key / api.key_file (and api.key_in); events stay queued"
                                        : "check api.ccs_url; events stay queued";
}

}  // namespace

// Media types are case-insensitive (RFC 9110, 8.3.1).
bool is_json(const platform::HttpResponse &r) {
  std::string type = r.content_type;
  for (char &c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type.find("json") != std::string::npos;
}

std::string answer_error_text(const platform::HttpResponse &r) {
  if (r.status == 0) return r.timed_out ? "timeout: " + r.error : "network: " + r.error;
  std::string msg = "HTTP " + std::to_string(r.status);
  Json body = json_parse(r.body);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(body.get(), "message");
  if (!cJSON_IsString(m))
    m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body.get(), "error"), "message");
  if (cJSON_IsString(m)) msg += ": " + std::string(m->valuestring).substr(0, 300);
  return msg;
}

Sender::Settled Sender::settle(platform::HttpResponse &resp, size_t events, const Attempt &at, platform::Logger &log) {
  Settled out;
  bool ok2xx = resp.status >= 200 && resp.status < 300;
  Json answer = ok2xx ? json_parse(resp.body) : nullptr;
  bool readable = answer && cJSON_IsObject(answer.get()) && is_json(resp);
  if (ok2xx && !readable) {
    // A 2xx we cannot read: the events may or may not have been taken; send
    // again later rather than lose them.
    resp.status = 0;
    resp.error = "malformed answer from the CCS API";
  }
  Verdict verdict = sync_plan::verdict_of(resp.status, readable);
  if (verdict == Verdict::retry || verdict == Verdict::config_fault) {
    kept(resp, verdict, at, log);
    return out;
  }
  // Delivered (2xx) or refused for good (400/413/422): the batch leaves the
  // outbox. A disk that refuses the record of it: the batch stays, and goes
  // again after a back-off (never a hot loop, whatever fails).
  std::string refused_by_store = at.record(verdict);
  if (!refused_by_store.empty()) {
    error_ = detail_ = "storage: " + refused_by_store;
    status_ = 0;
    back_off(at.now_mono, at.random());
    return out;
  }
  out.leaves = true;
  sync_plan::settle(backoff_, verdict, at.now_mono, 0, resp.retry_after_s, events);
  if (verdict == Verdict::refused) {
    dead_letters_ = std::min<int64_t>(dead_letters_ + 1, kMaxDeadLetters);
    ok_ = false;
    status_ = resp.status;
    error_ = detail_ = redact_key(answer_error_text(resp), at.api_key);
    CO_LOG(log, warn, "CCS refused a batch of %zu events (%s); dead-lettered", events, error_.c_str());
    return out;
  }
  ok_ = true;
  error_.clear();
  detail_.clear();
  status_ = 0;
  sent_ += static_cast<int64_t>(events);
  out.answer = std::move(answer);
  return out;
}

// The batch is kept (network, 5xx, a configuration fault): why, for status,
// and when it goes again.
void Sender::kept(const platform::HttpResponse &resp, Verdict verdict, const Attempt &at, platform::Logger &log) {
  bool config = verdict == Verdict::config_fault;
  bool was_config_fault = status_ != 0 && error_ == config_fault_name(status_);
  ok_ = false;
  status_ = resp.status;
  detail_ = redact_key(answer_error_text(resp), at.api_key);
  error_ = config ? config_fault_name(resp.status) : detail_;
  if (config) detail_ += std::string("; ") + config_fault_hint(resp.status);
  // A wrong key or URL is not fixed by trying again soon: it waits for a
  // new configuration (which resumes at once), and meanwhile asks about hourly.
  sync_plan::settle(backoff_, verdict, at.now_mono, at.random(), resp.retry_after_s, 0);
  // A wrong key is worth a warning once, not at every hourly attempt.
  if (config && !was_config_fault) {
    CO_LOG(log, warn, "CCS API: %s (%s); %lld events kept", error_.c_str(), detail_.c_str(),
           static_cast<long long>(at.queued));
  } else {
    CO_LOG(log, info, "CCS sync failed (%s); retry in %lld ms", detail_.c_str(),
           static_cast<long long>(backoff_.retry_at() - at.now_mono));
  }
}

void Sender::describe(cJSON *sync) const {
  if (attempted_) {
    json_add_bool(sync, "ok", ok_);
    json_add_string(sync, "at", format_iso8601(at_wall_).c_str());
  } else {
    json_add_null(sync, "ok");
    json_add_null(sync, "at");
  }
  if (error_.empty())
    json_add_null(sync, "error");
  else
    json_add_string(sync, "error", error_.c_str());
  // Extension: the HTTP status of that failure, and what the API said.
  if (status_ == 0)
    json_add_null(sync, "http_status");
  else
    json_add_number(sync, "http_status", status_);
  if (detail_.empty())
    json_add_null(sync, "detail");
  else
    json_add_string(sync, "detail", detail_.c_str());
  json_add_number(sync, "sent", static_cast<double>(sent_));
}

}  // namespace co
