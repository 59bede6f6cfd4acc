// Shared by the sync tests: an agent on a fake transport that answers like
// the CCS and Contextual APIs, and helpers to read what it sent.
#pragma once
#include <string>
#include <vector>

#include "platform/http.h"
#include "test_util.h"

namespace test {

inline const char *kAnswer =
    "{\"user_id\":\"2008c38f-dece-4570-976d-87593ed001c3\",\"cohorts\":[\"12345\",\"67890\"],"
    "\"activations\":{\"dfp\":[\"12345\",\"67890\"],\"freewheel\":[\"12345\"]}}";

inline void answer(co::platform::HttpResponse &r, int status, const std::string &body, int64_t retry_after = -1) {
  r.status = status;
  r.body = body;
  r.content_type = "application/json";
  r.retry_after_s = retry_after;
}

inline bool is_ccs(const co::platform::HttpRequest &r) { return r.url.find("/ccs/") != std::string::npos; }

// The members of a configuration document, base's with more's (flat or
// nested) in place of the same keys: a key given twice is an error.
inline std::string override_config(const std::string &base, const std::string &more) {
  co::Json b = co::json_parse("{" + base + "}"), m = co::json_parse("{" + more + "}");
  assert_non_null(b.get());
  assert_non_null(m.get());
  auto drop = [&](const std::string &section, const std::string &key) {
    cJSON_DeleteItemFromObjectCaseSensitive(b.get(), (section + "." + key).c_str());
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(b.get(), section.c_str()), key.c_str());
  };
  while (cJSON *item = cJSON_DetachItemViaPointer(m.get(), m->child ? m->child : nullptr)) {
    std::string name = item->string;
    size_t dot = name.find('.');
    if (cJSON_IsObject(item)) {  // a section: each of its keys replaces its twin
      cJSON *into = cJSON_GetObjectItemCaseSensitive(b.get(), name.c_str());
      for (cJSON *k = item->child; k; k = k->next) drop(name, k->string);
      if (!into) into = cJSON_AddObjectToObject(b.get(), name.c_str());
      while (cJSON *k = cJSON_DetachItemViaPointer(item, item->child ? item->child : nullptr)) {
        cJSON_AddItemToObject(into, k->string, k);
      }
      cJSON_Delete(item);
      continue;
    }
    if (dot != std::string::npos) drop(name.substr(0, dot), name.substr(dot + 1));
    cJSON_DeleteItemFromObjectCaseSensitive(b.get(), name.c_str());
    cJSON_AddItemToObject(b.get(), name.c_str(), item);
    if (!m->child) break;
  }
  std::string text = co::json_print(b.get());
  return text.substr(1, text.size() - 2);
}

struct SyncFixture : AgentFixture {
  SyncFixture() : AgentFixture(9) {}
  void open(const std::string &more = "") {
    std::string cfg = "\"consent\":{\"required\":false},\"api\":{\"key\":\"sk_test\",\"ccs_url\":\"http://ccs\","
                      "\"contextual_url\":\"http://ctx\"}";
    open_with(more.empty() ? cfg : override_config(cfg, more));
  }
  void track(int n) {
    for (int i = 0; i < n; ++i) {
      std::string p = "{\"name\":\"E\",\"properties\":{\"i\":" + std::to_string(i) + "}}";
      call_ok(agent, "track", p.c_str());
    }
  }
  co::Json sync() { return call_ok(agent, "sync.now", "{\"timeout_ms\":5000}"); }
  std::vector<co::platform::HttpRequest> ccs_sent() {
    std::vector<co::platform::HttpRequest> out;
    for (auto &r : transport.sent()) {
      if (is_ccs(r)) out.push_back(r);
    }
    return out;
  }
};

}  // namespace test
