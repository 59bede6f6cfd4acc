// JSON-RPC 2.0 over lines: the socket protocol, in the library so that every
// face shares it (and so it can be fuzzed without a socket).
#include <cohort/cohort.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "agent.h"
#include "api_internal.h"

namespace co {
namespace {

constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;

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

// How each request is answered follows the JSON-RPC 2.0 specification
// (https://www.jsonrpc.org/specification), section by section:
//
// * A Request object (section 4) has "jsonrpc" exactly "2.0", "method" a
//   String, "params" (optional) a Structured value, and "id" (optional) a
//   String, Number or Null. Anything else "is not a valid Request object":
//   -32600 Invalid Request.
// * "A Notification is a Request object without an "id" member" (4.1), and
//   "The Server MUST NOT reply to a Notification, including those that are
//   within a batch request": the client "would not be aware of any errors
//   (like e.g. "Invalid params", "Internal error")". So a valid Request
//   object without an id is run and never answered, whatever its method or
//   params. An element that is not a valid Request object is not a
//   Notification either, id or no id: it is answered -32600. The spec's own
//   examples say so: {"jsonrpc": "2.0", "method": 1, "params": "bar"}, which
//   has no id, is answered -32600 with id null, and so is each element of
//   the batches [1] and [1,2,3].
// * "id": null is an id (a Request with it is answered, id null). The
//   response's id "MUST be the same as the value of the id member in the
//   Request Object. If there was an error in detecting the id in the Request
//   object (e.g. Parse error/Invalid Request), it MUST be Null" (section 5):
//   an invalid request whose id is present and of a valid type is answered
//   with that id (it was detected); a parse error, an element that is not an
//   object, or an id of the wrong type (Object, Array, Boolean) gets null.
// * "If present, parameters for the rpc call MUST be provided as a Structured
//   value. Either by-position through an Array or by-name through an Object"
//   (4.2). A params that is neither (a String, Number, Boolean, or null) makes
//   the request invalid: -32600. An Array is a valid Request object, but our
//   methods take named params only: -32602 Invalid params ("Invalid method
//   parameter(s)"), after the method is known to exist (-32601 first).
// * So the order is: -32700 (the line), then -32600 (the Request object:
//   not an object, id type, jsonrpc, method, params type), then -32601, then
//   -32602 and the method's own errors.
// * Batches (section 6): "If the batch rpc call itself fails to be
//   recognized as an valid JSON or as an Array with at least one value, the
//   response from the Server MUST be a single Response object" ([] gets one
//   -32600, not an array); otherwise one answer per element that is not a
//   Notification, in request order (the spec allows any order; ours is the
//   order of the requests), and "If there are no Response objects contained
//   within the Response array ... the server MUST NOT return an empty Array
//   and should return nothing at all".

// The text of values in a line cJSON has accepted, so that a request's id is
// echoed as written: cJSON keeps numbers as doubles and prints
// 12345678901234567890 as 1.2345678901234567e+19, 9007199254740993 as
// 9.00719925474099e+15 and 1.0 as 1, and cuts a string at "\u0000". Each
// function returns the end of what it skipped, or nullptr when the text is not
// what it expects (the id is then echoed from cJSON's value). Iterative: the
// nesting cJSON takes costs no stack here.
class Text {
 public:
  Text(const char *begin, const char *end) : end_(end) {
    // cJSON skips a UTF-8 byte order mark; so does this.
    begin_ = end - begin >= 3 && memcmp(begin, "\xEF\xBB\xBF", 3) == 0 ? begin + 3 : begin;
  }
  const char *begin() const { return space(begin_); }

  const char *space(const char *p) const {
    while (p < end_ && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
    return p;
  }
  const char *string(const char *p) const {
    if (p >= end_ || *p != '"') return nullptr;
    for (++p; p < end_; ++p) {
      if (*p == '\\') {
        if (++p == end_) return nullptr;  // the escaped character is skipped
      } else if (*p == '"') {
        return p + 1;
      }
    }
    return nullptr;
  }
  const char *value(const char *p) const {
    if (p >= end_) return nullptr;
    if (*p == '"') return string(p);
    if (*p == '{' || *p == '[') {
      size_t depth = 0;
      while (p < end_) {
        if (*p == '"') {
          if (!(p = string(p))) return nullptr;
          continue;
        }
        if (*p == '{' || *p == '[') {
          ++depth;
        } else if ((*p == '}' || *p == ']') && --depth == 0) {
          return p + 1;
        }
        ++p;
      }
      return nullptr;
    }
    const char *start = p;  // a number, true, false or null: up to what ends it (or a NUL)
    while (p < end_ && !strchr(",]} \t\n\r", *p)) ++p;
    return p == start ? nullptr : p;
  }
  // p at '{': id gets the text of the object's first "id" member's value (the
  // one cJSON_GetObjectItemCaseSensitive finds), empty when it has none.
  const char *object_id(const char *p, std::string_view &id) const {
    id = {};
    if (p >= end_ || *p != '{') return nullptr;
    p = space(p + 1);
    if (p < end_ && *p == '}') return p + 1;
    bool found = false;
    for (;;) {
      const char *key = p;
      const char *key_end = string(p);
      if (!key_end) return nullptr;
      p = space(key_end);
      if (p >= end_ || *p != ':') return nullptr;
      const char *v = space(p + 1);
      const char *v_end = value(v);
      if (!v_end) return nullptr;
      if (!found && is_id(key, key_end)) {
        id = std::string_view(v, static_cast<size_t>(v_end - v));
        found = true;
      }
      p = space(v_end);
      if (p < end_ && *p == ',') {
        p = space(p + 1);
      } else {
        return p < end_ && *p == '}' ? p + 1 : nullptr;
      }
    }
  }
  // p at '[': the id text of each element (empty for an element without one);
  // false when the text is not what it expects.
  bool batch_ids(const char *p, std::vector<std::string_view> &ids) const {
    ids.clear();
    if (p >= end_ || *p != '[') return false;
    p = space(p + 1);
    if (p < end_ && *p == ']') return true;
    for (;;) {
      std::string_view id;
      p = p < end_ && *p == '{' ? object_id(p, id) : value(p);
      if (!p) return false;
      ids.push_back(id);
      p = space(p);
      if (p < end_ && *p == ',') {
        p = space(p + 1);
      } else {
        return p < end_ && *p == ']';
      }
    }
  }

 private:
  // The key is "id", as cJSON decodes it ("\u0069d" too).
  static bool is_id(const char *key, const char *key_end) {
    std::string_view k(key, static_cast<size_t>(key_end - key));
    if (k == "\"id\"") return true;
    if (k.find('\\') == std::string_view::npos) return false;
    Json decoded(cJSON_ParseWithLength(key, k.size()));
    return cJSON_IsString(decoded.get()) && strcmp(decoded->valuestring, "id") == 0;
  }

  const char *begin_;
  const char *end_;
};

// A number as RFC 8259 writes it (cJSON also takes 01, 1. and -01, which
// must not be echoed as they came).
bool json_number_text(std::string_view t) {
  size_t i = 0;
  auto digits = [&] {
    size_t from = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > from;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

// The text is the id's own: the same type and value once parsed, and JSON
// that may be echoed as it is (a number in RFC 8259's grammar; a string with
// no raw control character, which cJSON takes and JSON does not).
bool same_id(const cJSON *id, std::string_view text) {
  if (cJSON_IsNumber(id)) {
    if (!json_number_text(text)) return false;
  } else if (cJSON_IsString(id)) {
    if (text.size() < 2 || text.front() != '"' || text.back() != '"') return false;
    for (char c : text) {
      if (static_cast<unsigned char>(c) < 0x20) return false;
    }
  } else {
    return false;
  }
  Json parsed(cJSON_ParseWithLength(text.data(), text.size()));
  if (cJSON_IsNumber(id)) {
    return cJSON_IsNumber(parsed.get()) && !(parsed->valuedouble < id->valuedouble) &&
           !(parsed->valuedouble > id->valuedouble);
  }
  return cJSON_IsString(parsed.get()) && strcmp(parsed->valuestring, id->valuestring) == 0;
}

// The response's id: the request's, as it was written when that can be told;
// null when there is none.
cJSON *echo_id(const cJSON *id, std::string_view text) {
  if (!id || cJSON_IsNull(id)) return cJSON_CreateNull();
  if (!text.empty() && same_id(id, text)) return cJSON_CreateRaw(std::string(text).c_str());
  return cJSON_Duplicate(id, 1);
}

// Every JSON-RPC error object the library answers with is built here: the
// code, the message, data.status (the status's name; no data for the errors
// of the line or the request object, st COHORT_OK), and the request's id as
// written (id NULL: null).
cJSON *error_response(const cJSON *id, std::string_view id_text, int code, const std::string &message,
                      cohort_status st) {
  Json holder(json_must(cJSON_CreateObject()));
  cJSON *r = holder.get();
  json_add_string(r, "jsonrpc", "2.0");
  cJSON *err = json_add_object(r, "error");
  json_add_number(err, "code", code);
  json_add_string(err, "message", message.c_str());
  if (st != COHORT_OK) {
    cJSON *data = json_add_object(err, "data");
    json_add_string(data, "status", cohort_status_name(st));
  }
  json_add(r, "id", echo_id(id, id_text));
  return holder.release();
}

bool valid_id(const cJSON *id) { return cJSON_IsString(id) || cJSON_IsNumber(id) || cJSON_IsNull(id); }

// One element as section 4 sees it: a valid Request object (a call, or a
// Notification when it has no id), or not one (why: the -32600 message).
struct Request {
  const char *invalid = nullptr;
  const cJSON *id = nullptr;  // present and of a valid type (else null is echoed)
  const char *method = nullptr;
  const cJSON *params = nullptr;
  bool notification() const { return !invalid && !id; }
};

Request examine(const cJSON *req) {
  Request r;
  if (!cJSON_IsObject(req)) {
    r.invalid = "request must be an object";
    return r;
  }
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
  if (id && !valid_id(id)) {
    r.invalid = "id: must be a string, number or null";
    return r;
  }
  r.id = id;
  const cJSON *version = cJSON_GetObjectItemCaseSensitive(req, "jsonrpc");
  if (!cJSON_IsString(version) || strcmp(version->valuestring, "2.0") != 0) {
    r.invalid = "jsonrpc: must be \"2.0\"";
    return r;
  }
  const cJSON *method = cJSON_GetObjectItemCaseSensitive(req, "method");
  if (!cJSON_IsString(method)) {
    r.invalid = "method: must be a string";
    return r;
  }
  r.method = method->valuestring;
  r.params = cJSON_GetObjectItemCaseSensitive(req, "params");
  if (r.params && !cJSON_IsObject(r.params) && !cJSON_IsArray(r.params)) {
    r.invalid = "params: must be an object when present";
  }
  return r;
}

// One element -> its response, or NULL for a notification.
cJSON *handle_one(Agent &agent, const cJSON *req, std::string_view id_text, unsigned &topics) {
  Request r = examine(req);
  if (r.invalid) return error_response(r.id, id_text, kInvalidRequest, r.invalid, COHORT_OK);
  // Agent::invoke looks the method up first (unknown: COHORT_ENOMETHOD, so
  // -32601 wins over -32602), and refuses any params but an object before it
  // runs anything: by-position params only get their message here.
  Json result;
  std::string err;
  cohort_status st = agent.invoke(r.method, r.params, result, err);
  if (st == COHORT_EINVAL && cJSON_IsArray(r.params)) err = "params: this method takes named params (an object)";
  // A notification is run like any request (subscribe subscribes), and
  // never answered, whatever happened.
  if (st == COHORT_OK && strcmp(r.method, "subscribe") == 0) topics |= COHORT_TOPIC_COHORTS;
  if (r.notification()) return nullptr;
  if (st != COHORT_OK) return error_response(r.id, id_text, rpc_code(st), err, st);
  Json out(json_must(cJSON_CreateObject()));
  json_add_string(out.get(), "jsonrpc", "2.0");
  json_add(out.get(), "result", result.release());
  json_add(out.get(), "id", echo_id(r.id, id_text));
  return out.release();
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

std::string rpc_failure(const char *line, size_t len, cohort_status st, const std::string &message) {
  // Ids are echoed from the text only when it is UTF-8 (as rpc() checks first).
  bool utf8 = valid_utf8(line, len);
  Json req(utf8 ? cJSON_ParseWithLength(line, len) : nullptr);
  Text text(line, line + len);
  int code = rpc_code(st);
  auto one = [&](const cJSON *r, std::string_view id_text) -> cJSON * {
    const cJSON *id = cJSON_IsObject(r) ? cJSON_GetObjectItemCaseSensitive(r, "id") : nullptr;
    if (cJSON_IsObject(r) && !id) return nullptr;  // a notification: never answered
    if (id && !valid_id(id)) id = nullptr;
    return error_response(id, id ? id_text : std::string_view(), code, message, st);
  };
  Json out;
  if (cJSON_IsArray(req.get()) && req->child) {
    std::vector<std::string_view> ids;
    if (!text.batch_ids(text.begin(), ids) || ids.size() != static_cast<size_t>(cJSON_GetArraySize(req.get()))) {
      ids.clear();
    }
    out.reset(json_must(cJSON_CreateArray()));
    size_t i = 0;
    for (const cJSON *r = req->child; r; r = r->next, ++i) {
      if (cJSON *a = one(r, i < ids.size() ? ids[i] : std::string_view())) json_append(out.get(), a);
    }
    if (!out->child) return std::string();
  } else {
    std::string_view id_text;
    if (cJSON_IsObject(req.get()) && !text.object_id(text.begin(), id_text)) id_text = {};
    out.reset(one(req.get(), id_text));
    if (!out) return std::string();
  }
  return json_print_checked(out.get());
}

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
  Text text(line, line + len);
  Json out;
  if (!valid_utf8(line, len)) {
    out.reset(error_response(nullptr, {}, kParseError, "parse error: the line is not valid UTF-8", COHORT_OK));
  } else if (!req) {
    out.reset(error_response(nullptr, {}, kParseError, "parse error: the line is not valid JSON", COHORT_OK));
  } else if (cJSON_IsArray(req.get())) {
    if (!req->child) {
      // Not "an Array with at least one value": a single Response object.
      out.reset(error_response(nullptr, {}, kInvalidRequest, "empty batch", COHORT_OK));
    } else {
      std::vector<std::string_view> ids;
      if (!text.batch_ids(text.begin(), ids) || ids.size() != static_cast<size_t>(cJSON_GetArraySize(req.get()))) {
        ids.clear();  // ids echoed from cJSON's values
      }
      // Printed one by one, so a few bytes of requests cannot build megabytes.
      std::string joined;
      size_t i = 0;
      for (const cJSON *r = req->child; r; r = r->next, ++i) {
        std::string_view id_text = i < ids.size() ? ids[i] : std::string_view();
        Json one;
        if (joined.size() < kMaxBatchAnswer) {
          one.reset(handle_one(agent, r, id_text, topics));
        } else {
          // Past the bound nothing more is run, and still every element that
          // is not a Notification is answered: an invalid one as such, a
          // valid one with a server error (-32000 - COHORT_ENOMEM: the
          // request is fine, the answer would not fit).
          Request rq = examine(r);
          if (rq.notification()) continue;
          one.reset(rq.invalid ? error_response(rq.id, id_text, kInvalidRequest, rq.invalid, COHORT_OK)
                               : error_response(rq.id, id_text, rpc_code(COHORT_ENOMEM),
                                                "batch answer over 1 MiB: request not run", COHORT_ENOMEM));
        }
        if (!one) continue;
        joined += joined.empty() ? "[" : ",";
        joined += json_print_checked(one.get());
      }
      response = joined.empty() ? "" : joined + "]";  // all notifications: no answer, not []
      return COHORT_OK;
    }
  } else {
    std::string_view id_text;
    if (cJSON_IsObject(req.get()) && !text.object_id(text.begin(), id_text)) id_text = {};
    out.reset(handle_one(agent, req.get(), id_text, topics));
  }
  if (!out) return COHORT_OK;
  response = json_print(out.get());
  return response.empty() ? COHORT_ENOMEM : COHORT_OK;
}

}  // namespace co
