// Shared by the Transport implementations (http.cpp, http_curl.cpp,
// watchdog.cpp); not part of the seam.
#pragma once
#include <cstddef>
#include <vector>

#include "platform/http.h"

namespace co::platform {

// Makes resps hold n fresh answers; false (resps left empty) without the
// memory for it.
bool reset_responses(std::vector<HttpResponse> &resps, size_t n) noexcept;

// Marks resp as failed for lack of memory. Allocates nothing: the message fits
// in the string's own buffer, which is why it is this short.
void fail_out_of_memory(HttpResponse &resp) noexcept;

}  // namespace co::platform
