// Inside the library: the JSON-RPC handler; for unit tests: opening an agent
// through the C API with fake seams.
#pragma once
#include <cohort/cohort.h>

#include "agent.h"

namespace co {
cohort_status rpc(Agent &agent, const char *line, size_t len, std::string &response, unsigned &topics);
// The answer to a line none of whose requests could be handled (status st,
// message): one error per request that is not a notification (an array for
// a batch line), ids as written; "" when there is nothing to answer. Built
// by the one error-object builder of rpc.cpp, as every error answer is.
std::string rpc_failure(const char *line, size_t len, cohort_status st, const std::string &message);
cohort_status open_with_seams(const char *config_json, const Seams &seams, cohort_agent **out);
}
