#include "requests.h"

#include <strings.h>

#include <cctype>
#include <cstring>
#include <utility>

namespace co {
namespace {

// Names of members that identify a user or a device rather than content. The
// Contextual API takes "the same content properties ... minus any
// user-related data"; it is called without consent, so none may leave.
const char *const kUserKeys[] = {
    "user_id",  "alias",     "aliases", "email",   "email_sha256",         "session_id",     "view_id",
    "ip",       "ip_address", "idfa",   "aaid",    "tifa",                 "alexa_advertising_id",
    "ifa",      "device_id", "ppid",    "advertising_id",
};

bool is_user_key(const char *name) {
  for (const char *k : kUserKeys) {
    if (strcasecmp(name, k) == 0) return true;
  }
  return false;
}

bool is_user_value(const cJSON *v, const std::vector<std::string> &user_values) {
  if (!cJSON_IsString(v)) return false;
  for (const std::string &u : user_values) {
    if (!u.empty() && strcasecmp(v->valuestring, u.c_str()) == 0) return true;
  }
  return false;
}

void strip_user_data(cJSON *node, const std::vector<std::string> &user_values) {
  cJSON *child = node ? node->child : nullptr;
  while (child) {
    cJSON *next = child->next;
    bool drop = (cJSON_IsObject(node) && child->string && is_user_key(child->string)) ||
                is_user_value(child, user_values);
    if (drop) {
      cJSON_Delete(cJSON_DetachItemViaPointer(node, child));
    } else {
      strip_user_data(child, user_values);
    }
    child = next;
  }
}

std::string base_url(const std::string &url) {
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

// The key in the header, or as `k` appended to a URL that already has a query.
void authorize(const Config &cfg, platform::HttpRequest &req, bool has_query) {
  if (cfg.api_key.empty()) return;
  if (cfg.api_key_in == "query") {
    req.url += (has_query ? "&k=" : "?k=") + url_encoded_key(cfg.api_key);
  } else {
    req.headers.emplace_back("X-Api-Key", cfg.api_key);
  }
}

}  // namespace

std::vector<platform::HttpRequest> definitions_requests(const Config &cfg, const std::string &etag,
                                                        size_t max_doc_bytes) {
  constexpr int64_t kDocumentTimeoutMs = 30000;  // 4 MiB over a slow link; the worker waits, no caller does
  std::vector<platform::HttpRequest> reqs(2);
  const std::string &url = cfg.cohorts_definitions_url;
  // The signature sits beside the document: before its query, if it has one.
  size_t q = url.find('?');
  std::string sig_url = q == std::string::npos ? url + ".sig" : url.substr(0, q) + ".sig" + url.substr(q);
  reqs[0].url = url;
  reqs[0].max_body = max_doc_bytes + 1;
  if (!etag.empty()) reqs[0].headers.emplace_back("If-None-Match", etag);
  reqs[1].url = sig_url;
  reqs[1].max_body = 4096;
  for (platform::HttpRequest &r : reqs) {
    r.get = true;
    r.timeout_ms = kDocumentTimeoutMs;
    authorize(cfg, r, q != std::string::npos);
  }
  return reqs;
}

std::string url_encoded_key(const std::string &key) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string redact_key(std::string text, const std::string &key) {
  if (key.empty()) return text;
  for (const std::string &secret : {key, url_encoded_key(key)}) {
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "[redacted]");
    }
  }
  return text;
}

platform::HttpRequest ccs_request(const Config &cfg, const cJSON *body) {
  platform::HttpRequest req;
  req.url = base_url(cfg.api_ccs_url) +
            (cfg.api_mode == "stateless" ? "/ccs/v1/segmentation/stateless" : "/ccs/v1/segmentation") +
            "?activations=true";
  if (cfg.api_synchronous_validation) req.url += "&synchronous-validation=true";
  authorize(cfg, req, true);
  req.body = json_print_checked(body);
  req.timeout_ms = cfg.api_timeout_ms;
  return req;
}

platform::HttpRequest contextual_request(const Config &cfg, const std::string &url, const cJSON *page_properties,
                                         const std::vector<std::string> &user_values) {
  Json body(json_must(cJSON_CreateObject()));
  json_add_string(body.get(), "url", url.c_str());
  cJSON *pp = json_add(body.get(), "page_properties",
                       cJSON_IsObject(page_properties) ? cJSON_Duplicate(page_properties, 1) : cJSON_CreateObject());
  strip_user_data(pp, user_values);
  const std::pair<const char *, const std::string *> client[] = {
      {"type", &cfg.client_type}, {"app", &cfg.client_app}, {"platform", &cfg.client_platform}};
  for (const auto &field : client) {
    if (field.second->empty()) continue;
    cJSON *section = cJSON_GetObjectItemCaseSensitive(pp, "client");
    if (!cJSON_IsObject(section)) {
      cJSON_DeleteItemFromObjectCaseSensitive(pp, "client");
      section = json_add_object(pp, "client");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(section, field.first);  // the device's own word stands
    json_add_string(section, field.first, field.second->c_str());
  }
  platform::HttpRequest req;
  req.url = base_url(cfg.api_contextual_url) + "/ctx/v1/segment";
  authorize(cfg, req, false);
  req.body = json_print_checked(body.get());
  req.timeout_ms = cfg.api_timeout_ms;
  return req;
}

}  // namespace co
