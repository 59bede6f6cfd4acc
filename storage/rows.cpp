#include "storage/rows.h"

namespace co::storage {

bool each_row(Stmt &q, const Rows &fn) {
  while (q.step()) {
    if (!fn(q)) return true;
  }
  return q.done();
}

bool read_all(Store &store, const char *sql, const Rows &fn) {
  Stmt q(store, sql);
  return each_row(q, fn);
}

bool run(Stmt &q) {
  q.step();
  return q.done();
}

bool run_for_key(Store &store, const char *sql, std::string_view key) {
  Stmt q(store, sql);
  q.bind(1, key);
  return run(q);
}

}  // namespace co::storage
