// Inside the library: the JSON-RPC handler; for unit tests: opening an agent
// through the C API with fake seams.
#pragma once
#include <cohort/cohort.h>

#include "agent.h"

namespace co {
cohort_status rpc(Agent &agent, const char *line, size_t len, std::string &response, unsigned &topics);
cohort_status open_with_seams(const char *config_json, const Seams &seams, cohort_agent **out);
}
