// The cohort_state table: the local cohorts' saved state.
#pragma once
#include <cstdint>
#include <string_view>

#include "storage/rows.h"
#include "storage/store.h"

namespace co::storage {

// Every saved state: cohort_id, checksum, last_seq, state.
bool read_cohort_state(Store &store, const Rows &fn);

// Replaces the saved states, one add() per cohort, in the caller's
// transaction.
class CohortStateWriter {
 public:
  explicit CohortStateWriter(Store &store);
  bool add(std::string_view cohort_id, std::string_view checksum, int64_t last_seq, std::string_view state);
  bool ok() const { return ok_; }

 private:
  bool ok_;
  Stmt ins_;
};

}  // namespace co::storage
