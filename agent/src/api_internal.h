// For unit tests only: open an agent through the C API with fake seams.
#pragma once
#include <cohort/cohort.h>

#include "agent.h"

namespace co {
cohort_status open_with_seams(const char *config_json, const Seams &seams, cohort_agent **out);
}
