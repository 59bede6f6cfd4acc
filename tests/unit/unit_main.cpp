// The one main of every unit test executable: it runs the tests registered
// with UNIT_TEST (unit_test.h), in the order written.
#include <vector>

#include "unit_test.h"

namespace {

// Function-local, so registration works whatever the order of static
// initialisation across files.
std::vector<CMUnitTest> &tests() {
  static std::vector<CMUnitTest> list;
  return list;
}

CMFixtureFunction g_setup = nullptr;
CMFixtureFunction g_teardown = nullptr;

}  // namespace

namespace test {

Registered::Registered(const char *name, CMUnitTestFunction fn) {
  tests().push_back(CMUnitTest{name, fn, nullptr, nullptr, nullptr});
}

GroupFixture::GroupFixture(CMFixtureFunction setup, CMFixtureFunction teardown) {
  g_setup = setup;
  g_teardown = teardown;
}

}  // namespace test

int main() {
  std::vector<CMUnitTest> &list = tests();
  if (list.empty()) {
    print_error("no tests registered\n");
    return 1;  // an executable that runs nothing is a mistake, not a pass
  }
  return _cmocka_run_group_tests("tests", list.data(), list.size(), g_setup, g_teardown);
}
