// JSON-RPC 2.0 over lines: the socket protocol, in the library so that every
// face shares it (and so it can be fuzzed without a socket).
#include <cohort/cohort.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "agent.h"
#include "api_internal.h"

namespace co {
namespace {

constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;

const char *status_name(cohort_status s) {
  switch (s) {
#define COHORT_X_NAME(name, value, message) \
  case name:                                 \
    return #name;
    COHORT_STATUS_TABLE(COHORT_X_NAME)
#undef COHORT_X_NAME
  }
  return "COHORT_UNKNOWN";
}

int rpc_code(cohort_status st) {
  switch (st) {
    case COHORT_EJSON:
    case COHORT_EINVAL:
    case COHORT_ERULES:
      return kInvalidParams;
    case COHORT_ENOMETHOD:
      return kMethodNotFound;
    default:
      return -32000 - static_cast<int>(st);
  }
}

cJSON *error_response(const cJSON *id, int code, const std::string &message, cohort_status st) {
  Json holder(json_must(cJSON_CreateObject()));
  cJSON *r = holder.get();
  json_add_string(r, "jsonrpc", "2.0");
  cJSON *err = json_add_object(r, "error");
  json_add_number(err, "code", code);
  json_add_string(err, "message", message.c_str());
  if (st != COHORT_OK) {
    cJSON *data = json_add_object(err, "data");
    json_add_string(data, "status", status_name(st));
  }
  json_add(r, "id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull());
  return holder.release();
}

bool valid_id(const cJSON *id) { return !id || cJSON_IsString(id) || cJSON_IsNumber(id) || cJSON_IsNull(id); }

// One request object -> its response, or NULL for a notification.
cJSON *handle_one(Agent &agent, const cJSON *req, unsigned &topics) {
  if (!cJSON_IsObject(req)) return error_response(nullptr, kInvalidRequest, "request must be an object", COHORT_OK);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
  if (!valid_id(id)) return error_response(nullptr, kInvalidRequest, "id: must be a string, number or null", COHORT_OK);
  const cJSON *version = cJSON_GetObjectItemCaseSensitive(req, "jsonrpc");
  if (!cJSON_IsString(version) || strcmp(version->valuestring, "2.0") != 0) {
    return error_response(id, kInvalidRequest, "jsonrpc: must be \"2.0\"", COHORT_OK);
  }
  const cJSON *method = cJSON_GetObjectItemCaseSensitive(req, "method");
  if (!cJSON_IsString(method)) return error_response(id, kInvalidRequest, "method: must be a string", COHORT_OK);
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params");
  if (params && !cJSON_IsObject(params) && !cJSON_IsNull(params)) {
    return error_response(id, kInvalidParams, "params: must be an object", COHORT_EINVAL);
  }
  Json result;
  std::string err;
  cohort_status st = agent.invoke(method->valuestring, params, result, err);
  if (!id) return nullptr;  // a notification: no answer, whatever happened
  if (st != COHORT_OK) return error_response(id, rpc_code(st), err, st);
  if (strcmp(method->valuestring, "subscribe") == 0) topics |= COHORT_TOPIC_COHORTS;
  Json r(json_must(cJSON_CreateObject()));
  json_add_string(r.get(), "jsonrpc", "2.0");
  json_add(r.get(), "result", result.release());
  json_add(r.get(), "id", cJSON_Duplicate(id, 1));
  return r.release();
}

// The line is UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF),
// and its \u escapes pair surrogates: cJSON checks neither, and what it would
// let in would be stored and echoed to every client.
bool valid_utf8(const char *line, size_t len) {
  const auto *p = reinterpret_cast<const unsigned char *>(line);
  for (size_t i = 0; i < len;) {
    unsigned c = p[i];
    size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + n > len) return false;
    unsigned cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    static const unsigned kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  // Escaped surrogates must come in high-low pairs.
  auto hex4 = [&](size_t at, unsigned &v) {
    if (at + 4 > len) return false;
    v = 0;
    for (size_t k = 0; k < 4; ++k) {
      char h = line[at + k];
      int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (d < 0) return false;
      v = v << 4 | static_cast<unsigned>(d);
    }
    return true;
  };
  for (size_t i = 0; i + 1 < len; ++i) {
    if (line[i] != '\\') continue;
    if (line[i + 1] != 'u') {
      ++i;  // an escaped character, perhaps a backslash
      continue;
    }
    unsigned v = 0, w = 0;
    if (!hex4(i + 2, v)) continue;  // cJSON refuses it
    if (v >= 0xDC00 && v <= 0xDFFF) return false;
    if (v >= 0xD800 && v <= 0xDBFF) {
      if (i + 7 >= len || line[i + 6] != '\\' || line[i + 7] != 'u' || !hex4(i + 8, w) || w < 0xDC00 || w > 0xDFFF) {
        return false;
      }
      i += 6;
    }
    i += 5;
  }
  return true;
}

// A batch's answers are bounded: past this, the rest are refused, not built.
constexpr size_t kMaxBatchAnswer = 1 << 20;

}  // namespace

cohort_status rpc(Agent &agent, const char *line, size_t len, std::string &response, unsigned &topics) {
  topics = 0;
  response.clear();
  // The whole line must be one JSON value: text after it is an error too.
  const char *end = nullptr;
  Json req(cJSON_ParseWithLengthOpts(line, len, &end, false));
  while (req && end < line + len && (*end == ' ' || *end == '\t' || *end == '\r')) ++end;
  if (req && end != line + len) req.reset();
  // A valid line that could not be parsed ran out of memory: not a -32700.
  if (!req && json_valid(std::string_view(line, len))) throw std::bad_alloc();
  Json out;
  if (!valid_utf8(line, len)) {
    out.reset(error_response(nullptr, kParseError, "parse error: the line is not valid UTF-8", COHORT_OK));
  } else if (!req) {
    out.reset(error_response(nullptr, kParseError, "parse error: the line is not valid JSON", COHORT_OK));
  } else if (cJSON_IsArray(req.get())) {
    if (!req->child) {
      out.reset(error_response(nullptr, kInvalidRequest, "empty batch", COHORT_OK));
    } else {
      // Printed one by one, so a few bytes of requests cannot build megabytes.
      std::string joined;
      for (const cJSON *r = req->child; r; r = r->next) {
        Json one;
        if (joined.size() < kMaxBatchAnswer) {
          one.reset(handle_one(agent, r, topics));
        } else {
          const cJSON *id = cJSON_IsObject(r) ? cJSON_GetObjectItemCaseSensitive(r, "id") : nullptr;
          if (!id) continue;  // a notification: no answer either way
          one.reset(error_response(valid_id(id) ? id : nullptr, kInvalidRequest,
                                   "batch answer over 1 MiB: request not run", COHORT_OK));
        }
        if (!one) continue;
        joined += joined.empty() ? "[" : ",";
        joined += json_print_checked(one.get());
      }
      response = joined.empty() ? "" : joined + "]";  // all notifications: no answer
      return COHORT_OK;
    }
  } else {
    out.reset(handle_one(agent, req.get(), topics));
  }
  if (!out) return COHORT_OK;
  response = json_print(out.get());
  return response.empty() ? COHORT_ENOMEM : COHORT_OK;
}

}  // namespace co
