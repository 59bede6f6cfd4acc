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

struct SyncFixture : AgentFixture {
  SyncFixture() : AgentFixture(9) {}
  void open(const std::string &more = "") {
    std::string cfg = "\"consent\":{\"required\":false},\"api\":{\"key\":\"sk_test\",\"ccs_url\":\"http://ccs\","
                      "\"contextual_url\":\"http://ctx\"}";
    open_with(more.empty() ? cfg : cfg + "," + more);
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
