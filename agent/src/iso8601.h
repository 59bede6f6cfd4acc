// Wall times as the Direct API writes them (ISO 8601 / RFC 3339, UTC).
#pragma once
#include <cstdint>
#include <string>

namespace co {

// ISO 8601 date-time -> Unix ms (UTC). Accepts "Z" or "+hh:mm" offsets and
// fractional seconds. False for anything else.
bool parse_iso8601(const std::string &s, int64_t &ms);
// Unix ms -> "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string format_iso8601(int64_t ms);

}  // namespace co
