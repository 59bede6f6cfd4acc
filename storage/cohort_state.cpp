#include "storage/cohort_state.h"

namespace co::storage {

bool read_cohort_state(Store &store, const Rows &fn) {
  return read_all(store, "SELECT cohort_id,checksum,last_seq,state FROM cohort_state", fn);
}

CohortStateWriter::CohortStateWriter(Store &store)
    : ok_(store.exec("DELETE FROM cohort_state")),
      ins_(store, "INSERT INTO cohort_state(cohort_id,checksum,last_seq,state) VALUES(?,?,?,?)") {}

bool CohortStateWriter::add(std::string_view cohort_id, std::string_view checksum, int64_t last_seq,
                            std::string_view state) {
  if (!ok_) return false;
  ins_.reset();
  ins_.bind(1, cohort_id).bind(2, checksum).bind(3, last_seq).bind(4, state);
  return ok_ = run(ins_);
}

}  // namespace co::storage
