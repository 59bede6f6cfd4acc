#include "storage/rows.h"

namespace co::storage {

bool each_row(Stmt &q, const Rows &fn) {
  while (q.step()) {
    if (!fn(q)) return true;
  }
  return q.done();
}

bool run(Stmt &q) {
  q.step();
  return q.done();
}

}  // namespace co::storage
