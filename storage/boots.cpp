#include "storage/boots.h"

#include "storage/rows.h"

namespace co::storage {

bool register_boot(Store &store, const std::string &boot_id, int64_t &n) {
  Stmt ins(store, "INSERT OR IGNORE INTO boots(boot_id) VALUES(?)");
  ins.bind(1, boot_id);
  ins.step();
  Stmt q(store, "SELECT n FROM boots WHERE boot_id=?");
  q.bind(1, boot_id);
  if (!ins.done() || !q.step()) return false;
  n = q.int64(0);
  return true;
}

bool note_boot_alive(Store &store, int64_t n, int64_t mono) {
  Stmt q(store, "UPDATE boots SET alive_mono=? WHERE n=?");
  q.bind(1, mono).bind(2, n);
  return run(q);
}

}  // namespace co::storage
