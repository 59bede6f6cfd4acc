// One list of unit tests: a test registers itself where it is written,
//
//   UNIT_TEST(name) { ... }
//
// and one main (unit_main.cpp) runs every test of the executable, in the
// order written. A test cannot be written and left out of a hand-kept list.
#pragma once
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}
// clang-format on

namespace test {

// Adds a test to the executable's list (at static initialisation).
struct Registered {
  Registered(const char *name, CMUnitTestFunction fn);
};

// The group's setup and teardown, for an executable that needs them (at
// most one per executable): run once, before the first test and after the
// last.
struct GroupFixture {
  GroupFixture(CMFixtureFunction setup, CMFixtureFunction teardown);
};

}  // namespace test

#define UNIT_TEST(name)                                            \
  static void name([[maybe_unused]] void **state);                 \
  static const ::test::Registered name##_registered_(#name, name); \
  static void name([[maybe_unused]] void **state)
