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

// GET {cohorts.definitions_url} and the same URL plus `.sig`, with the key as
// for the other APIs; the document's request carries If-None-Match when an
// ETag is known (`etag` as the server gave it). Each answer is bounded: the
// document by max_doc_bytes + 1 (so one over the limit is seen as such), the
// signature by 4 KiB. A document may take longer than an API call.
std::vector<platform::HttpRequest> definitions_requests(const Config &cfg, const std::string &etag,
                                                        size_t max_doc_bytes);

// The query-string form of the key: percent-encoded, as it appears in a URL
// (what a secret scan or a redaction must also look for).
std::string url_encoded_key(const std::string &key);
// `text` with the key, as given and as in a URL, replaced by "[redacted]":
// for text that leaves the agent (status, dead letters, logs).
std::string redact_key(std::string text, const std::string &key);

}  // namespace co
