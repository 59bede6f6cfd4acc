// The API requests, built as pure functions of the configuration and their
// content: no agent state, no I/O. What goes on the wire is decided here
// (endpoints, query parameters, where the key travels, the Contextual API's
// page_properties), so it is tested alone against the documents.
#pragma once
#include <string>
#include <vector>

#include "config.h"
#include "json.h"
#include "platform/http.h"

namespace co {

// POST {api.ccs_url}/ccs/v1/segmentation[/stateless]?activations=true with
// the body {user_id | aliases, events, state?}. Activations are asked on both
// endpoints (the guide: "always request activations"); the troubleshooting
// switch adds synchronous-validation=true.
platform::HttpRequest ccs_request(const Config &cfg, const cJSON *body);

// POST {api.contextual_url}/ctx/v1/segment with {url, page_properties}: the
// caller's content sections, the configured `client` section, and nothing
// about the user: members named like an identifier, and any string equal to
// one of `user_values` (the user id, alias ids), are left out at any depth.
platform::HttpRequest contextual_request(const Config &cfg, const std::string &url, const cJSON *page_properties,
                                         const std::vector<std::string> &user_values);

// The query-string form of the key: percent-encoded, as it appears in a URL
// (what a secret scan or a redaction must also look for).
std::string url_encoded_key(const std::string &key);

}  // namespace co
