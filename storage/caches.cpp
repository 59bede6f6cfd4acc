#include "storage/caches.h"

namespace co::storage {

bool put_cache(Store &store, std::string_view key, const char *kind, int64_t boot, int64_t expires_mono,
               std::string_view body) {
  Stmt q(store, "INSERT OR REPLACE INTO cache(key,kind,boot,expires_mono,body) VALUES(?,?,?,?,?)");
  q.bind(1, key).bind(2, kind).bind(3, boot).bind(4, expires_mono).bind(5, body);
  return run(q);
}

bool delete_cache(Store &store, std::string_view key) {
  return run_for_key(store, "DELETE FROM cache WHERE key=?", key);
}

bool read_caches(Store &store, const Rows &fn) {
  return read_all(store,
                  "SELECT c.key, c.kind, c.boot, c.expires_mono - coalesce(b.alive_mono, 0), c.expires_mono, c.body"
                  " FROM cache c LEFT JOIN boots b ON b.n = c.boot",
                  fn);
}

bool rebase_cache(Store &store, std::string_view key, int64_t boot, int64_t expires_mono) {
  Stmt up(store, "UPDATE cache SET boot=?, expires_mono=? WHERE key=? AND boot IS NOT ?");
  up.bind(1, boot).bind(2, expires_mono).bind(3, key).bind(4, boot);
  return run(up);
}

}  // namespace co::storage
