// A store of its own in a scratch directory, for the tests of the parts
// that keep rows in it.
#pragma once
#include <string>

#include "storage/store.h"
#include "test_util.h"

namespace test {

struct StoreFixture {
  TempDir dir;
  co::platform::Logger log;
  co::storage::Store store;
  StoreFixture() {
    std::string err;
    assert_true(store.open(dir.path + "/db", 256, log, err));
  }
};

}  // namespace test
