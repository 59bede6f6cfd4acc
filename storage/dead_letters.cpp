#include "storage/dead_letters.h"

namespace co::storage {

bool add_dead_letter(Store &store, int64_t at_ms, int64_t http_status, std::string_view error, std::string_view payload,
                     int64_t keep) {
  Stmt dl(store, "INSERT INTO dead_letters(at_ms,http_status,error,payload) VALUES(?,?,?,?)");
  dl.bind(1, at_ms).bind(2, http_status).bind(3, error).bind(4, payload);
  bool ok = run(dl);
  Stmt trim(store, "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?");
  trim.bind(1, keep);
  return run(trim) && ok;
}

bool count_dead_letters(Store &store, int64_t &n) {
  Stmt q(store, "SELECT count(*) FROM dead_letters");
  if (!q.step()) return false;
  n = q.int64(0);
  return true;
}

bool read_dead_letters(Store &store, int64_t limit, const Rows &fn) {
  Stmt q(store, "SELECT id,at_ms,http_status,error,payload FROM dead_letters ORDER BY id DESC LIMIT ?");
  q.bind(1, limit);
  return each_row(q, fn);
}

}  // namespace co::storage
