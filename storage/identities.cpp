#include "storage/identities.h"

#include "storage/rows.h"

namespace co::storage {

bool record_identity(Store &store, int64_t epoch, const std::string &user_id) {
  Stmt ins(store, "INSERT OR REPLACE INTO identities(epoch,user_id) VALUES(?,?)");
  ins.bind(1, epoch).bind(2, user_id);
  return run(ins) && store.set_meta("user_id", user_id) && store.set_meta("epoch", std::to_string(epoch));
}

bool start_identity(Store &store, int64_t old_epoch, const std::string &old_aliases_json, int64_t epoch,
                    const std::string &user_id) {
  Stmt keep(store, "UPDATE identities SET aliases=? WHERE epoch=?");
  keep.bind(1, old_aliases_json).bind(2, old_epoch);
  return run(keep) && record_identity(store, epoch, user_id) && store.exec("DELETE FROM aliases");
}

bool adopt_user_id(Store &store, int64_t epoch, const std::string &user_id) {
  if (!store.set_meta("user_id", user_id)) return false;
  Stmt up(store, "UPDATE identities SET user_id=? WHERE epoch=?");
  up.bind(1, user_id).bind(2, epoch);
  up.step();
  return true;  // the meta row is what the next start reads
}

bool identity_of_epoch(Store &store, int64_t epoch, std::string &user_id, std::string &aliases_json) {
  Stmt q(store, "SELECT user_id, aliases FROM identities WHERE epoch=?");
  q.bind(1, epoch);
  if (!q.step()) return false;
  user_id = q.text(0);
  aliases_json = q.text(1);
  return true;
}

bool read_aliases(Store &store, std::vector<Alias> &out) {
  Stmt q(store, "SELECT tag,id,priority FROM aliases ORDER BY priority, ord");
  while (q.step()) out.push_back({q.text(0), q.text(1), q.int64(2)});
  return q.done();
}

bool replace_aliases(Store &store, const std::vector<Alias> &aliases) {
  bool ok = store.exec("DELETE FROM aliases");
  Stmt ins(store, "INSERT INTO aliases(tag,id,priority,ord) VALUES(?,?,?,?)");
  int64_t ord = 0;
  for (const Alias &a : aliases) {
    if (!ok) break;
    ins.reset();
    ins.bind(1, a.tag).bind(2, a.id).bind(3, a.priority).bind(4, ord++);
    ok = run(ins);
  }
  return ok;
}

bool forget_user_state(Store &store) {
  return store.exec("DELETE FROM cohort_state") && store.exec("DELETE FROM meta WHERE key='ccs_state'") &&
         store.exec("DELETE FROM cache WHERE kind='behavioral'");
}

}  // namespace co::storage
