// A storage transaction that owns the in-memory state it changes: the
// counters and cursors that mirror the store are copied when it begins and
// put back by rollback(), so memory never runs ahead of (or behind) what the
// disk holds. Nests like Store::begin() (a savepoint inside an open
// transaction). Guarded by whatever guards the store and the state (the
// agent's lock).
#pragma once
#include <tuple>

#include "storage/store.h"

namespace co::storage {

template <class... State>
class Transaction {
 public:
  explicit Transaction(Store &store, State &...state)
      : store_(store), live_(state...), saved_(state...), begun_(store.begin()) {}
  Transaction(const Transaction &) = delete;
  Transaction &operator=(const Transaction &) = delete;
  // Nothing is undone here: an exception leaves the open levels to the
  // owner's recovery (Store::rollback_all and a reload), and a destructor
  // that could itself fail (out of memory) must not run during the unwind.
  ~Transaction() = default;

  bool begun() const { return begun_; }
  // False when nothing was begun or the commit failed: then rollback().
  bool commit() { return begun_ && store_.commit(); }
  // Undoes this level and puts the state back as it was at the start.
  void rollback() {
    store_.rollback();
    live_ = saved_;
  }

 private:
  Store &store_;
  std::tuple<State &...> live_;
  std::tuple<State...> saved_;
  bool begun_;
};

}  // namespace co::storage
